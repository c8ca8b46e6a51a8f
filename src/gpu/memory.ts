/**
 * Accounting of the device memory held by tensors ({@link DeviceMemory}): one ledger per device,
 * owned by the `Gpu` as `gpu.memory`.
 *
 * @module
 */

/** A counted buffer: its size and whether it was uncounted already. */
interface Held {
  size: number;
  freed: boolean;
}

/**
 * Bytes of device memory held by the toolkit's tensors: the current total and the peak since
 * the last {@link DeviceMemory.resetPeak}. Every tensor buffer is counted when created
 * ({@link DeviceMemory.allocated}) and uncounted when destroyed ({@link DeviceMemory.freed}) or
 * garbage-collected undestroyed. Staging and uniform buffers (transient, small) are not counted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * const gpu = await getGpu();
 * gpu.memory.resetPeak();
 * const before = gpu.memory.current;
 * const t = gpu.tensor([256], "f32");
 * assert.equal(gpu.memory.current - before, 1024);
 * t.destroy();
 * assert.ok(gpu.memory.peak >= before + 1024);
 * ```
 */
export class DeviceMemory {
  #current = 0;
  #peak = 0;
  readonly #registry = new FinalizationRegistry<Held>((held) => {
    if (!held.freed) this.#current -= held.size;
  });
  readonly #held = new WeakMap<GPUBuffer, Held>();

  /** Bytes currently held. */
  get current(): number {
    return this.#current;
  }

  /** Most bytes held at once since the last {@link DeviceMemory.resetPeak} (or creation). */
  get peak(): number {
    return this.#peak;
  }

  /** Starts a new peak measurement from the current total. */
  resetPeak(): void {
    this.#peak = this.#current;
  }

  /**
   * Counts a new buffer of `size` bytes until {@link DeviceMemory.freed} (or until the buffer
   * is garbage-collected). `gpu.tensor` counts the buffers it creates; call this for a storage
   * buffer created elsewhere and wrapped with `new Tensor(...)`, so that the tensor's
   * `destroy()` uncounts it.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { DeviceMemory } from "@sprint-wgpu/toolkit/gpu";
   * const memory = new DeviceMemory();
   * const buffer = {} as GPUBuffer; // any buffer object: only its identity is used
   * memory.allocated(buffer, 64);
   * assert.equal(memory.current, 64);
   * memory.freed(buffer);
   * memory.freed(buffer); // a second call (a view of the same buffer) changes nothing
   * assert.deepEqual([memory.current, memory.peak], [0, 64]);
   * ```
   */
  allocated(buffer: GPUBuffer, size: number): void {
    this.#current += size;
    if (this.#current > this.#peak) this.#peak = this.#current;
    const held = { size, freed: false };
    this.#held.set(buffer, held);
    this.#registry.register(buffer, held);
  }

  /**
   * Uncounts a buffer being destroyed. Only the first call for a counted buffer changes the
   * total (views of one buffer share its count); buffers never counted are ignored.
   */
  freed(buffer: GPUBuffer): void {
    const held = this.#held.get(buffer);
    if (!held || held.freed) return;
    held.freed = true;
    this.#current -= held.size;
  }
}
