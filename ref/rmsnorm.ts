/**
 * f64 reference: y[r, j] = x[r, j] / sqrt(mean_j(x[r, :]²) + eps) · w[j] for x `[m, d]`
 * row-major (Llama / HF LlamaRMSNorm).
 */
export function rmsnormRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  m: number,
  d: number,
  eps: number,
): Float64Array {
  const y = new Float64Array(m * d);
  for (let r = 0; r < m; r++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[r * d + j] * x[r * d + j];
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let j = 0; j < d; j++) y[r * d + j] = x[r * d + j] * inv * w[j];
  }
  return y;
}
