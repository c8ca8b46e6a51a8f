/**
 * Backward of the token-embedding gather (src/kernels/embedding.ts): the table gradient
 * `dTable[v, :] (+)= Σ_{r: ids[r] = v} dH[r, :]`.
 *
 * WGSL has no float atomics, so the scatter-add is turned into a gather-sum that is race-free by
 * construction: the token ids are known on the host, which sorts the rows by id into a CSR index
 * ({@link planEmbeddingBackward}: the rows grouped by id, and one (id, start, end) segment per
 * id). One invocation per (segment, column) sums its rows in order and adds the sum into its
 * table row; no two invocations of a dispatch share a row, and the result is deterministic.
 * A token occurring more than {@link EMBEDDING_SEGMENT_ROWS} times (the loop budget) is cut into
 * several segments, dispatched in successive "rounds" (round k takes the k-th segment of every
 * id), which accumulate in order. Without `accumulate` the table gradient is cleared first
 * (rows whose ids never occur are zero); with it, they are left as they are.
 *
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { linearGrid, Params, type Recorder } from "../../gpu/recorder.ts";
import { loadShader } from "../../gpu/shader.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { assertLoopBudget } from "../../kernels/canary.ts";
import { checkHostIds } from "../../kernels/embedding.ts";

const SRC = await loadShader("backward/embedding_backward.wgsl");

/** Invocations per workgroup. */
const WG = 64;
/** Most rows one segment (one invocation's loop) sums. */
export const EMBEDDING_SEGMENT_ROWS = 16384;

/** A CSR index of token ids on the device, made by {@link planEmbeddingBackward}. */
export interface EmbeddingGradPlan {
  /** Vocabulary size V the ids were checked against. */
  readonly vocab: number;
  /** Number of ids (rows of dH). */
  readonly rows: number;
  /** Distinct ids. */
  readonly distinct: number;
  /** Most rows per segment. */
  readonly segmentRows: number;
  /** u32: the rows grouped by id, then 3 words (id, start, end) per segment. */
  readonly index: Tensor;
  /** The dispatches: word offset of the first segment and number of segments. */
  readonly rounds: readonly { readonly at: number; readonly count: number }[];
}

/** Options for {@link planEmbeddingBackward}. */
export interface EmbeddingPlanOptions {
  /** Most rows per segment (default {@link EMBEDDING_SEGMENT_ROWS}). */
  segmentRows?: number;
}

/**
 * Host side of the CSR: validates `ids` (integers in [0, vocab)), groups the rows by id (stable:
 * increasing row order within an id) and cuts each group into segments. Returns the u32 words
 * of the index and the rounds (see {@link EmbeddingGradPlan}).
 */
export function buildEmbeddingCsr(
  ids: ArrayLike<number>,
  vocab: number,
  segmentRows = EMBEDDING_SEGMENT_ROWS,
): { words: Uint32Array<ArrayBuffer>; rounds: { at: number; count: number }[]; distinct: number } {
  if (!Number.isInteger(segmentRows) || segmentRows < 1) {
    throw new Error(
      `embeddingBackward: segmentRows must be a positive integer, got ${segmentRows}`,
    );
  }
  assertLoopBudget("embeddingBackward", segmentRows + 1, `segmentRows = ${segmentRows}`);
  const u = checkHostIds("embeddingBackward", "ids", ids, vocab);
  const m = u.length;
  const order = Array.from({ length: m }, (_, i) => i);
  order.sort((a, b) => u[a] - u[b] || a - b);
  // Segments per round: round k holds the k-th segment of every id.
  const rounds: number[][] = [];
  let distinct = 0;
  for (let s = 0; s < m;) {
    let e = s;
    while (e < m && u[order[e]] === u[order[s]]) e++;
    distinct++;
    for (let a = s, k = 0; a < e; a += segmentRows, k++) {
      (rounds[k] ??= []).push(u[order[s]], a, Math.min(e, a + segmentRows));
    }
    s = e;
  }
  const segWords = rounds.reduce((n, r) => n + r.length, 0);
  const words = new Uint32Array(Math.max(1, m + segWords));
  words.set(order);
  let at = m;
  const out: { at: number; count: number }[] = [];
  for (const r of rounds) {
    words.set(r, at);
    out.push({ at, count: r.length / 3 });
    at += r.length;
  }
  return { words, rounds: out, distinct };
}

/**
 * Builds and uploads the CSR index of `ids` for {@link embeddingBackward} (reusable for every
 * backward over the same batch).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { planEmbeddingBackward } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const plan = planEmbeddingBackward(gpu, [1, 1, 0], 4); // rows by token, built once per batch
 * assert.ok(plan !== undefined);
 * ```
 */
export function planEmbeddingBackward(
  gpu: Pick<Gpu, "tensor">,
  ids: ArrayLike<number>,
  vocab: number,
  options: EmbeddingPlanOptions = {},
): EmbeddingGradPlan {
  const segmentRows = options.segmentRows ?? EMBEDDING_SEGMENT_ROWS;
  const { words, rounds, distinct } = buildEmbeddingCsr(ids, vocab, segmentRows);
  const index = gpu.tensor([words.length], "u32", words);
  return { vocab, rows: ids.length, distinct, segmentRows, index, rounds };
}

/** Options for {@link embeddingBackward}. */
export interface EmbeddingBackwardOptions {
  /** Add into `dTable` instead of overwriting it (without: `dTable` is cleared first). */
  accumulate?: boolean;
  /** Segment size when `ids` are given (default {@link EMBEDDING_SEGMENT_ROWS}). */
  segmentRows?: number;
}

/**
 * Records `dTable[v, :] (+)= Σ_{r: ids[r] = v} dH[r, :]`, race-free (see the module doc), for
 * `dH` `[M, D]` f32 and `dTable` `[V, D]` f32. `ids` is a plan from
 * {@link planEmbeddingBackward} or host ids (planned on the fly). Returns `dTable`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { embeddingBackward, planEmbeddingBackward } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const plan = planEmbeddingBackward(gpu, [1, 1, 0], 4);
 * const dh = gpu.tensor([3, 1], "f32", new Float32Array([1, 2, 3]));
 * const dEmbed = gpu.tensor([4, 1], "f32");
 * gpu.run((rec) => embeddingBackward(rec, plan, dh, dEmbed, { accumulate: true }));
 * assert.deepEqual([...await dEmbed.read()], [3, 3, 0, 0]); // row t sums the positions of t
 * ```
 */
export function embeddingBackward(
  rec: Recorder,
  ids: EmbeddingGradPlan | ArrayLike<number>,
  dH: Tensor,
  dTable: Tensor,
  options: EmbeddingBackwardOptions = {},
): Tensor {
  const fn = "embeddingBackward";
  if (dTable.dtype !== "f32" || dTable.shape.length !== 2) {
    throw new Error(`${fn}: dTable must be f32 [V, D], got ${dTable.dtype} [${dTable.shape}]`);
  }
  const [v, d] = dTable.shape;
  const plan = "index" in ids
    ? ids
    : planEmbeddingBackward(rec.gpu, ids, v, { segmentRows: options.segmentRows });
  if (plan.vocab !== v) {
    throw new Error(`${fn}: the plan is for V = ${plan.vocab}, dTable has ${v}`);
  }
  if (dH.dtype !== "f32" || dH.size !== plan.rows * d) {
    throw new Error(`${fn}: dH must be f32 [${plan.rows}, ${d}], got ${dH.dtype} [${dH.shape}]`);
  }
  if (dH.buffer === dTable.buffer) throw new Error(`${fn}: dH must not be dTable`);
  if (!options.accumulate) rec.encoder.clearBuffer(dTable.buffer);
  if (d === 0) return dTable;
  const vec4 = d % 4 === 0;
  const cols = vec4 ? d / 4 : d;
  const pipe = rec.gpu.pipeline(SRC, { WG, VEC4: vec4 });
  for (const r of plan.rounds) {
    assertLoopBudget(fn, plan.segmentRows + 1, `segmentRows = ${plan.segmentRows}`);
    const grid = linearGrid(
      Math.ceil((r.count * cols) / WG),
      rec.gpu.caps.maxWorkgroupsPerDimension,
    );
    rec.dispatch(
      pipe,
      [plan.index, dH, dTable],
      grid,
      new Params().u32(r.count).u32(cols).u32(r.at),
    );
  }
  return dTable;
}
