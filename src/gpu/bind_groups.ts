/**
 * Reused bind groups ({@link BindGroupCache}), owned by a `Gpu` as `gpu.bindGroups` and used by
 * its recorders: creating a bind group costs ≈ 65 µs on Deno + lavapipe, and a decode loop binds
 * the same tensors (and the same pooled uniform chunk offsets) step after step.
 *
 * @module
 */

/** Per-pipeline entries at which that pipeline's cache is cleared (bounded memory). */
const DEFAULT_PER_PIPELINE = 512;

/**
 * Bind groups by pipeline and bound ranges. Buffers are keyed by identity (a number given to
 * each buffer the first time it is bound), so a new buffer never matches an old entry; a
 * pipeline's entries are dropped when they reach the limit, and all of them by
 * {@link BindGroupCache.clear} (the owning `Gpu`'s `destroy`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BindGroupCache, getGpu, loadShader } from "@sprint-wgpu/toolkit/gpu";
 * const gpu = await getGpu();
 * const cache = new BindGroupCache(gpu.device);
 * const pipe = gpu.pipeline(await loadShader("scale.wgsl"), { WG: 64 });
 * const a = gpu.tensor([4], "f32");
 * const b = gpu.tensor([4], "f32");
 * const params = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM });
 * const entries = (x: GPUBuffer): GPUBindGroupEntry[] => [
 *   { binding: 0, resource: { buffer: params } },
 *   { binding: 1, resource: { buffer: x } },
 *   { binding: 2, resource: { buffer: b.buffer } },
 * ];
 * const g = cache.get(pipe, entries(a.buffer));
 * assert.equal(cache.get(pipe, entries(a.buffer)), g); // the same buffers: reused
 * assert.notEqual(cache.get(pipe, entries(b.buffer)), g); // another buffer: a new group
 * assert.equal(cache.size, 2);
 * cache.clear();
 * assert.equal(cache.size, 0);
 * ```
 */
export class BindGroupCache {
  readonly #device: GPUDevice;
  readonly #limit: number;
  readonly #groups = new Map<GPUComputePipeline, Map<string, GPUBindGroup>>();
  readonly #ids = new WeakMap<GPUBuffer, number>();
  #nextId = 1;
  #size = 0;

  /**
   * An empty cache.
   *
   * @param device Device the bind groups are created on.
   * @param perPipeline Entries per pipeline before that pipeline's entries are dropped
   *   (default 512).
   */
  constructor(device: GPUDevice, perPipeline = DEFAULT_PER_PIPELINE) {
    this.#device = device;
    this.#limit = perPipeline;
  }

  /** Bind groups currently held. */
  get size(): number {
    return this.#size;
  }

  /** The bind group of `entries` (buffer bindings) for `pipeline`, created on first use. */
  get(pipeline: GPUComputePipeline, entries: GPUBindGroupEntry[]): GPUBindGroup {
    let perPipeline = this.#groups.get(pipeline);
    if (!perPipeline) this.#groups.set(pipeline, perPipeline = new Map());
    let key = "";
    for (const e of entries) {
      const r = e.resource as GPUBufferBinding;
      key += `${this.#id(r.buffer)}:${r.offset ?? 0}:${r.size ?? -1},`;
    }
    let group = perPipeline.get(key);
    if (!group) {
      if (perPipeline.size >= this.#limit) {
        this.#size -= perPipeline.size;
        perPipeline.clear();
      }
      group = this.#device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
      perPipeline.set(key, group);
      this.#size++;
    }
    return group;
  }

  /** Drops every cached bind group (and with them their references to buffers). */
  clear(): void {
    this.#groups.clear();
    this.#size = 0;
  }

  #id(b: GPUBuffer): number {
    let id = this.#ids.get(b);
    if (id === undefined) this.#ids.set(b, id = this.#nextId++);
    return id;
  }
}
