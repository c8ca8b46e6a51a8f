/**
 * The workload SPRINT's latency table is measured on (one type, shared by the measurement in
 * `latency.ts` and the FLOP/byte counts in `sublayer_cost.ts`).
 *
 * @module
 */

/** The workload latencies are measured on. */
export interface LatencyWorkload {
  /** `generation`: prefill `promptLength` tokens then decode `generationLength`; `prefill`: one forward. */
  mode: "generation" | "prefill";
  /** Prompt tokens per sequence. */
  promptLength: number;
  /** Tokens generated per sequence in `generation` mode (the first by the prefill). */
  generationLength: number;
  /** Sequences run together. */
  batch: number;
  /** Timed repetitions (after one warm-up); the median is used. */
  iterations: number;
}
