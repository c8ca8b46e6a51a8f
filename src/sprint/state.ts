/**
 * The types of a SPRINT run: its options, progress reports, the per-step log, the resumable
 * state and the result.
 *
 * @module
 */
import type { TuningRule } from "./rules.ts";
import type { LatencyTable } from "./latency.ts";
import type { MemoryPlan } from "../plan/memory.ts";

/** Options of a SPRINT run (defaults: the official code's script settings). */
export interface SprintOptions {
  /** Stop once the estimated speedup reaches this (checked before each step). */
  targetSpeedup?: number;
  /** Or stop after pruning this many sublayers. */
  numSublayers?: number;
  /** Sensitivity metric string, e.g. `l2_sentence` (default) or `l1_token,cos_sentence`. */
  metrics?: string;
  /** Divide sensitivities by the sublayer type's latency (default true). */
  latencyAware?: boolean;
  /** Stage 2 with in-compression least-squares tuning (default true). */
  tuning?: boolean;
  /** Which sublayer is re-fitted: the next MLP (default) or none (window = the sublayer). */
  tuningRule?: TuningRule;
  /** Fraction ρ of down_proj rows re-fitted, chosen by Σ|W|·‖x‖ (default 1). */
  tuningRatio?: number;
  /** Tikhonov damping λ of the least-squares system (default 0). */
  damping?: number;
  /** Stage-1 candidates re-scored in stage 2 (default 5). */
  candidates?: number;
  /** Activation checkpoints C (default 8; 0 = recompute from the embeddings). */
  checkpoints?: number;
  /** Calibration sequences per GPU batch (default 4). */
  batchSize?: number;
  /** Write the chosen candidate's re-fitted rows into the model (default true). */
  updateTunedWeights?: boolean;
  /** Per-type latencies. */
  latency: LatencyTable;
  /** `sublayers`: the official speedup model; `total`: with the measured fixed cost (default). */
  speedupModel?: "sublayers" | "total";
  /** Sequences used for the per-step calibration loss (default 8; 0 = skip). */
  lossSequences?: number;
  /** Progress callback. */
  onProgress?: (e: SprintProgress) => void;
  /** Called after each step with the state to persist (for resumable runs). */
  onStep?: (step: StepLog, state: SprintState) => Promise<void>;
  /** Resume from a saved state (the model must be the dense original). */
  resume?: SprintState;
  /**
   * Device memory budget in bytes (default: derived from the adapter where it can be known, else
   * unbounded). When the resident plan exceeds it, checkpoints, batch states and reference outputs
   * stay in host memory and are uploaded one batch at a time (same results).
   */
  deviceMemory?: number;
  /** Force the placement of per-batch activations (default: by the memory plan). */
  placement?: "resident" | "streamed";
}

/** A progress report. */
export interface SprintProgress {
  /** The 1-based step in progress. */
  step: number;
  /** Stage in progress: scoring, re-scoring candidates, or pruning. */
  stage: "stage1" | "stage2" | "apply";
  /** Units done (stage 1: sublayers scored; stage 2: candidates re-scored; apply: 1). */
  done: number;
  /** Units in the stage. */
  total: number;
}

/** One re-fitted down_proj: rows of block `block`'s down_proj, HF layout `[rows, F]`. */
export interface TunedRows {
  /** The tuning sublayer t (an MLP). */
  sublayer: number;
  /** The block of the tuning sublayer (⌊sublayer/2⌋). */
  block: number;
  /** Output rows re-fitted (ascending). */
  rows: number[];
  /** New values `[rows.length, F]` row-major. */
  values: Float32Array<ArrayBuffer>;
  /** The solve produced non-finite values and the original rows were kept. */
  fellBack: boolean;
  /** The step that applied these rows (set when applied). */
  step?: number;
}

/** One pruning step as logged. */
export interface StepLog {
  /** The 1-based step number. */
  step: number;
  /** The pruned sublayer s. */
  sublayer: number;
  /** Kind of the pruned sublayer (s even: attention, odd: MLP). */
  type: "attention" | "mlp";
  /** Block of the pruned sublayer (⌊s/2⌋). */
  block: number;
  /** Stage-1 importance of every sublayer (null = pruned / not scored). Per metric when several. */
  stage1: (number | null)[][];
  /** Stage-1 candidates, least important first (re-scored in stage 2 when tuning). */
  candidates: number[];
  /** Stage-2 importance of the candidates and still-valid cached ones (sublayer → per metric). */
  stage2: Record<string, number[]>;
  /** The tuned sublayer and rows applied, if any. */
  tuned?: { sublayer: number; block: number; rows: number; fellBack: boolean };
  /** Estimated speedup after the step, by the run's `speedupModel`. */
  estimatedSpeedup: number;
  /** Estimated speedup by the sublayers-only model. */
  estimatedSpeedupSublayers: number;
  /** Estimated speedup with the measured fixed cost. */
  estimatedSpeedupTotal: number;
  /** Mean NLL on the calibration loss sequences after the step. */
  calibrationLoss?: number;
  /** Wall seconds of the step by phase (apply includes the calibration loss). */
  seconds: { stage1: number; stage2: number; apply: number; total: number };
}

/** Everything needed to continue a run exactly. */
export interface SprintState {
  /** Pruned sublayers in order. */
  pruned: number[];
  /** Re-fitted rows applied so far, in order. */
  applied: TunedRows[];
  /** Valid stage-2 cache entries: candidate → (tuned rows, its stage-2 score per metric). */
  cache: { candidate: number; tuned: TunedRows; score: number[] }[];
  /** Steps logged so far. */
  steps: StepLog[];
  /** Calibration loss of the dense model. */
  denseLoss?: number;
}

/** Result of {@link sprint}. */
export interface SprintResult {
  /** Every step, in order (a resumed run's earlier steps included). */
  steps: StepLog[];
  /** Sublayer mask of the pruned model (true = kept). */
  mask: boolean[];
  /** The final state (what {@link SprintOptions.resume} takes). */
  state: SprintState;
  /** The memory plan the run followed and the peak device bytes allocated (weights included). */
  memory: { plan: MemoryPlan; peakDeviceBytes: number };
}

/** A stage-2 result kept between steps: the candidate's re-fitted rows and its score per metric. */
export interface Stage2Entry {
  /** The re-fitted rows (empty with `fellBack` when the candidate is untunable). */
  tuned: TunedRows;
  /** Raw stage-2 sensitivity per metric (+∞: untunable). */
  score: number[];
}

/** Options with the defaults filled in (what a run reads). */
export type ResolvedSprintOptions =
  & Required<
    Omit<
      SprintOptions,
      | "targetSpeedup"
      | "numSublayers"
      | "onProgress"
      | "onStep"
      | "resume"
      | "deviceMemory"
      | "placement"
    >
  >
  & Pick<SprintOptions, "targetSpeedup" | "numSublayers" | "onProgress" | "onStep" | "resume">
  & Pick<SprintOptions, "deviceMemory" | "placement">;
