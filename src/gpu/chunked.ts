/**
 * Tensors split across bindings: a 2-D tensor `[R, C]` whose rows are stored in consecutive
 * chunks, each its own GPU buffer that fits the device's `maxStorageBufferBindingSize` and
 * `maxBufferSize` (128 MiB on lavapipe and in WebGPU's defaults). The vocabulary tables of real
 * checkpoints (Llama-2-7B's 32000 × 4096, Llama-3's 128256 × 2048…4096 embedding and LM head)
 * exceed one binding; kernels over them (embedding gather, LM head) dispatch once per chunk.
 *
 * The chunk size is the device limit, or less when forced (for tests of the chunk logic on tiny
 * models): {@link setChunkBytesLimit} or the environment variable `SPRINT_WGPU_CHUNK_BYTES`.
 *
 * @module
 */
import type { Gpu } from "./device.ts";
import { type DType, DTYPE_BYTES, numel, Tensor } from "./tensor.ts";
import { ToolkitError } from "../errors.ts";

let forcedChunkBytes: number | undefined;

/**
 * Forces chunks of at most `bytes` bytes (below the device limits), or restores the default
 * with `undefined`. For tests of the chunk logic on tiny models.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chunkBytesLimit, getGpu, setChunkBytesLimit } from "@sprint-wgpu/toolkit/gpu";
 * const gpu = await getGpu();
 * setChunkBytesLimit(4096); // every vocabulary table is split into 4 KiB chunks
 * assert.equal(chunkBytesLimit(gpu), 4096);
 * setChunkBytesLimit(undefined); // back to the device's limit
 * ```
 */
export function setChunkBytesLimit(bytes: number | undefined): void {
  if (bytes !== undefined && (!Number.isInteger(bytes) || bytes < 16)) {
    throw new Error(`chunk byte limit must be an integer ≥ 16, got ${bytes}`);
  }
  forcedChunkBytes = bytes;
}

function envChunkBytes(): number | undefined {
  try {
    if (
      Deno.permissions.querySync({ name: "env", variable: "SPRINT_WGPU_CHUNK_BYTES" }).state !==
        "granted"
    ) return undefined;
    const s = Deno.env.get("SPRINT_WGPU_CHUNK_BYTES");
    if (!s) return undefined;
    const n = Number(s);
    if (!Number.isInteger(n) || n < 16) {
      throw new ToolkitError(`SPRINT_WGPU_CHUNK_BYTES: expected an integer ≥ 16, got "${s}"`);
    }
    return n;
  } catch (e) {
    if (e instanceof ToolkitError) throw e;
    return undefined;
  }
}

/**
 * The most bytes one chunk may hold on `gpu`: the smaller of the storage binding and buffer
 * limits, lowered by {@link setChunkBytesLimit} or `SPRINT_WGPU_CHUNK_BYTES` when set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chunkBytesLimit, getGpu } from "@sprint-wgpu/toolkit/gpu";
 * const gpu = await getGpu();
 * assert.ok(chunkBytesLimit(gpu) <= gpu.caps.maxStorageBindingSize); // 134217728 on lavapipe
 * ```
 */
export function chunkBytesLimit(gpu: Gpu): number {
  let limit = Math.min(gpu.caps.maxStorageBindingSize, gpu.caps.maxBufferSize);
  const forced = forcedChunkBytes ?? envChunkBytes();
  if (forced !== undefined) limit = Math.min(limit, forced);
  return limit;
}

/**
 * Rows per chunk for rows of `rowBytes` bytes under `limitBytes`, a multiple of `align` rows
 * (at least `align`). Throws a {@link ToolkitError} when not even `align` rows fit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowsPerChunk } from "@sprint-wgpu/toolkit/gpu";
 * assert.equal(rowsPerChunk(4096 * 2, 134217728, 16), 16384); // rows of a 4096-wide f16 table
 * ```
 */
export function rowsPerChunk(rowBytes: number, limitBytes: number, align = 1): number {
  const rows = Math.floor(limitBytes / rowBytes / align) * align;
  if (rows < align) {
    throw new ToolkitError(
      `a row of ${rowBytes} bytes (×${align}) does not fit one storage binding of ${limitBytes} bytes`,
    );
  }
  return rows;
}

/** One chunk of a {@link ChunkedTensor}: rows `start … start + rows − 1`. */
export interface Chunk {
  /** First row of the chunk. */
  readonly start: number;
  /** Rows in the chunk. */
  readonly rows: number;
  /** The chunk's tensor `[rows, C]`. */
  readonly tensor: Tensor;
}

/**
 * A row-major `[R, C]` tensor stored as consecutive row chunks, each its own buffer within the
 * binding limits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChunkedTensor, getGpu, setChunkBytesLimit } from "@sprint-wgpu/toolkit/gpu";
 * const gpu = await getGpu();
 * setChunkBytesLimit(64); // 4 rows of 4 f32 per chunk (a real table: 128 MiB bindings)
 * const t = ChunkedTensor.upload(gpu, [10, 4], "f32", new Float32Array(40).map((_, i) => i));
 * setChunkBytesLimit(undefined);
 * assert.deepEqual(t.chunks.map((c) => c.rows), [4, 4, 2]);
 * t.destroy();
 * ```
 */
export class ChunkedTensor {
  /** Full shape `[R, C]`. */
  readonly shape: readonly [number, number];
  /** Element type of every chunk. */
  readonly dtype: DType;
  /** The chunks, in row order. */
  readonly chunks: readonly Chunk[];

  /** Wraps existing chunks (consecutive, covering all rows). */
  constructor(shape: readonly [number, number], dtype: DType, chunks: readonly Chunk[]) {
    let next = 0;
    for (const c of chunks) {
      if (c.start !== next || c.tensor.shape[0] !== c.rows || c.tensor.shape[1] !== shape[1]) {
        throw new Error(`ChunkedTensor: chunk at row ${c.start} does not continue row ${next}`);
      }
      next += c.rows;
    }
    if (next !== shape[0]) {
      throw new Error(`ChunkedTensor: chunks cover ${next} of ${shape[0]} rows`);
    }
    this.shape = [shape[0], shape[1]];
    this.dtype = dtype;
    this.chunks = chunks;
  }

  /**
   * Uploads host values `[R, C]` (f32; converted for f16) in chunks of at most
   * {@link chunkBytesLimit} bytes (or `rowsPerChunk` rows when given).
   */
  static upload(
    gpu: Gpu,
    shape: readonly [number, number],
    dtype: DType,
    data: Float32Array | Uint32Array | Int32Array,
    rowsPer?: number,
  ): ChunkedTensor {
    const [r, c] = shape;
    if (data.length !== r * c) {
      throw new Error(`ChunkedTensor.upload: ${data.length} values for [${shape}]`);
    }
    const per = rowsPer ?? rowsPerChunk(Math.max(1, c * DTYPE_BYTES[dtype]), chunkBytesLimit(gpu));
    const chunks: Chunk[] = [];
    if (r === 0) chunks.push({ start: 0, rows: 0, tensor: gpu.tensor([0, c], dtype) });
    for (let start = 0; start < r; start += per) {
      const rows = Math.min(per, r - start);
      const part = data.subarray(start * c, (start + rows) * c);
      chunks.push({ start, rows, tensor: gpu.tensor([rows, c], dtype, part) });
    }
    return new ChunkedTensor(shape, dtype, chunks);
  }

  /** A single tensor seen as one chunk (no copy). */
  static of(t: Tensor): ChunkedTensor {
    if (t.shape.length !== 2) throw new Error(`ChunkedTensor.of: [${t.shape}] is not 2-D`);
    return new ChunkedTensor([t.shape[0], t.shape[1]], t.dtype, [{
      start: 0,
      rows: t.shape[0],
      tensor: t,
    }]);
  }

  /** Number of elements. */
  get size(): number {
    return numel(this.shape);
  }

  /** Payload bytes over all chunks. */
  get byteLength(): number {
    return this.chunks.reduce((s, c) => s + c.tensor.byteLength, 0);
  }

  /** The only chunk's tensor when there is one chunk, else undefined. */
  get single(): Tensor | undefined {
    return this.chunks.length === 1 ? this.chunks[0].tensor : undefined;
  }

  /** Copies all rows to the host (f16 widened to f32), in row order. */
  async read(): Promise<
    Float32Array<ArrayBuffer> | Uint32Array<ArrayBuffer> | Int32Array<ArrayBuffer>
  > {
    const parts = [];
    for (const c of this.chunks) parts.push(await c.tensor.read());
    const out = this.dtype === "u32"
      ? new Uint32Array(this.size)
      : this.dtype === "i32"
      ? new Int32Array(this.size)
      : new Float32Array(this.size);
    let off = 0;
    for (const p of parts) {
      out.set(p as never, off);
      off += p.length;
    }
    return out;
  }

  /** Frees every chunk. */
  destroy(): void {
    for (const c of this.chunks) c.tensor.destroy();
  }
}
