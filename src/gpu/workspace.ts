/**
 * Scratch memory with a visible owner: a {@link Workspace} holds the reusable tensors of a model's
 * forward (or of any other owner) by group and key, and frees them when told — no module-level
 * caches, nothing left to the garbage collector.
 *
 * @module
 */
import type { DType, Tensor } from "./tensor.ts";

/** What a workspace allocates from (a {@link Gpu}). */
export interface TensorSource {
  /** Allocates a zeroed tensor. */
  tensor(shape: number[], dtype: DType): Tensor;
}

/** A scratch entry: one tensor or a named set of tensors allocated together. */
export type Scratch = Tensor | { readonly [name: string]: Tensor };

/**
 * Reusable scratch tensors of one owner (a model holds one as `model.workspace`). An entry is made
 * on first use and kept until {@link Workspace.release} or {@link Workspace.destroy}. A group
 * keeps at most `limit` entries; the oldest beyond that is retired — it may still be read by
 * commands recorded but not yet submitted, so it is freed at the next {@link Workspace.trim}
 * (call it when nothing recorded is pending), release or destroy.
 *
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { getGpu, Workspace } from "@sprint-wgpu/toolkit/gpu";
 * const gpu = await getGpu();
 * const ws = new Workspace(gpu);
 * const a = ws.entry("rows", "4", () => gpu.tensor([4], "f32"));
 * assertEquals(ws.entry("rows", "4", () => gpu.tensor([4], "f32")), a); // reused
 * ws.destroy();
 * ```
 */
export class Workspace {
  readonly #source: TensorSource;
  readonly #groups = new Map<string, Map<string, Scratch>>();
  #retired: Scratch[] = [];

  /** A workspace allocating from `source` (a {@link Gpu}). */
  constructor(source: TensorSource) {
    this.#source = source;
  }

  /** The allocator this workspace draws from. */
  get source(): TensorSource {
    return this.#source;
  }

  /**
   * The entry `key` of `group`, made by `make` on first use. A group holds at most `limit`
   * entries (default 8); the oldest is retired beyond that.
   */
  entry<T extends Scratch>(group: string, key: string, make: () => T, limit = 8): T {
    let entries = this.#groups.get(group);
    if (!entries) this.#groups.set(group, entries = new Map());
    let e = entries.get(key) as T | undefined;
    if (!e) {
      e = make();
      if (entries.size >= limit) {
        const oldest = entries.keys().next().value!;
        this.#retired.push(entries.get(oldest)!);
        entries.delete(oldest);
      }
      entries.set(key, e);
    }
    return e;
  }

  /**
   * A 1-D f32 tensor of at least `size` elements under `group` (grown, never shrunk: a smaller
   * one is retired when a larger size is asked for).
   */
  atLeast(group: string, size: number): Tensor {
    const entries = this.#groups.get(group);
    const t = entries?.get("") as Tensor | undefined;
    if (t && t.size >= size) return t;
    if (t) {
      this.#retired.push(t);
      entries!.delete("");
    }
    return this.entry(group, "", () => this.#source.tensor([Math.max(size, 1)], "f32"));
  }

  /** Frees the retired entries (call when no recorded command is pending). */
  trim(): void {
    for (const e of this.#retired) free(e);
    this.#retired = [];
  }

  /** Frees every entry; the next use allocates again. */
  release(): void {
    this.trim();
    for (const entries of this.#groups.values()) for (const e of entries.values()) free(e);
    this.#groups.clear();
  }

  /** Frees everything (the owner is done with it). */
  destroy(): void {
    this.release();
  }
}

function free(e: Scratch): void {
  if (isTensor(e)) e.destroy();
  else for (const t of Object.values(e)) t.destroy();
}

function isTensor(e: Scratch): e is Tensor {
  return typeof (e as Tensor).destroy === "function";
}
