/**
 * Timing of recorded GPU work: GPU timestamps (`timestamp-query`) when the device has them,
 * wall clock around submit→done otherwise. Warm-up runs, repeated timings, median and spread.
 *
 * @module
 */
import { median, quantile } from "../deps.ts";
import type { Gpu } from "./device.ts";
import { Recorder } from "./recorder.ts";

/** Summary of repeated timings, in milliseconds. */
export interface TimingStats {
  /** Median time of one repetition. */
  medianMs: number;
  /** 10th and 90th percentile. */
  p10Ms: number;
  /** 90th percentile time of one repetition. */
  p90Ms: number;
  /** Fastest repetition. */
  minMs: number;
  /** Number of timed repetitions. */
  reps: number;
  /** `gpu-timestamp` (device timeline) or `wall-clock` (submit to completion, host side). */
  clock: "gpu-timestamp" | "wall-clock";
}

/** Options for {@link timeGpu}. */
export interface TimeOptions {
  /** Untimed runs first (default 2). */
  warmup?: number;
  /** Timed repetitions (default 10). */
  reps?: number;
  /** Dispatch sequences recorded per submission; the time is divided by it (default 1). */
  perSubmit?: number;
  /** Force wall-clock timing even when timestamps are available. */
  wallClock?: boolean;
}

/**
 * Times `record` (which records dispatches into the given recorder) on the device.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu, timeGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { scale } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const x = gpu.tensor([1024], "f32");
 * const t = await timeGpu(gpu, (rec) => void scale(rec, x, 2, { out: x }), { reps: 3, warmup: 1 });
 * assert.equal(t.reps, 3);
 * console.log(t.medianMs, t.clock);
 * ```
 */
export async function timeGpu(
  gpu: Gpu,
  record: (rec: Recorder) => void,
  options: TimeOptions = {},
): Promise<TimingStats> {
  const warmup = options.warmup ?? 2;
  const reps = options.reps ?? 10;
  const perSubmit = options.perSubmit ?? 1;
  const useTs = gpu.caps.timestamps && !options.wallClock;
  const querySet = useTs ? gpu.device.createQuerySet({ type: "timestamp", count: 2 }) : undefined;
  const resolve = useTs
    ? gpu.device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    })
    : undefined;
  const readback = useTs
    ? gpu.device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    })
    : undefined;
  const times: number[] = [];
  try {
    for (let i = 0; i < warmup + reps; i++) {
      const rec = new Recorder(gpu, querySet);
      for (let j = 0; j < perSubmit; j++) record(rec);
      if (querySet && resolve && readback) {
        rec.encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
        rec.encoder.copyBufferToBuffer(resolve, 0, readback, 0, 16);
      }
      const t0 = performance.now();
      rec.submit();
      let ms: number;
      if (readback) {
        await readback.mapAsync(GPUMapMode.READ);
        const ts = new BigUint64Array(readback.getMappedRange().slice(0));
        readback.unmap();
        ms = Number(ts[1] - ts[0]) / 1e6;
      } else {
        await gpu.device.queue.onSubmittedWorkDone();
        ms = performance.now() - t0;
      }
      gpu.throwIfErrors();
      if (i >= warmup) times.push(ms / perSubmit);
    }
  } finally {
    querySet?.destroy();
    resolve?.destroy();
    readback?.destroy();
  }
  return summarise(times, useTs ? "gpu-timestamp" : "wall-clock");
}

/**
 * Median, 10th/90th percentile and minimum of `times` (ms).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarise } from "@sprint-wgpu/toolkit/gpu";
 * const t = summarise([3, 1, 2, 4], "wall-clock");
 * assert.deepEqual([t.medianMs, t.minMs, t.reps], [2.5, 1, 4]); // p10Ms 1.3, p90Ms 3.7
 * ```
 */
export function summarise(times: number[], clock: TimingStats["clock"]): TimingStats {
  if (times.length === 0) throw new Error("no timings to summarise");
  return {
    medianMs: median(times)!,
    p10Ms: quantile(times, 0.1)!,
    p90Ms: quantile(times, 0.9)!,
    minMs: Math.min(...times),
    reps: times.length,
    clock,
  };
}
