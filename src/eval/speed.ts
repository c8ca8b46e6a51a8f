/**
 * Measured inference speed: prefill and greedy decode throughput at a given prompt length,
 * generated length and batch, with warm-up runs and repeated timings (median and spread), and the
 * measured speedup of a pruned model over its dense original on the same workload.
 *
 * Clocks:
 * - **prefill**: one forward of `batch × promptTokens` tokens that fills a KV cache and takes the
 *   argmax of each sequence's last logits, timed on the GPU timeline (`timestamp-query`) when the
 *   device has it, else wall clock from submit to completion ({@link timeGpu}).
 * - **decode**: wall clock, as a user sees it: `newTokens` greedy steps after an (untimed)
 *   prefill, each step's argmax written on the GPU into the next step's input ids, several steps
 *   per submission (as `generate()` does), from the first submission to the last read-back.
 *
 * The prompt is synthetic token ids (`(7919·i + 31·b + 1) mod V` for position i of sequence b):
 * the cost of a dense forward does not depend on the token values.
 *
 * @module
 */
import { median, quantile } from "../deps.ts";
import { ToolkitError } from "../errors.ts";
import { timeGpu, type TimingStats } from "../gpu/timing.ts";
import { DEFAULT_STEPS_PER_SUBMIT, greedyDecode, recordGreedyPrefill } from "../model/decode.ts";
import { KvCache } from "../model/forward.ts";
import type { LlamaModel } from "../model/model.ts";

/** Options for {@link measureSpeed}. */
export interface SpeedOptions {
  /** Prompt length (default 128, at most the context minus `newTokens`). */
  promptTokens?: number;
  /** Generated tokens per sequence (default 32). */
  newTokens?: number;
  /** Sequences processed together (default 1). */
  batch?: number;
  /** Untimed runs first (default 2). */
  warmup?: number;
  /** Timed repetitions (default 5). */
  reps?: number;
  /** Greedy decode steps per submission (default `DEFAULT_STEPS_PER_SUBMIT`, as `generate()`). */
  stepsPerSubmit?: number;
  /** Sublayer mask (default: every sublayer with weights). */
  mask?: readonly boolean[];
}

/** Throughput summary of one phase. */
export interface RateStats {
  /** Tokens processed per repetition (batch × length). */
  tokens: number;
  /** Median tokens per second. */
  tokensPerSecond: number;
  /** Tokens per second of the slowest 10 % / fastest 10 % repetitions (p90 / p10 of the time). */
  tokensPerSecondP10: number;
  /** Tokens per second at the 10th-percentile time (the fast end). */
  tokensPerSecondP90: number;
  /** Time of one repetition. */
  timing: TimingStats;
}

/** Result of {@link measureSpeed}. */
export interface SpeedResult {
  /** Prefill throughput (`batch × promptTokens` tokens per repetition). */
  prefill: RateStats;
  /** Greedy decode throughput (`batch × newTokens` tokens per repetition). */
  decode: RateStats;
  /** The workload, clocks, weight dtype, adapter and Deno version of the measurement. */
  protocol: {
    promptTokens: number;
    newTokens: number;
    batch: number;
    warmup: number;
    reps: number;
    stepsPerSubmit: number;
    prompt: "synthetic ids (7919·i + 31·b + 1) mod V";
    prefillClock: TimingStats["clock"];
    decodeClock: "wall-clock";
    dtype: "f32" | "f16";
    adapter: string;
    deno: string;
    /** Sublayers that ran (of 2L). */
    sublayers: number;
  };
}

function rate(tokens: number, timing: TimingStats): RateStats {
  return {
    tokens,
    tokensPerSecond: tokens / (timing.medianMs / 1e3),
    tokensPerSecondP10: tokens / (timing.p90Ms / 1e3),
    tokensPerSecondP90: tokens / (timing.p10Ms / 1e3),
    timing,
  };
}

function checkCount(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) {
    throw new ToolkitError(`speed: ${name} must be an integer ≥ ${min}, got ${v}`);
  }
}

/**
 * Measures prefill and decode throughput (see the module doc for the clocks).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { measureSpeed } from "@sprint-wgpu/toolkit/eval";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const s = await measureSpeed(model, { promptTokens: 8, newTokens: 4, reps: 2, warmup: 1 });
 * assert.ok(s.prefill.tokensPerSecond > 0 && s.decode.tokensPerSecond > 0);
 * model.destroy();
 * ```
 */
export async function measureSpeed(
  model: LlamaModel,
  options: SpeedOptions = {},
): Promise<SpeedResult> {
  const gpu = model.gpu;
  const c = model.config;
  const context = Math.min(c.maxPositions, model.rope.maxPositions);
  const newTokens = options.newTokens ?? 32;
  const batch = options.batch ?? 1;
  const warmup = options.warmup ?? 2;
  const reps = options.reps ?? 5;
  const per = options.stepsPerSubmit ?? DEFAULT_STEPS_PER_SUBMIT;
  checkCount("newTokens", newTokens, 1);
  checkCount("batch", batch, 1);
  checkCount("warmup", warmup, 0);
  checkCount("reps", reps, 1);
  checkCount("stepsPerSubmit", per, 1);
  const promptTokens = options.promptTokens ?? Math.min(128, context - newTokens);
  checkCount("promptTokens", promptTokens, 1);
  if (promptTokens + newTokens > context) {
    throw new ToolkitError(
      `speed: prompt ${promptTokens} + ${newTokens} new tokens exceed the model's context of ${context} positions`,
    );
  }
  const mask = options.mask;
  const V = c.vocabSize;
  const prompt = new Uint32Array(batch * promptTokens);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < promptTokens; i++) {
      prompt[b * promptTokens + i] = (7919 * i + 31 * b + 1) % V;
    }
  }
  const cache = new KvCache(model, batch, promptTokens + newTokens, mask);
  const ids = gpu.tensor([batch * promptTokens], "u32", prompt);
  const logits = gpu.tensor([batch, V], "f32");
  const first = gpu.tensor([batch], "u32");
  const prefill = { batch, tokens: promptTokens, cache, mask, logits };
  try {
    const prefillTiming = await timeGpu(gpu, (rec) => {
      cache.length = 0;
      recordGreedyPrefill(rec, model, ids, first, prefill);
    }, { warmup, reps });
    const decodeTimes: number[] = [];
    for (let rep = 0; rep < warmup + reps; rep++) {
      // Untimed prefill into the cache.
      const pre = gpu.recorder();
      cache.length = 0;
      recordGreedyPrefill(pre, model, ids, first, prefill);
      pre.submit();
      await first.read();
      const t0 = performance.now();
      await greedyDecode(model, first, {
        batch,
        cache,
        steps: newTokens,
        mask,
        stepsPerSubmit: per,
      });
      const ms = performance.now() - t0;
      if (rep >= warmup) decodeTimes.push(ms);
    }
    const decodeTiming: TimingStats = {
      medianMs: median(decodeTimes)!,
      p10Ms: quantile(decodeTimes, 0.1)!,
      p90Ms: quantile(decodeTimes, 0.9)!,
      minMs: Math.min(...decodeTimes),
      reps: decodeTimes.length,
      clock: "wall-clock",
    };
    return {
      prefill: rate(batch * promptTokens, prefillTiming),
      decode: rate(batch * newTokens, decodeTiming),
      protocol: {
        promptTokens,
        newTokens,
        batch,
        warmup,
        reps,
        stepsPerSubmit: per,
        prompt: "synthetic ids (7919·i + 31·b + 1) mod V",
        prefillClock: prefillTiming.clock,
        decodeClock: "wall-clock",
        dtype: model.dtype,
        adapter: gpu.description,
        deno: Deno.version.deno,
        sublayers: (mask ?? model.alive).filter((x, i) => x && model.alive[i]).length,
      },
    };
  } finally {
    cache.destroy();
    ids.destroy();
    logits.destroy();
    first.destroy();
  }
}

/** Measured speedup of a pruned model over its dense original. */
export interface Speedup {
  /** pruned ÷ dense median prefill tokens/s. */
  prefill: number;
  /** pruned ÷ dense median decode tokens/s. */
  decode: number;
  /** The two measurements used the same workload (prompt, new tokens, batch, clocks). */
  sameWorkload: boolean;
}

/**
 * Speedup of `pruned` over `dense` (ratios of median tokens/s). Throws when the two were
 * measured on different workloads.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { measureSpeed, speedup } from "@sprint-wgpu/toolkit/eval";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const w = { promptTokens: 8, newTokens: 4, reps: 2, warmup: 1 };
 * const mask = model.alive.map((_, s) => s !== 5); // without block 2's MLP
 * const s = speedup(await measureSpeed(model, w), await measureSpeed(model, { ...w, mask }));
 * assert.equal(s.sameWorkload, true);
 * console.log(`${s.decode.toFixed(2)}× decode`);
 * model.destroy();
 * ```
 */
export function speedup(dense: SpeedResult, pruned: SpeedResult): Speedup {
  const a = dense.protocol;
  const b = pruned.protocol;
  const same = a.promptTokens === b.promptTokens && a.newTokens === b.newTokens &&
    a.batch === b.batch &&
    a.prefillClock === b.prefillClock && a.stepsPerSubmit === b.stepsPerSubmit;
  if (!same) {
    throw new ToolkitError(
      `speedup: the dense (${a.batch}×${a.promptTokens}+${a.newTokens}, ${a.prefillClock}) and pruned` +
        ` (${b.batch}×${b.promptTokens}+${b.newTokens}, ${b.prefillClock}) models were measured on different workloads`,
    );
  }
  return {
    prefill: pruned.prefill.tokensPerSecond / dense.prefill.tokensPerSecond,
    decode: pruned.decode.tokensPerSecond / dense.decode.tokensPerSecond,
    sameWorkload: same,
  };
}
