/**
 * Backward of RoPE (src/kernels/rope.ts): the gradient of a rotated row is the gradient rotated
 * by the negative angle, computed in place with the forward's cos/sin table by the forward kernel
 * itself (`rope` with `inverse: true`).
 *
 * @module
 */
import type { Recorder } from "../../gpu/recorder.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { rope, type RopeOptions, type RopeTable } from "../../kernels/rope.ts";

/**
 * Records the in-place backward of {@link rope}: `g` (`[B·T, heads·hd]` f32, the gradient with
 * respect to the rotated tensor) becomes the gradient with respect to the unrotated one, for the
 * same table and options as the forward (positions past … past+T−1 of each sequence). Returns `g`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { rope, ropeTable } from "@sprint-wgpu/toolkit/kernels";
 * import { ropeBackward } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const table = ropeTable(gpu, { headDim: 2, theta: 10000, maxPositions: 4 });
 * const g = gpu.tensor([2, 2], "f32", new Float32Array([1, 2, 3, 4])); // 2 tokens, 1 head of 2
 * const pos = { heads: 1, headDim: 2, tokensPerSeq: 2, batch: 1, past: 0 };
 * gpu.run((rec) => {
 *   rope(rec, g, table, pos);
 *   ropeBackward(rec, g, table, pos); // the transpose of a rotation undoes it
 * });
 * const r = await g.read();
 * assert.ok([1, 2, 3, 4].every((v, i) => Math.abs(r[i] - v) < 1e-5));
 * ```
 */
export function ropeBackward(
  rec: Recorder,
  g: Tensor,
  table: RopeTable,
  options: RopeOptions,
): Tensor {
  return rope(rec, g, table, { ...options, inverse: true });
}
