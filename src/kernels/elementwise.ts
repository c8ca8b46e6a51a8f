/**
 * Elementwise kernels of the Llama block: the SwiGLU gate (`silu(gate) · up`) and additions
 * (residual stream). Any size a tensor can have (tens of millions of elements): the dispatch is
 * folded into two dimensions with {@link linearGrid}.
 *
 * @module
 */
import { linearGrid, Params, type Recorder } from "../gpu/recorder.ts";
import { loadShader } from "../gpu/shader.ts";
import type { Tensor } from "../gpu/tensor.ts";

const SRC = await loadShader("elementwise.wgsl");

/** Invocations per workgroup (one element, or one vec4 when the size is a multiple of 4, each). */
const WG = 256;

/** Options for {@link swiglu} and {@link add}. */
export interface ElementwiseOptions {
  /**
   * Output, f32 with the operands' shape (allocated when absent). May be one of the operands
   * (computed in place), but not both at once (`a`, `b` and `out` all the same tensor).
   */
  out?: Tensor;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkOperands(name: string, a: Tensor, b: Tensor, an: string, bn: string): void {
  if (a.dtype !== "f32" || b.dtype !== "f32") {
    throw new Error(`${name}: ${an} and ${bn} must be f32, got ${a.dtype} and ${b.dtype}`);
  }
  if (!sameShape(a.shape, b.shape)) {
    throw new Error(`${name}: ${an} [${a.shape}] and ${bn} [${b.shape}] must have the same shape`);
  }
}

/** Records `out = op(a, b)` (silu(a)·b, a + b or a − b), choosing the in-place form when needed. */
function binary(
  rec: Recorder,
  name: string,
  op: "swiglu" | "add" | "sub",
  a: Tensor,
  b: Tensor,
  out: Tensor | undefined,
): Tensor {
  const result = out ?? rec.gpu.tensor(a.shape, "f32");
  if (result.dtype !== "f32" || !sameShape(result.shape, a.shape)) {
    throw new Error(`${name}: out must be f32 [${a.shape}], got ${result.dtype} [${result.shape}]`);
  }
  if (a.size === 0) return result;
  const vec4 = a.size % 4 === 0;
  const n = vec4 ? a.size / 4 : a.size;
  const grid = linearGrid(Math.ceil(n / WG), rec.gpu.caps.maxWorkgroupsPerDimension);
  const intoA = result.buffer === a.buffer;
  const intoB = result.buffer === b.buffer;
  if (intoA && intoB) {
    throw new Error(`${name}: out cannot be both operands (a and b are the same tensor)`);
  }
  if (intoA || intoB) {
    // One read_write binding for the destination: a buffer cannot be bound twice when one
    // binding is writable.
    const pipe = rec.gpu.pipeline(SRC, {
      WG,
      VEC4: vec4,
      SWIGLU: op === "swiglu",
      SUB: op === "sub",
      INPLACE: true,
    });
    const params = new Params().u32(n).u32(intoB ? 1 : 0);
    rec.dispatch(pipe, intoA ? [a, b] : [b, a], grid, params);
  } else {
    const pipe = rec.gpu.pipeline(SRC, {
      WG,
      VEC4: vec4,
      SWIGLU: op === "swiglu",
      SUB: op === "sub",
      INPLACE: false,
    });
    rec.dispatch(pipe, [a, b, result], grid, new Params().u32(n).u32(0));
  }
  return result;
}

/**
 * Records `out = silu(gate) · up` elementwise (the SwiGLU MLP activation), with
 * `silu(x) = x / (1 + exp(−x))` evaluated without overflow for large |x|. `gate` and `up` are f32
 * of the same shape (typically `[M, F]`); `out` may be `gate` or `up` (in place). Returns `out`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { swiglu } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const gate = gpu.tensor([2], "f32", new Float32Array([0, 1]));
 * const up = gpu.tensor([2], "f32", new Float32Array([5, 2]));
 * const h = gpu.run((rec) => swiglu(rec, gate, up)); // SiLU(gate)·up
 * const [a, b] = await h.read();
 * assert.ok(a === 0 && Math.abs(b - 2 / (1 + Math.exp(-1))) < 1e-6);
 * ```
 */
export function swiglu(
  rec: Recorder,
  gate: Tensor,
  up: Tensor,
  options: ElementwiseOptions = {},
): Tensor {
  checkOperands("swiglu", gate, up, "gate", "up");
  return binary(rec, "swiglu", "swiglu", gate, up, options.out);
}

/**
 * Records `out = a + b` elementwise for f32 tensors of the same shape. `out` may be `a` or `b`
 * (then this is {@link addInto}). Returns `out`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { add } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const a = gpu.tensor([3], "f32", new Float32Array([1, 2, 3]));
 * const b = gpu.tensor([3], "f32", new Float32Array([10, 20, 30]));
 * assert.deepEqual([...await gpu.run((rec) => add(rec, a, b)).read()], [11, 22, 33]);
 * ```
 */
export function add(rec: Recorder, a: Tensor, b: Tensor, options: ElementwiseOptions = {}): Tensor {
  checkOperands("add", a, b, "a", "b");
  return binary(rec, "add", "add", a, b, options.out);
}

/**
 * Records `out = a − b` elementwise for f32 tensors of the same shape. `out` may be `a` or `b`.
 * Returns `out`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { sub } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const y = gpu.tensor([2], "f32", new Float32Array([5, 7]));
 * const r = gpu.tensor([2], "f32", new Float32Array([1, 2]));
 * assert.deepEqual([...await gpu.run((rec) => sub(rec, y, r)).read()], [4, 5]); // target Y − R
 * ```
 */
export function sub(rec: Recorder, a: Tensor, b: Tensor, options: ElementwiseOptions = {}): Tensor {
  checkOperands("sub", a, b, "a", "b");
  return binary(rec, "sub", "sub", a, b, options.out);
}

/**
 * Records `acc += b` in place (the residual add) for f32 tensors of the same shape. `b` must be
 * a different tensor from `acc`. Returns `acc`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { addInto } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const hidden = gpu.tensor([2], "f32", new Float32Array([1, 1]));
 * const attnOut = gpu.tensor([2], "f32", new Float32Array([2, 3]));
 * gpu.run((rec) => addInto(rec, hidden, attnOut));
 * assert.deepEqual([...await hidden.read()], [3, 4]);
 * ```
 */
export function addInto(rec: Recorder, acc: Tensor, b: Tensor): Tensor {
  checkOperands("addInto", acc, b, "acc", "b");
  if (acc.buffer === b.buffer) throw new Error("addInto: b must be a different tensor from acc");
  return binary(rec, "addInto", "add", acc, b, acc);
}

const SCALE_SRC = await loadShader("scale.wgsl");

/**
 * Records `out = alpha · x` for an f32 tensor (in place when `out` is `x` or absent with
 * `inPlace`). Returns `out`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { scale } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const u = gpu.tensor([2], "f32", new Float32Array([1, 3]));
 * gpu.run((rec) => scale(rec, u, 2, { out: u })); // u *= 2
 * assert.deepEqual([...await u.read()], [2, 6]);
 * ```
 */
export function scale(
  rec: Recorder,
  x: Tensor,
  alpha: number,
  options: ElementwiseOptions = {},
): Tensor {
  if (x.dtype !== "f32") throw new Error(`scale: x must be f32, got ${x.dtype}`);
  if (!Number.isFinite(alpha)) throw new Error(`scale: alpha must be finite, got ${alpha}`);
  const out = options.out ?? rec.gpu.tensor(x.shape, "f32");
  if (out.dtype !== "f32" || out.size !== x.size) {
    throw new Error(
      `scale: out must be f32 with ${x.size} elements, got ${out.dtype} [${out.shape}]`,
    );
  }
  if (x.size === 0) return out;
  const vec4 = x.size % 4 === 0;
  const n = vec4 ? x.size / 4 : x.size;
  const grid = linearGrid(Math.ceil(n / WG), rec.gpu.caps.maxWorkgroupsPerDimension);
  const inPlace = out.buffer === x.buffer;
  const pipe = rec.gpu.pipeline(SCALE_SRC, { WG, VEC4: vec4, INPLACE: inPlace });
  rec.dispatch(pipe, inPlace ? [out] : [x, out], grid, new Params().u32(n).f32(alpha));
  return out;
}
