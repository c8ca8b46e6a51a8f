/**
 * The two weight layouts a {@link Linear} can have, in one place for the code that reads weights
 * back or replaces them: `rows` (the packed `[KP, NP]` layout of {@link packLinear}, which every
 * kernel takes, backward ones included) and `tiled` (`[NP/16, K, 16]` of {@link packLinearTiled},
 * ≈ 3× the decode GEMV read rate on llvmpipe; forward kernels `matmul`/`gemv` only).
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type Linear, packLinear, unpackWeightHost } from "./matmul.ts";
import { packLinearTiled } from "./gemv.ts";

/** How a {@link Linear}'s weight is laid out on the device. */
export type WeightLayout = "rows" | "tiled";

/** The layout of `lin`'s weight (`tiled` when it is rank 3). */
export function linearLayout(lin: Linear): WeightLayout {
  return lin.weight.shape.length === 3 ? "tiled" : "rows";
}

/** Whether a weight with `inFeatures` inputs can take the tiled layout (K a multiple of 4). */
export function canTile(inFeatures: number): boolean {
  return inFeatures % 4 === 0;
}

/**
 * Packs an HF-layout weight `[out, in]` in `layout` (`tiled` falls back to `rows` when the input
 * size is not a multiple of 4). Options as for {@link packLinear}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { linearLayout, packLinearAs } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const w = new Float32Array(3 * 8).map((_, i) => i);
 * assert.equal(linearLayout(packLinearAs(gpu, "tiled", w, 3, 8, { dtype: "f32" })), "tiled");
 * assert.equal(linearLayout(packLinearAs(gpu, "tiled", w.subarray(0, 15), 3, 5)), "rows");
 * ```
 */
export function packLinearAs(
  gpu: Gpu,
  layout: WeightLayout,
  w: ArrayLike<number>,
  outFeatures: number,
  inFeatures: number,
  options: { bias?: ArrayLike<number>; dtype?: "f32" | "f16" } = {},
): Linear {
  if (layout === "tiled" && canTile(inFeatures)) {
    const dtype = options.dtype ?? gpu.weightDType;
    return packLinearTiled(gpu, w, outFeatures, inFeatures, dtype, options.bias);
  }
  return packLinear(gpu, w, outFeatures, inFeatures, options);
}

/**
 * The HF-layout weight `[out, in]` (f32) from the device values of `lin.weight` (as read back by
 * `readTensors`/`Tensor.read`), for either layout.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { packLinearAs, unpackLinearHost } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const w = new Float32Array(17 * 8).map((_, i) => i - 60);
 * for (const layout of ["rows", "tiled"] as const) {
 *   const lin = packLinearAs(gpu, layout, w, 17, 8, { dtype: "f32" });
 *   assert.deepEqual(unpackLinearHost(lin, await lin.weight.read()), w);
 * }
 * ```
 */
export function unpackLinearHost(
  lin: Linear,
  values: ArrayLike<number>,
): Float32Array<ArrayBuffer> {
  const n = lin.outFeatures;
  const k = lin.inFeatures;
  if (linearLayout(lin) === "rows") return unpackWeightHost(values, n, k);
  const out = new Float32Array(n * k);
  for (let o = 0; o < n; o++) {
    const base = Math.floor(o / 16) * k * 16 + (o % 16);
    for (let i = 0; i < k; i++) out[o * k + i] = values[base + i * 16];
  }
  return out;
}
