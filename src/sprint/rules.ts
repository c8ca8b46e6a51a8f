/**
 * SPRINT's index rules, exactly as the official code computes them (spec §3, §5.2, §7): the
 * tuning sublayer of a candidate, activation-checkpoint indices, the stage-1 restart point after
 * a prune, the "25 % rule" of the latency measurement, and the speedup model.
 *
 * Sublayer s is block ⌊s/2⌋'s attention (s even) or MLP (s odd); `pruned[s]` marks removed ones.
 *
 * @module
 */

/** Which sublayer is re-fitted for a candidate. */
export type TuningRule = "mlp" | "none";

/**
 * The tuning sublayer of candidate `s` (spec §5.2): the smallest odd index t > s that is not
 * pruned; if none exists, `min(s + 1, 2L − 1)`. With rule `none`, t = s (no tunability).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tuneIndex } from "@sprint-wgpu/toolkit/sprint";
 * assert.equal(tuneIndex(4, new Array(6).fill(false), "mlp"), 5); // the next live MLP
 * ```
 */
export function tuneIndex(s: number, pruned: readonly boolean[], rule: TuningRule = "mlp"): number {
  if (rule === "none") return s;
  const n = pruned.length;
  for (let t = s + 1; t < n; t++) if (t % 2 === 1 && !pruned[t]) return t;
  return Math.min(s + 1, n - 1);
}

/**
 * Whether candidate `s` can be tuned: its tuning sublayer is an alive MLP after it. The official
 * code gives +∞ in stage 2 when t == s; we also treat "t is an already-pruned MLP" (the edge case
 * of spec §6.5 where the code would fail) as untunable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isTunable } from "@sprint-wgpu/toolkit/sprint";
 * assert.equal(isTunable(4, 5, new Array(8).fill(false)), true);
 * assert.equal(isTunable(4, 4, new Array(8).fill(false)), false); // rule "none"
 * ```
 */
export function isTunable(s: number, t: number, pruned: readonly boolean[]): boolean {
  return t !== s && t % 2 === 1 && !pruned[t];
}

/**
 * Activation checkpoint indices (spec §7): `[0] + [2·⌊c·L/(C+1)⌋ for c = 1…C]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkpointIndices } from "@sprint-wgpu/toolkit/sprint";
 * assert.deepEqual(checkpointIndices(32, 8), [0, 6, 14, 20, 28, 34, 42, 48, 56]);
 * ```
 */
export function checkpointIndices(numLayers: number, numCheckpoints: number): number[] {
  const q = [0];
  for (let c = 1; c <= numCheckpoints; c++) {
    q.push(2 * Math.floor((c * numLayers) / (numCheckpoints + 1)));
  }
  return q;
}

/**
 * The largest checkpoint index ≤ `s` (0 when none).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkpointAtOrBelow } from "@sprint-wgpu/toolkit/sprint";
 * assert.equal(checkpointAtOrBelow([0, 6, 14], 10), 6);
 * ```
 */
export function checkpointAtOrBelow(checkpoints: readonly number[], s: number): number {
  let best = 0;
  for (const q of checkpoints) if (q <= s && q > best) best = q;
  return best;
}

/**
 * The stage-1 restart point after pruning `sStar` (spec §7): scan i downward from 2L−1 while
 * `tuneIdx[i] ≥ sStar`; the first i with `tuneIdx[i] < sStar` is u; restart at the largest
 * checkpoint ≤ u (0 when no such i exists).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkpointIndices, restartIndex, tuneIndex } from "@sprint-wgpu/toolkit/sprint";
 * const pruned = new Array(8).fill(false);
 * const tuneIdx = pruned.map((_, s) => tuneIndex(s, pruned)); // [1, 3, 3, 5, 5, 7, 7, 7]
 * assert.equal(restartIndex(tuneIdx, 4, checkpointIndices(4, 2)), 2); // u = 2, checkpoints [0, 2, 4]
 * ```
 */
export function restartIndex(
  tuneIdx: readonly number[],
  sStar: number,
  checkpoints: readonly number[],
): number {
  let i = tuneIdx.length - 1;
  while (i >= 0 && tuneIdx[i] >= sStar) i--;
  return i < 0 ? 0 : checkpointAtOrBelow(checkpoints, i);
}

/**
 * Blocks whose sublayers are removed for the latency measurement (spec §3.1): k = ⌊0.25·L + 1e−5⌋
 * blocks L−2, L−3, …, L−1−k (the last block is never touched). At least one block for L ≥ 2.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { latencyProbeBlocks } from "@sprint-wgpu/toolkit/sprint";
 * assert.deepEqual(latencyProbeBlocks(32), [30, 29, 28, 27, 26, 25, 24, 23]);
 * assert.deepEqual(latencyProbeBlocks(4), [2]);
 * ```
 */
export function latencyProbeBlocks(numLayers: number): number[] {
  const k = Math.max(1, Math.floor(0.25 * numLayers + 1e-5));
  const blocks: number[] = [];
  for (let i = 0; i < k && numLayers - 2 - i >= 0; i++) blocks.push(numLayers - 2 - i);
  return blocks;
}

/** Per-type sublayer latency (ms per measured workload). */
export interface SublayerLatency {
  /** Latency of one attention sublayer ℓ_MHA (ms). */
  attention: number;
  /** Latency of one MLP sublayer ℓ_MLP (ms). */
  mlp: number;
  /** Dense end-to-end latency of the workload (ms), including embedding, head and overheads. */
  dense: number;
}

/**
 * Latency of sublayer s.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sublayerLatency } from "@sprint-wgpu/toolkit/sprint";
 * assert.equal(sublayerLatency({ attention: 1, mlp: 2, dense: 100 }, 3), 2); // s odd: MLP
 * ```
 */
export function sublayerLatency(lat: SublayerLatency, s: number): number {
  return s % 2 === 0 ? lat.attention : lat.mlp;
}

/**
 * Estimated speedup of a pruning (spec §3.3): `Σ_all lat(s) / Σ_{s alive} lat(s)` — the faithful
 * model, which ignores the fixed cost (embedding, LM head, per-step overhead). With
 * `includeFixedCost`, the measured dense latency is the numerator and the fixed cost
 * `dense − Σ_all lat(s)` stays in the denominator: a closer estimate of end-to-end speedup.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { estimatedSpeedup } from "@sprint-wgpu/toolkit/sprint";
 * const lat = { attention: 1, mlp: 2, dense: 100 };
 * assert.equal(estimatedSpeedup(lat, [true, true, false, true]), 6 / 5); // one attention removed
 * ```
 */
export function estimatedSpeedup(
  lat: SublayerLatency,
  alive: readonly boolean[],
  includeFixedCost = false,
): number {
  let all = 0;
  let kept = 0;
  alive.forEach((a, s) => {
    const l = sublayerLatency(lat, s);
    all += l;
    if (a) kept += l;
  });
  if (!includeFixedCost) return all / kept;
  const fixed = Math.max(0, lat.dense - all);
  return (all + fixed) / (kept + fixed);
}
