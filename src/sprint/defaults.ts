/**
 * Defaults of the prune command scaled to the model (shared with `compare`).
 *
 * @module
 */
import type { LatencyWorkload } from "./latency.ts";

/**
 * Default calibration size scaled to the model: SPRINT's 128 × 2048 capped at 32k tokens.
 *
 * @example
 * ```ts
 * import { defaultCalibrationSize } from "./defaults.ts";
 * if (defaultCalibrationSize(512).seqLen !== 512) throw new Error();
 * ```
 */
export function defaultCalibrationSize(maxPositions: number): { nsamples: number; seqLen: number } {
  const seqLen = Math.min(2048, maxPositions);
  const nsamples = Math.max(8, Math.min(128, Math.floor(32768 / seqLen)));
  return { nsamples, seqLen };
}

/**
 * Default latency workload scaled to the model: SPRINT's prompt 1024 + 512 generated, capped by
 * the context.
 *
 * @example
 * ```ts
 * import { defaultLatencyWorkload } from "./defaults.ts";
 * if (defaultLatencyWorkload(64).promptLength !== 32) throw new Error();
 * ```
 */
export function defaultLatencyWorkload(maxPositions: number): LatencyWorkload {
  const promptLength = Math.min(1024, Math.floor(maxPositions / 2));
  return {
    mode: "generation",
    promptLength,
    generationLength: Math.min(512, Math.floor(maxPositions / 4)),
    batch: 1,
    iterations: 3,
  };
}
