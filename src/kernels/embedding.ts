/**
 * Token embedding lookup: gathers rows of an embedding table `[V, D]` (f32, or f16 on a device
 * with shader-f16) into f32 activations `[M, D]`.
 *
 * Out-of-range ids: ids given as a host array are validated and an id ≥ V (or not an integer)
 * throws before anything is recorded; ids already in a GPU tensor cannot be checked without a
 * read-back, so the shader writes a row of zeros for an id ≥ V (never reading out of bounds).
 *
 * @module
 */
import { linearGrid, Params, type Recorder } from "../gpu/recorder.ts";
import { loadShader } from "../gpu/shader.ts";
import { Tensor } from "../gpu/tensor.ts";
import { ChunkedTensor } from "../gpu/chunked.ts";

const SRC = await loadShader("embedding.wgsl");

/** Invocations per workgroup (one output element each). */
const WG = 256;

/** Options for {@link embedding}. */
export interface EmbeddingOptions {
  /** Output `[M, D]` f32 (allocated when absent). */
  out?: Tensor;
}

/**
 * Checks host token ids (integers in [0, `limit`)) and returns them as a Uint32Array; `what`
 * names the argument in the error.
 */
export function checkHostIds(
  name: string,
  what: string,
  ids: ArrayLike<number>,
  limit: number,
): Uint32Array<ArrayBuffer> {
  const out = new Uint32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= limit) {
      throw new Error(`${name}: ${what}[${i}] = ${id} is out of range [0, ${limit})`);
    }
    out[i] = id;
  }
  return out;
}

/**
 * Records `out[r, :] = table[ids[r], :]` (as f32) for `ids` u32 `[M]` (a tensor, or a host array
 * that is validated and uploaded) and `table` `[V, D]`. A host id outside [0, V) throws; an id
 * ≥ V in a GPU tensor gives a row of zeros. Returns `out` `[M, D]`. A {@link ChunkedTensor}
 * table (split across storage bindings) is gathered with one dispatch per chunk.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { embedding } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const table = gpu.tensor([4, 2], "f32", new Float32Array([0, 0, 1, 1, 2, 2, 3, 3]));
 * const h = gpu.run((rec) => embedding(rec, [3, 1], table));
 * assert.deepEqual([...await h.read()], [3, 3, 1, 1]);
 * ```
 */
export function embedding(
  rec: Recorder,
  ids: Tensor | ArrayLike<number>,
  table: Tensor | ChunkedTensor,
  options: EmbeddingOptions = {},
): Tensor {
  if (table instanceof ChunkedTensor && table.single) table = table.single;
  if (table.shape.length !== 2) {
    throw new Error(`embedding: table must be [V, D], got [${table.shape}]`);
  }
  if (table.dtype !== "f32" && table.dtype !== "f16") {
    throw new Error(`embedding: table must be f32 or f16, got ${table.dtype}`);
  }
  if (table.dtype === "f16" && !rec.gpu.caps.f16) {
    throw new Error("embedding: an f16 table needs the shader-f16 feature");
  }
  const [v, d] = table.shape;
  let idsT: Tensor;
  if (ids instanceof Tensor) {
    if (ids.dtype !== "u32" || ids.shape.length !== 1) {
      throw new Error(`embedding: ids must be u32 [M], got ${ids.dtype} [${ids.shape}]`);
    }
    idsT = ids;
  } else {
    idsT = rec.gpu.tensor([ids.length], "u32", checkHostIds("embedding", "ids", ids, v));
  }
  const m = idsT.size;
  const out = options.out ?? rec.gpu.tensor([m, d], "f32");
  if (out.dtype !== "f32" || out.size !== m * d) {
    throw new Error(`embedding: out must be f32 [${m}, ${d}], got ${out.dtype} [${out.shape}]`);
  }
  const chunks = table instanceof ChunkedTensor
    ? table.chunks
    : [{ start: 0, rows: v, tensor: table }];
  if (chunks.some((c) => out.buffer === c.tensor.buffer) || out.buffer === idsT.buffer) {
    throw new Error("embedding: out must not be the table or the ids");
  }
  if (m * d === 0) return out;
  const chunked = table instanceof ChunkedTensor;
  const pipe = rec.gpu.pipeline(SRC, { WG, WT: table.dtype, CHUNKED: chunked });
  const grid = linearGrid(Math.ceil((m * d) / WG), rec.gpu.caps.maxWorkgroupsPerDimension);
  chunks.forEach((c, i) => {
    const params = new Params().u32(m).u32(d).u32(c.rows).u32(c.start).u32(v).u32(i === 0 ? 1 : 0);
    rec.dispatch(pipe, [idsT, c.tensor, out], grid, params);
  });
  return out;
}
