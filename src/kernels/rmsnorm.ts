/**
 * RMS normalisation (Llama's `LlamaRMSNorm`): `y = x · 1/sqrt(mean(x²) + eps) · weight` over the
 * last dimension, computed in f32.
 *
 * @module
 */
import { linearGrid, Params, type Recorder } from "../gpu/recorder.ts";
import { loadShader } from "../gpu/shader.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { assertLoopBudget } from "./canary.ts";
import { rowWorkgroupSize } from "./reduce.ts";

const SRC = await loadShader("rmsnorm.wgsl");

/** Invocations per workgroup (one workgroup per row). */

/** Options for {@link rmsnorm}. */
export interface RmsnormOptions {
  /** Output `[..., D]` f32 (allocated when absent). May be `x` itself (normalised in place). */
  out?: Tensor;
}

/**
 * Records `out[r, :] = x[r, :] / sqrt(mean(x[r, :]²) + eps) · weight` for `x` of shape
 * `[..., D]` (f32; every leading index is a row) and `weight` `[D]` (f32, or f16 on a device with
 * shader-f16; arithmetic is f32 either way). `out` may be `x` (in place). Returns `out`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { rmsnorm } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const x = gpu.tensor([2, 4], "f32", new Float32Array([1, 1, 1, 1, 0, 0, 0, 2]));
 * const w = gpu.tensor([4], "f32", new Float32Array([1, 1, 1, 2]));
 * const y = gpu.run((rec) => rmsnorm(rec, x, w, 0)); // x / rms(x) · w, per row
 * assert.deepEqual([...await y.read()], [1, 1, 1, 2, 0, 0, 0, 4]);
 * ```
 */
export function rmsnorm(
  rec: Recorder,
  x: Tensor,
  weight: Tensor,
  eps: number,
  options: RmsnormOptions = {},
): Tensor {
  if (x.dtype !== "f32") throw new Error(`rmsnorm: x must be f32, got ${x.dtype}`);
  if (x.shape.length < 1) throw new Error("rmsnorm: x must have at least one dimension");
  const d = x.shape[x.shape.length - 1];
  if (weight.shape.length !== 1 || weight.shape[0] !== d) {
    throw new Error(`rmsnorm: weight must be [${d}], got [${weight.shape}]`);
  }
  if (weight.dtype !== "f32" && weight.dtype !== "f16") {
    throw new Error(`rmsnorm: weight must be f32 or f16, got ${weight.dtype}`);
  }
  if (weight.dtype === "f16" && !rec.gpu.caps.f16) {
    throw new Error("rmsnorm: an f16 weight needs the shader-f16 feature");
  }
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`rmsnorm: invalid eps ${eps}`);
  const out = options.out ?? rec.gpu.tensor(x.shape, "f32");
  if (out.dtype !== "f32" || out.size !== x.size) {
    throw new Error(`rmsnorm: out must be f32 [${x.shape}], got ${out.dtype} [${out.shape}]`);
  }
  if (out.buffer === weight.buffer) throw new Error("rmsnorm: out must not be the weight");
  const m = d === 0 ? 0 : x.size / d;
  if (m === 0) return out;
  const vec4 = d % 4 === 0;
  const cols = vec4 ? d / 4 : d;
  const wg = rowWorkgroupSize(cols);
  assertLoopBudget("rmsnorm", 2 * Math.ceil(cols / wg) + 2 + Math.log2(wg), `D = ${d}`);
  const inPlace = out.buffer === x.buffer;
  const pipe = rec.gpu.pipeline(SRC, { WG: wg, WT: weight.dtype, INPLACE: inPlace, VEC4: vec4 });
  const params = new Params().u32(m).u32(d).f32(eps);
  rec.dispatch(pipe, inPlace ? [x, weight] : [x, weight, out], linearGrid(m), params);
  return out;
}
