/**
 * Kernel benchmark harness: every case checks its output against the f64 reference before it
 * is timed (an over-budget shader on some back ends writes zeros and looks fast), then reports
 * GFLOP/s or GB/s from the median of repeated timings.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { Recorder } from "../gpu/recorder.ts";
import { timeGpu, type TimingStats } from "../gpu/timing.ts";

/** A prepared benchmark: records the work and verifies its result. */
export interface PreparedCase {
  /** Records one execution of the kernel(s) under test. */
  record(rec: Recorder): void;
  /** Runs once and compares with the reference; throws on mismatch. */
  check(): Promise<void>;
  /** Frees GPU memory. */
  dispose(): void;
}

/** One benchmark case. */
export interface BenchCase {
  /** Kernel family, e.g. `matmul`. */
  kernel: string;
  /** Human-readable shape, e.g. `M=512 K=512 N=1536 f32`. */
  label: string;
  /** Shape fields reported in JSON (e.g. m, k, n). */
  shape: Record<string, number | string>;
  /** Floating-point operations per execution (for GFLOP/s), if compute-bound. */
  flops?: number;
  /** Bytes moved per execution (for GB/s). */
  bytes?: number;
  /** Part of the quick set (`--quick`). */
  quick?: boolean;
  /** Allocates inputs and returns the prepared case. */
  prepare(gpu: Gpu): PreparedCase;
}

/** One benchmark result. */
export interface BenchResult {
  kernel: string;
  label: string;
  /** Shape fields (e.g. m, k, n) copied to the top level for JSON consumers. */
  [field: string]: unknown;
  timing: TimingStats;
  /** Median milliseconds per execution. */
  ms: number;
  gflops?: number;
  gbps?: number;
  /** `passed` when the output matched the reference. */
  check: "passed";
}

/** Options for {@link runBench}. */
export interface RunBenchOptions {
  /** Timed repetitions per case (default 7). */
  reps?: number;
  /** Target GPU time per submission in ms; executions per submission are scaled to it. */
  targetMs?: number;
  /** Called after each case. */
  onResult?: (r: BenchResult) => void;
}

/**
 * Checks, then times, every case.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { type BenchCase, runBench } from "./harness.ts"; // internal: src/bench/ has no subpath
 * import { matmulCases } from "./matmul_cases.ts";
 * const gpu = await getGpu();
 * const small = matmulCases(["f32"]).filter((c) => c.label === "M=128 K=256 N=256 weights f32");
 * const [r] = await runBench(gpu, small, { reps: 3, targetMs: 5 }); // checked, then timed
 * assert.equal(r.check, "passed");
 * assert.equal(r.m, 128);
 * assert.ok(r.ms > 0 && r.gflops! > 0);
 * // A case whose output does not match its reference is never timed.
 * const wrong: BenchCase = {
 *   ...small[0],
 *   prepare: (g) => ({
 *     ...small[0].prepare(g),
 *     check: () => Promise.reject(new Error("mismatch")),
 *   }),
 * };
 * await assert.rejects(runBench(gpu, [wrong]), /mismatch/);
 * ```
 */
export async function runBench(
  gpu: Gpu,
  cases: readonly BenchCase[],
  options: RunBenchOptions = {},
): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const targetMs = options.targetMs ?? 150;
  for (const c of cases) {
    const prepared = c.prepare(gpu);
    try {
      await prepared.check();
      // Calibrate: one execution per submission first, then enough to fill targetMs.
      const probe = await timeGpu(gpu, prepared.record, { warmup: 1, reps: 1 });
      const perSubmit = Math.max(
        1,
        Math.min(64, Math.round(targetMs / Math.max(probe.medianMs, 0.01))),
      );
      const timing = await timeGpu(gpu, prepared.record, {
        warmup: 1,
        reps: options.reps ?? 7,
        perSubmit,
      });
      const s = timing.medianMs / 1e3;
      const r: BenchResult = {
        kernel: c.kernel,
        label: c.label,
        ...c.shape,
        timing,
        ms: timing.medianMs,
        check: "passed",
      };
      if (c.flops) r.gflops = c.flops / s / 1e9;
      if (c.bytes) r.gbps = c.bytes / s / 1e9;
      results.push(r);
      options.onResult?.(r);
    } finally {
      prepared.dispose();
    }
  }
  return results;
}
