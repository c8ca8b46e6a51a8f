/**
 * SPRINT (Park et al., IJCAI 2025): iterative sublayer pruning with latency-aware importance and
 * tunability-aware (least-squares re-fitted) sensitivity, following the official code's algorithm
 * and defaults (see the project's design notes, sprint-spec §1–§10).
 *
 * One step: stage 1 scores every live sublayer without tuning (from the last valid activation
 * checkpoint), keeps the `candidates` least important, stage 2 re-scores them after re-fitting the
 * down_proj of the next live MLP by least squares on the GPU (`refit.ts`), and the least important
 * sublayer is pruned (its re-fitted rows written into the model). Steps repeat until the estimated
 * speedup reaches the target or a number of sublayers is removed. This file is the search loop;
 * the types of its options, log and state are in `state.ts`.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { Recorder } from "../gpu/recorder.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { embedding } from "../kernels/embedding.ts";
import type { Linear } from "../kernels/matmul.ts";
import { type ForwardHooks, runSublayers, type SublayerContext } from "../model/forward.ts";
import type { LlamaModel } from "../model/model.ts";
import { meanNll } from "../model/loss.ts";
import type { Calibration } from "./calibration.ts";
import { importance, parseMetrics, rankSum, SensitivityAccumulator } from "./sensitivity.ts";
import {
  checkpointAtOrBelow,
  checkpointIndices,
  estimatedSpeedup,
  isTunable,
  restartIndex,
  sublayerLatency,
  tuneIndex,
} from "./rules.ts";
import { ToolkitError } from "../errors.ts";
import {
  assertHostFits,
  type MemoryPlan,
  planSprintMemory,
  resolveDeviceBudget,
} from "../plan/memory.ts";
import { applyTunedRows, type BatchState, refitDownProj, type RefitRun } from "./refit.ts";
import type {
  ResolvedSprintOptions,
  SprintOptions,
  SprintProgress,
  SprintResult,
  SprintState,
  Stage2Entry,
  StepLog,
} from "./state.ts";

export type {
  SprintOptions,
  SprintProgress,
  SprintResult,
  SprintState,
  StepLog,
  TunedRows,
} from "./state.ts";
export { applyTunedRows, currentDownWeight } from "./refit.ts";

/**
 * Runs SPRINT on `model` (modified in place: re-fitted down_proj rows are written into it; pruned
 * sublayers keep their weights but are masked — save with the returned mask).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { calibrationFromFile, sprint } from "@sprint-wgpu/toolkit/sprint";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const text = `${DEFAULT_MODEL_DIR}/calibration.txt`;
 * const calib = await calibrationFromFile(text, model.tokenizer!, { nsamples: 2, seqLen: 16 });
 * const latency = { attention: 1, mlp: 2, dense: 30, source: "file" } as const; // or measureLatency
 * const { mask, steps } = await sprint(model, calib, { numSublayers: 1, latency, lossSequences: 1 });
 * assert.equal(steps.length, 1);
 * assert.equal(mask[steps[0].sublayer], false); // save with saveModel(model, dir, { mask })
 * model.destroy();
 * ```
 */
export async function sprint(
  model: LlamaModel,
  calib: Calibration,
  options: SprintOptions,
): Promise<SprintResult> {
  const run = new SprintRun(model, calib, options);
  try {
    return await run.run();
  } finally {
    run.destroy();
  }
}

/** The memory plan of a run (device budget from the options or the adapter; host checked). */
function sprintPlan(
  model: LlamaModel,
  calib: Calibration,
  o: SprintOptions & {
    batchSize: number;
    checkpoints: number;
    tuning: boolean;
    lossSequences: number;
  },
): MemoryPlan {
  const budget = resolveDeviceBudget(model.gpu, o.deviceMemory);
  const plan = planSprintMemory(model.config, model.dtype, {
    nsamples: calib.nsamples,
    seqLen: calib.seqLen,
    batchSize: o.batchSize,
    checkpoints: o.checkpoints,
    tuning: o.tuning,
    lossSequences: o.lossSequences,
    deviceMemory: budget.bytes,
    budgetNote: budget.note,
    placement: o.placement,
    offload: model.residency !== undefined, // decided when the model was loaded
    slots: model.residency?.slotCount,
  }, {
    bindingLimit: Math.min(model.gpu.caps.maxStorageBindingSize, model.gpu.caps.maxBufferSize),
    headChunkOutputs: model.head.parts[0]?.count,
    maxPositions: model.rope.maxPositions,
  });
  assertHostFits(plan, "SPRINT");
  return plan;
}

/** The official code's script settings: the defaults of {@link SprintOptions}. */
const DEFAULTS = {
  metrics: "l2_sentence",
  latencyAware: true,
  tuning: true,
  tuningRule: "mlp",
  tuningRatio: 1,
  damping: 0,
  candidates: 5,
  checkpoints: 8,
  batchSize: 4,
  updateTunedWeights: true,
  speedupModel: "total",
  lossSequences: 8,
} as const;

/** One SPRINT run: its settings, the pruning state and the device tensors it works in. */
class SprintRun implements RefitRun {
  readonly model: LlamaModel;
  readonly gpu: Gpu;
  readonly calib: Calibration;
  /** The options with defaults filled in. */
  readonly opts: ResolvedSprintOptions;
  /** Sublayers in the model (2 per block: attention, MLP). */
  readonly sublayerCount: number;
  /** Tokens per calibration sequence. */
  readonly seqLen: number;
  /** Calibration sequences per GPU batch. */
  readonly batchSize: number;
  /** Calibration batches. */
  readonly batchCount: number;
  /** Rows of one batch (`batchSize · seqLen`). */
  readonly batchRows: number;
  /** Hidden size d. */
  readonly hidden: number;
  /** The sensitivity metrics, in the order scores are reported. */
  readonly metrics: ReturnType<typeof parseMetrics>;
  /** Sublayers before which an activation checkpoint is kept. */
  readonly checkpointAt: number[];
  /** Pruned sublayers (true = removed). */
  pruned: boolean[];
  /** Per sublayer: the sublayer re-fitted for it (its window's end), as of its last stage-1 score. */
  tuneTarget: number[];
  /** Stage-1 raw sensitivity per metric and sublayer (+∞ where pruned). */
  stage1Raw: number[][];
  /** Stage-2 results still valid, by candidate sublayer. */
  stage2Cache = new Map<number, Stage2Entry>();
  /** Resident placement: checkpoint tensors (one per batch) by sublayer index. */
  checkpoints = new Map<number, Tensor[]>();
  /** Streamed placement: checkpoints by index, one host array per batch. */
  hostCheckpoints = new Map<number, Float32Array<ArrayBuffer>[]>();
  /** The first sublayer whose stage-1 score is stale (Infinity: none). */
  restartFrom = 0;
  /** What a resumed run continues from. */
  state: SprintState;
  /** A third work stream `[batchRows, d]`, allocated as the memory plan counts it. */
  readonly spareStream: Tensor;
  /** Output of the dense reference window (sublayers s … t forced on). */
  readonly referenceOut: Tensor;
  /** Output of the pruned window (s removed). */
  readonly prunedOut: Tensor;
  /** Accumulates the sensitivity of every sublayer over batches. */
  readonly sensitivity: SensitivityAccumulator;
  readonly plan: MemoryPlan;
  /** Per-batch activations in host memory (see {@link SprintOptions.deviceMemory}). */
  readonly streamed: boolean;

  constructor(model: LlamaModel, calib: Calibration, options: SprintOptions) {
    this.model = model;
    this.gpu = model.gpu;
    this.calib = calib;
    this.opts = { ...DEFAULTS, ...options };
    const c = model.config;
    this.sublayerCount = 2 * c.numLayers;
    this.hidden = c.hiddenSize;
    this.seqLen = calib.seqLen;
    this.batchSize = Math.min(this.opts.batchSize, calib.nsamples);
    this.batchCount = Math.floor(calib.nsamples / this.batchSize);
    this.batchRows = this.batchSize * this.seqLen;
    if (this.opts.tuningRatio <= 0 || this.opts.tuningRatio > 1) {
      throw new Error(`tuning ratio must be in (0, 1]`);
    }
    if (model.alive.some((a) => !a)) {
      throw new Error("sprint: start from the dense model (all sublayers present)");
    }
    if (this.seqLen > model.rope.maxPositions) {
      throw new Error(
        `sprint: seq-len ${this.seqLen} exceeds the model's ${model.rope.maxPositions} positions`,
      );
    }
    this.metrics = parseMetrics(this.opts.metrics);
    this.checkpointAt = checkpointIndices(c.numLayers, this.opts.checkpoints);
    this.pruned = new Array<boolean>(this.sublayerCount).fill(false);
    this.tuneTarget = Array.from({ length: this.sublayerCount }, (_, i) => i);
    this.stage1Raw = this.metrics.map(() => new Array<number>(this.sublayerCount).fill(Infinity));
    this.state = { pruned: [], applied: [], cache: [], steps: [] };
    this.plan = sprintPlan(model, calib, this.opts);
    this.streamed = this.plan.placement === "streamed";
    const stream = () => this.gpu.tensor([this.batchRows, this.hidden], "f32");
    this.spareStream = stream();
    this.referenceOut = stream();
    this.prunedOut = stream();
    this.sensitivity = new SensitivityAccumulator(this.gpu, this.metrics, this.sublayerCount, {
      batch: this.batchSize,
      tokens: this.seqLen,
      width: this.hidden,
    });
  }

  destroy(): void {
    this.#slot?.destroy();
    this.hostCheckpoints.clear();
    for (const list of this.checkpoints.values()) list.forEach((t) => t.destroy());
    this.checkpoints.clear();
    for (const t of [this.spareStream, this.referenceOut, this.prunedOut]) t.destroy();
    this.sensitivity.destroy();
  }

  // ---- Masks, speedups and importance.

  /** The current sublayer mask (true = kept). */
  get alive(): boolean[] {
    return this.pruned.map((p) => !p);
  }

  /** Both speedup estimates of the current mask. */
  speedups(): { sublayers: number; total: number } {
    return {
      sublayers: estimatedSpeedup(this.opts.latency, this.alive, false),
      total: estimatedSpeedup(this.opts.latency, this.alive, true),
    };
  }

  /** The speedup estimate by the run's `speedupModel`. */
  speedup(): number {
    const s = this.speedups();
    return this.opts.speedupModel === "sublayers" ? s.sublayers : s.total;
  }

  /** Importance vectors per metric from raw sensitivities (+∞ where pruned or unscored). */
  importances(raw: number[][]): number[][] {
    const lat = this.opts.latencyAware
      ? Array.from(
        { length: this.sublayerCount },
        (_, s) => sublayerLatency(this.opts.latency, s),
      )
      : undefined;
    return raw.map((v) => importance(v.map((x, s) => (this.pruned[s] ? Infinity : x)), lat));
  }

  /** Sublayer indices ordered by (rank-summed) importance, +∞ entries excluded. */
  order(raw: number[][]): number[] {
    const imp = this.importances(raw);
    return rankSum(imp).filter((s) => imp.some((v) => Number.isFinite(v[s])));
  }

  /** The forward context of one batch under a mask. */
  ctx(mask: readonly boolean[], hooks?: ForwardHooks): SublayerContext {
    return { batch: this.batchSize, tokens: this.seqLen, mask, hooks };
  }

  /** Mask with sublayers s..t forced on (the reference window). */
  forcedOn(s: number, t: number): boolean[] {
    return this.alive.map((a, i) => a || (i >= s && i <= t));
  }

  progress(step: number, stage: SprintProgress["stage"], done: number, total: number): void {
    this.opts.onProgress?.({ step, stage, done, total });
  }

  // ---- Activation checkpoints.

  /** Copies the embedding output of every batch into checkpoint 0. */
  async initCheckpoint0(): Promise<void> {
    const list: Tensor[] = [];
    const host: Float32Array<ArrayBuffer>[] = [];
    const m = this.batchRows;
    for (let b = 0; b < this.batchCount; b++) {
      const t = this.gpu.tensor([m, this.hidden], "f32");
      const ids = this.gpu.tensor([m], "u32", this.calib.ids.subarray(b * m, (b + 1) * m));
      this.gpu.run((rec) => embedding(rec, ids, this.model.embedTable, { out: t }));
      if (this.streamed) {
        host.push((await t.read()) as Float32Array<ArrayBuffer>);
        t.destroy();
      } else list.push(t);
      ids.destroy();
    }
    if (this.streamed) this.hostCheckpoints.set(0, host);
    else this.checkpoints.set(0, list);
  }

  /** A fresh copy of a checkpoint (one tensor per batch). */
  copyCheckpoint(rec: Recorder, q: number): Tensor[] {
    const src = this.checkpoints.get(q);
    if (!src) throw new Error(`internal: checkpoint ${q} missing`);
    return src.map((t) => {
      const c = this.gpu.tensor(t.shape, "f32");
      rec.copy(t, c, t.byteLength);
      return c;
    });
  }

  // ---- Stage 1: every live sublayer's sensitivity without tuning.

  /** Records sublayer s's stage-1 sensitivity on one batch state `h` and advances `h` past s. */
  recordStage1(rec: Recorder, h: Tensor, s: number, alive: readonly boolean[]): void {
    const t = this.tuneTarget[s];
    rec.copy(h, this.referenceOut, h.byteLength);
    rec.copy(h, this.prunedOut, h.byteLength);
    runSublayers(rec, this.model, this.referenceOut, s, t + 1, this.ctx(this.forcedOn(s, t)));
    runSublayers(rec, this.model, this.prunedOut, s + 1, t + 1, this.ctx(alive));
    this.sensitivity.record(rec, this.referenceOut, this.prunedOut, s);
    runSublayers(rec, this.model, h, s, s + 1, this.ctx(alive));
  }

  /** Refreshes each live sublayer's re-fit target from `from` on. */
  refreshTuneTargets(from: number): void {
    for (let s = from; s < this.sublayerCount; s++) {
      if (!this.pruned[s]) this.tuneTarget[s] = tuneIndex(s, this.pruned, this.opts.tuningRule);
    }
  }

  /** Stores the accumulated stage-1 scores of sublayers `from …`. */
  async storeStage1(from: number): Promise<void> {
    const scores = await this.sensitivity.read();
    for (let s = from; s < this.sublayerCount; s++) {
      for (let k = 0; k < this.metrics.length; k++) {
        this.stage1Raw[k][s] = this.pruned[s] ? Infinity : scores[k][s];
      }
    }
    this.restartFrom = Infinity;
  }

  async stage1(step: number): Promise<void> {
    if (this.streamed) return await this.stage1Streamed(step);
    const start = this.restartFrom;
    for (const q of [...this.checkpoints.keys()]) {
      if (q > start) {
        this.checkpoints.get(q)!.forEach((t) => t.destroy());
        this.checkpoints.delete(q);
      }
    }
    const H = this.gpu.run((rec) =>
      this.copyCheckpoint(rec, checkpointAtOrBelow([...this.checkpoints.keys()], start))
    );
    this.sensitivity.reset();
    this.refreshTuneTargets(start);
    const alive = this.alive;
    for (let s = start; s < this.sublayerCount; s++) {
      const rec = this.gpu.recorder();
      if (s !== start && this.checkpointAt.includes(s)) {
        this.checkpoints.get(s)?.forEach((t) => t.destroy());
        this.checkpoints.set(
          s,
          H.map((t) => {
            const c = this.gpu.tensor(t.shape, "f32");
            rec.copy(t, c, t.byteLength);
            return c;
          }),
        );
      }
      if (!this.pruned[s]) {
        for (let b = 0; b < this.batchCount; b++) this.recordStage1(rec, H[b], s, alive);
      }
      rec.submit();
      await this.gpu.sync();
      this.progress(step, "stage1", s - start + 1, this.sublayerCount - start);
    }
    H.forEach((t) => t.destroy());
    await this.storeStage1(start);
  }

  // ---- Stage 2: the stage-1 candidates re-scored after a least-squares re-fit.

  /** The stage-2 entry of a candidate that cannot be tuned (no live MLP after it). */
  untunable(t: number): Stage2Entry {
    return {
      tuned: { sublayer: t, block: t >> 1, rows: [], values: new Float32Array(0), fellBack: true },
      score: this.metrics.map(() => Infinity),
    };
  }

  /** Frees a re-fitted layer used for scoring. */
  dropLinear(linear: Linear): void {
    linear.weight.destroy();
    linear.bias?.destroy();
  }

  async stage2(step: number): Promise<number[]> {
    const top = this.order(this.stage1Raw).slice(0, this.opts.candidates);
    const todo = top.filter((s) => !this.stage2Cache.has(s));
    if (todo.length > 0 && this.streamed) await this.stage2Streamed(step, todo);
    else if (todo.length > 0) await this.stage2Resident(step, todo);
    return top;
  }

  async stage2Resident(step: number, todo: number[]): Promise<void> {
    const hi = Math.max(...todo);
    const q = checkpointAtOrBelow([...this.checkpoints.keys()], Math.min(...todo));
    const H = this.gpu.run((rec) => this.copyCheckpoint(rec, q));
    let done = 0;
    for (let s = q; s <= hi; s++) {
      if (this.pruned[s]) continue;
      if (todo.includes(s)) {
        this.stage2Cache.set(s, await this.scoreCandidateResident(s, H));
        done++;
        this.progress(step, "stage2", done, todo.length);
      }
      // Advance the batch states past s (s is alive).
      this.gpu.run((rec) =>
        H.forEach((h) => runSublayers(rec, this.model, h, s, s + 1, this.ctx(this.alive)))
      );
    }
    H.forEach((t) => t.destroy());
    await this.gpu.sync();
  }

  /** Re-fits for candidate s and scores it on every batch (states H enter sublayer s). */
  async scoreCandidateResident(s: number, H: Tensor[]): Promise<Stage2Entry> {
    const t = tuneIndex(s, this.pruned, this.opts.tuningRule);
    if (!isTunable(s, t, this.pruned)) return this.untunable(t);
    const { tuned, linear, Y } = await refitDownProj(this, s, t, H);
    this.sensitivity.reset();
    const rec = this.gpu.recorder();
    const refitted = this.ctx(this.alive, { downOverride: new Map([[t >> 1, linear]]) });
    for (let b = 0; b < this.batchCount; b++) {
      rec.copy(H[b], this.prunedOut, H[b].byteLength);
      runSublayers(rec, this.model, this.prunedOut, s + 1, t + 1, refitted);
      this.sensitivity.record(rec, Y[b], this.prunedOut, s);
    }
    rec.submit();
    const scores = await this.sensitivity.read();
    Y.forEach((y) => y.destroy());
    this.dropLinear(linear);
    return { tuned, score: scores.map((v) => v[s]) };
  }

  // ---- Streamed placement (per-batch activations in host memory; see SprintOptions.deviceMemory).
  // The same kernels run on the same inputs in the same per-slot order as the resident path, one
  // batch at a time through the device slot `slot`, so scores and re-fitted rows are identical.

  #slot?: Tensor;

  /** The device tensor holding batch state `h`: itself when resident, else uploaded into the slot. */
  batchState(h: BatchState): Tensor {
    if (!(h instanceof Float32Array)) return h;
    this.#slot ??= this.gpu.tensor([this.batchRows, this.hidden], "f32");
    this.#slot.write(h);
    return this.#slot;
  }

  async stage1Streamed(step: number): Promise<void> {
    const start = this.restartFrom;
    for (const q of [...this.hostCheckpoints.keys()]) if (q > start) this.hostCheckpoints.delete(q);
    const src = this.hostCheckpoints.get(
      checkpointAtOrBelow([...this.hostCheckpoints.keys()], start),
    )!;
    this.sensitivity.reset();
    const alive = this.alive;
    this.refreshTuneTargets(start);
    const saved = new Map<number, Float32Array<ArrayBuffer>[]>();
    for (let b = 0; b < this.batchCount; b++) {
      const h = this.batchState(src[b]);
      let rec = this.gpu.recorder();
      for (let s = start; s < this.sublayerCount; s++) {
        if (s !== start && this.checkpointAt.includes(s)) {
          rec.submit();
          const list = saved.get(s) ?? [];
          list.push((await h.read()) as Float32Array<ArrayBuffer>);
          saved.set(s, list);
          rec = this.gpu.recorder();
        }
        if (!this.pruned[s]) this.recordStage1(rec, h, s, alive);
      }
      rec.submit();
      await this.gpu.sync();
      this.progress(step, "stage1", b + 1, this.batchCount);
    }
    for (const [s, list] of saved) this.hostCheckpoints.set(s, list);
    await this.storeStage1(start);
  }

  async stage2Streamed(step: number, todo: number[]): Promise<void> {
    const hi = Math.max(...todo);
    const q = checkpointAtOrBelow([...this.hostCheckpoints.keys()], Math.min(...todo));
    const H = this.hostCheckpoints.get(q)!.map((a) => a.slice());
    let done = 0;
    for (let s = q; s <= hi; s++) {
      if (this.pruned[s]) continue;
      if (todo.includes(s)) {
        this.stage2Cache.set(s, await this.scoreCandidateStreamed(s, H));
        done++;
        this.progress(step, "stage2", done, todo.length);
      }
      if (s === hi) break; // the states past the last candidate are not needed
      for (let b = 0; b < this.batchCount; b++) {
        const hb = this.batchState(H[b]);
        this.gpu.run((rec) => runSublayers(rec, this.model, hb, s, s + 1, this.ctx(this.alive)));
        H[b] = (await hb.read()) as Float32Array<ArrayBuffer>;
      }
    }
    await this.gpu.sync();
  }

  /** {@link scoreCandidateResident} with host batch states: dense outputs recomputed per batch. */
  async scoreCandidateStreamed(s: number, H: Float32Array<ArrayBuffer>[]): Promise<Stage2Entry> {
    const t = tuneIndex(s, this.pruned, this.opts.tuningRule);
    if (!isTunable(s, t, this.pruned)) return this.untunable(t);
    const { tuned, linear } = await refitDownProj(this, s, t, H);
    this.sensitivity.reset();
    const forced = this.ctx(this.forcedOn(s, t));
    const refitted = this.ctx(this.alive, { downOverride: new Map([[t >> 1, linear]]) });
    const y = this.gpu.tensor([this.batchRows, this.hidden], "f32");
    for (let b = 0; b < this.batchCount; b++) {
      const hb = this.batchState(H[b]);
      const rec = this.gpu.recorder();
      rec.copy(hb, y, hb.byteLength);
      runSublayers(rec, this.model, y, s, t + 1, forced);
      rec.copy(hb, this.prunedOut, hb.byteLength);
      runSublayers(rec, this.model, this.prunedOut, s + 1, t + 1, refitted);
      this.sensitivity.record(rec, y, this.prunedOut, s);
      rec.submit();
    }
    const scores = await this.sensitivity.read();
    y.destroy();
    this.dropLinear(linear);
    return { tuned, score: scores.map((v) => v[s]) };
  }

  // ---- Faults and the calibration loss.

  /** Mean NLL of the first `lossSequences` calibration windows under the current mask. */
  async calibrationLoss(): Promise<number | undefined> {
    const k = Math.min(this.opts.lossSequences, this.calib.nsamples);
    if (k === 0) return undefined;
    const perWindow = this.streamed; // the plan's streamed placement has one window's logits
    return await meanNll(this.model, this.calib.ids, k, this.seqLen, this.alive, undefined, {
      perWindow,
    });
  }

  /** Stops the run on a non-finite value: it names the step and sublayer; no model is written. */
  fault(step: number, what: string, s: number, v: number): never {
    throw new ToolkitError(
      `step ${step}: ${what} of sublayer ${s} (${s % 2 === 0 ? "attention" : "MLP"} of block ${
        s >> 1
      }) is ${v}; the weights or activations are not finite — the run stops, no model is written`,
    );
  }

  /** Checks every live sublayer's score of every metric. */
  checkScores(step: number, what: string, score: (k: number, s: number) => number): void {
    for (let s = 0; s < this.sublayerCount; s++) {
      for (let k = 0; k < this.metrics.length; k++) {
        const v = score(k, s);
        if (!Number.isFinite(v)) this.fault(step, what, s, v);
      }
    }
  }

  /** Checks a calibration loss (undefined: not computed). */
  checkLoss(loss: number | undefined, where: string): void {
    if (loss !== undefined && !Number.isFinite(loss)) {
      throw new ToolkitError(
        `calibration loss of ${where} is ${loss}; the weights or activations are not finite — ` +
          "the run stops, no model is written",
      );
    }
  }

  // ---- The search loop.

  /** Continues from a saved state: replays its re-fits, mask and stage-2 cache. */
  async resume(state: SprintState): Promise<void> {
    for (const t of state.applied) await applyTunedRows(this.model, t);
    for (const s of state.pruned) this.pruned[s] = true;
    this.state = { ...state, steps: [...state.steps] };
    for (const e of state.cache) {
      this.stage2Cache.set(e.candidate, { tuned: e.tuned, score: e.score });
    }
    // Stage-1 bookkeeping (tuneTarget) is recomputed by a full stage 1 from 0.
    this.restartFrom = 0;
  }

  /** Whether the stopping rule is met before the next step. */
  done(): boolean {
    if (this.opts.targetSpeedup !== undefined && this.opts.targetSpeedup >= 1) {
      if (this.speedup() >= this.opts.targetSpeedup) return true;
    } else if (this.opts.numSublayers !== undefined) {
      if (this.state.pruned.length >= this.opts.numSublayers) return true;
    } else throw new Error("sprint: give targetSpeedup or numSublayers");
    return this.state.pruned.length >= this.sublayerCount - 1;
  }

  /** Picks the sublayer to prune: by stage-2 importance when tuning, else by stage 1. */
  async chooseTarget(step: number): Promise<{
    target: number | undefined;
    candidates: number[];
    stage2: Record<string, number[]>;
  }> {
    const stage2: Record<string, number[]> = {};
    if (!this.opts.tuning) {
      const candidates = this.order(this.stage1Raw).slice(0, this.opts.candidates);
      return { target: candidates[0], candidates, stage2 };
    }
    const candidates = await this.stage2(step);
    for (const [s, e] of this.stage2Cache) {
      // +∞ marks an untunable candidate; NaN is a fault.
      if (e.score.some((v) => Number.isNaN(v))) this.fault(step, "stage-2 importance", s, NaN);
    }
    const raw2 = this.metrics.map((_, k) => {
      const v = new Array<number>(this.sublayerCount).fill(Infinity);
      for (const [s, e] of this.stage2Cache) v[s] = e.score[k];
      return v;
    });
    const ord = this.order(raw2);
    const imp2 = this.importances(raw2);
    for (const s of this.stage2Cache.keys()) stage2[s] = imp2.map((v) => v[s]);
    const target = ord.length > 0 ? ord[0] : this.order(this.stage1Raw)[0];
    return { target, candidates, stage2 };
  }

  /** Prunes `target`: writes its re-fitted rows, invalidates stale results, sets the restart point. */
  async prune(target: number, step: number): Promise<StepLog["tuned"]> {
    this.pruned[target] = true;
    this.state.pruned.push(target);
    const entry = this.stage2Cache.get(target);
    this.stage2Cache.delete(target);
    let tunedInfo: StepLog["tuned"];
    if (entry && this.opts.updateTunedWeights && entry.tuned.rows.length > 0) {
      await applyTunedRows(this.model, entry.tuned);
      this.state.applied.push({ ...entry.tuned, step });
      tunedInfo = {
        sublayer: entry.tuned.sublayer,
        block: entry.tuned.block,
        rows: entry.tuned.rows.length,
        fellBack: entry.tuned.fellBack,
      };
    }
    for (const [s, e] of [...this.stage2Cache]) {
      if (e.tuned.sublayer >= target) this.stage2Cache.delete(s);
    }
    this.state.cache = [...this.stage2Cache].map(([candidate, e]) => ({
      candidate,
      tuned: e.tuned,
      score: e.score,
    }));
    const restart = this.opts.checkpoints > 0
      ? restartIndex(this.tuneTarget, target, this.checkpointAt)
      : 0;
    this.restartFrom = Math.min(this.restartFrom, restart);
    return tunedInfo;
  }

  /** One step: stage 1, stage 2 (or the stage-1 order), prune; undefined when nothing is left. */
  async step(step: number): Promise<StepLog | undefined> {
    const t0 = performance.now();
    await this.stage1(step);
    this.checkScores(
      step,
      "stage-1 importance",
      (k, s) => this.pruned[s] ? 0 : this.stage1Raw[k][s],
    );
    const imp1 = this.importances(this.stage1Raw);
    const t1 = performance.now();
    const { target, candidates, stage2 } = await this.chooseTarget(step);
    if (target === undefined) return undefined;
    const t2 = performance.now();
    const tuned = await this.prune(target, step);
    const loss = await this.calibrationLoss();
    this.checkLoss(loss, `step ${step} (after pruning sublayer ${target})`);
    const t3 = performance.now();
    const sp = this.speedups();
    return {
      step,
      sublayer: target,
      type: target % 2 === 0 ? "attention" : "mlp",
      block: target >> 1,
      stage1: imp1.map((v) => v.map((x) => (Number.isFinite(x) ? x : null))),
      candidates,
      stage2,
      tuned,
      estimatedSpeedup: this.opts.speedupModel === "sublayers" ? sp.sublayers : sp.total,
      estimatedSpeedupSublayers: sp.sublayers,
      estimatedSpeedupTotal: sp.total,
      calibrationLoss: loss,
      seconds: {
        stage1: (t1 - t0) / 1e3,
        stage2: (t2 - t1) / 1e3,
        apply: (t3 - t2) / 1e3,
        total: (t3 - t0) / 1e3,
      },
    };
  }

  async run(): Promise<SprintResult> {
    this.gpu.memory.resetPeak();
    if (this.opts.resume) await this.resume(this.opts.resume);
    else {
      this.state.denseLoss = await this.calibrationLoss();
      this.checkLoss(this.state.denseLoss, "the dense model (before step 1)");
    }
    await this.initCheckpoint0();
    while (!this.done()) {
      const stepNo = this.state.steps.length + 1;
      const log = await this.step(stepNo);
      if (!log) break;
      this.state.steps.push(log);
      this.progress(stepNo, "apply", 1, 1);
      await this.opts.onStep?.(log, this.state);
    }
    return {
      steps: this.state.steps,
      mask: this.alive,
      state: this.state,
      memory: { plan: this.plan, peakDeviceBytes: this.gpu.memory.peak },
    };
  }
}
