/**
 * Backward of RoPE (src/kernels/rope.ts): the gradient of a rotated row is the gradient rotated
 * by the negative angle, computed in place with the forward's cos/sin table
 * (shaders/backward/rope_backward.wgsl).
 *
 * @module
 */
import { linearGrid, Params, type Recorder } from "../../gpu/recorder.ts";
import { loadShader } from "../../gpu/shader.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import type { RopeOptions, RopeTable } from "../../kernels/rope.ts";
import { checkInt } from "./common.ts";

const SRC = await loadShader("backward/rope_backward.wgsl");

/** Invocations per workgroup. */
const WG = 64;

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
  const fn = "ropeBackward";
  const { heads, headDim, tokensPerSeq: t, batch, past } = options;
  checkInt(fn, "heads", heads, 1);
  checkInt(fn, "tokensPerSeq", t, 0);
  checkInt(fn, "batch", batch, 0);
  checkInt(fn, "past", past, 0);
  if (headDim !== table.headDim) {
    throw new Error(`${fn}: headDim ${headDim} does not match the table's ${table.headDim}`);
  }
  if (past + t > table.maxPositions) {
    throw new Error(
      `${fn}: positions up to ${past + t - 1} exceed the table's ${table.maxPositions} positions`,
    );
  }
  if (g.dtype !== "f32") throw new Error(`${fn}: g must be f32, got ${g.dtype}`);
  const rows = batch * t;
  if (g.size !== rows * heads * headDim) {
    throw new Error(`${fn}: g [${g.shape}] must have ${rows}×${heads * headDim} values`);
  }
  if (rows === 0) return g;
  const half = headDim / 2;
  const vec = half % 4 === 0;
  const halfV = vec ? half / 4 : half;
  const n = rows * heads * halfV;
  const pipe = rec.gpu.pipeline(SRC, { VEC: vec, WG });
  const params = new Params().u32(n).u32(halfV).u32(heads).u32(t).u32(past);
  rec.dispatch(pipe, [g, table.tensor], linearGrid(Math.ceil(n / WG)), params);
  return g;
}
