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
 * ropeBackward(rec, dq, table, { heads: 8, headDim: 64, tokensPerSeq: 70, batch: 2, past: 0 });
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
