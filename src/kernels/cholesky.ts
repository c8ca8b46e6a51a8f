/**
 * Symmetric positive (semi-)definite linear solves on the GPU in f32: {@link choleskySolve}
 * solves `(G + shift·I)·X = H` for the normal equations of a least-squares re-fit
 * (`G = XᵀX [F, F]`, `H = XᵀZ [F, N]`), entirely recorded into one {@link Recorder}: no host
 * round trip, so it can be queued behind the dispatches that accumulate G and H.
 *
 * Algorithm (shaders/cholesky.wgsl, block size B = {@link SOLVE_BLOCK}):
 * 1. `shift = damping + jitter·mean|diag G|` (default jitter 1e-6), computed on the GPU. G is
 *    copied (never modified) into a work matrix `A = G + shift·I`, padded to FP = ⌈F/B⌉·B with
 *    the identity; only the lower triangle of G is used.
 * 2. Blocked right-looking Cholesky, per block column k: factor the B × B diagonal block in one
 *    workgroup (unblocked, in place in the work copy) and invert its factor L_kk; the panel below is
 *    `L_ik = A_ik·L_kk⁻ᵀ` (a product with the explicit inverse); the trailing lower triangle is
 *    updated by the register-blocked `A₂₂ −= L₂₁·L₂₁ᵀ` of shaders/gram.wgsl. The forward
 *    substitution `L·Y = H` runs interleaved with it (block step `Y_k = L_kk⁻¹·Y_k`, then
 *    `Y_below −= L₂₁·Y_k`), while the panel is at hand; the backward substitution `Lᵀ·X = Y`
 *    follows, block by block from the last.
 * 3. Pivot policy (deterministic): a pivot `d_j` (the Schur complement's diagonal) below
 *    `pivotTol·a_j`, where `a_j` is the shifted diagonal `G_jj + shift` (default pivotTol 1e-5),
 *    is raised to `pivotTol·a_j` and counted. This is "static pivoting": the factor is then that
 *    of `A + E` with E ≥ 0 diagonal at the clamped pivots, i.e. extra ridge regularisation along
 *    directions in which the pivot had lost its significant digits — numerically collinear or
 *    duplicated channels. An all-zero (dead) channel is not clamped: its pivot is the shift
 *    itself (`d_j = a_j`), and its solution row is 0 when its row of H is 0.
 *
 * `status` ([4] u32) reports: word 0 the flags {@link SOLVE_CLAMPED} (some pivot was clamped),
 * {@link SOLVE_NONPOSITIVE} (some pivot was ≤ 0), {@link SOLVE_INDEFINITE} (some pivot was
 * below −pivotTol·a_j: G + shift is indefinite beyond f32 rounding), {@link SOLVE_NONFINITE}
 * (NaN/Inf on G's diagonal, in a pivot or in X); word 1 the number of clamped pivots; word 2 the
 * first clamped pivot's index (0xffffffff when none); word 3 the f32 bits of the shift applied.
 * Callers should fall back (e.g. keep the original weights) when `flags & SOLVE_FAILED`
 * (INDEFINITE or NONFINITE); CLAMPED or NONPOSITIVE alone mean G is numerically singular and the
 * solution is a regularised one (still finite, with a small normal-equation residual).
 * {@link decodeSolveStatus} unpacks the words.
 *
 * Error behaviour: Cholesky needs no pivoting for stability. The computed factor satisfies
 * `LLᵀ = A + E` with `|E| ≲ c·B·ε·|L||Lᵀ|` (ε = 6e-8, f32; the sums are at most B = 64 terms per
 * block step, accumulated over ⌈F/B⌉ steps), and the substitutions add errors of the same kind.
 * So the normal-equation residual `‖A·X − H‖ / ‖H‖` stays at a few ε·√F whatever the conditioning
 * (≈ 5e-6 at F = 300), while the forward error of X is about `κ(A)·√F·ε` (≈ 6e-4 relative at
 * κ ≈ 400, F = 300, as measured): X is well determined in f32 up to κ ≈ 1e4–1e5; beyond that,
 * only the least-squares objective it achieves is (use `damping` to regularise).
 *
 * Work per solve: F³/3 + 2·F²·N multiply-adds, in about 7·⌈F/B⌉ dispatches. G is always copied
 * (the factorisation never works in the caller's G): the work matrix [FP, FP] f32 is the largest
 * buffer, so F is bounded by the device's storage binding size (F ≤ 5760 at lavapipe's 128 MiB).
 * Pass a {@link CholeskyWorkspace} to reuse the work buffers across solves.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { linearGrid, Params, type Recorder } from "../gpu/recorder.ts";
import { loadShader } from "../gpu/shader.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { assertLoopBudget } from "./canary.ts";
import { recordGemmTN } from "./gram.ts";

const SRC = await loadShader("cholesky.wgsl");

/** Block size B of the factorisation (rows / columns of a diagonal block). */
export const SOLVE_BLOCK = 64;

/** Status flag: some pivot fell below pivotTol × its shifted diagonal and was raised to it. */
export const SOLVE_CLAMPED = 1;
/** Status flag: some pivot was ≤ 0 before clamping. */
export const SOLVE_NONPOSITIVE = 2;
/** Status flag: a NaN or ±Inf on G's diagonal, in a pivot, or in the solution. */
export const SOLVE_NONFINITE = 4;
/** Status flag: some pivot was < −pivotTol × its shifted diagonal (indefinite beyond rounding). */
export const SOLVE_INDEFINITE = 8;
/** Flags after which the solution should not be used. */
export const SOLVE_FAILED = SOLVE_INDEFINITE | SOLVE_NONFINITE;

/** Default relative jitter: `shift = damping + DEFAULT_JITTER·mean|diag G|`. */
export const DEFAULT_JITTER = 1e-6;
/** Default relative pivot tolerance. */
export const DEFAULT_PIVOT_TOL = 1e-5;

const PIPE_WG = 64;

/**
 * Work buffers of {@link choleskySolve} for systems up to `f` unknowns and `n` right-hand sides.
 * Reusable across solves (dispatches are ordered); destroy it when done.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { choleskySolve, CholeskyWorkspace } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const ws = new CholeskyWorkspace(gpu, 2, 1); // G is 2×2, one right-hand side
 * for (const d of [1, 2]) {
 *   const g = gpu.tensor([2, 2], "f32", new Float32Array([d, 0, 0, d]));
 *   const h = gpu.tensor([2, 1], "f32", new Float32Array([d, 2 * d]));
 *   const { x } = gpu.run((rec) => choleskySolve(rec, g, h, { workspace: ws }));
 *   const [a, b] = await x.read(); // [1, 2] for every layer
 *   assert.ok(Math.abs(a - 1) < 1e-4 && Math.abs(b - 2) < 1e-4);
 * }
 * ws.destroy();
 * ```
 */
export class CholeskyWorkspace {
  /** Largest F served. */
  readonly f: number;
  /** Largest N served. */
  readonly n: number;
  /** Work matrix [FP, FP] (the factor, in its lower triangle). */
  readonly a: Tensor;
  /** Shifted diagonal [FP]. */
  readonly dg: Tensor;
  /** Inverses of the diagonal blocks [FP·B]. */
  readonly dinv: Tensor;
  /** Transposed panel [B, FP]. */
  readonly pt: Tensor;
  /** Block of solved rows [B, NP]. */
  readonly yb: Tensor;
  /** Padded right-hand sides [FP, NP] (allocated lazily: unused when F % B == 0, N % 4 == 0). */
  #xw: Tensor | undefined;
  /** [shift, fallback pivot scale]. */
  readonly sc: Tensor;
  readonly #gpu: Pick<Gpu, "tensor">;

  /** Allocates buffers for up to `f` unknowns and `n` right-hand sides. */
  constructor(gpu: Pick<Gpu, "tensor">, f: number, n: number) {
    if (!Number.isInteger(f) || f < 1 || !Number.isInteger(n) || n < 1) {
      throw new Error(`CholeskyWorkspace: f and n must be positive integers, got ${f}, ${n}`);
    }
    this.#gpu = gpu;
    this.f = f;
    this.n = n;
    const fp = padF(f);
    const np = padN(n);
    this.a = gpu.tensor([fp, fp], "f32");
    this.dg = gpu.tensor([fp], "f32");
    this.dinv = gpu.tensor([fp * SOLVE_BLOCK], "f32");
    this.pt = gpu.tensor([SOLVE_BLOCK, fp], "f32");
    this.yb = gpu.tensor([SOLVE_BLOCK, np], "f32");
    this.sc = gpu.tensor([4], "f32");
  }

  /**
   * Padded right-hand sides and solution [FP, NP], allocated on first use (a solve with
   * F % B == 0 and N % 4 == 0 works in its output directly and never allocates it).
   */
  get xw(): Tensor {
    return (this.#xw ??= this.#gpu.tensor([padF(this.f), padN(this.n)], "f32"));
  }

  /** Frees all buffers. */
  destroy(): void {
    for (const t of [this.a, this.dg, this.dinv, this.pt, this.yb, this.sc, this.#xw]) {
      t?.destroy();
    }
  }
}

function padF(f: number): number {
  return Math.ceil(f / SOLVE_BLOCK) * SOLVE_BLOCK;
}

function padN(n: number): number {
  return Math.ceil(n / 4) * 4;
}

/** Options for {@link choleskySolve}. */
export interface CholeskySolveOptions {
  /** Absolute ridge added to the diagonal (default 0). */
  damping?: number;
  /** Relative diagonal jitter: adds `jitter·mean|diag G|` (default {@link DEFAULT_JITTER}). */
  jitter?: number;
  /** Relative pivot tolerance of the clamping policy (default {@link DEFAULT_PIVOT_TOL}). */
  pivotTol?: number;
  /** Solution [F, N] f32 (allocated when absent). */
  out?: Tensor;
  /** Status [4] u32 (allocated when absent; overwritten). */
  status?: Tensor;
  /** Work buffers (allocated per call when absent, and returned). */
  workspace?: CholeskyWorkspace;
}

/** What {@link choleskySolve} returns: tensors whose contents are ready once the recording ran. */
export interface CholeskySolveResult {
  /** The solution X [F, N] f32. */
  x: Tensor;
  /** Status words [4] u32 (see the module doc and {@link decodeSolveStatus}). */
  status: Tensor;
  /** The work buffers used (the caller's, or new ones to reuse or destroy). */
  workspace: CholeskyWorkspace;
}

/** Decoded status words of {@link choleskySolve}. */
export interface SolveStatus {
  /** Raw flag bits. */
  flags: number;
  /** A pivot was clamped (G numerically singular; the solution is regularised). */
  clamped: boolean;
  /** A pivot was ≤ 0 before clamping. */
  nonPositive: boolean;
  /** A pivot was below −pivotTol·a_j: the shifted matrix is indefinite beyond rounding. */
  indefinite: boolean;
  /** A NaN/Inf appeared on G's diagonal, in a pivot or in X. */
  nonFinite: boolean;
  /** `flags & SOLVE_FAILED`: the solution should not be used. */
  failed: boolean;
  /** Number of clamped pivots. */
  clampedCount: number;
  /** Index of the first clamped pivot, or −1. */
  firstClamped: number;
  /** The diagonal shift applied (damping + jitter·mean|diag G|). */
  shift: number;
}

/**
 * Unpacks the status words read back from {@link choleskySolve}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSolveStatus, SOLVE_NONFINITE } from "@sprint-wgpu/toolkit/kernels";
 * const st = decodeSolveStatus([SOLVE_NONFINITE, 0, 0, 0]);
 * assert.equal(st.failed, true); // keep the original weights
 * ```
 */
export function decodeSolveStatus(words: ArrayLike<number>): SolveStatus {
  const flags = words[0] >>> 0;
  const shiftBits = new Uint32Array([words[3] >>> 0]);
  return {
    flags,
    clamped: (flags & SOLVE_CLAMPED) !== 0,
    nonPositive: (flags & SOLVE_NONPOSITIVE) !== 0,
    indefinite: (flags & SOLVE_INDEFINITE) !== 0,
    nonFinite: (flags & SOLVE_NONFINITE) !== 0,
    failed: (flags & SOLVE_FAILED) !== 0,
    clampedCount: words[1] >>> 0,
    firstClamped: (words[2] >>> 0) === 0xffffffff ? -1 : words[2] >>> 0,
    shift: new Float32Array(shiftBits.buffer)[0],
  };
}

function pipe(rec: Recorder, entry: string, defines: Record<string, boolean> = {}) {
  const all: Record<string, number | boolean> = {
    B: SOLVE_BLOCK,
    BB: SOLVE_BLOCK * SOLVE_BLOCK,
    B4: SOLVE_BLOCK / 4,
    PREP: false,
    LOAD_A: false,
    LOAD_H: false,
    POTRF: false,
    TRSM: false,
    TRSV: false,
    STORE: false,
    TRANS: false,
    CHECK: false,
    ...defines,
  };
  return rec.gpu.pipeline(SRC, all, entry);
}

function checkFinite(name: string, v: number, min = 0): void {
  if (!Number.isFinite(v) || v < min) {
    throw new Error(`choleskySolve: ${name} must be finite ≥ ${min}, got ${v}`);
  }
}

/**
 * Records the solution of `(G + shift·I)·X = H` for symmetric positive semi-definite `g [F, F]`
 * and `h [F, N]` (f32), `shift = damping + jitter·mean|diag G|`, by a blocked Cholesky
 * factorisation in f32 on the GPU (see the module doc for the algorithm, the pivot policy and
 * the status flags). `g` and `h` are not modified. Returns `x` [F, N], `status` [4] u32 and the
 * workspace; read `status` (or {@link decodeSolveStatus}) before trusting `x`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { choleskySolve, decodeSolveStatus } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const g = gpu.tensor([2, 2], "f32", new Float32Array([4, 2, 2, 3])); // symmetric positive definite
 * const h = gpu.tensor([2, 1], "f32", new Float32Array([2, 1]));
 * const { x, status, workspace } = gpu.run((rec) => choleskySolve(rec, g, h));
 * assert.equal(decodeSolveStatus(await status.read()).failed, false);
 * const [a, b] = await x.read(); // G·x = h: x = [0.5, 0]
 * assert.ok(Math.abs(a - 0.5) < 1e-5 && Math.abs(b) < 1e-5);
 * workspace.destroy();
 * ```
 */
export function choleskySolve(
  rec: Recorder,
  g: Tensor,
  h: Tensor,
  options: CholeskySolveOptions = {},
): CholeskySolveResult {
  const fn = "choleskySolve";
  if (g.dtype !== "f32" || g.shape.length !== 2 || g.shape[0] !== g.shape[1]) {
    throw new Error(`${fn}: g must be a square f32 [F, F] tensor, got ${g.dtype} [${g.shape}]`);
  }
  const f = g.shape[0];
  if (h.dtype !== "f32" || h.shape.length !== 2 || h.shape[0] !== f) {
    throw new Error(`${fn}: h must be f32 [${f}, N], got ${h.dtype} [${h.shape}]`);
  }
  const n = h.shape[1];
  if (f === 0 || n === 0) throw new Error(`${fn}: F and N must be ≥ 1, got F=${f} N=${n}`);
  const damping = options.damping ?? 0;
  const jitter = options.jitter ?? DEFAULT_JITTER;
  const tol = options.pivotTol ?? DEFAULT_PIVOT_TOL;
  checkFinite("damping", damping);
  checkFinite("jitter", jitter);
  checkFinite("pivotTol", tol);
  const gpu = rec.gpu;
  const out = options.out ?? gpu.tensor([f, n], "f32");
  if (out.dtype !== "f32" || out.size !== f * n) {
    throw new Error(`${fn}: out must be f32 [${f}, ${n}], got ${out.dtype} [${out.shape}]`);
  }
  if (out.buffer === g.buffer || out.buffer === h.buffer) {
    throw new Error(`${fn}: out must not share a buffer with g or h`);
  }
  const status = options.status ?? gpu.tensor([4], "u32");
  if (status.dtype !== "u32" || status.size !== 4) {
    throw new Error(`${fn}: status must be u32 [4], got ${status.dtype} [${status.shape}]`);
  }
  const ws = options.workspace ?? new CholeskyWorkspace(gpu, f, n);
  if (ws.f < f || ws.n < n) {
    throw new Error(`${fn}: workspace serves F ≤ ${ws.f}, N ≤ ${ws.n}; got F=${f} N=${n}`);
  }
  for (const t of [g, h, out, status]) {
    if ([ws.a, ws.dg, ws.dinv, ws.pt, ws.yb, ws.sc].some((w) => w.buffer === t.buffer)) {
      throw new Error(`${fn}: a tensor argument is one of the workspace's buffers`);
    }
  }
  const B = SOLVE_BLOCK;
  // Loop iterations per invocation (each runtime loop also spends one on its exit test):
  // prep ⌈F/256⌉ + 8 tree levels; potrf: load ≤ B, steps B + Σ_j (B−1−j) ≤ B²/2, inverse
  // ≤ B²/2 + 2B, write ≤ B; trsm B/4; trsv B; the trailing products ⌈B/4⌉ (gram.ts checks).
  assertLoopBudget(fn, Math.ceil(f / 256) + 10, `F = ${f} (diagonal scan)`);
  assertLoopBudget(fn, B * B + 6 * B + 8, `block size ${B} (diagonal-block factorisation)`);
  const fp = padF(f);
  const np = padN(n);
  const nb = fp / B;
  const direct = fp === f && np === n;
  const xw = direct ? out : ws.xw;
  const params = (kb = 0) =>
    new Params().u32(f).u32(fp).u32(n).u32(np).u32(kb).f32(damping).f32(jitter).f32(tol);

  // Shift, status reset, A = G + shift·I (padded), right-hand sides.
  rec.dispatch(pipe(rec, "prep", { PREP: true }), [g, ws.sc, status], [1], params());
  rec.dispatch(
    pipe(rec, "load_a", { LOAD_A: true }),
    [g, ws.sc, ws.a, ws.dg],
    linearGrid(Math.ceil((fp * fp) / 4 / PIPE_WG)),
    params(),
  );
  if (direct) rec.copy(h, out, f * n * 4);
  else {
    rec.dispatch(
      pipe(rec, "load_h", { LOAD_H: true }),
      [h, xw],
      linearGrid(Math.ceil((fp * np) / PIPE_WG)),
      params(),
    );
  }

  const potrf = pipe(rec, "potrf", { POTRF: true });
  const trsm = pipe(rec, "trsm", { TRSM: true });
  const fwd = pipe(rec, "trsv", { TRSV: true });
  const bwd = pipe(rec, "trsv", { TRSV: true, TRANS: true });
  const np4Groups = Math.ceil(np / 4 / PIPE_WG);
  for (let k = 0; k < nb; k++) {
    const kb = k * B;
    const rest = fp - kb - B;
    rec.dispatch(potrf, [ws.a, ws.dg, ws.sc, ws.dinv, status], [1], params(kb));
    if (rest > 0) {
      rec.dispatch(trsm, [ws.a, ws.dinv, ws.pt], [Math.ceil(rest / PIPE_WG)], params(kb));
      const panel = { t: ws.pt, off: kb + B, ld: fp };
      recordGemmTN(rec, panel, panel, { t: ws.a, off: (kb + B) * fp + kb + B, ld: fp }, {
        rows: rest,
        cols: rest,
        k: B,
        alpha: -1,
        lower: true,
      });
    }
    rec.dispatch(fwd, [ws.dinv, xw, ws.yb], [np4Groups], params(kb));
    if (rest > 0) {
      recordGemmTN(
        rec,
        { t: ws.pt, off: kb + B, ld: fp },
        { t: ws.yb, off: 0, ld: np },
        { t: xw, off: (kb + B) * np, ld: np },
        { rows: rest, cols: np, k: B, alpha: -1 },
      );
    }
  }
  for (let k = nb - 1; k >= 0; k--) {
    const kb = k * B;
    rec.dispatch(bwd, [ws.dinv, xw, ws.yb], [np4Groups], params(kb));
    if (kb > 0) {
      recordGemmTN(
        rec,
        { t: ws.a, off: kb * fp, ld: fp },
        { t: ws.yb, off: 0, ld: np },
        { t: xw, off: 0, ld: np },
        { rows: kb, cols: np, k: B, alpha: -1 },
      );
    }
  }
  const store = pipe(rec, "store", { STORE: true, CHECK: direct });
  rec.dispatch(
    store,
    direct ? [xw, status] : [xw, status, out],
    linearGrid(Math.ceil((f * n) / PIPE_WG)),
    params(),
  );
  return { x: out, status, workspace: ws };
}
