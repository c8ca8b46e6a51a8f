/** f64 reference: y[m, n] = Σ_k x[m, k]·w[n, k] (+ bias[n]), w in HF layout [out, in]. */
export function linearRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
  bias?: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j] : 0;
      for (let t = 0; t < k; t++) s += x[i * k + t] * w[j * k + t];
      y[i * n + j] = s;
    }
  }
  return y;
}
