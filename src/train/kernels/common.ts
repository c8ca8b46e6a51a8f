/**
 * Helpers shared by the backward kernels: argument checks and per-device scratch buffers.
 *
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import type { Tensor } from "../../gpu/tensor.ts";

/** Throws unless `v` is an integer ≥ `min`. */
export function checkInt(fn: string, name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) {
    throw new Error(`${fn}: ${name} must be an integer ≥ ${min}, got ${v}`);
  }
}

/** Throws unless `t` is f32 with `size` elements; `shape` names the expected shape. */
export function checkF32(fn: string, name: string, t: Tensor, size: number, shape: string): void {
  if (t.dtype !== "f32" || t.size !== size) {
    throw new Error(`${fn}: ${name} must be f32 ${shape}, got ${t.dtype} [${t.shape}]`);
  }
}

/** Throws when two of `tensors` share a buffer (names in the message). */
export function checkDistinct(fn: string, tensors: Record<string, Tensor | undefined>): void {
  const seen = new Map<GPUBuffer, string>();
  for (const [name, t] of Object.entries(tensors)) {
    if (!t) continue;
    const other = seen.get(t.buffer);
    if (other) throw new Error(`${fn}: ${name} must not share a buffer with ${other}`);
    seen.set(t.buffer, name);
  }
}

/**
 * A per-device f32 scratch tensor named `key` of at least `size` elements (grown, never shrunk),
 * held by the device's workspace. Dispatches recorded into one recorder run in order, so
 * successive kernels may reuse the same scratch; a kernel must not hold on to one across calls
 * that use the same key. A replaced (smaller) buffer is retired, not destroyed, since commands
 * recorded but not yet submitted may still refer to it (see `Workspace.trim`).
 */
export function scratchF32(gpu: Pick<Gpu, "workspace">, key: string, size: number): Tensor {
  return gpu.workspace.atLeast(`train.${key}`, size);
}
