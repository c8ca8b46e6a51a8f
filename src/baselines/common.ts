/**
 * What the depth-pruning baselines (SLEB, ShortGPT, BlockPruner) share with each other and with
 * SPRINT: the step log (a superset of SPRINT's {@link StepLog} in which one step may remove a
 * whole block), the stopping rule (the same estimated-speedup model over the same measured latency
 * table, or a sublayer count), and the greedy "remove the unit whose removal gives the lowest
 * calibration NLL" search of SLEB and BlockPruner. Every evaluation runs the toolkit's one forward
 * with a sublayer mask ({@link meanNll}); there is no second model implementation.
 *
 * Units: a *unit* is what a method removes at once — one sublayer (BlockPruner) or a block's two
 * sublayers `[2b, 2b+1]` (SLEB, ShortGPT).
 *
 * Stopping (checked before every step, as in SPRINT): with `targetSpeedup`, stop at the first
 * state whose estimated speedup (rules.ts {@link estimatedSpeedup}, model `speedupModel`) is
 * ≥ the target — a block adds both of its sublayers' latencies; with `numSublayers`, stop at the
 * first state with ≥ that many sublayers removed. Both are "at least" rules: a block step that
 * crosses the limit is taken whole, so block methods may overshoot by one sublayer
 * (`--num-sublayers 3` removes two blocks = 4 sublayers) or by up to one block's latency. The run
 * also stops when no candidate unit is left (SLEB keeps its first and last blocks; no method
 * removes the last live sublayer); {@link BaselineResult.targetReached} tells whether the limit
 * was met.
 *
 * @module
 */
import { meanNll } from "../model/loss.ts";
import type { LlamaModel } from "../model/model.ts";
import type { Calibration } from "../sprint/calibration.ts";
import type { LatencyTable } from "../sprint/latency.ts";
import type { PruneLog } from "../sprint/log.ts";
import { estimatedSpeedup } from "../sprint/rules.ts";
import type { StepLog } from "../sprint/state.ts";

/** The baselines this module implements. */
export const BASELINE_METHODS = ["sleb", "shortgpt", "blockpruner"] as const;

/** A baseline method name. */
export type BaselineMethod = typeof BASELINE_METHODS[number];

/** Whether `name` is a baseline method. */
export function isBaselineMethod(name: string): name is BaselineMethod {
  return (BASELINE_METHODS as readonly string[]).includes(name);
}

/** Options every baseline takes. */
export interface BaselineOptions {
  /** Stop once the estimated speedup reaches this (checked before each step). */
  targetSpeedup?: number;
  /** Or stop once this many sublayers are removed (a block counts as 2). */
  numSublayers?: number;
  /** Per-type latencies (the same table SPRINT uses). */
  latency: LatencyTable;
  /** `sublayers`: the official speedup model; `total`: with the measured fixed cost (default). */
  speedupModel?: "sublayers" | "total";
  /**
   * Calibration windows the criterion (and the logged calibration loss) uses: the first N
   * (default: all of them).
   */
  lossSequences?: number;
  /** Compute each calibration loss window by window (a device memory budget; same values). */
  perWindowLoss?: boolean;
  /** Progress within a step (candidates evaluated). */
  onProgress?: (e: BaselineProgress) => void;
  /** Called after each step with the state to persist (for resumable runs). */
  onStep?: (step: BaselineStep, state: BaselineState) => Promise<void>;
  /** Continue from a saved state (the model must be the dense original). */
  resume?: BaselineState;
}

/** A progress report. */
export interface BaselineProgress {
  /** The 1-based step in progress. */
  step: number;
  /** Candidates evaluated so far in this step. */
  done: number;
  /** Candidates in this step. */
  total: number;
}

/**
 * One step as logged: SPRINT's {@link StepLog} fields (so report.md / report.svg render it), with
 * `type: "block"` for a whole block and `sublayers` listing everything the step removed.
 * `stage1` holds the criterion of every candidate by sublayer (both sublayers of a block carry
 * the block's value; null = not a candidate), `candidates` the candidate units' first sublayers
 * from best to worst, `stage2` is empty (no second stage), and `seconds.stage1` is the search.
 */
export interface BaselineStep extends Omit<StepLog, "type"> {
  /** Kind of the removed unit: a sublayer (`attention`, `mlp`) or a whole block. */
  type: StepLog["type"] | "block";
  /** Sublayers removed by this step (two for a block). */
  sublayers: number[];
  /** What `score` is. */
  criterion: "calibration-nll" | "block-influence";
  /** The criterion value of the removed unit. */
  score: number;
}

/** Everything needed to continue a run (the searches are deterministic). */
export interface BaselineState {
  /** Sublayers removed, in order. */
  pruned: number[];
  /** Steps logged so far. */
  steps: BaselineStep[];
  /** Calibration loss (mean NLL) of the dense model. */
  denseLoss?: number;
}

/** Result of a baseline run. */
export interface BaselineResult {
  /** Every step, in order. */
  steps: BaselineStep[];
  /** Sublayer mask of the pruned model (true = kept). */
  mask: boolean[];
  /** The final state (what `resume` takes). */
  state: BaselineState;
  /** Whether the stopping limit was met (false: ran out of candidates first). */
  targetReached: boolean;
}

/** A prune log written by a baseline (steps may remove whole blocks). */
export type BaselinePruneLog = Omit<PruneLog, "steps"> & { steps: BaselineStep[] };

/**
 * The sublayer mask after the first `m` steps of a prune log (SPRINT's or a baseline's): every
 * sublayer a step lists in `sublayers` (or its single `sublayer`) is removed. Use this rather than
 * log.ts `replayLog` for block methods, whose steps remove two sublayers.
 */
export function maskAfterSteps(
  log: { steps: readonly { sublayer: number; sublayers?: number[] }[] },
  numSublayers: number,
  m = log.steps.length,
): boolean[] {
  const mask = new Array<boolean>(numSublayers).fill(true);
  for (const s of log.steps.slice(0, m)) {
    for (const x of s.sublayers ?? [s.sublayer]) mask[x] = false;
  }
  return mask;
}

/** Estimated speedups of a mask under both models, and the one in use. */
export function speedups(
  latency: LatencyTable,
  alive: readonly boolean[],
  model: "sublayers" | "total",
): { used: number; sublayers: number; total: number } {
  const sublayers = estimatedSpeedup(latency, alive, false);
  const total = estimatedSpeedup(latency, alive, true);
  return { used: model === "sublayers" ? sublayers : total, sublayers, total };
}

/** Whether a run with `alive` (and `removed` sublayers gone) has met its stopping limit. */
export function limitReached(
  options: Pick<BaselineOptions, "targetSpeedup" | "numSublayers" | "latency" | "speedupModel">,
  alive: readonly boolean[],
  removed: number,
): boolean {
  if (options.targetSpeedup !== undefined && options.targetSpeedup >= 1) {
    return speedups(options.latency, alive, options.speedupModel ?? "total").used >=
      options.targetSpeedup;
  }
  if (options.numSublayers !== undefined) return removed >= options.numSublayers;
  throw new Error("baseline: give targetSpeedup or numSublayers");
}

/** The calibration windows a criterion uses. */
export function lossCount(calib: Calibration, options: BaselineOptions): number {
  const k = options.lossSequences ?? calib.nsamples;
  if (!Number.isInteger(k) || k < 1) {
    throw new Error(`baseline: lossSequences must be an integer ≥ 1, got ${k}`);
  }
  return Math.min(k, calib.nsamples);
}

/** Checks the model and calibration before a baseline starts. */
export function checkStart(model: LlamaModel, calib: Calibration, method: string): void {
  if (model.alive.some((a) => !a)) {
    throw new Error(`${method}: start from the dense model (all sublayers present)`);
  }
  if (calib.seqLen > model.rope.maxPositions) {
    throw new Error(
      `${method}: seq-len ${calib.seqLen} exceeds the model's ${model.rope.maxPositions} positions`,
    );
  }
}

/** Step type of a unit. */
export function unitType(unit: readonly number[]): BaselineStep["type"] {
  return unit.length === 2 ? "block" : unit[0] % 2 === 0 ? "attention" : "mlp";
}

/** Criterion by sublayer (null where the sublayer is not in a scored unit). */
export function scoresBySublayer(
  n: number,
  units: readonly (readonly number[])[],
  scores: readonly number[],
): (number | null)[] {
  const out = new Array<number | null>(n).fill(null);
  units.forEach((u, i) =>
    u.forEach((s) => (out[s] = Number.isFinite(scores[i]) ? scores[i] : null))
  );
  return out;
}

/** Units ordered by score (ascending; ties keep the units' order). */
export function orderByScore(
  units: readonly (readonly number[])[],
  scores: readonly number[],
): (readonly number[])[] {
  return units.map((u, i) => ({ u, s: scores[i], i }))
    .sort((a, b) => (a.s === b.s ? a.i - b.i : a.s < b.s ? -1 : a.s > b.s ? 1 : a.i - b.i))
    .map((x) => x.u);
}

/** Options of {@link greedyNllSearch}. */
export interface GreedyOptions extends BaselineOptions {
  /** Candidate units (each a list of sublayers removed together), in tie-break order. */
  units: readonly (readonly number[])[];
}

/**
 * Greedy, iterative removal by calibration loss (SLEB over blocks, BlockPruner over sublayers):
 * at each step every remaining unit is masked on top of everything removed so far, the mean NLL
 * of the calibration windows is computed with the masked forward, and the unit with the lowest
 * loss is removed (ties: the earlier unit). Repeats until the stopping limit (see the module doc).
 */
export async function greedyNllSearch(
  model: LlamaModel,
  calib: Calibration,
  options: GreedyOptions,
): Promise<BaselineResult> {
  const n = model.numSublayers;
  const count = lossCount(calib, options);
  const speedupModel = options.speedupModel ?? "total";
  const alive = new Array<boolean>(n).fill(true);
  let state: BaselineState = { pruned: [], steps: [] };
  if (options.resume) {
    state = { ...options.resume, steps: [...options.resume.steps] };
    for (const s of state.pruned) alive[s] = false;
  } else {
    state.denseLoss = await meanNll(model, calib.ids, count, calib.seqLen, alive, undefined, {
      perWindow: options.perWindowLoss,
    });
  }
  let targetReached = false;
  for (;;) {
    if (limitReached(options, alive, state.pruned.length)) {
      targetReached = true;
      break;
    }
    const live = alive.filter((a) => a).length;
    const units = options.units.filter((u) => u.every((s) => alive[s]) && u.length < live);
    if (units.length === 0) break;
    const stepNo = state.steps.length + 1;
    const t0 = performance.now();
    const losses: number[] = [];
    for (const u of units) {
      const mask = alive.slice();
      for (const s of u) mask[s] = false;
      losses.push(
        await meanNll(model, calib.ids, count, calib.seqLen, mask, undefined, {
          perWindow: options.perWindowLoss,
        }),
      );
      options.onProgress?.({ step: stepNo, done: losses.length, total: units.length });
    }
    let best = 0;
    for (let i = 1; i < units.length; i++) if (losses[i] < losses[best]) best = i;
    const unit = units[best];
    for (const s of unit) alive[s] = false;
    state.pruned.push(...unit);
    const t1 = performance.now();
    const sp = speedups(options.latency, alive, speedupModel);
    const step: BaselineStep = {
      step: stepNo,
      sublayer: unit[0],
      sublayers: [...unit],
      type: unitType(unit),
      block: unit[0] >> 1,
      stage1: [scoresBySublayer(n, units, losses)],
      candidates: orderByScore(units, losses).map((u) => u[0]),
      stage2: {},
      estimatedSpeedup: sp.used,
      estimatedSpeedupSublayers: sp.sublayers,
      estimatedSpeedupTotal: sp.total,
      calibrationLoss: losses[best],
      criterion: "calibration-nll",
      score: losses[best],
      seconds: { stage1: (t1 - t0) / 1e3, stage2: 0, apply: 0, total: (t1 - t0) / 1e3 },
    };
    state.steps.push(step);
    await options.onStep?.(step, state);
  }
  return { steps: state.steps, mask: alive, state, targetReached };
}
