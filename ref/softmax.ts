/** f64 log-sum-exp of row `r` of x `[m, v]` (max-subtracted). */
function logSumExpRow(x: ArrayLike<number>, r: number, v: number): number {
  let mx = -Infinity;
  for (let j = 0; j < v; j++) mx = Math.max(mx, x[r * v + j]);
  let s = 0;
  for (let j = 0; j < v; j++) s += Math.exp(x[r * v + j] - mx);
  return mx + Math.log(s);
}

/** f64 reference: log_softmax over the rows of x `[m, v]`. */
export function logSoftmaxRef(x: ArrayLike<number>, m: number, v: number): Float64Array {
  const y = new Float64Array(m * v);
  for (let r = 0; r < m; r++) {
    const lse = logSumExpRow(x, r, v);
    for (let j = 0; j < v; j++) y[r * v + j] = x[r * v + j] - lse;
  }
  return y;
}

/** f64 reference: −log softmax(x[r])[targets[r]] for x `[m, v]`. */
export function nllRef(
  x: ArrayLike<number>,
  targets: ArrayLike<number>,
  m: number,
  v: number,
): Float64Array {
  const y = new Float64Array(m);
  for (let r = 0; r < m; r++) y[r] = logSumExpRow(x, r, v) - x[r * v + targets[r]];
  return y;
}

/** Reference argmax of each row of x `[m, v]`: the lowest index of the maximum. */
export function argmaxRef(x: ArrayLike<number>, m: number, v: number): Uint32Array {
  const y = new Uint32Array(m);
  for (let r = 0; r < m; r++) {
    let best = 0;
    for (let j = 1; j < v; j++) if (x[r * v + j] > x[r * v + best]) best = j;
    y[r] = best;
  }
  return y;
}
