/**
 * `deno task bench --scale`: how the searches scale with depth. Generated random Llama models
 * (default d 128, depths 8/16/32, 16 × 128 random calibration tokens, 8 sublayers removed, a
 * fixed latency table so no latency measurement enters) are pruned by SPRINT, BlockPruner, SLEB
 * and ShortGPT — the toolkit's own implementations (src/sprint, src/baselines) — and for each
 * run the benchmark records the search wall time, the submit→await round trips (`gpu.syncs`)
 * per step, the peak device bytes held by tensors (`gpu.memory.peak`), the peak host memory
 * (RSS high-water mark) and, for SPRINT, the memory plan (src/plan/memory.ts) next to the
 * measured peak.
 *
 * Measured and projected: the greedy baselines (BlockPruner, SLEB) evaluate every remaining
 * unit at every step, which at depth 32 takes minutes per step on a CPU. With `steps = k` only
 * their first k steps are run; the rest is projected — every candidate evaluation is one masked
 * calibration forward, so step i costs (units left at step i) × (measured seconds per candidate
 * of the first k steps); syncs likewise. The projection is an upper bound: removed sublayers are
 * skipped, so later candidates are slightly cheaper (at most N/2L of the forward). Every figure
 * carries `measured: true|false`.
 *
 * Checks before anything is reported: every method's mask is consistent with its steps (length
 * 2L, the logged sublayers removed and nothing else, each once); the greedy methods' logged
 * calibration loss equals a fresh {@link meanNll} of their final mask; ShortGPT removes blocks in
 * ascending Block Influence; SPRINT removed exactly the requested sublayers, and a second,
 * uninstrumented SPRINT run (no callbacks, no sampling) of the first `checkSteps` steps gives the
 * same order and the same re-fitted rows.
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { Gpu } from "../gpu/device.ts";
import { ToolkitError } from "../errors.ts";
import { type ModelConfig, parseConfig } from "../model/config.ts";
import { type HostWeights, type LlamaModel, modelFromHostWeights } from "../model/model.ts";
import { meanNll } from "../model/loss.ts";
import { type Calibration, sampleCalibration } from "../sprint/calibration.ts";
import type { LatencyTable } from "../sprint/latency.ts";
import { sprint } from "../sprint/sprint.ts";
import { type BaselineResult, runBaseline } from "../baselines/mod.ts";
import { slebCandidates } from "../baselines/sleb.ts";
import { seededRandom } from "../util/random.ts";
import { fmtBytes, type MemoryPlan, planSprintMemory } from "../plan/memory.ts";
import { benchWeights } from "./forward_bench.ts";
import { chunkBytesLimit, rowsPerChunk } from "../gpu/chunked.ts";
import { packedShape } from "../kernels/matmul.ts";
import { NAMED_SHAPES, parameterCount, scaleConfigJson, sprintStepCost } from "./scale_cost.ts";

/** Methods the benchmark runs. */
export const SCALE_METHODS = ["sprint", "blockpruner", "sleb", "shortgpt"] as const;

/** A method of the scale benchmark. */
export type ScaleMethod = typeof SCALE_METHODS[number];

/** Options of {@link benchScale}. */
export interface ScaleOptions {
  /** Depths (blocks) of the generated models (default 8, 16, 32). */
  depths?: number[];
  /** Residual width d (default 128). */
  hidden?: number;
  /** Vocabulary (default 2048). */
  vocab?: number;
  /** Calibration windows (default 16). */
  nsamples?: number;
  /** Tokens per window (default 128). */
  seqLen?: number;
  /** Sublayers each method removes (default 8; block methods remove whole blocks). */
  numSublayers?: number;
  /** Methods (default all four). */
  methods?: ScaleMethod[];
  /** Measure only the first k steps of the greedy baselines and project the rest (default: all). */
  steps?: number;
  /** Weight type (default f32). */
  dtype?: "f32" | "f16";
  /** Steps of the uninstrumented SPRINT rerun compared with the measured run (default 1; 0 = none). */
  checkSteps?: number;
  /** The Llama-3.2-1B-shaped entry: none, its memory plan only, or the plan and one SPRINT step. */
  llama1b?: "none" | "plan" | "step";
  /** Calibration of the Llama-3.2-1B step (default 4 × 128). */
  llama1bCalibration?: { nsamples: number; seqLen: number };
  /** Progress lines. */
  log?: (line: string) => void;
}

/** One method's figures on one model. */
export interface ScaleMethodResult {
  method: ScaleMethod;
  /** Sublayers removed, in order. */
  pruned: number[];
  /** Steps a full run takes, and how many were measured. */
  steps: { total: number; measured: number };
  /** Search wall seconds (dense loss and setup included): measured, or measured + projected. */
  searchSeconds: number;
  /** Whether {@link searchSeconds} was measured in full. */
  measured: boolean;
  /** The measured part of the search (seconds). */
  measuredSeconds: number;
  /** Seconds of each measured step (the method's own step log). */
  stepSeconds: number[];
  /** Candidates evaluated at each step of the full run (greedy methods), measured or not. */
  candidatesPerStep?: number[];
  /**
   * Submit→await round trips: total (measured or projected), per step (setup excluded), each
   * measured step, and the setup before step 1 (dense calibration loss; SPRINT's embedding
   * checkpoint).
   */
  syncs: { total: number; perStep: number; measuredPerStep: number[]; setup: number };
  /** Peak device bytes held by tensors during the run (weights included). */
  peakDeviceBytes: number;
  /** Peak host resident memory during the run (bytes), and how it was taken. */
  peakHostBytes: number;
  hostPeakSource: "VmHWM" | "sampled";
  /** SPRINT: its memory plan (device/host totals and rows). */
  plan?: MemoryPlan;
  /** SPRINT: first-step FLOPs of the cost model and the effective rate of the measured first step. */
  cost?: { firstStepFlops: number; firstStepSeconds: number; gflops: number };
  /** What was checked. */
  checks: string[];
}

/** One model's figures. */
export interface ScaleEntry {
  name: string;
  depth: number;
  hidden: number;
  intermediate: number;
  vocab: number;
  params: number;
  dtype: "f32" | "f16";
  calibration: { nsamples: number; seqLen: number; tokens: "random uniform, seed 0" };
  numSublayers: number;
  /** The fixed latency table of this depth ({@link fixedLatency}). */
  latency: LatencyTable;
  methods: ScaleMethodResult[];
  /** SPRINT search seconds ÷ each other method's (present when SPRINT ran). */
  ratios: Record<string, { ratio: number; measured: boolean }>;
}

/** A plan-only entry (a model too large to run here). */
export interface ScalePlanEntry {
  name: string;
  dtype: "f32" | "f16";
  params: number;
  plans: { calibration: string; plan: MemoryPlan; firstStepFlops: number }[];
  /** Why the requested step did not run (a device limit), when it did not. */
  stepError?: string;
}

/** Everything the scale benchmark reports. */
export interface ScaleReport {
  format: "sprint-wgpu scale bench v1";
  protocol: Record<string, unknown>;
  /** The fixed latency table of the first depth (each entry carries its own; nothing measured). */
  latency: LatencyTable;
  projectionRule: string;
  entries: ScaleEntry[];
  planOnly: ScalePlanEntry[];
  /** Host↔device copy rates measured on a 32 MiB buffer (checked round trip). */
  transfer: { uploadGBps: number; downloadGBps: number; bytes: number };
}

/** The fixed latency table (ms): attention 1, MLP 2, dense = 3·L + 4 (a fixed cost of 4). */
export function fixedLatency(depth: number): LatencyTable {
  return { attention: 1, mlp: 2, dense: 3 * depth + 4, source: "file" };
}

const PROJECTION_RULE = "greedy methods (blockpruner, sleb): steps after the first k are " +
  "projected as (candidates left at that step) × (measured seconds per candidate over the " +
  "first k steps); syncs likewise; an upper bound (removed sublayers are skipped by later " +
  "forwards). sprint and shortgpt are always measured in full.";

/** Peak resident memory: the kernel's high-water mark where it can be reset, else sampled. */
class HostPeak {
  #timer?: ReturnType<typeof setInterval>;
  #max = 0;
  source: "VmHWM" | "sampled" = "sampled";

  start(): void {
    try {
      writeFileSync("/proc/self/clear_refs", "5");
      this.source = "VmHWM";
    } catch {
      this.source = "sampled";
    }
    this.#max = Deno.memoryUsage().rss;
    this.#timer = setInterval(() => this.sample(), 50);
  }

  sample(): void {
    this.#max = Math.max(this.#max, Deno.memoryUsage().rss);
  }

  stop(): number {
    clearInterval(this.#timer);
    this.sample();
    if (this.source === "VmHWM") {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
      if (m) return Math.max(this.#max, Number(m[1]) * 1024);
    }
    return this.#max;
  }
}

function randomCalibration(vocab: number, nsamples: number, seqLen: number): Calibration {
  const r = seededRandom(0);
  const tokens = Array.from({ length: nsamples * seqLen }, () => Math.floor(r() * vocab));
  return sampleCalibration(tokens, { nsamples, seqLen, sampling: "sequential" });
}

/** A generated model: its config and host weights, made once and uploaded per run. */
interface Generated {
  json: Record<string, unknown>;
  config: ModelConfig;
  weights: HostWeights;
}

function generate(json: Record<string, unknown>): Generated {
  return { json, config: parseConfig(json, "scale bench config"), weights: benchWeights(json) };
}

function build(gpu: Gpu, g: Generated, dtype: "f32" | "f16"): LlamaModel {
  return modelFromHostWeights(gpu, g.config, g.weights, { dtype });
}

/** Checks a mask against the sublayers a run says it removed; returns the check line. */
function checkMask(method: string, mask: readonly boolean[], pruned: readonly number[], n: number) {
  if (mask.length !== n) throw new Error(`scale check: ${method} mask has ${mask.length} ≠ ${n}`);
  if (new Set(pruned).size !== pruned.length) {
    throw new Error(`scale check: ${method} removed a sublayer twice (${pruned})`);
  }
  for (let s = 0; s < n; s++) {
    if (mask[s] === pruned.includes(s)) {
      throw new Error(`scale check: ${method} mask disagrees with its steps at sublayer ${s}`);
    }
  }
  if (!mask.some((a) => a)) throw new Error(`scale check: ${method} removed every sublayer`);
  return `mask of ${n} consistent with the ${pruned.length} sublayers its steps removed`;
}

function closeTo(a: number, b: number, tol = 1e-5): boolean {
  return Math.abs(a - b) <= tol * Math.max(1, Math.abs(a), Math.abs(b));
}

/** Candidates a greedy method evaluates at each step of a full run (as common.ts filters them). */
function greedyCandidates(method: "blockpruner" | "sleb", L: number, numSublayers: number) {
  const out: number[] = [];
  if (method === "blockpruner") {
    for (let removed = 0; removed < numSublayers && 2 * L - removed > 1; removed++) {
      out.push(2 * L - removed);
    }
  } else {
    const blocks = slebCandidates(L).length;
    for (let removed = 0; 2 * removed < numSublayers && removed < blocks; removed++) {
      out.push(blocks - removed);
    }
  }
  return out;
}

async function runMethod(
  gpu: Gpu,
  json: Generated,
  method: ScaleMethod,
  calib: Calibration,
  o: Required<Pick<ScaleOptions, "numSublayers" | "dtype" | "checkSteps">> & {
    steps?: number;
    log: (l: string) => void;
  },
): Promise<ScaleMethodResult> {
  const model = build(gpu, json, o.dtype);
  let destroyed = false;
  const destroy = () => {
    if (!destroyed) model.destroy();
    destroyed = true;
  };
  const c = model.config;
  const n = 2 * c.numLayers;
  const latency = fixedLatency(c.numLayers);
  const checks: string[] = [];
  const host = new HostPeak();
  const stepSyncs: number[] = [];
  let lastSyncs = 0;
  const onStep = (step: { step: number; seconds: { total: number } }) => {
    stepSyncs.push(gpu.syncs - lastSyncs);
    lastSyncs = gpu.syncs;
    o.log(`  ${method} step ${step.step}: ${step.seconds.total.toFixed(2)} s`);
    return Promise.resolve();
  };
  try {
    gpu.memory.resetPeak();
    host.start();
    const syncs0 = gpu.syncs;
    lastSyncs = syncs0;
    let setupSyncs: number | undefined;
    const t0 = performance.now();
    if (method === "sprint") {
      const r = await sprint(model, calib, {
        numSublayers: o.numSublayers,
        latency,
        speedupModel: "sublayers",
        onStep,
        // The first stage-1 report follows the first stage-1 sync: the syncs before it are the
        // setup (dense calibration loss, embedding checkpoint), not part of step 1.
        onProgress: (e) => {
          if (setupSyncs === undefined && e.step === 1 && e.stage === "stage1") {
            setupSyncs = gpu.syncs - syncs0 - 1;
          }
        },
      });
      const wall = (performance.now() - t0) / 1e3;
      const syncsEnd = gpu.syncs;
      const peakHost = host.stop();
      const peakDevice = Math.max(r.memory.peakDeviceBytes, gpu.memory.peak);
      const pruned = r.state.pruned;
      checks.push(checkMask(method, r.mask, pruned, n));
      if (pruned.length !== Math.min(o.numSublayers, n - 1)) {
        throw new Error(`scale check: sprint removed ${pruned.length} ≠ ${o.numSublayers}`);
      }
      if (r.steps.some((s) => !Number.isFinite(s.calibrationLoss ?? NaN))) {
        throw new Error("scale check: sprint logged a non-finite calibration loss");
      }
      checks.push("every step's calibration loss finite");
      if (peakDevice > r.memory.plan.deviceBytes) {
        checks.push(
          `WARNING: measured peak above the plan by ${
            fmtBytes(peakDevice - r.memory.plan.deviceBytes)
          }`,
        );
      } else checks.push("measured peak device bytes ≤ plan");
      destroy();
      if (o.checkSteps > 0) {
        const k = Math.min(o.checkSteps, pruned.length);
        const again = build(gpu, json, o.dtype);
        try {
          const plain = await sprint(again, calib, {
            numSublayers: k,
            latency,
            speedupModel: "sublayers",
          });
          const want = pruned.slice(0, k);
          if (plain.state.pruned.join() !== want.join()) {
            throw new Error(
              `scale check: sprint order ${want} differs from an uninstrumented run's ${plain.state.pruned}`,
            );
          }
          const rows = (x: typeof plain.state.applied) =>
            x.slice(0, k).map((t) =>
              [t.sublayer, t.rows.length, Array.from(t.values).join()].join("|")
            );
          if (rows(plain.state.applied).join() !== rows(r.state.applied).join()) {
            throw new Error(
              "scale check: sprint re-fitted rows differ from an uninstrumented run's",
            );
          }
          checks.push(`first ${k} step(s) = an uninstrumented rerun (order and re-fitted rows)`);
        } finally {
          again.destroy();
        }
      }
      const first = r.steps[0]?.seconds.total ?? NaN;
      const flops = sprintStepCost(c, { nsamples: calib.nsamples, seqLen: calib.seqLen }).total;
      const setup = setupSyncs ?? 0;
      if (stepSyncs.length > 0) stepSyncs[0] -= setup;
      const stepSum = stepSyncs.reduce((a, b) => a + b, 0);
      if (setup + stepSum !== syncsEnd - syncs0) {
        throw new Error(`scale check: sprint syncs ${setup} + ${stepSum} ≠ ${syncsEnd - syncs0}`);
      }
      return {
        method,
        pruned,
        steps: { total: r.steps.length, measured: r.steps.length },
        searchSeconds: wall,
        measured: true,
        measuredSeconds: wall,
        stepSeconds: r.steps.map((s) => s.seconds.total),
        syncs: {
          total: setup + stepSum,
          perStep: stepSum / Math.max(1, stepSyncs.length),
          measuredPerStep: stepSyncs,
          setup,
        },
        peakDeviceBytes: peakDevice,
        peakHostBytes: peakHost,
        hostPeakSource: host.source,
        plan: r.memory.plan,
        cost: { firstStepFlops: flops, firstStepSeconds: first, gflops: flops / first / 1e9 },
        checks,
      };
    }
    // Baselines.
    const greedy = method === "blockpruner" || method === "sleb";
    const plan = greedy ? greedyCandidates(method, c.numLayers, o.numSublayers) : undefined;
    const k = greedy && o.steps !== undefined ? Math.min(o.steps, plan!.length) : undefined;
    const limit = k !== undefined ? (method === "sleb" ? 2 * k : k) : o.numSublayers;
    const r: BaselineResult = await runBaseline(method, model, calib, {
      numSublayers: limit,
      latency,
      speedupModel: "sublayers",
      onStep,
    });
    const wall = (performance.now() - t0) / 1e3;
    const peakHost = host.stop();
    const peakDevice = gpu.memory.peak;
    const pruned = r.state.pruned;
    checks.push(checkMask(method, r.mask, pruned, n));
    if (greedy && r.steps.length === 0) {
      if (plan!.length !== 0) throw new Error(`scale check: ${method} ran no step`);
      checks.push("no candidate unit (model too shallow): no step");
    } else if (greedy) {
      const last = r.steps.at(-1)!;
      const fresh = await meanNll(model, calib.ids, calib.nsamples, calib.seqLen, r.mask);
      if (!closeTo(fresh, last.calibrationLoss!)) {
        throw new Error(
          `scale check: ${method} logged loss ${last.calibrationLoss} ≠ a fresh forward's ${fresh}`,
        );
      }
      checks.push("last step's logged calibration loss = a fresh masked forward");
      if (r.steps.length !== (k ?? plan!.length)) {
        throw new Error(
          `scale check: ${method} ran ${r.steps.length} steps, expected ${k ?? plan!.length}`,
        );
      }
      r.steps.forEach((s, i) => {
        const evaluated = s.stage1[0].filter((x) => x !== null).length /
          (method === "sleb" ? 2 : 1);
        if (evaluated !== plan![i]) {
          throw new Error(
            `scale check: ${method} step ${i + 1} scored ${evaluated} ≠ ${plan![i]} candidates`,
          );
        }
      });
      checks.push("candidates per step as the projection assumes");
    } else {
      const scores = r.steps.map((s) => s.score);
      if (scores.some((x, i) => i > 0 && x < scores[i - 1])) {
        throw new Error("scale check: shortgpt did not remove blocks in ascending Block Influence");
      }
      checks.push("blocks removed in ascending Block Influence");
    }
    const measuredSteps = r.steps.map((s) => s.seconds.total);
    const measuredSum = measuredSteps.reduce((a, b) => a + b, 0);
    const stepSyncSum = stepSyncs.reduce((a, b) => a + b, 0);
    const setup = (gpu.syncs - syncs0) - stepSyncSum;
    let searchSeconds = wall;
    let syncTotal = gpu.syncs - syncs0;
    let totalSteps = r.steps.length;
    if (greedy && k !== undefined && k < plan!.length) {
      const measuredCands = plan!.slice(0, k).reduce((a, b) => a + b, 0);
      const rest = plan!.slice(k).reduce((a, b) => a + b, 0);
      searchSeconds = wall + rest * (measuredSum / measuredCands);
      syncTotal += rest * (stepSyncSum / measuredCands);
      totalSteps = plan!.length;
    }
    return {
      method,
      pruned,
      steps: { total: totalSteps, measured: r.steps.length },
      searchSeconds,
      measured: searchSeconds === wall,
      measuredSeconds: wall,
      stepSeconds: measuredSteps,
      candidatesPerStep: plan,
      syncs: {
        total: syncTotal,
        perStep: (syncTotal - setup) / Math.max(1, totalSteps),
        measuredPerStep: stepSyncs,
        setup,
      },
      peakDeviceBytes: peakDevice,
      peakHostBytes: peakHost,
      hostPeakSource: host.source,
      checks,
    };
  } finally {
    host.stop();
    destroy();
  }
}

async function transferRates(gpu: Gpu): Promise<ScaleReport["transfer"]> {
  const n = 8 * 1024 * 1024; // 32 MiB of f32
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (i % 1021) - 510;
  const t = gpu.tensor([n], "f32");
  try {
    t.write(data);
    await gpu.sync();
    let up = Infinity;
    let down = Infinity;
    let back: Float32Array | undefined;
    for (let r = 0; r < 3; r++) {
      const a = performance.now();
      t.write(data);
      await gpu.sync();
      const b = performance.now();
      back = (await t.read()) as Float32Array;
      const c = performance.now();
      up = Math.min(up, b - a);
      down = Math.min(down, c - b);
    }
    for (let i = 0; i < n; i += 4099) {
      if (back![i] !== data[i]) throw new Error(`scale check: transfer round trip differs at ${i}`);
    }
    return {
      uploadGBps: (4 * n) / (up / 1e3) / 1e9,
      downloadGBps: (4 * n) / (down / 1e3) / 1e9,
      bytes: 4 * n,
    };
  } finally {
    t.destroy();
  }
}

/** The methods' figures on one generated model. */
export async function benchScaleEntry(
  gpu: Gpu,
  name: string,
  json: Record<string, unknown>,
  o:
    & Required<Pick<ScaleOptions, "numSublayers" | "dtype" | "checkSteps" | "nsamples" | "seqLen">>
    & {
      methods: ScaleMethod[];
      steps?: number;
      log: (l: string) => void;
    },
): Promise<ScaleEntry> {
  o.log(`${name}: generating random weights …`);
  const g = generate(json);
  const cfg = g.config;
  const calib = randomCalibration(cfg.vocabSize, o.nsamples, o.seqLen);
  const methods: ScaleMethodResult[] = [];
  for (const m of o.methods) {
    o.log(`${name}: ${m} …`);
    const r = await runMethod(gpu, g, m, calib, o);
    o.log(
      `${name}: ${m} ${r.searchSeconds.toFixed(1)} s ${r.measured ? "measured" : "projected"} ` +
        `(${r.steps.measured}/${r.steps.total} steps measured), ${
          r.syncs.perStep.toFixed(1)
        } syncs/step`,
    );
    methods.push(r);
  }
  const sp = methods.find((m) => m.method === "sprint");
  const ratios: ScaleEntry["ratios"] = {};
  if (sp) {
    for (const m of methods) {
      if (m.method === "sprint") continue;
      ratios[m.method] = { ratio: m.searchSeconds / sp.searchSeconds, measured: m.measured };
    }
  }
  return {
    name,
    depth: cfg.numLayers,
    hidden: cfg.hiddenSize,
    intermediate: cfg.intermediateSize,
    vocab: cfg.vocabSize,
    params: parameterCount(cfg),
    dtype: o.dtype,
    calibration: { nsamples: o.nsamples, seqLen: o.seqLen, tokens: "random uniform, seed 0" },
    numSublayers: o.numSublayers,
    latency: fixedLatency(cfg.numLayers),
    methods,
    ratios,
  };
}

function planEntry(
  gpu: Gpu,
  name: string,
  cfg: ModelConfig,
  dtype: "f32" | "f16",
  cals: { nsamples: number; seqLen: number }[],
): ScalePlanEntry {
  const bindingLimit = Math.min(gpu.caps.maxStorageBindingSize, gpu.caps.maxBufferSize);
  return {
    name,
    dtype,
    params: parameterCount(cfg),
    plans: cals.map((cal) => ({
      calibration: `${cal.nsamples} × ${cal.seqLen}`,
      plan: planSprintMemory(cfg, dtype, { nsamples: cal.nsamples, seqLen: cal.seqLen }, {
        bindingLimit,
        headChunkOutputs: rowsPerChunk(
          packedShape(cfg.vocabSize, cfg.hiddenSize).kp * (dtype === "f16" ? 2 : 4),
          chunkBytesLimit(gpu),
          16,
        ),
        maxPositions: cal.seqLen,
      }),
      firstStepFlops: sprintStepCost(cfg, cal).total,
    })),
  };
}

/**
 * Runs the scale benchmark (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { benchScale } from "./scale.ts"; // internal: src/bench/ has no package subpath
 * const report = await benchScale(await getGpu(), { // one tiny random model, two methods
 *   depths: [4], hidden: 64, vocab: 256, nsamples: 2, seqLen: 16, numSublayers: 2,
 *   methods: ["sprint", "sleb"], steps: 1, checkSteps: 0, llama1b: "none",
 * });
 * const [entry] = report.entries;
 * assert.equal(entry.depth, 4);
 * assert.deepEqual(entry.methods.map((m) => m.method), ["sprint", "sleb"]);
 * const sprint = entry.methods[0];
 * assert.equal(sprint.pruned.length, 2); // SPRINT removed the 2 sublayers asked for
 * assert.ok(sprint.measured && sprint.searchSeconds > 0);
 * assert.ok(sprint.peakDeviceBytes <= sprint.plan!.deviceBytes); // within its memory plan
 * ```
 */
export async function benchScale(gpu: Gpu, options: ScaleOptions = {}): Promise<ScaleReport> {
  const log = options.log ?? (() => {});
  const depths = options.depths ?? [8, 16, 32];
  const hidden = options.hidden ?? 128;
  const vocab = options.vocab ?? 2048;
  const nsamples = options.nsamples ?? 16;
  const seqLen = options.seqLen ?? 128;
  const dtype = options.dtype ?? "f32";
  if (dtype === "f16" && !gpu.caps.f16) {
    throw new ToolkitError(`--scale-dtype f16: the adapter (${gpu.description}) has no shader-f16`);
  }
  const o = {
    numSublayers: options.numSublayers ?? 8,
    dtype,
    checkSteps: options.checkSteps ?? 1,
    nsamples,
    seqLen,
    methods: options.methods ?? [...SCALE_METHODS],
    steps: options.steps,
    log,
  };
  const transfer = await transferRates(gpu);
  const entries: ScaleEntry[] = [];
  for (const depth of depths) {
    const json = scaleConfigJson(depth, hidden, vocab, Math.max(seqLen, 16));
    entries.push(await benchScaleEntry(gpu, `random L${depth} d${hidden}`, json, o));
  }
  const planOnly: ScalePlanEntry[] = [];
  const mode = options.llama1b ?? "plan";
  if (mode !== "none") {
    const json = { ...NAMED_SHAPES["llama-3.2-1b"] };
    const cfg = parseConfig(json, "llama-3.2-1b");
    const small = options.llama1bCalibration ?? { nsamples: 4, seqLen: 128 };
    planOnly.push(
      planEntry(gpu, "Llama-3.2-1B shape", cfg, gpu.caps.f16 ? "f16" : "f32", [
        { nsamples: 128, seqLen: 2048 },
        small,
      ]),
    );
    if (mode === "step") {
      json.max_position_embeddings = Math.max(small.seqLen, 16);
      try {
        entries.push(
          await benchScaleEntry(gpu, "Llama-3.2-1B shape (random weights)", json, {
            ...o,
            ...small,
            dtype: gpu.caps.f16 ? "f16" : "f32",
            numSublayers: 1,
            methods: ["sprint"],
            checkSteps: 0,
          }),
        );
      } catch (e) {
        // A limit of the device (e.g. the F × F Gram matrix over the binding limit) is a result
        // of this entry, reported with the plan; the other entries are kept.
        if (!(e instanceof ToolkitError)) throw e;
        planOnly[0].stepError = e.message;
        log(`Llama-3.2-1B step: ${e.message}`);
      }
    }
  }
  return {
    format: "sprint-wgpu scale bench v1",
    protocol: {
      adapter: gpu.description,
      f16: gpu.caps.f16,
      deno: Deno.version.deno,
      os: `${Deno.build.os}-${Deno.build.arch}`,
      date: new Date().toISOString(),
      weights: "random (bench xorshift, 1/√fan_in), norms 1",
      calibration: `${nsamples} × ${seqLen} random uniform tokens (seed 0)`,
      speedupModel: "sublayers",
      sprint:
        "official defaults: l2_sentence, latency-aware, tuning next MLP, 5 candidates, 8 checkpoints, batch 4, 8 loss windows",
      baselines: "calibration NLL over all windows (blockpruner, sleb), Block Influence (shortgpt)",
      stepsMeasured: options.steps ?? "all",
    },
    latency: fixedLatency(depths[0] ?? 0),
    projectionRule: PROJECTION_RULE,
    entries,
    planOnly,
    transfer,
  };
}

function secs(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/**
 * The report as text: one table row per model and method, the SPRINT ratios, the plans.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { benchScale, formatScale } from "./scale.ts"; // internal: src/bench/ has no subpath
 * const report = await benchScale(await getGpu(), {
 *   depths: [2], hidden: 64, vocab: 256, nsamples: 2, seqLen: 16, numSublayers: 1,
 *   methods: ["sprint"], checkSteps: 0, llama1b: "none",
 * });
 * const text = formatScale(report);
 * assert.match(text, /^scale bench \| /);
 * assert.ok(text.includes(`| ${report.entries[0].name} | sprint |`), text);
 * ```
 */
export function formatScale(r: ScaleReport): string {
  const lines = [
    `scale bench | ${r.protocol.adapter} | deno ${r.protocol.deno} | ${r.protocol.calibration}`,
    `latency table fixed: attention 1, MLP 2, dense 3·L+4 (ms, nothing measured); speedup model sublayers`,
    `projection: ${r.projectionRule}`,
    "",
    "| model | method | search s | | steps meas/total | s/step (measured) | syncs/step | peak device | SPRINT plan device | peak host RSS |",
    "|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const e of r.entries) {
    for (const m of e.methods) {
      const perStep = m.stepSeconds.length
        ? m.stepSeconds.reduce((a, b) => a + b, 0) / m.stepSeconds.length
        : NaN;
      lines.push(
        `| ${e.name} | ${m.method} | ${secs(m.searchSeconds)} | ${
          m.measured ? "measured" : "PROJECTED"
        } | ` +
          `${m.steps.measured}/${m.steps.total} | ${
            Number.isNaN(perStep) ? "—" : secs(perStep)
          } | ${m.syncs.perStep.toFixed(1)} | ` +
          `${fmtBytes(m.peakDeviceBytes)} | ${m.plan ? fmtBytes(m.plan.deviceBytes) : "—"} | ` +
          `${fmtBytes(m.peakHostBytes)} |`,
      );
    }
  }
  lines.push("");
  for (const e of r.entries) {
    const parts = Object.entries(e.ratios).map(([k, v]) =>
      `${k} ${v.ratio.toFixed(1)}× (${v.measured ? "measured" : "projected"})`
    );
    if (parts.length) lines.push(`${e.name}: search time ÷ SPRINT's: ${parts.join(", ")}`);
    const sp = e.methods.find((m) => m.method === "sprint");
    if (sp?.cost) {
      lines.push(
        `${e.name}: SPRINT first step ${
          (sp.cost.firstStepFlops / 1e9).toFixed(1)
        } GFLOP (cost model) in ` +
          `${secs(sp.cost.firstStepSeconds)} s = ${sp.cost.gflops.toFixed(2)} GFLOP/s effective; ` +
          `plan ${fmtBytes(sp.plan!.deviceBytes)} device / ${
            fmtBytes(sp.plan!.hostBytes)
          } host vs measured peak ` +
          `${fmtBytes(sp.peakDeviceBytes)} device`,
      );
    }
  }
  for (const p of r.planOnly) {
    if (p.stepError) lines.push(`${p.name}: the SPRINT step did not run: ${p.stepError}`);
    for (const x of p.plans) {
      lines.push(
        `${p.name} (${
          (p.params / 1e9).toFixed(2)
        } B params, ${p.dtype}), calibration ${x.calibration}: plan ` +
          `${fmtBytes(x.plan.deviceBytes)} device (${x.plan.placement}) / ${
            fmtBytes(x.plan.hostBytes)
          } host; ` +
          `first step ${(x.firstStepFlops / 1e12).toFixed(2)} TFLOP (plan only)`,
      );
    }
  }
  lines.push(
    `host↔device copies (32 MiB, checked): upload ${r.transfer.uploadGBps.toFixed(2)} GB/s, ` +
      `download ${r.transfer.downloadGBps.toFixed(2)} GB/s`,
  );
  return lines.join("\n");
}
