/**
 * Command recording: the one way the toolkit dispatches a kernel.
 *
 * A {@link Recorder} keeps a single compute pass open across dispatches and submits everything
 * at once, because each submit→await round trip is expensive (≈11 ms on llvmpipe). Kernel
 * parameters (a small uniform struct per dispatch) are packed into shared uniform chunks at
 * dynamic-alignment offsets and uploaded with one `writeBuffer` per chunk at submit.
 *
 * Binding convention for every shader: `@binding(0)` is the `var<uniform>` parameter struct when
 * the kernel has parameters, followed by the storage buffers in the order given to
 * {@link Recorder.dispatch}. Without parameters the storage buffers start at binding 0.
 *
 * @module
 */
import type { BindGroupCache } from "./bind_groups.ts";
import type { GpuCapabilities } from "./caps.ts";
import type { Defines, ShaderSource } from "./shader.ts";
import { type DType, Tensor, type TensorDevice } from "./tensor.ts";
import type { UniformPool } from "./uniform_pool.ts";
import type { Workspace } from "./workspace.ts";

/**
 * What a {@link Recorder} offers of its device as `rec.gpu`: the uniform pool it takes
 * parameter chunks from, and what kernels recording with it use (pipelines, tensors, the
 * capabilities and the per-device workspace). A `Gpu` provides it; declared here so that
 * recording does not depend on the device module.
 */
export interface RecorderDevice extends TensorDevice {
  /** Enabled capabilities and granted limits. */
  readonly caps: GpuCapabilities;
  /** Uniform chunks for the parameter structs, taken per recording and given back at submit. */
  readonly uniforms: UniformPool;
  /** Bind groups reused across recordings. */
  readonly bindGroups: BindGroupCache;
  /** Per-device kernel scratch. */
  readonly workspace: Workspace;
  /** A compute pipeline for `source` specialised with `defines`, compiled once per device. */
  pipeline(source: ShaderSource, defines?: Defines, entryPoint?: string): GPUComputePipeline;
  /** A tensor on the device, initialised from `data` or zero-filled. */
  tensor(shape: readonly number[], dtype: DType, data?: ArrayBufferView): Tensor;
}

/** Something that can be bound as a storage buffer. */
export type Bindable = Tensor | GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

/** Workgroup counts: `[x]`, `[x, y]` or `[x, y, z]`. */
export type Workgroups = readonly [number, number?, number?];

const CHUNK_BYTES = 64 * 1024;

/**
 * Workgroup counts for `count` workgroups in one logical dimension, folded into `[x, y]` so that
 * neither exceeds the per-dimension limit (65,535 on most devices). Shaders recover the linear
 * index as `wid.x + wid.y * nwg.x` (`@builtin(num_workgroups) nwg`) and must skip indices
 * ≥ count, since `x·y` may exceed it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linearGrid } from "@sprint-wgpu/toolkit/gpu";
 * assert.deepEqual(linearGrid(100_000), [50_000, 2]); // at most 65,535 per dimension
 * ```
 */
export function linearGrid(count: number, maxPerDim = 65535): [number, number] {
  if (count <= maxPerDim) return [count, 1];
  const y = Math.ceil(count / maxPerDim);
  return [Math.ceil(count / y), y];
}

/**
 * Builds a kernel's uniform parameter struct field by field (all fields 4 bytes, in declaration
 * order; the struct is padded to 16 bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Params } from "@sprint-wgpu/toolkit/gpu";
 * const p = new Params().u32(4).u32(8).f32(1e-5); // struct { m: u32, n: u32, eps: f32 }
 * assert.ok(p instanceof Params);
 * ```
 */
export class Params {
  readonly #words: number[] = [];
  readonly #kinds: ("u32" | "i32" | "f32")[] = [];

  /** Appends a u32 field. */
  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new Error(`u32 param out of range: ${v}`);
    }
    this.#words.push(v);
    this.#kinds.push("u32");
    return this;
  }

  /** Appends an i32 field. */
  i32(v: number): this {
    this.#words.push(v | 0);
    this.#kinds.push("i32");
    return this;
  }

  /** Appends an f32 field. */
  f32(v: number): this {
    this.#words.push(v);
    this.#kinds.push("f32");
    return this;
  }

  /** Size in bytes, padded to 16. */
  get byteLength(): number {
    return Math.max(16, Math.ceil((this.#words.length * 4) / 16) * 16);
  }

  /** Writes the struct into `view` at `offset`. */
  writeTo(view: DataView, offset: number): void {
    this.#words.forEach((w, i) => {
      const at = offset + 4 * i;
      const kind = this.#kinds[i];
      if (kind === "f32") view.setFloat32(at, w, true);
      else if (kind === "i32") view.setInt32(at, w, true);
      else view.setUint32(at, w, true);
    });
  }
}

interface Chunk {
  buffer: GPUBuffer;
  bytes: Uint8Array<ArrayBuffer>;
  used: number;
}

/**
 * Records dispatches and copies into one command buffer; {@link Recorder.submit} sends it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { matmul, packLinear, scale } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const x = gpu.tensor([1, 2], "f32", new Float32Array([1, 2]));
 * const w = packLinear(gpu, new Float32Array([1, 0, 0, 1]), 2, 2, { dtype: "f32" }); // identity
 * const rec = gpu.recorder();
 * const h = matmul(rec, x, w);
 * scale(rec, h, 10, { out: h });
 * rec.submit(); // both dispatches in one submission
 * assert.deepEqual([...await h.read()], [10, 20]);
 * ```
 */
export class Recorder {
  /** The device recorded for (usually a `Gpu`, seen as a {@link RecorderDevice}). */
  readonly gpu: RecorderDevice;
  #encoder: GPUCommandEncoder;
  #pass: GPUComputePassEncoder | undefined;
  #chunks: Chunk[] = [];
  readonly #align: number;
  readonly #timing: { querySet: GPUQuerySet; first: boolean } | undefined;
  #dispatches = 0;
  #submitted = false;
  #flushes = 0;

  /**
   * Starts a recording on `gpu`'s device (usually made by `gpu.recorder()`).
   *
   * @param gpu Device to record for.
   * @param querySet When given (2 timestamps), the first pass writes index 0 at its start and
   *   every pass writes index 1 at its end, so the pair spans the whole recording.
   */
  constructor(gpu: RecorderDevice, querySet?: GPUQuerySet) {
    this.gpu = gpu;
    this.#encoder = gpu.device.createCommandEncoder();
    this.#align = Math.max(16, gpu.device.limits.minUniformBufferOffsetAlignment);
    this.#timing = querySet ? { querySet, first: true } : undefined;
  }

  /** Number of dispatches recorded so far. */
  get dispatchCount(): number {
    return this.#dispatches;
  }

  /** The command encoder, for callers that add their own commands (closes the open pass). */
  get encoder(): GPUCommandEncoder {
    this.#endPass();
    return this.#encoder;
  }

  /**
   * Records one dispatch of `pipeline`. `params` (if any) is bound at binding 0 and `buffers`
   * follow in order; without params the buffers start at binding 0.
   */
  dispatch(
    pipeline: GPUComputePipeline,
    buffers: readonly Bindable[],
    workgroups: Workgroups,
    params?: Params,
  ): void {
    if (this.#submitted) throw new Error("Recorder already submitted");
    const [x, y = 1, z = 1] = workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxWg = this.gpu.caps.maxWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new Error(`dispatch [${x}, ${y}, ${z}] exceeds ${maxWg} workgroups per dimension`);
    }
    const entries: GPUBindGroupEntry[] = [];
    let binding = 0;
    if (params) {
      const size = params.byteLength;
      const chunk = this.#chunkFor(size);
      params.writeTo(new DataView(chunk.bytes.buffer), chunk.used);
      entries.push({
        binding: binding++,
        resource: { buffer: chunk.buffer, offset: chunk.used, size },
      });
      chunk.used += Math.ceil(size / this.#align) * this.#align;
    }
    for (const b of buffers) {
      if (b instanceof Tensor) entries.push({ binding: binding++, resource: { buffer: b.buffer } });
      else if (b instanceof GPUBuffer) {
        entries.push({ binding: binding++, resource: { buffer: b } });
      } else {
        entries.push({
          binding: binding++,
          resource: { buffer: b.buffer, offset: b.offset ?? 0, size: b.size },
        });
      }
    }
    const bindGroup = this.gpu.bindGroups.get(pipeline, entries);
    const pass = this.#beginPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.#dispatches++;
  }

  /** Records a buffer-to-buffer copy of `size` bytes (defaults: whole source). */
  copy(
    src: Tensor | GPUBuffer,
    dst: Tensor | GPUBuffer,
    size?: number,
    srcOffset = 0,
    dstOffset = 0,
  ): void {
    const s = src instanceof Tensor ? src.buffer : src;
    const d = dst instanceof Tensor ? dst.buffer : dst;
    this.encoder.copyBufferToBuffer(s, srcOffset, d, dstOffset, size ?? s.size - srcOffset);
  }

  /** Uploads parameters and submits everything recorded. A recorder submits once. */
  submit(): void {
    if (this.#submitted) throw new Error("Recorder already submitted");
    this.#submitted = true;
    this.#endPass();
    const q = this.gpu.device.queue;
    for (const c of this.#chunks) q.writeBuffer(c.buffer, 0, c.bytes, 0, Math.max(16, c.used));
    q.submit([this.#encoder.finish()]);
    for (const c of this.#chunks) this.gpu.uniforms.give(c.buffer);
  }

  /** Whether {@link Recorder.submit} was called. */
  get submitted(): boolean {
    return this.#submitted;
  }

  /** Times {@link Recorder.flush} submitted part of this recording. */
  get flushCount(): number {
    return this.#flushes;
  }

  /**
   * Submits what is recorded so far and continues recording into a fresh command buffer: the
   * same order on the queue as one submission, so a `writeBuffer` made after the flush lands
   * after the commands before it and before those after it (block streaming re-fills a weight
   * slot this way in the middle of a forward).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
   * const gpu = await getGpu();
   * const slot = gpu.tensor([1], "f32", new Float32Array([1]));
   * const seen = gpu.tensor([2], "f32");
   * const rec = gpu.recorder();
   * rec.copy(slot, seen, 4); // reads the slot's first contents
   * rec.flush();
   * slot.write(new Float32Array([2])); // seen by the commands recorded from here on
   * rec.copy(slot, seen, 4, 0, 4);
   * rec.submit();
   * assert.deepEqual([...await seen.read()], [1, 2]);
   * ```
   */
  flush(): void {
    if (this.#submitted) throw new Error("Recorder already submitted");
    this.#endPass();
    const q = this.gpu.device.queue;
    for (const c of this.#chunks) q.writeBuffer(c.buffer, 0, c.bytes, 0, Math.max(16, c.used));
    q.submit([this.#encoder.finish()]);
    for (const c of this.#chunks) this.gpu.uniforms.give(c.buffer);
    this.#chunks = [];
    this.#encoder = this.gpu.device.createCommandEncoder();
    this.#flushes++;
  }

  #chunkFor(size: number): Chunk {
    let c = this.#chunks[this.#chunks.length - 1];
    if (!c || c.used + size > CHUNK_BYTES) {
      c = {
        buffer: this.gpu.uniforms.take(CHUNK_BYTES),
        bytes: new Uint8Array(CHUNK_BYTES),
        used: 0,
      };
      this.#chunks.push(c);
    }
    return c;
  }

  #beginPass(): GPUComputePassEncoder {
    if (!this.#pass) {
      const desc: GPUComputePassDescriptor = {};
      if (this.#timing) {
        desc.timestampWrites = {
          querySet: this.#timing.querySet,
          beginningOfPassWriteIndex: this.#timing.first ? 0 : undefined,
          endOfPassWriteIndex: 1,
        };
        this.#timing.first = false;
      }
      this.#pass = this.#encoder.beginComputePass(desc);
    }
    return this.#pass;
  }

  #endPass(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = undefined;
    }
  }
}
