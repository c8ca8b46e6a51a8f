/**
 * Second-moment accumulation for least-squares re-fitting: the Gram matrix `G += xᵀx`, the cross
 * moments `H += xᵀz` ({@link gramAccumulate}) and the per-channel sums of squares
 * ({@link columnSumSquares}), over calibration batches of tokens `x [M, F]`, `z [M, N]`.
 *
 * The product is register-blocked (shaders/gram.wgsl): every invocation owns a 16 × 16 block of
 * the output and loops over the tokens, four per iteration, reading 16 values of x and 16 of y
 * per token (as vec4s when F, N are multiples of 4) and doing 256 multiply-adds. Because
 * llvmpipe stops a shader invocation after 65,535 loop iterations, the M tokens are split into
 * chunks of at most {@link GRAM_CHUNK_ROWS} rows, one dispatch each, recorded one after another
 * into the same recorder; each dispatch adds its chunk's f32 sums into the output (so the output
 * is f32 sums of f32 partial sums of ≤ 16,384 sequential terms: relative error ≈ 1e-7·√chunk per
 * element for zero-mean terms, ≈ 1e-7·chunk in the worst case). When `y` is `x` (the same
 * buffer), only blocks on or below the diagonal are computed and mirrored, halving the work; the
 * result is then exactly symmetric.
 *
 * @module
 */
import { linearGrid, Params, type Recorder } from "../gpu/recorder.ts";
import { loadShader } from "../gpu/shader.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { assertLoopBudget } from "./canary.ts";

const SRC = await loadShader("gram.wgsl");

/** vec4s of rows of an invocation's output block (block = 16 × 16). */
const R4 = 4;
/** vec4s of columns of an invocation's output block. */
const C4 = 4;
/** Invocations per workgroup (along the output columns). */
const WG = 8;
/** Invocations per workgroup of the column-statistics kernel. */
const WG_COLSQ = 64;
/**
 * Default rows (tokens) per dispatch: each invocation loops over one chunk, well inside the
 * per-invocation loop budget.
 */
export const GRAM_CHUNK_ROWS = 16384;

/** Options for {@link gramAccumulate}. */
export interface GramOptions {
  /**
   * Use only the first `rows` rows (tokens) of `x` and `y` (default: all M). Lets a caller reuse
   * one batch buffer for a shorter final batch.
   */
  rows?: number;
  /** Rows per dispatch (default {@link GRAM_CHUNK_ROWS}; at most the loop budget minus one). */
  chunkRows?: number;
}

/** Options for {@link columnSumSquares}. */
export interface ColumnSumSquaresOptions {
  /** Add into `out` (default true); false overwrites it. */
  accumulate?: boolean;
  /** Use only the first `rows` rows of `x` (default: all M). */
  rows?: number;
  /** Rows per dispatch (default {@link GRAM_CHUNK_ROWS}). */
  chunkRows?: number;
}

/** Operand description for {@link recordGemmTN}: a buffer with an element offset and row stride. */
export interface GemmOperand {
  /** The storage buffer (f32 elements). */
  t: Tensor | GPUBuffer;
  /** Element offset of [0, 0]. */
  off: number;
  /** Row stride in elements. */
  ld: number;
}

/** Shape and flags for {@link recordGemmTN}. */
export interface GemmShape {
  /** Rows of C (columns of X). */
  rows: number;
  /** Columns of C (columns of Y). */
  cols: number;
  /** Rows of X and Y summed over. */
  k: number;
  /** Scale of the product (1: accumulate, −1: subtract). */
  alpha: number;
  /** Only blocks on or below the block diagonal (needs rows == cols). */
  lower?: boolean;
  /** With `lower`, also add each strictly-lower block's transpose (X = Y: symmetric product). */
  mirror?: boolean;
}

function bufOf(t: Tensor | GPUBuffer): GPUBuffer {
  return t instanceof GPUBuffer ? t : t.buffer;
}

/**
 * @internal Records one dispatch of `C[i, j] += alpha·Σ_{m<k} X[m, i]·Y[m, j]` with offsets and
 * strides (see shaders/gram.wgsl); `k` must be within the loop budget. Used by
 * {@link gramAccumulate} and the Cholesky solver's trailing updates (not part of the public API;
 * the tests of both exercise it).
 */
export function recordGemmTN(
  rec: Recorder,
  x: GemmOperand,
  y: GemmOperand,
  c: GemmOperand,
  s: GemmShape,
): void {
  if (s.rows === 0 || s.cols === 0 || s.k === 0) return;
  if ((s.lower || s.mirror) && s.rows !== s.cols) {
    throw new Error("recordGemmTN: lower/mirror need rows == cols");
  }
  assertLoopBudget("gemm_tn", Math.ceil(s.k / 4) + 1, `a chunk of ${s.k} rows`);
  const vec = (o: GemmOperand) => o.off % 4 === 0 && o.ld % 4 === 0;
  const pipe = rec.gpu.pipeline(SRC, {
    R4,
    C4,
    WG,
    XVEC: vec(x),
    YVEC: vec(y),
    CVEC: vec(c) && s.cols % 4 === 0,
    COLSQ: false,
  }, "gemm_tn");
  const rowBlocks = Math.ceil(s.rows / (4 * R4));
  const colBlocks = Math.ceil(s.cols / (4 * C4));
  const gx = Math.ceil(colBlocks / WG);
  const params = new Params()
    .u32(s.rows).u32(s.cols).u32(s.k)
    .u32(x.off).u32(x.ld)
    .u32(y.off).u32(y.ld)
    .u32(c.off).u32(c.ld)
    .f32(s.alpha)
    .u32((s.lower ? 1 : 0) | (s.mirror ? 2 : 0));
  rec.dispatch(pipe, [bufOf(x.t), bufOf(y.t), bufOf(c.t)], [gx, rowBlocks], params);
}

function check2d(fn: string, name: string, t: Tensor): [number, number] {
  if (t.dtype !== "f32" || t.shape.length !== 2) {
    throw new Error(`${fn}: ${name} must be a 2-D f32 tensor, got ${t.dtype} [${t.shape}]`);
  }
  return [t.shape[0], t.shape[1]];
}

function resolveRows(fn: string, m: number, rows: number | undefined): number {
  const r = rows ?? m;
  if (!Number.isInteger(r) || r < 0 || r > m) {
    throw new Error(`${fn}: rows must be an integer in [0, ${m}], got ${rows}`);
  }
  return r;
}

function resolveChunk(fn: string, chunk: number | undefined): number {
  const c = chunk ?? GRAM_CHUNK_ROWS;
  if (!Number.isInteger(c) || c < 1) {
    throw new Error(`${fn}: chunkRows must be a positive integer, got ${chunk}`);
  }
  assertLoopBudget(fn, c + 1, `chunkRows = ${c}`);
  return c;
}

/**
 * Records `g += xᵀ·y` for `x [M, F]`, `y [M, N]`, `g [F, N]` (all f32, row-major): the Gram matrix
 * when `y` is `x` (computed once per symmetric pair of blocks and mirrored, so `g` stays exactly
 * symmetric), the cross moments `xᵀz` otherwise. Any F, N ≥ 1; M is split into dispatches of at
 * most `chunkRows` tokens that accumulate in order. `g` must not share a buffer with `x` or `y`.
 * Returns `g`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { gramAccumulate } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const x = gpu.tensor([3, 2], "f32", new Float32Array([1, 0, 0, 1, 1, 1])); // [m 3, f 2]
 * const z = gpu.tensor([3, 1], "f32", new Float32Array([1, 2, 3]));
 * const g = gpu.tensor([2, 2], "f32"); // zeros
 * const h = gpu.tensor([2, 1], "f32");
 * gpu.run((rec) => {
 *   gramAccumulate(rec, x, x, g); // G += xᵀx
 *   gramAccumulate(rec, x, z, h); // H += xᵀz
 * });
 * assert.deepEqual([...await g.read(), ...await h.read()], [2, 1, 1, 2, 4, 5]);
 * ```
 */
export function gramAccumulate(
  rec: Recorder,
  x: Tensor,
  y: Tensor,
  g: Tensor,
  options: GramOptions = {},
): Tensor {
  const fn = "gramAccumulate";
  const [m, f] = check2d(fn, "x", x);
  const [my, n] = check2d(fn, "y", y);
  const [gf, gn] = check2d(fn, "g", g);
  if (my !== m) throw new Error(`${fn}: x has ${m} rows but y has ${my}`);
  if (gf !== f || gn !== n) throw new Error(`${fn}: g must be [${f}, ${n}], got [${g.shape}]`);
  if (g.buffer === x.buffer || g.buffer === y.buffer) {
    throw new Error(`${fn}: g must not share a buffer with x or y`);
  }
  const rows = resolveRows(fn, m, options.rows);
  const chunk = resolveChunk(fn, options.chunkRows);
  const symmetric = x.buffer === y.buffer && f === n;
  if (x.buffer === y.buffer && !symmetric) {
    throw new Error(`${fn}: x and y share a buffer but have different shapes`);
  }
  for (let m0 = 0; m0 < rows; m0 += chunk) {
    const k = Math.min(chunk, rows - m0);
    recordGemmTN(
      rec,
      { t: x, off: m0 * f, ld: f },
      { t: y, off: m0 * n, ld: n },
      { t: g, off: 0, ld: n },
      { rows: f, cols: n, k, alpha: 1, lower: symmetric, mirror: symmetric },
    );
  }
  return g;
}

/**
 * Records `out[i] (+)= Σ_m x[m, i]²` for `x [M, F]` f32: the squared norm of every input channel
 * over the tokens (the diagonal of xᵀx, without computing the rest). `out` is `[F]` f32
 * (allocated, zero, when absent); `accumulate` (default true) adds into it, false overwrites.
 * Returns `out`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { columnSumSquares } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const x = gpu.tensor([2, 2], "f32", new Float32Array([1, 2, 3, 4]));
 * const q2 = gpu.tensor([2], "f32");
 * gpu.run((rec) => columnSumSquares(rec, x, q2)); // q2 += Σ_m x[m, :]²
 * assert.deepEqual([...await q2.read()], [10, 20]);
 * ```
 */
export function columnSumSquares(
  rec: Recorder,
  x: Tensor,
  out?: Tensor,
  options: ColumnSumSquaresOptions = {},
): Tensor {
  const fn = "columnSumSquares";
  const [m, f] = check2d(fn, "x", x);
  const o = out ?? rec.gpu.tensor([f], "f32");
  if (o.dtype !== "f32" || o.size !== f) {
    throw new Error(`${fn}: out must be f32 [${f}], got ${o.dtype} [${o.shape}]`);
  }
  if (o.buffer === x.buffer) throw new Error(`${fn}: out must not be x`);
  const rows = resolveRows(fn, m, options.rows);
  const chunk = resolveChunk(fn, options.chunkRows);
  if (out && options.accumulate === false) rec.encoder.clearBuffer(o.buffer);
  if (f === 0) return o;
  const vec = f % 4 === 0;
  const pipe = rec.gpu.pipeline(SRC, {
    R4,
    C4,
    WG: WG_COLSQ,
    XVEC: vec,
    YVEC: false,
    CVEC: vec,
    COLSQ: true,
  }, "colsq");
  const grid = linearGrid(Math.ceil((vec ? f / 4 : f) / WG_COLSQ));
  for (let m0 = 0; m0 < rows; m0 += chunk) {
    const k = Math.min(chunk, rows - m0);
    const params = new Params()
      .u32(0).u32(f).u32(k)
      .u32(m0 * f).u32(f)
      .u32(0).u32(0).u32(0).u32(0)
      .f32(1).u32(0);
    rec.dispatch(pipe, [x, o], grid, params);
  }
  return o;
}
