/**
 * The work behind one sublayer's latency: floating-point operations and the minimum memory
 * traffic of one attention or MLP sublayer over a latency workload (`LatencyWorkload`), so that a
 * latency table can be read next to what it measured (issue 14: attention and MLP should differ
 * by their real cost, and the table shows the cost they differ by).
 *
 * Counting (per sequence batch B; weights of `weightBytes` bytes each, activations and the KV
 * cache f32):
 * - prefill of T tokens: the projections' 2·B·T·params FLOPs, plus for attention the causal
 *   scores and weighted sum 4·B·H·hd·T(T+1)/2; bytes: the weights once, the sublayer's input and
 *   output rows, and for attention the new keys/values written to the cache;
 * - each of the G − 1 decode steps (the first new token comes from the prefill) at position p:
 *   2·B·params FLOPs (+ 4·B·H·hd·(p+1) for attention); bytes: the weights again (a decode step
 *   streams every weight), the input/output row and for attention the cache read (the p cached
 *   positions of K and V) and the new row written.
 * RMSNorm and SwiGLU are included (a few FLOPs per element). This is the minimum traffic; real
 * kernels may read more (e.g. matmul tiles re-reading inputs from cache).
 *
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import type { LatencyWorkload } from "./workload.ts";

/** FLOPs and minimum bytes of one sublayer over a workload. */
export interface SublayerCost {
  /** Floating-point operations (a multiply-add counts 2). */
  flops: number;
  /** Minimum bytes moved to/from memory. */
  bytes: number;
}

/**
 * The cost of one attention and one MLP sublayer over `w` (see the module doc for the counting).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR, readConfig } from "@sprint-wgpu/toolkit/model";
 * import { sublayerCosts } from "@sprint-wgpu/toolkit/sprint";
 * const config = await readConfig(DEFAULT_MODEL_DIR); // hidden 128, intermediate 352
 * const w = { mode: "prefill", promptLength: 1, generationLength: 0, batch: 1 } as const;
 * const cost = sublayerCosts(config, w, 2); // f16 weights
 * // One token through the MLP: 2·(3·128·352) for the projections, RMSNorm 4·128, SwiGLU 6·352.
 * assert.equal(cost.mlp.flops, 2 * 3 * 128 * 352 + 4 * 128 + 6 * 352);
 * ```
 */
export function sublayerCosts(
  c: ModelConfig,
  w: Pick<LatencyWorkload, "mode" | "promptLength" | "generationLength" | "batch">,
  weightBytes: number,
): { attention: SublayerCost; mlp: SublayerCost } {
  const d = c.hiddenSize;
  const qw = c.numHeads * c.headDim;
  const kvw = c.numKvHeads * c.headDim;
  const attnParams = d * (qw + 2 * kvw) + qw * d;
  const mlpParams = 3 * d * c.intermediateSize;
  const b = w.batch;
  const t = w.promptLength;
  const steps = w.mode === "generation" ? Math.max(0, w.generationLength - 1) : 0;
  const coreFlops = (keys: number) => 4 * b * qw * keys; // q·k and p·v for one query row per head
  const normFlops = (rows: number) => 4 * rows * d;
  // Prefill.
  let aF = 2 * b * t * attnParams + normFlops(b * t) + 4 * b * qw * (t * (t + 1)) / 2;
  let aB = weightBytes * attnParams + 4 * d + 2 * 4 * b * t * d + 2 * 4 * b * t * kvw;
  let mF = 2 * b * t * mlpParams + normFlops(b * t) + 6 * b * t * c.intermediateSize;
  let mB = weightBytes * mlpParams + 4 * d + 2 * 4 * b * t * d;
  // Decode steps at positions t … t + steps − 1.
  for (let i = 0; i < steps; i++) {
    const keys = t + i + 1;
    aF += 2 * b * attnParams + normFlops(b) + coreFlops(keys);
    aB += weightBytes * attnParams + 4 * d + 2 * 4 * b * d + 2 * 4 * b * kvw * keys;
    mF += 2 * b * mlpParams + normFlops(b) + 6 * b * c.intermediateSize;
    mB += weightBytes * mlpParams + 4 * d + 2 * 4 * b * d;
  }
  return { attention: { flops: aF, bytes: aB }, mlp: { flops: mF, bytes: mB } };
}

/**
 * One line for a latency table: each sublayer's latency next to its FLOPs and bytes and the rates
 * they imply.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatSublayerCosts } from "@sprint-wgpu/toolkit/sprint";
 * const cost = { attention: { flops: 4e6, bytes: 2e6 }, mlp: { flops: 6e6, bytes: 3e6 } };
 * const line = formatSublayerCosts({ attention: 2, mlp: 3 }, cost);
 * assert.ok(line.startsWith("attention 2.000 ms for 4.00 MFLOP, 2.00 MB (2.00 GFLOP/s, 1.00 GB/s)"));
 * ```
 */
export function formatSublayerCosts(
  latency: { attention: number; mlp: number },
  cost: { attention: SublayerCost; mlp: SublayerCost },
): string {
  const one = (name: string, ms: number, x: SublayerCost) =>
    `${name} ${ms.toFixed(3)} ms for ${(x.flops / 1e6).toFixed(2)} MFLOP, ${
      (x.bytes / 1e6).toFixed(2)
    } MB (${(x.flops / (ms * 1e6)).toFixed(2)} GFLOP/s, ${(x.bytes / (ms * 1e6)).toFixed(2)} GB/s)`;
  return `${one("attention", latency.attention, cost.attention)}; ${
    one("MLP", latency.mlp, cost.mlp)
  }`;
}
