/** f64 reference: Σ_j x[r, j] (or x[r, j]² with `square`) for each row of x `[m, d]`. */
export function sumRowsRef(
  x: ArrayLike<number>,
  m: number,
  d: number,
  square = false,
): Float64Array {
  const y = new Float64Array(m);
  for (let r = 0; r < m; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const v = x[r * d + j];
      s += square ? v * v : v;
    }
    y[r] = s;
  }
  return y;
}

/** f64 reference: Σ_j x[r, j]² for each row of x `[m, d]`. */
export function sumSquaresRowsRef(x: ArrayLike<number>, m: number, d: number): Float64Array {
  return sumRowsRef(x, m, d, true);
}

/**
 * f64 reference of the sum of all elements (or of their squares), with Σ|term| alongside: the
 * scale the f32 error of a long sum is bounded against.
 */
export function sumRef(x: ArrayLike<number>, square = false): { sum: number; sumAbs: number } {
  let sum = 0;
  let sumAbs = 0;
  for (let i = 0; i < x.length; i++) {
    const t = square ? x[i] * x[i] : x[i];
    sum += t;
    sumAbs += Math.abs(t);
  }
  return { sum, sumAbs };
}

/** Unit roundoff of f32. */
const U = 2 ** -24;

/**
 * Worst-case bound on the f32 error of the GPU's whole-tensor sum of n terms
 * (src/kernels/reduce.ts), relative to Σ|term|. Every term passes through at most L rounded
 * operations: with G = min(1024, ceil(n / 2048)) workgroups of 256, a sequential chain of
 * ceil(k / (G·256)) additions per invocation over k items (k = n, or n / 4 vec4s when
 * n % 4 == 0, each vec4 adding 3 more for its components), an 8-level tree, the second stage's
 * chain over the G partials (vec4 when G % 4 == 0), another 8-level tree, and one rounding for
 * squaring. So |gpu − Σ| ≤ γ_L·Σ|term|
 * with γ_L = L·u / (1 − L·u) (Higham, Accuracy and Stability of Numerical Algorithms, §4.2).
 */
export function totalErrorBound(n: number, squares: boolean): number {
  const groups = Math.min(1024, Math.ceil(n / 2048));
  const chain = (k: number, g: number) =>
    k % 4 === 0 ? Math.ceil(k / 4 / (g * 256)) + 3 : Math.ceil(k / (g * 256));
  const depth = chain(n, groups) + 8 + (groups > 1 ? chain(groups, 1) + 8 : 0) +
    (squares ? 1 : 0);
  return (depth * U) / (1 - depth * U);
}
