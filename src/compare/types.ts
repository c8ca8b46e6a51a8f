/**
 * The comparison experiment's settings and results: what `deno task compare` is given (parsed by
 * `src/cli/compare.ts`) and what it writes (`compare.json`, read by `report.ts`).
 *
 * @module
 */
import type { LatencyTable, LatencyWorkload } from "../sprint/latency.ts";
import type { ZeroShotResult } from "../eval/zeroshot.ts";

/** Methods `compare` knows: SPRINT, its two ablations, and the baselines. */
export const COMPARE_METHODS = [
  "sprint",
  "sleb",
  "shortgpt",
  "blockpruner",
  "sprint-no-latency",
  "sprint-no-tuning",
] as const;

/** A compare method name. */
export type CompareMethod = typeof COMPARE_METHODS[number];

/** The prune flags that select a method (ablations are SPRINT with one idea switched off). */
export function methodFlags(method: CompareMethod): string[] {
  if (method === "sprint-no-latency") return ["--method", "sprint", "--no-latency-aware"];
  if (method === "sprint-no-tuning") return ["--method", "sprint", "--no-tuning"];
  return ["--method", method];
}

/** Parsed command line. */
export interface CompareArgs {
  modelDir: string;
  modelGiven: boolean;
  speedups: number[];
  methods: CompareMethod[];
  /** Zero-shot tasks (empty: none). */
  tasks: string[];
  dataDir: string;
  /** Zero-shot documents per task (first N). */
  limit?: number;
  out: string;
  /** Calibration text (default: the model directory's calibration.txt). */
  calib: string;
  /** Held-out text; absent: the calibration file is split (see {@link CompareArgs.calibFraction}). */
  heldout?: string;
  /** Fraction of the calibration file (by characters, cut at a paragraph break) used for calibration. */
  calibFraction: number;
  nsamples?: number;
  seqLen?: number;
  seed: number;
  speedupModel: "total" | "sublayers";
  latencyTable?: string;
  latencyMode: "generation" | "prefill";
  latencyPrompt?: number;
  latencyGen?: number;
  latencyIters: number;
  /** Held-out perplexity window length (default: the model's context, at most 2048). */
  pplSeqLen?: number;
  /** Held-out perplexity: the first N windows only. */
  pplWindows?: number;
  /** Timed dense/pruned pairs per cell (run alternately, after one warm-up each). */
  speedRuns: number;
  f32: boolean;
  quiet: boolean;
}

/** Held-out perplexity of one model. */
export interface HeldoutResult {
  ppl: number;
  meanNll: number;
  tokens: number;
  windows: number;
  seqLen: number;
}

/** Measured speedup of a cell on the latency workload. */
export interface MeasuredSpeed {
  /** min(dense times) ÷ min(pruned times): the uncontended-cost estimate (the headline). */
  speedup: number;
  /** median(dense) ÷ median(pruned). */
  medianSpeedup: number;
  /** 10th / 90th percentile of the paired ratios dense_i ÷ pruned_i. */
  p10: number;
  p90: number;
  /** Every timed run (ms), in the order run: dense_i then pruned_i. */
  denseMs: number[];
  prunedMs: number[];
  workload: LatencyWorkload;
}

/** What the prune of a cell produced (from its prune_log.json). */
export interface CellPrune {
  method: string;
  settings: Record<string, unknown>;
  pruned: number[];
  steps: number;
  estimatedSpeedup: number;
  estimatedSpeedupSublayers?: number;
  estimatedSpeedupTotal?: number;
  targetReached: boolean;
  denseCalibrationLoss?: number;
  finalCalibrationLoss?: number;
  /** The search's wall time (prune_log.json wallSeconds). */
  wallSeconds: number;
  /** The prune subprocess' wall time (load, calibration, search, save); null when reused. */
  processSeconds: number | null;
  command: string[];
}

/** `OUT/cells/<cell>/result.json`. */
export interface CellResult {
  format: "sprint-wgpu compare cell v1";
  fingerprint: string;
  cell: string;
  method: CompareMethod;
  targetSpeedup: number;
  prune: CellPrune;
  heldout: HeldoutResult;
  zeroShot: Record<string, ZeroShotResult>;
  speed: MeasuredSpeed;
  evalSeconds: number;
}

/** `OUT/dense.json`: the dense model's figures. */
export interface DenseResult {
  format: "sprint-wgpu compare dense v1";
  fingerprint: string;
  heldout: HeldoutResult;
  zeroShot: Record<string, ZeroShotResult>;
}

/** Everything `compare.json` holds. */
export interface CompareDoc {
  format: "sprint-wgpu compare v1";
  protocol: Record<string, unknown>;
  latency: LatencyTable;
  dense: DenseResult;
  cells: CellResult[];
  /** Cells that failed this run (method-speedup → error line). */
  failed: Record<string, string>;
}
