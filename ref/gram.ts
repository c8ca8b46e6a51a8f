/**
 * f64 references for the second-moment kernels (src/kernels/gram.ts).
 *
 * @module
 */

/**
 * f64 reference of `xᵀ·y` for row-major `x [m, f]`, `y [m, n]`: `[f, n]`, with
 * Σ_m |x[m, i]·y[m, j]| alongside (the scale an f32 sum's error is bounded against).
 */
export function gramRef(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  m: number,
  f: number,
  n: number,
): { g: Float64Array; abs: Float64Array } {
  const g = new Float64Array(f * n);
  const abs = new Float64Array(f * n);
  for (let t = 0; t < m; t++) {
    const xr = t * f;
    const yr = t * n;
    for (let i = 0; i < f; i++) {
      const xv = x[xr + i];
      if (xv === 0) continue;
      const gr = i * n;
      for (let j = 0; j < n; j++) {
        const p = xv * y[yr + j];
        g[gr + j] += p;
        abs[gr + j] += Math.abs(p);
      }
    }
  }
  return { g, abs };
}

/** f64 reference of Σ_m x[m, i]² for every column i of row-major `x [m, f]`. */
export function columnSumSquaresRef(x: ArrayLike<number>, m: number, f: number): Float64Array {
  const out = new Float64Array(f);
  for (let t = 0; t < m; t++) {
    for (let i = 0; i < f; i++) out[i] += x[t * f + i] * x[t * f + i];
  }
  return out;
}

/** Row `i` of {@link gramRef}: Σ_m x[m, i]·y[m, j] for every j, with Σ_m |x[m, i]·y[m, j]|. */
export function gramRowRef(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  m: number,
  f: number,
  n: number,
  i: number,
): { g: Float64Array; abs: Float64Array } {
  const g = new Float64Array(n);
  const abs = new Float64Array(n);
  for (let t = 0; t < m; t++) {
    const xv = x[t * f + i];
    if (xv === 0) continue;
    for (let j = 0; j < n; j++) {
      const p = xv * y[t * n + j];
      g[j] += p;
      abs[j] += Math.abs(p);
    }
  }
  return { g, abs };
}
