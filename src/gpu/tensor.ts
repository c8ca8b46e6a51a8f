/**
 * Tensors: a GPU buffer with a shape and an element type.
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import { fromF16, toF16 } from "./f16.ts";
import type { GpuCapabilities } from "./caps.ts";
import type { DeviceMemory } from "./memory.ts";

/** Element types a tensor can hold. */
export type DType = "f32" | "f16" | "u32" | "i32";

/** Bytes per element of each {@link DType}. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { f32: 4, f16: 2, u32: 4, i32: 4 };

/** Typed arrays returned by {@link Tensor.read}: f16 is widened to f32. */
export type HostArray =
  | Float32Array<ArrayBuffer>
  | Uint32Array<ArrayBuffer>
  | Int32Array<ArrayBuffer>;

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/**
 * What a {@link Tensor} (and {@link readTensors}) needs from its device: a `Gpu` provides it.
 * Declared here so that tensors do not depend on the device module.
 */
export interface TensorDevice {
  /** The WebGPU device the buffers live on. */
  readonly device: GPUDevice;
  /** The limits tensors are checked against. */
  readonly caps: Pick<GpuCapabilities, "maxStorageBindingSize" | "maxBufferSize">;
  /** One line naming the adapter, for error messages. */
  readonly description: string;
  /** The ledger tensor buffers are counted in. */
  readonly memory: DeviceMemory;
  /** Submissions waited for; a read adds one. */
  syncs: number;
  /** Throws (and clears) any WebGPU error reported since the last check. */
  throwIfErrors(): void;
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * A dense row-major tensor in a GPU storage buffer. The buffer is at least 4 bytes and a
 * multiple of 4 (f16 tensors of odd length carry one padding element).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * const gpu = await getGpu();
 * const t = gpu.tensor([2, 2], "f32", new Float32Array([1, 2, 3, 4]));
 * assert.deepEqual(t.shape, [2, 2]);
 * assert.deepEqual([...await t.read()], [1, 2, 3, 4]);
 * t.destroy();
 * ```
 */
export class Tensor {
  /** The device this tensor lives on (the `Gpu` that made it, seen as a {@link TensorDevice}). */
  readonly gpu: TensorDevice;
  /** The storage buffer (usage STORAGE | COPY_SRC | COPY_DST). */
  readonly buffer: GPUBuffer;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;

  /**
   * Wraps an existing storage buffer (no copy). Most code allocates with `gpu.tensor` instead,
   * which creates, counts and initialises the buffer. A wrapped buffer needs usage STORAGE |
   * COPY_SRC | COPY_DST (to be bound, read and written) and room for the elements; it is
   * counted in `gpu.memory` only if its creator counted it ({@link DeviceMemory.allocated}).
   * {@link Tensor.destroy} destroys it.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { getGpu, Tensor } from "@sprint-wgpu/toolkit/gpu";
   * const gpu = await getGpu();
   * const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
   * const buffer = gpu.device.createBuffer({ size: 16, usage });
   * const t = new Tensor(gpu, buffer, [4], "u32");
   * t.write(new Uint32Array([1, 2, 3, 4]));
   * assert.deepEqual([...await t.read()], [1, 2, 3, 4]);
   * t.destroy();
   * ```
   */
  constructor(gpu: TensorDevice, buffer: GPUBuffer, shape: readonly number[], dtype: DType) {
    const bytes = numel(shape) * DTYPE_BYTES[dtype];
    if (buffer.size < bytes) {
      throw new Error(`tensor [${shape}] ${dtype} needs ${bytes} bytes, buffer has ${buffer.size}`);
    }
    this.gpu = gpu;
    this.buffer = buffer;
    this.shape = [...shape];
    this.dtype = dtype;
  }

  /**
   * Allocates a tensor on `gpu` (what `gpu.tensor` does): a new buffer of at least 4 bytes,
   * counted in `gpu.memory`, initialised from `data` or zero-filled. Throws a `ToolkitError`
   * when it exceeds the device's storage binding limit.
   */
  static create(
    gpu: TensorDevice,
    shape: readonly number[],
    dtype: DType,
    data?: ArrayBufferView,
  ): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`invalid tensor shape [${shape}]`);
    }
    const n = numel(shape);
    const bytes = n * DTYPE_BYTES[dtype];
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    if (size > gpu.caps.maxStorageBindingSize) {
      throw new ToolkitError(
        `tensor [${shape}] ${dtype} needs ${size} bytes, more than the device's storage binding ` +
          `limit (maxStorageBufferBindingSize ${gpu.caps.maxStorageBindingSize} bytes on ` +
          `${gpu.description}); use smaller sizes (e.g. --batch, --seq-len) or a device with a ` +
          `larger limit`,
      );
    }
    const buffer = gpu.device.createBuffer({ size, usage: USAGE });
    gpu.memory.allocated(buffer, size);
    const t = new Tensor(gpu, buffer, shape, dtype);
    if (data) t.write(data);
    return t;
  }

  /** Number of elements. */
  get size(): number {
    return numel(this.shape);
  }

  /** Bytes of payload (without padding). */
  get byteLength(): number {
    return this.size * DTYPE_BYTES[this.dtype];
  }

  /**
   * Replaces the contents (queued; ordered before later submissions). f16 tensors take a
   * Float32Array (converted) or a Uint16Array of raw bits.
   */
  write(data: ArrayBufferView): void {
    let bytes: ArrayBufferView = data;
    if (this.dtype === "f16" && data instanceof Float32Array) bytes = toF16(data);
    const expected = this.byteLength;
    if (bytes.byteLength !== expected) {
      throw new Error(
        `tensor write: ${bytes.byteLength} bytes given for [${this.shape}] ${this.dtype} (${expected} expected)`,
      );
    }
    if (expected % 4 === 0) {
      this.gpu.device.queue.writeBuffer(
        this.buffer,
        0,
        bytes.buffer as ArrayBuffer,
        bytes.byteOffset,
        expected,
      );
    } else {
      const padded = new Uint8Array(Math.ceil(expected / 4) * 4);
      padded.set(new Uint8Array(bytes.buffer, bytes.byteOffset, expected));
      this.gpu.device.queue.writeBuffer(this.buffer, 0, padded);
    }
  }

  /**
   * Copies the tensor to the host (waits for all submitted work). f16 is returned as f32.
   * Throws if a WebGPU validation error was raised since the last check.
   */
  async read(): Promise<HostArray> {
    const [out] = await readTensors(this.gpu, [this]);
    return out;
  }

  /**
   * The same buffer seen with another shape of the same number of elements (no copy; destroying
   * either destroys both).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
   * const gpu = await getGpu();
   * const k = gpu.tensor([6, 8], "f32"); // 6 tokens × (2 kv heads · 4 dims)
   * const k4 = k.reshape([1, 6, 2, 4]); // a view of the same buffer
   * assert.equal(k4.buffer, k.buffer);
   * ```
   */
  reshape(shape: readonly number[]): Tensor {
    if (numel(shape) !== this.size) {
      throw new Error(
        `reshape: [${this.shape}] has ${this.size} elements, [${shape}] has ${numel(shape)}`,
      );
    }
    return new Tensor(this.gpu, this.buffer, shape, this.dtype);
  }

  /** Frees the GPU buffer. */
  destroy(): void {
    this.gpu.memory.freed(this.buffer);
    this.buffer.destroy();
  }
}

/**
 * Reads several tensors with one submission and one wait.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu, readTensors } from "@sprint-wgpu/toolkit/gpu";
 * const gpu = await getGpu();
 * const x = gpu.tensor([1], "f32", new Float32Array([1.5]));
 * const y = gpu.tensor([2], "u32", new Uint32Array([7, 8]));
 * const [a, b] = await readTensors(gpu, [x, y]); // one round trip
 * assert.deepEqual([[...a], [...b]], [[1.5], [7, 8]]);
 * ```
 */
export async function readTensors(
  gpu: TensorDevice,
  tensors: readonly Tensor[],
): Promise<HostArray[]> {
  const total = tensors.reduce((s, t) => s + t.buffer.size, 0);
  if (total > gpu.caps.maxBufferSize && tensors.length > 1) {
    // One staging buffer per group of tensors that fits the buffer limit.
    const out: HostArray[] = [];
    let group: Tensor[] = [];
    let bytes = 0;
    for (const t of tensors) {
      if (group.length > 0 && bytes + t.buffer.size > gpu.caps.maxBufferSize) {
        out.push(...await readTensors(gpu, group));
        group = [];
        bytes = 0;
      }
      group.push(t);
      bytes += t.buffer.size;
    }
    out.push(...await readTensors(gpu, group));
    return out;
  }
  const staging = gpu.device.createBuffer({
    size: Math.max(4, total),
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = gpu.device.createCommandEncoder();
  let off = 0;
  for (const t of tensors) {
    enc.copyBufferToBuffer(t.buffer, 0, staging, off, t.buffer.size);
    off += t.buffer.size;
  }
  gpu.device.queue.submit([enc.finish()]);
  gpu.syncs++;
  await staging.mapAsync(GPUMapMode.READ);
  const all = staging.getMappedRange().slice(0);
  staging.unmap();
  staging.destroy();
  gpu.throwIfErrors();
  off = 0;
  return tensors.map((t) => {
    const start = off;
    off += t.buffer.size;
    switch (t.dtype) {
      case "f32":
        return new Float32Array(all, start, t.size).slice();
      case "u32":
        return new Uint32Array(all, start, t.size).slice();
      case "i32":
        return new Int32Array(all, start, t.size).slice();
      case "f16":
        return fromF16(new Uint16Array(all, start, t.size));
    }
  });
}
