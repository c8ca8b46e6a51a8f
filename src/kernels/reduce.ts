/**
 * Sums on the GPU in f32 with a tree structure: per row ({@link sumRows},
 * {@link sumSquaresRows}) and over a whole tensor ({@link sum}, {@link sumSquares}).
 *
 * A whole-tensor sum runs in two dispatches: up to 1024 workgroups of 256 invocations each add a
 * grid-strided share of the elements (at most 128 per invocation for the largest tensor a
 * binding can hold, read as 32 vec4s when n % 4 == 0) and combine them in a workgroup-memory
 * tree; one workgroup then combines the ≤ 1024 partial sums the same way. Every element passes
 * through at most ⌈n / 262,144⌉ + 20 rounded additions (fewer with vec4 reads), so the error
 * bound is ≈ that many units of roundoff times Σ|x|, not n of them as for a sequential sum, and
 * no invocation comes near llvmpipe's per-invocation loop cap. The partial sums live in one 4 KiB
 * scratch buffer per device, reused by every call (dispatches are ordered, so calls recorded one
 * after another do not interfere).
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { linearGrid, Params, type Recorder } from "../gpu/recorder.ts";
import { loadShader } from "../gpu/shader.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { assertLoopBudget } from "./canary.ts";

const SRC = await loadShader("reduce.wgsl");

/** Invocations per workgroup. */
const WG = 256;
/** Most workgroups of the first stage of a whole-tensor sum (= entries of the scratch buffer). */
const MAX_PARTIALS = 1024;
/** Fewest elements per invocation before the first stage uses more workgroups. */
const MIN_PER_INVOCATION = 8;

/** The device's partial-sums scratch (one per device, in its workspace). */
function scratchFor(gpu: Pick<Gpu, "tensor" | "workspace">): Tensor {
  return gpu.workspace.entry("reduce.partials", "", () => gpu.tensor([MAX_PARTIALS], "f32"));
}

/** Options for the reductions. */
export interface ReduceOptions {
  /** Output f32 (`[M]` for the row sums, one element for the totals); allocated when absent. */
  out?: Tensor;
}

function checkInput(name: string, x: Tensor): void {
  if (x.dtype !== "f32") throw new Error(`${name}: x must be f32, got ${x.dtype}`);
}

function checkOut(name: string, x: Tensor, out: Tensor, size: number, shape: number[]): void {
  if (out.dtype !== "f32" || out.size !== size) {
    throw new Error(`${name}: out must be f32 [${shape}], got ${out.dtype} [${out.shape}]`);
  }
  if (out.buffer === x.buffer) throw new Error(`${name}: out must not be x`);
}

function rowReduce(
  rec: Recorder,
  name: string,
  square: boolean,
  x: Tensor,
  options: ReduceOptions,
): Tensor {
  checkInput(name, x);
  if (x.shape.length < 1) throw new Error(`${name}: x must be [M, D]`);
  const d = x.shape[x.shape.length - 1];
  const m = d === 0 ? numelLeading(x.shape) : x.size / d;
  const shape = x.shape.length > 1 ? x.shape.slice(0, -1) : [1];
  const out = options.out ?? rec.gpu.tensor(shape, "f32");
  checkOut(name, x, out, m, shape);
  if (m === 0) return out;
  if (d === 0) {
    rec.encoder.clearBuffer(out.buffer);
    return out;
  }
  const vec4 = d % 4 === 0;
  const cols = vec4 ? d / 4 : d;
  const wg = rowWorkgroupSize(cols);
  assertLoopBudget(name, Math.ceil(cols / wg) + 1 + Math.log2(wg), `D = ${d}`);
  const pipe = rec.gpu.pipeline(SRC, { WG: wg, SQUARE: square, VEC4: vec4 }, "rows");
  rec.dispatch(pipe, [x, out], linearGrid(m), new Params().u32(m).u32(cols));
  return out;
}

/**
 * Invocations per workgroup of a row kernel (one workgroup per row) over `cols` columns: about
 * 64 columns per invocation, at least one 8-lane SIMD batch and at most {@link WG}. On llvmpipe
 * each extra SIMD batch of a workgroup costs a coroutine switch at every barrier of the
 * workgroup reduction, so a short row spread over 256 invocations is bound by that overhead
 * rather than by memory.
 */
export function rowWorkgroupSize(cols: number): number {
  let wg = 8;
  while (wg < WG && wg * ROW_COLS_PER_INVOCATION < cols) wg *= 2;
  return wg;
}

/** Target columns (or vec4 columns) per invocation of a row kernel. */
const ROW_COLS_PER_INVOCATION = 64;

function numelLeading(shape: readonly number[]): number {
  return shape.slice(0, -1).reduce((a, b) => a * b, 1);
}

/**
 * Records `out[r] = Σ_j x[r, j]` for f32 `x` `[..., D]` (every leading index is a row).
 * Returns `out`, f32 with the leading shape (`[M]` for `[M, D]`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { sumRows } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const x = gpu.tensor([2, 3], "f32", new Float32Array([1, 2, 3, 4, 5, 6]));
 * assert.deepEqual([...await gpu.run((rec) => sumRows(rec, x)).read()], [6, 15]);
 * ```
 */
export function sumRows(rec: Recorder, x: Tensor, options: ReduceOptions = {}): Tensor {
  return rowReduce(rec, "sumRows", false, x, options);
}

/**
 * Records `out[r] = Σ_j x[r, j]²` for f32 `x` `[..., D]` (every leading index is a row).
 * Returns `out`, f32 with the leading shape (`[M]` for `[M, D]`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { sumSquaresRows } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const x = gpu.tensor([2, 2], "f32", new Float32Array([1, 2, 3, 4]));
 * assert.deepEqual([...await gpu.run((rec) => sumSquaresRows(rec, x)).read()], [5, 25]);
 * ```
 */
export function sumSquaresRows(rec: Recorder, x: Tensor, options: ReduceOptions = {}): Tensor {
  return rowReduce(rec, "sumSquaresRows", true, x, options);
}

function totalReduce(
  rec: Recorder,
  name: string,
  square: boolean,
  x: Tensor,
  options: ReduceOptions,
): Tensor {
  checkInput(name, x);
  const out = options.out ?? rec.gpu.tensor([1], "f32");
  checkOut(name, x, out, 1, [1]);
  const n = x.size;
  if (n === 0) {
    rec.encoder.clearBuffer(out.buffer);
    return out;
  }
  const groups = Math.min(MAX_PARTIALS, Math.ceil(n / (WG * MIN_PER_INVOCATION)));
  const vec4 = n % 4 === 0;
  const items = vec4 ? n / 4 : n;
  assertLoopBudget(name, Math.ceil(items / (groups * WG)) + 1 + Math.log2(WG), `${n} elements`);
  const first = rec.gpu.pipeline(SRC, { WG, SQUARE: square, VEC4: vec4 }, "total");
  if (groups === 1) {
    rec.dispatch(first, [x, out], [1], new Params().u32(items).u32(1));
    return out;
  }
  const partials = scratchFor(rec.gpu);
  if (partials.buffer === x.buffer || partials.buffer === out.buffer) {
    throw new Error(`${name}: x and out must not be the reduction scratch buffer`);
  }
  rec.dispatch(first, [x, partials], [groups], new Params().u32(items).u32(groups));
  const vec4b = groups % 4 === 0;
  const second = rec.gpu.pipeline(SRC, { WG, SQUARE: false, VEC4: vec4b }, "total");
  const params = new Params().u32(vec4b ? groups / 4 : groups).u32(1);
  rec.dispatch(second, [partials, out], [1], params);
  return out;
}

/**
 * Records the sum of all elements of f32 `x` (any shape and size) into one f32 element, as a
 * two-stage tree reduction on the GPU (see the module doc for its error behaviour).
 * Returns `out` (`[1]` when allocated).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { sum } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const x = gpu.tensor([3], "f32", new Float32Array([1, 2, 3]));
 * assert.deepEqual([...await gpu.run((rec) => sum(rec, x)).read()], [6]);
 * ```
 */
export function sum(rec: Recorder, x: Tensor, options: ReduceOptions = {}): Tensor {
  return totalReduce(rec, "sum", false, x, options);
}

/**
 * Records the sum of the squares of all elements of f32 `x` (the squared Frobenius norm) into
 * one f32 element, like {@link sum}. Returns `out` (`[1]` when allocated).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { sumSquares } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const x = gpu.tensor([2], "f32", new Float32Array([3, 4]));
 * assert.deepEqual([...await gpu.run((rec) => sumSquares(rec, x)).read()], [25]);
 * ```
 */
export function sumSquares(rec: Recorder, x: Tensor, options: ReduceOptions = {}): Tensor {
  return totalReduce(rec, "sumSquares", true, x, options);
}
