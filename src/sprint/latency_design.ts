/**
 * The measurement design behind SPRINT's latency table (spec §3.1), apart from any engine: three
 * configurations — dense (T1), without k MLP sublayers (T2), without k attention sublayers (T3) —
 * measured in interleaved rounds, ℓ = median over rounds of the paired difference / k, with a
 * standard error, and an adaptive policy that adds rounds, then widens the probe set to every
 * block, until each ℓ is known to a stated relative error.
 *
 * Why adaptive: on a 2-core CPU adapter one ~0.6 s workload varies by ±15 % from run to run
 * (measured on lavapipe and on GL with nothing else running), while removing the spec's 25 % of
 * blocks' MLPs changes it by ~8 %. The probe difference then drowns in the noise and gives a
 * positive but wrong ℓ (GL: ℓ_MLP 7 ms where removing all eight MLPs shows 25 ms each); every
 * block as a probe block is an L/k times larger signal.
 *
 * @module
 */
import { median } from "../deps.ts";
import { ToolkitError } from "../errors.ts";
import { latencyProbeBlocks } from "./rules.ts";

/** Version of the design and estimator; cached tables measured otherwise are measured again. */
export const LATENCY_METHOD = "paired median over rounds, adaptive rounds and probes (v2)";

/** A per-sublayer latency with its standard error (ms). */
export interface PairedEstimate {
  /** Median over rounds of the paired differences, divided by k. */
  value: number;
  /** Standard error of `value` (normal approximation, spread from the MAD). */
  se: number;
}

/**
 * Median of the paired differences `a[i] − b[i]` divided by `k`, and its standard error
 * 1.2533 · 1.4826 · MAD / √n / k (the median's efficiency under a normal spread; the MAD keeps one
 * stalled round from inflating it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pairedEstimate } from "@sprint-wgpu/toolkit/sprint";
 * const e = pairedEstimate([10, 12, 11], [6, 8, 7], 2); // differences 4, 4, 4
 * assert.deepEqual(e, { value: 2, se: 0 });
 * ```
 */
export function pairedEstimate(
  a: readonly number[],
  b: readonly number[],
  k: number,
): PairedEstimate {
  const d = a.map((t, i) => t - b[i]);
  const m = median(d)!;
  const mad = median(d.map((x) => Math.abs(x - m)))!;
  return { value: m / k, se: (1.2533 * 1.4826 * mad) / Math.sqrt(d.length) / k };
}

/** Options of {@link measureSublayerLatency}. */
export interface LatencyDesignOptions {
  /** Rounds of the first attempt (each round runs the three configurations once). */
  iterations: number;
  /** Attempts per probe set; each doubles the rounds (default 3: 5 → 10 → 20 rounds). */
  attempts?: number;
  /** Relative standard error each ℓ must reach (default 0.1). */
  maxRelativeError?: number;
  /** Progress and retry messages. */
  log?: (msg: string) => void;
}

/** What {@link measureSublayerLatency} found. */
export interface SublayerLatencyMeasurement {
  /** ℓ_MHA (ms per workload). */
  attention: PairedEstimate;
  /** ℓ_MLP (ms per workload). */
  mlp: PairedEstimate;
  /** Median of the dense workload (ms). */
  t1: number;
  /** Median of the workload with the probe blocks' MLPs removed (ms). */
  t2: number;
  /** Median of the workload with the probe blocks' attentions removed (ms). */
  t3: number;
  /** Blocks whose sublayers were removed for T2/T3. */
  probeBlocks: number[];
  /** Rounds behind the estimates (of the final probe set). */
  rounds: number;
  /** Retries, widening and an accuracy below the target, in words. */
  warnings: string[];
}

/**
 * Measures ℓ_MHA and ℓ_MLP with `run(mask, seed)` returning one workload's milliseconds for a
 * sublayer mask (index 2b: block b's attention, 2b + 1: its MLP). Starts with the spec's probe
 * blocks (25 % rule) and `iterations` rounds; while an estimate is non-positive or its relative
 * standard error is above `maxRelativeError`, doubles the rounds, and when the probe set cannot
 * reach the target within `attempts` (predicted from the error so far), uses every block as a
 * probe block. Accepts a positive estimate that stays above the target after the last attempt,
 * with a warning; fails (ToolkitError) when an estimate stays non-positive.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { measureSublayerLatency } from "@sprint-wgpu/toolkit/sprint";
 * // A model of 8 blocks: fixed 50 ms, attention 4 ms, MLP 3 ms each, no noise.
 * const run = (mask: readonly boolean[]) =>
 *   Promise.resolve(50 + mask.reduce((t, on, s) => t + (on ? (s % 2 ? 3 : 4) : 0), 0));
 * const m = await measureSublayerLatency(8, run, { iterations: 3 });
 * assert.deepEqual([m.attention.value, m.mlp.value, m.t1], [4, 3, 106]);
 * ```
 */
export async function measureSublayerLatency(
  numLayers: number,
  run: (mask: readonly boolean[], seed: number) => Promise<number>,
  options: LatencyDesignOptions,
): Promise<SublayerLatencyMeasurement> {
  const L = numLayers;
  const attempts = options.attempts ?? 3;
  const target = options.maxRelativeError ?? 0.1;
  if (!Number.isInteger(options.iterations) || options.iterations < 1) {
    throw new ToolkitError(
      `latency: iterations must be a positive integer, got ${options.iterations}`,
    );
  }
  const maxRounds = options.iterations * 2 ** (attempts - 1);
  const dense = Array.from({ length: 2 * L }, () => true);
  const without = (blocks: number[], type: 0 | 1) =>
    dense.map((_, s) => !(s % 2 === type && blocks.includes(s >> 1)));
  const warnings: string[] = [];
  const note = (msg: string) => {
    warnings.push(msg);
    options.log?.(`latency: ${msg}`);
  };
  let blocks = latencyProbeBlocks(L);
  for (;;) {
    const k = blocks.length;
    const masks = [dense, without(blocks, 1), without(blocks, 0)];
    for (const m of masks) await run(m, 1); // warm-up (pipelines, caches)
    const times: number[][] = [[], [], []];
    let rounds = options.iterations;
    for (;;) {
      while (times[0].length < rounds) {
        const i = times[0].length;
        // Interleaved: a slow drift of a shared machine hits the three alike within a round.
        for (let j = 0; j < 3; j++) times[j].push(await run(masks[j], 2 + i));
      }
      const mlp = pairedEstimate(times[0], times[1], k);
      const attention = pairedEstimate(times[0], times[2], k);
      const rel = (e: PairedEstimate) => e.value > 0 ? e.se / e.value : Infinity;
      const worst = Math.max(rel(mlp), rel(attention));
      const result = (): SublayerLatencyMeasurement => {
        const [t1, t2, t3] = times.map((t) => median(t)!);
        return { attention, mlp, t1, t2, t3, probeBlocks: blocks, rounds, warnings };
      };
      if (worst <= target) return result();
      const what = `after ${rounds} rounds with probe blocks [${blocks}]: ` +
        `ℓ_MLP ${fmt(mlp)}, ℓ_MHA ${fmt(attention)}`;
      // Rounds the target needs at this spread (the error falls as 1/√rounds).
      const needed = rounds * (worst / target) ** 2;
      const canWiden = k < L;
      if (rounds < maxRounds && (!canWiden || needed <= maxRounds)) {
        note(`${what}; measuring again with ${2 * rounds} rounds`);
        rounds *= 2;
        continue;
      }
      if (canWiden) {
        note(
          `${what}; measuring again with every block as a probe block (an L/k = ${
            (L / k).toFixed(1)
          }× larger signal)`,
        );
        blocks = Array.from({ length: L }, (_, b) => b);
        break;
      }
      if (mlp.value > 0 && attention.value > 0) {
        note(
          `${what}: relative standard error ${(100 * worst).toFixed(0)} % is above the ` +
            `${(100 * target).toFixed(0)} % target; the table is kept, treat it as noisy`,
        );
        return result();
      }
      throw new ToolkitError(
        `latency: measured non-positive sublayer latency ${what}; the workload is too small ` +
          "or the machine too noisy — raise --latency-iters or the workload, or pass --latency-table",
      );
    }
  }
}

function fmt(e: PairedEstimate): string {
  return `${e.value.toFixed(3)} ± ${e.se.toFixed(3)} ms`;
}
