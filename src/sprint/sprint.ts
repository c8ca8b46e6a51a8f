/**
 * SPRINT (Park et al., IJCAI 2025): iterative sublayer pruning with latency-aware importance and
 * tunability-aware (least-squares re-fitted) sensitivity, following the official code's algorithm
 * and defaults (see the project's design notes, sprint-spec §1–§10).
 *
 * One step: stage 1 scores every live sublayer without tuning (from the last valid activation
 * checkpoint), keeps the `candidates` least important, stage 2 re-scores them after re-fitting the
 * down_proj of the next live MLP by least squares on the GPU, and the least important sublayer is
 * pruned (its re-fitted rows written into the model). Steps repeat until the estimated speedup
 * reaches the target or a number of sublayers is removed.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { Recorder } from "../gpu/recorder.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { fromF16, toF16 } from "../gpu/f16.ts";
import { sub } from "../kernels/elementwise.ts";
import { embedding } from "../kernels/embedding.ts";
import { type Linear, packLinear, unpackWeightHost } from "../kernels/matmul.ts";
import { gramAccumulate } from "../kernels/gram.ts";
import { choleskySolve, decodeSolveStatus } from "../kernels/solve.ts";
import { runSublayers } from "../model/forward.ts";
import { readWeightValues, replaceOffloadedLinear, residencyOf } from "../model/residency.ts";
import type { LlamaModel } from "../model/model.ts";
import { meanNll } from "../model/loss.ts";
import type { Calibration } from "./calibration.ts";
import { importance, parseMetrics, rankSum, SensitivityAccumulator } from "./metrics.ts";
import {
  checkpointAtOrBelow,
  checkpointIndices,
  estimatedSpeedup,
  isTunable,
  restartIndex,
  sublayerLatency,
  tuneIndex,
  type TuningRule,
} from "./rules.ts";
import type { LatencyTable } from "./latency.ts";
import { ToolkitError } from "../errors.ts";
import {
  assertHostFits,
  type MemoryPlan,
  planSprintMemory,
  resolveDeviceBudget,
} from "../plan/memory.ts";

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

interface CacheEntry {
  tuned: TunedRows;
  score: number[];
}

/**
 * Writes rows into the model's down_proj of a block (re-packing the layer on the GPU).
 *
 * @example
 * ```ts
 * for (const t of state.applied) await applyTunedRows(model, t); // replay a run's re-fits
 * ```
 */
export async function applyTunedRows(model: LlamaModel, tuned: TunedRows): Promise<void> {
  const mlp = model.blocks[tuned.block].mlp;
  if (!mlp) throw new Error(`block ${tuned.block} has no MLP to tune`);
  if (tuned.fellBack) return;
  const w = await currentDownWeight(model, tuned.block);
  const f = mlp.down.inFeatures;
  tuned.rows.forEach((r, i) => w.set(tuned.values.subarray(i * f, (i + 1) * f), r * f));
  const old = mlp.down;
  const bias = old.bias ? (await readWeightValues(old.bias)).slice(0, old.outFeatures) : undefined;
  if (replaceOffloadedLinear(model, tuned.block, "down", w, bias)) return; // --offload: host copy
  mlp.down = packLinear(model.gpu, w, old.outFeatures, old.inFeatures, {
    dtype: model.dtype,
    bias,
  });
  await model.gpu.sync();
  old.weight.destroy();
  old.bias?.destroy();
}

/**
 * The current down_proj of a block in HF layout `[d, F]` (f32 host copy).
 *
 * @example
 * ```ts
 * const w = await currentDownWeight(model, 0); // d·F values, row r at r·F
 * ```
 */
export async function currentDownWeight(
  model: LlamaModel,
  block: number,
): Promise<Float32Array<ArrayBuffer>> {
  const down = model.blocks[block].mlp!.down;
  return unpackWeightHost(await readWeightValues(down.weight), down.outFeatures, down.inFeatures);
}

/**
 * Runs SPRINT on `model` (modified in place: re-fitted down_proj rows are written into it; pruned
 * sublayers keep their weights but are masked — save with the returned mask).
 *
 * @example
 * ```ts
 * const calib = await calibrationFromFile("text.txt", model.tokenizer!, { nsamples: 32, seqLen: 128 });
 * const latency = await measureLatency(model, { mode: "generation", promptLength: 128, generationLength: 64, batch: 1, iterations: 3 });
 * const { mask, steps } = await sprint(model, calib, { targetSpeedup: 1.25, latency });
 * await saveModel(model, "out/pruned", { mask });
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
    offload: residencyOf(model) !== undefined, // decided when the model was loaded
    slots: residencyOf(model)?.slotCount,
  }, {
    bindingLimit: Math.min(model.gpu.caps.maxStorageBindingSize, model.gpu.caps.maxBufferSize),
    headChunkOutputs: model.head.parts[0]?.count,
    maxPositions: model.rope.maxPositions,
  });
  assertHostFits(plan, "SPRINT");
  return plan;
}

class SprintRun {
  readonly model: LlamaModel;
  readonly gpu: Gpu;
  readonly o:
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
  readonly n: number; // sublayers
  readonly L: number;
  readonly T: number;
  readonly B: number; // sequences per batch
  readonly nb: number; // batches
  readonly d: number;
  readonly metrics: ReturnType<typeof parseMetrics>;
  readonly Q: number[];
  readonly calib: Calibration;
  pruned: boolean[];
  tuneIdx: number[];
  score1: number[][]; // per metric, raw sensitivity
  cache = new Map<number, CacheEntry>();
  checkpoints = new Map<number, Tensor[]>();
  start = 0;
  state: SprintState;
  // Work tensors [B·T, d].
  readonly h: Tensor;
  readonly oB: Tensor;
  readonly cB: Tensor;
  readonly acc: SensitivityAccumulator;
  readonly plan: MemoryPlan;
  /** Per-batch activations in host memory (see {@link SprintOptions.deviceMemory}). */
  readonly streamed: boolean;
  /** Streamed placement: checkpoints by index, one host array per batch. */
  hostCheckpoints = new Map<number, Float32Array<ArrayBuffer>[]>();

  constructor(model: LlamaModel, calib: Calibration, options: SprintOptions) {
    this.model = model;
    this.gpu = model.gpu;
    this.calib = calib;
    this.o = {
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
      ...options,
    };
    const c = model.config;
    this.L = c.numLayers;
    this.n = 2 * c.numLayers;
    this.d = c.hiddenSize;
    this.T = calib.seqLen;
    this.B = Math.min(this.o.batchSize, calib.nsamples);
    this.nb = Math.floor(calib.nsamples / this.B);
    if (this.o.tuningRatio <= 0 || this.o.tuningRatio > 1) {
      throw new Error(`tuning ratio must be in (0, 1]`);
    }
    if (model.alive.some((a) => !a)) {
      throw new Error("sprint: start from the dense model (all sublayers present)");
    }
    if (this.T > model.rope.maxPositions) {
      throw new Error(
        `sprint: seq-len ${this.T} exceeds the model's ${model.rope.maxPositions} positions`,
      );
    }
    this.metrics = parseMetrics(this.o.metrics);
    this.Q = checkpointIndices(this.L, this.o.checkpoints);
    this.pruned = new Array<boolean>(this.n).fill(false);
    this.tuneIdx = Array.from({ length: this.n }, (_, i) => i);
    this.score1 = this.metrics.map(() => new Array<number>(this.n).fill(Infinity));
    this.state = { pruned: [], applied: [], cache: [], steps: [] };
    this.plan = sprintPlan(model, calib, this.o);
    this.streamed = this.plan.placement === "streamed";
    const m = this.B * this.T;
    this.h = this.gpu.tensor([m, this.d], "f32");
    this.oB = this.gpu.tensor([m, this.d], "f32");
    this.cB = this.gpu.tensor([m, this.d], "f32");
    this.acc = new SensitivityAccumulator(this.gpu, this.metrics, this.n, {
      batch: this.B,
      tokens: this.T,
      width: this.d,
    });
  }

  destroy(): void {
    this.#slot?.destroy();
    this.hostCheckpoints.clear();
    for (const list of this.checkpoints.values()) list.forEach((t) => t.destroy());
    this.checkpoints.clear();
    for (const t of [this.h, this.oB, this.cB]) t.destroy();
    this.acc.destroy();
  }

  get alive(): boolean[] {
    return this.pruned.map((p) => !p);
  }

  lat(s: number): number {
    return sublayerLatency(this.o.latency, s);
  }

  speedups(): { sublayers: number; total: number } {
    return {
      sublayers: estimatedSpeedup(this.o.latency, this.alive, false),
      total: estimatedSpeedup(this.o.latency, this.alive, true),
    };
  }

  speedup(): number {
    const s = this.speedups();
    return this.o.speedupModel === "sublayers" ? s.sublayers : s.total;
  }

  /** Importance vectors per metric from raw sensitivities (+∞ where pruned or unscored). */
  importances(raw: number[][]): number[][] {
    const lat = this.o.latencyAware
      ? Array.from({ length: this.n }, (_, s) => this.lat(s))
      : undefined;
    return raw.map((v) => importance(v.map((x, s) => (this.pruned[s] ? Infinity : x)), lat));
  }

  /** Sublayer indices ordered by (rank-summed) importance, +∞ entries excluded. */
  order(raw: number[][]): number[] {
    const imp = this.importances(raw);
    return rankSum(imp).filter((s) => imp.some((v) => Number.isFinite(v[s])));
  }

  /** Copies the embedding output of every batch into checkpoint 0. */
  async initCheckpoint0(): Promise<void> {
    const list: Tensor[] = [];
    const host: Float32Array<ArrayBuffer>[] = [];
    const m = this.B * this.T;
    for (let b = 0; b < this.nb; b++) {
      const t = this.gpu.tensor([m, this.d], "f32");
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

  ctx(mask: readonly boolean[], hooks?: Parameters<typeof runSublayers>[5]["hooks"]) {
    return { batch: this.B, tokens: this.T, mask, hooks };
  }

  /** Mask with sublayers s..t forced on (the reference window). */
  forcedOn(s: number, t: number): boolean[] {
    return this.alive.map((a, i) => a || (i >= s && i <= t));
  }

  progress(step: number, stage: SprintProgress["stage"], done: number, total: number): void {
    this.o.onProgress?.({ step, stage, done, total });
  }

  async stage1(step: number): Promise<void> {
    if (this.streamed) return await this.stage1Streamed(step);
    const start = this.start;
    for (const q of [...this.checkpoints.keys()]) {
      if (q > start) {
        this.checkpoints.get(q)!.forEach((t) => t.destroy());
        this.checkpoints.delete(q);
      }
    }
    const H = this.gpu.run((rec) =>
      this.copyCheckpoint(rec, checkpointAtOrBelow([...this.checkpoints.keys()], start))
    );
    this.acc.reset();
    const alive = this.alive;
    for (let s = start; s < this.n; s++) {
      const rec = this.gpu.recorder();
      if (s !== start && this.Q.includes(s)) {
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
        const t = tuneIndex(s, this.pruned, this.o.tuningRule);
        this.tuneIdx[s] = t;
        const forced = this.forcedOn(s, t);
        for (let b = 0; b < this.nb; b++) {
          rec.copy(H[b], this.oB, H[b].byteLength);
          rec.copy(H[b], this.cB, H[b].byteLength);
          runSublayers(rec, this.model, this.oB, s, t + 1, this.ctx(forced));
          runSublayers(rec, this.model, this.cB, s + 1, t + 1, this.ctx(alive));
          this.acc.record(rec, this.oB, this.cB, s);
          runSublayers(rec, this.model, H[b], s, s + 1, this.ctx(alive));
        }
      }
      rec.submit();
      await this.gpu.sync();
      this.progress(step, "stage1", s - start + 1, this.n - start);
    }
    H.forEach((t) => t.destroy());
    const scores = await this.acc.read();
    for (let s = start; s < this.n; s++) {
      for (let k = 0; k < this.metrics.length; k++) {
        this.score1[k][s] = this.pruned[s] ? Infinity : scores[k][s];
      }
    }
    this.start = Infinity;
  }

  /** Least-squares re-fit of MLP t's down_proj for candidate s (spec §6), from batch states H. */
  async tune(
    s: number,
    t: number,
    H: Tensor[] | Float32Array<ArrayBuffer>[],
  ): Promise<{ tuned: TunedRows; linear: Linear; Y: Tensor[] }> {
    const c = this.model.config;
    const F = c.intermediateSize;
    const d = this.d;
    const m = this.B * this.T;
    const bt = t >> 1;
    const G = this.gpu.tensor([F, F], "f32");
    const Hm = this.gpu.tensor([F, d], "f32");
    const Xp = this.gpu.tensor([m, F], "f32");
    const Rp = this.gpu.tensor([m, d], "f32");
    const Y: Tensor[] = [];
    const forced = this.forcedOn(s, t);
    const alive = this.alive;
    // Streamed: one batch at a time through the device slot; the dense outputs are not kept
    // (stage 2 recomputes them batch by batch, the same kernels on the same inputs).
    const streamedY = H[0] instanceof Float32Array ? this.gpu.tensor([m, d], "f32") : undefined;
    let rec = this.gpu.recorder();
    for (let b = 0; b < this.nb; b++) {
      if (streamedY && b > 0) {
        rec.submit(); // before the slot is overwritten with the next batch
        rec = this.gpu.recorder();
      }
      const hb = this.batchState(H[b]);
      const y = streamedY ?? this.gpu.tensor([m, d], "f32");
      rec.copy(hb, y, hb.byteLength);
      runSublayers(rec, this.model, y, s, t + 1, this.ctx(forced));
      if (!streamedY) Y.push(y);
      rec.copy(hb, this.cB, hb.byteLength);
      runSublayers(
        rec,
        this.model,
        this.cB,
        s + 1,
        t + 1,
        this.ctx(alive, {
          captureDownInput: new Map([[bt, Xp]]),
          captureResidual: new Map([[t, Rp]]),
        }),
      );
      sub(rec, y, Rp, { out: Rp }); // Z = Y − R_p (into Rp)
      gramAccumulate(rec, Xp, Xp, G);
      gramAccumulate(rec, Xp, Rp, Hm);
    }
    rec.submit();
    // Channel selection (out_channel): σ_o = Σ_i |W_oi|·q_i with q_i = sqrt(G_ii).
    const W = await currentDownWeight(this.model, bt);
    let rows = Array.from({ length: d }, (_, i) => i);
    if (this.o.tuningRatio < 1) {
      const g = await G.read();
      const q = Array.from({ length: F }, (_, i) => Math.sqrt(Math.max(0, g[i * F + i])));
      const sigma = rows.map((o) => {
        let acc = 0;
        for (let i = 0; i < F; i++) acc += Math.abs(W[o * F + i]) * q[i];
        return acc;
      });
      const keep = Math.floor(d * this.o.tuningRatio);
      const threshold = [...sigma].sort((a, b) => b - a)[Math.max(0, keep - 1)];
      rows = rows.filter((o) => sigma[o] >= threshold);
    }
    // Solve G·X = H[:, rows] (X = W_Sᵀ, [F, |S|]).
    let Hs = Hm;
    if (rows.length < d) {
      const hh = await Hm.read();
      const sel = new Float32Array(F * rows.length);
      for (let i = 0; i < F; i++) {
        rows.forEach((o, j) => (sel[i * rows.length + j] = hh[i * d + o]));
      }
      Hs = this.gpu.tensor([F, rows.length], "f32", sel);
    }
    const solved = this.gpu.run((r) => choleskySolve(r, G, Hs, { damping: this.o.damping }));
    const [xs, status] = await Promise.all([solved.x.read(), solved.status.read()]);
    let values = new Float32Array(rows.length * F);
    let finite = true;
    for (let i = 0; i < F; i++) {
      for (let j = 0; j < rows.length; j++) {
        const v = xs[i * rows.length + j];
        if (!Number.isFinite(v)) finite = false;
        values[j * F + i] = v;
      }
    }
    // The official code casts the solution to the model's dtype; keep exactly what the GPU stores
    // so that cached, applied and replayed rows are bit-identical.
    if (this.model.dtype === "f16") values = fromF16(toF16(values));
    const fellBack = !finite || decodeSolveStatus(status).failed;
    const newW = W.slice();
    if (!fellBack) rows.forEach((o, j) => newW.set(values.subarray(j * F, (j + 1) * F), o * F));
    const old = this.model.blocks[bt].mlp!.down;
    const bias = old.bias
      ? (await readWeightValues(old.bias)).slice(0, old.outFeatures)
      : undefined;
    const linear = packLinear(this.gpu, newW, d, F, { dtype: this.model.dtype, bias });
    for (const x of [G, Hm, Xp, Rp, solved.x, solved.status]) x.destroy();
    streamedY?.destroy();
    solved.workspace.destroy();
    if (Hs !== Hm) Hs.destroy();
    return { tuned: { sublayer: t, block: bt, rows, values, fellBack }, linear, Y };
  }

  async stage2(step: number): Promise<number[]> {
    const order1 = this.order(this.score1);
    const top = order1.slice(0, this.o.candidates);
    const todo = top.filter((s) => !this.cache.has(s));
    if (todo.length > 0 && this.streamed) await this.stage2Streamed(step, todo);
    else if (todo.length > 0) {
      const lo = Math.min(...todo);
      const hi = Math.max(...todo);
      const q = checkpointAtOrBelow([...this.checkpoints.keys()], lo);
      const H = this.gpu.run((rec) => this.copyCheckpoint(rec, q));
      let done = 0;
      for (let s = q; s <= hi; s++) {
        if (this.pruned[s]) continue;
        if (todo.includes(s)) {
          const t = tuneIndex(s, this.pruned, this.o.tuningRule);
          if (!isTunable(s, t, this.pruned)) {
            this.cache.set(s, {
              tuned: {
                sublayer: t,
                block: t >> 1,
                rows: [],
                values: new Float32Array(0),
                fellBack: true,
              },
              score: this.metrics.map(() => Infinity),
            });
          } else {
            const { tuned, linear, Y } = await this.tune(s, t, H);
            this.acc.reset();
            const rec = this.gpu.recorder();
            const alive = this.alive;
            for (let b = 0; b < this.nb; b++) {
              rec.copy(H[b], this.cB, H[b].byteLength);
              runSublayers(
                rec,
                this.model,
                this.cB,
                s + 1,
                t + 1,
                this.ctx(alive, { downOverride: new Map([[t >> 1, linear]]) }),
              );
              this.acc.record(rec, Y[b], this.cB, s);
            }
            rec.submit();
            const scores = await this.acc.read();
            Y.forEach((y) => y.destroy());
            linear.weight.destroy();
            linear.bias?.destroy();
            this.cache.set(s, { tuned, score: scores.map((v) => v[s]) });
          }
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
    return top;
  }

  // ---- Streamed placement (per-batch activations in host memory; see SprintOptions.deviceMemory).
  // The same kernels run on the same inputs in the same per-slot order as the resident path, one
  // batch at a time through the device slot `slot`, so scores and re-fitted rows are identical.

  #slot?: Tensor;

  /** The device tensor holding batch state `h`: itself when resident, else uploaded into the slot. */
  batchState(h: Tensor | Float32Array<ArrayBuffer>): Tensor {
    if (!(h instanceof Float32Array)) return h;
    this.#slot ??= this.gpu.tensor([this.B * this.T, this.d], "f32");
    this.#slot.write(h);
    return this.#slot;
  }

  async stage1Streamed(step: number): Promise<void> {
    const start = this.start;
    for (const q of [...this.hostCheckpoints.keys()]) if (q > start) this.hostCheckpoints.delete(q);
    const src = this.hostCheckpoints.get(
      checkpointAtOrBelow([...this.hostCheckpoints.keys()], start),
    )!;
    this.acc.reset();
    const alive = this.alive;
    for (let s = start; s < this.n; s++) {
      if (!this.pruned[s]) this.tuneIdx[s] = tuneIndex(s, this.pruned, this.o.tuningRule);
    }
    const saved = new Map<number, Float32Array<ArrayBuffer>[]>();
    for (let b = 0; b < this.nb; b++) {
      const h = this.batchState(src[b]);
      let rec = this.gpu.recorder();
      for (let s = start; s < this.n; s++) {
        if (s !== start && this.Q.includes(s)) {
          rec.submit();
          const list = saved.get(s) ?? [];
          list.push((await h.read()) as Float32Array<ArrayBuffer>);
          saved.set(s, list);
          rec = this.gpu.recorder();
        }
        if (this.pruned[s]) continue;
        const t = this.tuneIdx[s];
        const forced = this.forcedOn(s, t);
        rec.copy(h, this.oB, h.byteLength);
        rec.copy(h, this.cB, h.byteLength);
        runSublayers(rec, this.model, this.oB, s, t + 1, this.ctx(forced));
        runSublayers(rec, this.model, this.cB, s + 1, t + 1, this.ctx(alive));
        this.acc.record(rec, this.oB, this.cB, s);
        runSublayers(rec, this.model, h, s, s + 1, this.ctx(alive));
      }
      rec.submit();
      await this.gpu.sync();
      this.progress(step, "stage1", b + 1, this.nb);
    }
    for (const [s, list] of saved) this.hostCheckpoints.set(s, list);
    const scores = await this.acc.read();
    for (let s = start; s < this.n; s++) {
      for (let k = 0; k < this.metrics.length; k++) {
        this.score1[k][s] = this.pruned[s] ? Infinity : scores[k][s];
      }
    }
    this.start = Infinity;
  }

  async stage2Streamed(step: number, todo: number[]): Promise<void> {
    const lo = Math.min(...todo);
    const hi = Math.max(...todo);
    const q = checkpointAtOrBelow([...this.hostCheckpoints.keys()], lo);
    const H = this.hostCheckpoints.get(q)!.map((a) => a.slice());
    const m = this.B * this.T;
    let done = 0;
    for (let s = q; s <= hi; s++) {
      if (this.pruned[s]) continue;
      if (todo.includes(s)) {
        const t = tuneIndex(s, this.pruned, this.o.tuningRule);
        if (!isTunable(s, t, this.pruned)) {
          this.cache.set(s, {
            tuned: {
              sublayer: t,
              block: t >> 1,
              rows: [],
              values: new Float32Array(0),
              fellBack: true,
            },
            score: this.metrics.map(() => Infinity),
          });
        } else {
          const { tuned, linear } = await this.tune(s, t, H);
          this.acc.reset();
          const alive = this.alive;
          const forced = this.forcedOn(s, t);
          const y = this.gpu.tensor([m, this.d], "f32");
          for (let b = 0; b < this.nb; b++) {
            const hb = this.batchState(H[b]);
            const rec = this.gpu.recorder();
            rec.copy(hb, y, hb.byteLength);
            runSublayers(rec, this.model, y, s, t + 1, this.ctx(forced));
            rec.copy(hb, this.cB, hb.byteLength);
            runSublayers(
              rec,
              this.model,
              this.cB,
              s + 1,
              t + 1,
              this.ctx(alive, { downOverride: new Map([[t >> 1, linear]]) }),
            );
            this.acc.record(rec, y, this.cB, s);
            rec.submit();
          }
          const scores = await this.acc.read();
          y.destroy();
          linear.weight.destroy();
          linear.bias?.destroy();
          this.cache.set(s, { tuned, score: scores.map((v) => v[s]) });
        }
        done++;
        this.progress(step, "stage2", done, todo.length);
      }
      if (s === hi) break; // the states past the last candidate are not needed
      for (let b = 0; b < this.nb; b++) {
        const hb = this.batchState(H[b]);
        this.gpu.run((rec) => runSublayers(rec, this.model, hb, s, s + 1, this.ctx(this.alive)));
        H[b] = (await hb.read()) as Float32Array<ArrayBuffer>;
      }
    }
    await this.gpu.sync();
  }

  /** Mean NLL of the first `lossSequences` calibration windows under the current mask. */
  async calibrationLoss(): Promise<number | undefined> {
    const k = Math.min(this.o.lossSequences, this.calib.nsamples);
    if (k === 0) return undefined;
    const perWindow = this.streamed; // the plan's streamed placement has one window's logits
    return await meanNll(this.model, this.calib.ids, k, this.T, this.alive, undefined, {
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
    for (let s = 0; s < this.n; s++) {
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

  restore(state: SprintState): void {
    for (const s of state.pruned) this.pruned[s] = true;
    this.state = { ...state, steps: [...state.steps] };
  }

  async run(): Promise<SprintResult> {
    this.gpu.memory.resetPeak();
    if (this.o.resume) {
      for (const t of this.o.resume.applied) await applyTunedRows(this.model, t);
      this.restore(this.o.resume);
      for (const e of this.o.resume.cache) {
        this.cache.set(e.candidate, { tuned: e.tuned, score: e.score });
      }
      // Stage-1 bookkeeping (tuneIdx) is recomputed by a full stage 1 from 0.
      this.start = 0;
    } else {
      this.state.denseLoss = await this.calibrationLoss();
      this.checkLoss(this.state.denseLoss, "the dense model (before step 1)");
    }
    await this.initCheckpoint0();
    const maxSteps = this.n - 1;
    for (;;) {
      const stepNo = this.state.steps.length + 1;
      if (this.o.targetSpeedup !== undefined && this.o.targetSpeedup >= 1) {
        if (this.speedup() >= this.o.targetSpeedup) break;
      } else if (this.o.numSublayers !== undefined) {
        if (this.state.pruned.length >= this.o.numSublayers) break;
      } else throw new Error("sprint: give targetSpeedup or numSublayers");
      if (this.state.pruned.length >= maxSteps) break;
      const t0 = performance.now();
      await this.stage1(stepNo);
      this.checkScores(
        stepNo,
        "stage-1 importance",
        (k, s) => this.pruned[s] ? 0 : this.score1[k][s],
      );
      const imp1 = this.importances(this.score1);
      const t1 = performance.now();
      let target: number;
      let candidates: number[] = [];
      const stage2: Record<string, number[]> = {};
      if (this.o.tuning) {
        candidates = await this.stage2(stepNo);
        for (const [s, e] of this.cache) {
          // +∞ marks an untunable candidate; NaN is a fault.
          if (e.score.some((v) => Number.isNaN(v))) {
            this.fault(stepNo, "stage-2 importance", s, NaN);
          }
        }
        const raw2 = this.metrics.map((_, k) => {
          const v = new Array<number>(this.n).fill(Infinity);
          for (const [s, e] of this.cache) v[s] = e.score[k];
          return v;
        });
        const ord = this.order(raw2);
        const imp2 = this.importances(raw2);
        for (const s of this.cache.keys()) stage2[s] = imp2.map((v) => v[s]);
        target = ord.length > 0 ? ord[0] : this.order(this.score1)[0];
      } else {
        candidates = this.order(this.score1).slice(0, this.o.candidates);
        target = candidates[0];
      }
      if (target === undefined) break;
      const t2 = performance.now();
      // Apply: prune, write tuned rows, invalidate, restart point.
      this.pruned[target] = true;
      this.state.pruned.push(target);
      const entry = this.cache.get(target);
      this.cache.delete(target);
      let tunedInfo: StepLog["tuned"];
      if (entry && this.o.updateTunedWeights && entry.tuned.rows.length > 0) {
        await applyTunedRows(this.model, entry.tuned);
        this.state.applied.push({ ...entry.tuned, step: stepNo });
        tunedInfo = {
          sublayer: entry.tuned.sublayer,
          block: entry.tuned.block,
          rows: entry.tuned.rows.length,
          fellBack: entry.tuned.fellBack,
        };
      }
      for (const [s, e] of [...this.cache]) if (e.tuned.sublayer >= target) this.cache.delete(s);
      this.state.cache = [...this.cache].map(([candidate, e]) => ({
        candidate,
        tuned: e.tuned,
        score: e.score,
      }));
      const restart = this.o.checkpoints > 0 ? restartIndex(this.tuneIdx, target, this.Q) : 0;
      this.start = Math.min(this.start, restart);
      const loss = await this.calibrationLoss();
      this.checkLoss(loss, `step ${stepNo} (after pruning sublayer ${target})`);
      const t3 = performance.now();
      const sp = this.speedups();
      const log: StepLog = {
        step: stepNo,
        sublayer: target,
        type: target % 2 === 0 ? "attention" : "mlp",
        block: target >> 1,
        stage1: imp1.map((v) => v.map((x) => (Number.isFinite(x) ? x : null))),
        candidates,
        stage2,
        tuned: tunedInfo,
        estimatedSpeedup: this.o.speedupModel === "sublayers" ? sp.sublayers : sp.total,
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
      this.state.steps.push(log);
      this.progress(stepNo, "apply", 1, 1);
      await this.o.onStep?.(log, this.state);
    }
    return {
      steps: this.state.steps,
      mask: this.alive,
      state: this.state,
      memory: { plan: this.plan, peakDeviceBytes: this.gpu.memory.peak },
    };
  }
}
