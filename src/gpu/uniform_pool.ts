/**
 * Reusable uniform buffers for kernel parameters ({@link UniformPool}), owned by a `Gpu` as
 * `gpu.uniforms` and used by its recorders.
 *
 * @module
 */

/** Pooled buffers kept per pool by default; further returned buffers are destroyed. */
const DEFAULT_LIMIT = 64;

/**
 * A pool of uniform buffers (usage UNIFORM | COPY_DST) on one device. A `Recorder` takes a
 * chunk for the parameter structs of its dispatches and gives it back after submitting: the
 * chunk's contents were written with `queue.writeBuffer`, and later writes are ordered after
 * that submission by the queue, so the chunk can be reused at once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu, UniformPool } from "@sprint-wgpu/toolkit/gpu";
 * const gpu = await getGpu();
 * const pool = new UniformPool(gpu.device);
 * const chunk = pool.take(256);
 * pool.give(chunk);
 * assert.equal(pool.take(256), chunk); // reused, not created again
 * chunk.destroy();
 * pool.destroy();
 * ```
 */
export class UniformPool {
  readonly #device: GPUDevice;
  readonly #limit: number;
  readonly #free: GPUBuffer[] = [];

  /**
   * An empty pool.
   *
   * @param device Device the buffers are created on.
   * @param limit Most buffers kept for reuse (default 64).
   */
  constructor(device: GPUDevice, limit = DEFAULT_LIMIT) {
    this.#device = device;
    this.#limit = limit;
  }

  /** Buffers currently kept for reuse. */
  get pooled(): number {
    return this.#free.length;
  }

  /** A uniform buffer of `size` bytes: a pooled one of that size, or a new one. */
  take(size: number): GPUBuffer {
    const i = this.#free.findIndex((b) => b.size === size);
    if (i >= 0) return this.#free.splice(i, 1)[0];
    return this.#device.createBuffer({
      size,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: "params",
    });
  }

  /**
   * Returns a buffer from {@link UniformPool.take} once its contents were written with
   * `queue.writeBuffer` and the commands using it submitted. Beyond the pool's limit the buffer
   * is destroyed instead.
   */
  give(buffer: GPUBuffer): void {
    if (this.#free.length < this.#limit) this.#free.push(buffer);
    else buffer.destroy();
  }

  /** Destroys the pooled buffers (buffers taken and not given back are the taker's). */
  destroy(): void {
    for (const b of this.#free) b.destroy();
    this.#free.length = 0;
  }
}
