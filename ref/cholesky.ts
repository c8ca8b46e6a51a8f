/**
 * f64 references for the linear solver (src/kernels/cholesky.ts): a dense solve with LU and
 * partial pivoting, and the residual measures the tests compare with.
 *
 * @module
 */

/** An f64 LU factorisation with row pivoting of a square matrix (see {@link luFactorF64}). */
export interface LuF64 {
  /** Size. */
  f: number;
  /** L (unit, below the diagonal) and U (on and above), row-major, rows permuted. */
  lu: Float64Array;
  /** perm[i]: original row of factor row i. */
  perm: Int32Array;
}

/**
 * LU factorisation with partial (row) pivoting of `a + damping·I` for row-major `a [f, f]` in
 * f64. Throws when a pivot is exactly zero.
 */
export function luFactorF64(a: ArrayLike<number>, f: number, damping = 0): LuF64 {
  const lu = Float64Array.from(a as ArrayLike<number>);
  for (let i = 0; i < f; i++) lu[i * f + i] += damping;
  const perm = Int32Array.from({ length: f }, (_, i) => i);
  for (let k = 0; k < f; k++) {
    let p = k;
    for (let i = k + 1; i < f; i++) if (Math.abs(lu[i * f + k]) > Math.abs(lu[p * f + k])) p = i;
    if (lu[p * f + k] === 0) throw new Error(`luFactorF64: singular matrix (column ${k})`);
    if (p !== k) {
      for (let j = 0; j < f; j++) [lu[k * f + j], lu[p * f + j]] = [lu[p * f + j], lu[k * f + j]];
      [perm[k], perm[p]] = [perm[p], perm[k]];
    }
    const piv = lu[k * f + k];
    for (let i = k + 1; i < f; i++) {
      const l = lu[i * f + k] / piv;
      lu[i * f + k] = l;
      if (l === 0) continue;
      for (let j = k + 1; j < f; j++) lu[i * f + j] -= l * lu[k * f + j];
    }
  }
  return { f, lu, perm };
}

/** Solves with an {@link luFactorF64} factorisation for row-major `b [f, n]`; returns X [f, n]. */
export function luSolveF64(fac: LuF64, b: ArrayLike<number>, n: number): Float64Array {
  const { f, lu, perm } = fac;
  const x = new Float64Array(f * n);
  for (let i = 0; i < f; i++) {
    for (let j = 0; j < n; j++) x[i * n + j] = b[perm[i] * n + j];
  }
  for (let i = 0; i < f; i++) {
    for (let k = 0; k < i; k++) {
      const l = lu[i * f + k];
      if (l === 0) continue;
      for (let j = 0; j < n; j++) x[i * n + j] -= l * x[k * n + j];
    }
  }
  for (let i = f - 1; i >= 0; i--) {
    for (let k = i + 1; k < f; k++) {
      const u = lu[i * f + k];
      if (u === 0) continue;
      for (let j = 0; j < n; j++) x[i * n + j] -= u * x[k * n + j];
    }
    const piv = lu[i * f + i];
    for (let j = 0; j < n; j++) x[i * n + j] /= piv;
  }
  return x;
}

/**
 * Solves `(G + damping·I)·X = H` in f64 by LU factorisation with partial (row) pivoting, for
 * row-major `g [f, f]`, `h [f, n]`; returns X `[f, n]` row-major. Works for any non-singular
 * matrix (symmetric or not, definite or not); throws when a pivot is exactly zero.
 *
 * @example
 * ```ts
 * const x = solveHostF64(new Float64Array([4, 1, 1, 3]), new Float64Array([1, 2]), 2, 1, 0);
 * ```
 */
export function solveHostF64(
  g: ArrayLike<number>,
  h: ArrayLike<number>,
  f: number,
  n: number,
  damping: number,
): Float64Array {
  return luSolveF64(luFactorF64(g, f, damping), h, n);
}

/** The diagonal shift choleskySolve applies: `damping + jitter·mean|diag G|` (f64). */
export function shiftRef(g: ArrayLike<number>, f: number, damping: number, jitter: number): number {
  let s = 0;
  for (let i = 0; i < f; i++) s += Math.abs(g[i * f + i]);
  return damping + (jitter * s) / f;
}

/** Frobenius norm. */
export function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** `‖(G + shift·I)·X − H‖_F / ‖H‖_F` in f64 (row-major `g [f, f]`, `x`, `h [f, n]`). */
export function relativeResidual(
  g: ArrayLike<number>,
  x: ArrayLike<number>,
  h: ArrayLike<number>,
  f: number,
  n: number,
  shift: number,
): number {
  let r2 = 0;
  const row = new Float64Array(n);
  for (let i = 0; i < f; i++) {
    for (let j = 0; j < n; j++) row[j] = shift * x[i * n + j] - h[i * n + j];
    for (let k = 0; k < f; k++) {
      const gik = g[i * f + k];
      if (gik === 0) continue;
      for (let j = 0; j < n; j++) row[j] += gik * x[k * n + j];
    }
    for (let j = 0; j < n; j++) r2 += row[j] * row[j];
  }
  return Math.sqrt(r2) / norm(h);
}

/**
 * Least-squares objective `‖A·X − Z‖_F²` for row-major `a [m, f]`, `x [f, n]`, `z [m, n]` in f64
 * (the quantity the normal equations minimise).
 */
export function lsqObjective(
  a: ArrayLike<number>,
  x: ArrayLike<number>,
  z: ArrayLike<number>,
  m: number,
  f: number,
  n: number,
): number {
  let s = 0;
  const row = new Float64Array(n);
  for (let t = 0; t < m; t++) {
    for (let j = 0; j < n; j++) row[j] = -z[t * n + j];
    for (let k = 0; k < f; k++) {
      const v = a[t * f + k];
      if (v === 0) continue;
      for (let j = 0; j < n; j++) row[j] += v * x[k * n + j];
    }
    for (let j = 0; j < n; j++) s += row[j] * row[j];
  }
  return s;
}

/**
 * 2-norm condition number estimate of a symmetric positive definite row-major `a + shift·I`
 * (f64): λ_max by power iteration, λ_min by inverse iteration (one LU factorisation).
 */
export function condSpd(a: ArrayLike<number>, f: number, shift = 0, iters = 60): number {
  const fac = luFactorF64(a, f, shift);
  const mul = (v: Float64Array) => {
    const o = new Float64Array(f);
    for (let i = 0; i < f; i++) {
      let s = 0;
      for (let k = 0; k < f; k++) s += a[i * f + k] * v[k];
      o[i] = s + shift * v[i];
    }
    return o;
  };
  const unit = (v: Float64Array) => {
    const s = norm(v);
    return v.map((e) => e / s);
  };
  let v = unit(Float64Array.from({ length: f }, (_, i) => 1 + ((i * 7) % 5)));
  let lmax = 0;
  for (let t = 0; t < iters; t++) {
    const w = mul(v);
    lmax = norm(w);
    v = unit(w);
  }
  let u = unit(Float64Array.from({ length: f }, (_, i) => 1 + ((i * 3) % 7)));
  let lmin = 0;
  for (let t = 0; t < iters; t++) {
    const w = luSolveF64(fac, u, 1);
    lmin = 1 / norm(w);
    u = unit(w);
  }
  return lmax / lmin;
}
