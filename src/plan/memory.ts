/**
 * Memory plans: what a SPRINT prune or an evaluation needs, by category (weights, forward
 * activations, SPRINT's batch states, checkpoints and dense reference outputs, the Gram/solve
 * workspace, logits), on the device and in host memory, computed from the model configuration,
 * the calibration and the settings before anything is allocated — with the same tensor shapes
 * the code allocates (src/model/forward.ts, src/sprint/sprint.ts, src/kernels/cholesky.ts,
 * src/model/loss.ts), so the plan can be checked against the measured peak (`gpu.memory.peak`).
 *
 * A device budget ({@link resolveDeviceBudget}) decides whether SPRINT keeps its per-batch
 * activations (checkpoints, batch states, reference outputs) on the device (`resident`) or in
 * host memory, uploaded one batch at a time (`streamed`, same results).
 *
 * @module
 */
import { freemem } from "node:os";
import { ToolkitError } from "../errors.ts";
import type { Gpu } from "../gpu/device.ts";
import type { ModelConfig } from "../model/config.ts";
import { packedShape } from "../kernels/matmul.ts";
import { SOLVE_BLOCK } from "../kernels/cholesky.ts";

/** One line of a {@link MemoryPlan}. */
export interface PlanRow {
  /** Category. */
  category:
    | "weights"
    | "activations"
    | "batch states"
    | "checkpoints"
    | "reference outputs"
    | "gram/solve"
    | "logits"
    | "kv cache";
  /** Bytes on the device. */
  device: number;
  /** Bytes in host memory. */
  host: number;
  /** How the figure is made up. */
  note: string;
}

/** A memory plan: rows by category, totals, the budget and the placement chosen. */
export interface MemoryPlan {
  /** What is planned (`sprint`, a `baseline` prune, `eval`). */
  kind: "sprint" | "baseline" | "eval";
  /** Rows by category. */
  rows: PlanRow[];
  /** Sum of the device column (the planned peak when everything is live at once). */
  deviceBytes: number;
  /** Sum of the host column. */
  hostBytes: number;
  /** The device budget in bytes (undefined: unbounded). */
  deviceBudget?: number;
  /** Where the budget came from. */
  budgetNote: string;
  /** Host bytes available when planned (os.freemem). */
  hostAvailable: number;
  /** SPRINT placement of per-batch activations: on the device, or in host memory per batch. */
  placement: "resident" | "streamed";
  /**
   * The blocks' weights: on the device, or in host memory and streamed block by block through
   * `slots` device slots (`--offload`, src/model/residency.ts).
   */
  weights: "resident" | "streamed";
  /** Device slots for streamed blocks (when `weights` is `streamed`). */
  slots?: number;
  /** Evaluation plans: the token rows per forward and KV-cache bytes chosen to fit the budget. */
  eval?: { batchTokens: number; kvCacheBytes: number };
}

/** Settings of a SPRINT run that determine its memory (the {@link SprintOptions} subset). */
export interface SprintMemorySettings {
  /** Calibration windows. */
  nsamples: number;
  /** Tokens per window. */
  seqLen: number;
  /** Sequences per batch (default 4). */
  batchSize?: number;
  /** Activation checkpoints (default 8). */
  checkpoints?: number;
  /** Stage-2 tuning (default true). */
  tuning?: boolean;
  /** Calibration-loss windows per step (default 8). */
  lossSequences?: number;
  /** Device budget in bytes (undefined: unbounded). */
  deviceMemory?: number;
  /** Where the budget came from (for the printout). */
  budgetNote?: string;
  /** Force a placement (default: resident when it fits the budget, else streamed). */
  placement?: "resident" | "streamed";
  /**
   * Weights: `true` streams the blocks (`--offload`); `false` keeps them resident; undefined:
   * resident when the plan fits the budget, else streamed.
   */
  offload?: boolean;
  /** Device slots for streamed blocks (default 2). */
  slots?: number;
}

const F32 = 4;

function dtypeBytes(dt: "f16" | "f32"): number {
  return dt === "f16" ? 2 : 4;
}

function pad4(n: number): number {
  return Math.max(4, Math.ceil(n / 4) * 4);
}

/** Bytes of a packed linear layer `[out, in]` (weight, and bias when present). */
function linearBytes(out: number, inp: number, dt: number, bias: boolean): number {
  const { kp, np } = packedShape(out, inp);
  return pad4(kp * np * dt) + (bias ? pad4(np * dt) : 0);
}

/**
 * Device bytes of the model's weights as {@link modelFromHostWeights} uploads them: packed linear
 * layers, norms (f32), the embedding table, the LM head (a separate copy, also when tied, packed
 * per vocabulary chunk of `headChunkOutputs` entries) and the RoPE table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { weightBytes } from "@sprint-wgpu/toolkit/plan";
 * const gpu = await getGpu();
 * const before = gpu.memory.current;
 * const model = await loadModel(gpu, DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * assert.equal(weightBytes(model.config, model.dtype), gpu.memory.current - before); // exact
 * model.destroy();
 * ```
 */
export function weightBytes(
  c: ModelConfig,
  dtype: "f16" | "f32",
  options: { maxPositions?: number; headChunkOutputs?: number } = {},
): number {
  let total = 0;
  for (let b = 0; b < c.numLayers; b++) total += blockBytes(c, b, dtype);
  return total + sharedWeightBytes(c, dtype, options);
}

/**
 * Device bytes of block `b`'s weights (its live sublayers: norms f32, packed linear layers) —
 * one slot of block streaming holds the largest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR, readConfig } from "@sprint-wgpu/toolkit/model";
 * import { blockBytes, sharedWeightBytes, weightBytes } from "@sprint-wgpu/toolkit/plan";
 * const config = await readConfig(DEFAULT_MODEL_DIR); // 8 blocks
 * const blocks = config.alive.slice(0, 8).map((_, b) => blockBytes(config, b, "f16"));
 * const total = blocks.reduce((a, n) => a + n) + sharedWeightBytes(config, "f16");
 * assert.equal(total, weightBytes(config, "f16"));
 * const removed = { ...config, alive: config.alive.map(() => false) }; // every sublayer pruned
 * assert.equal(blockBytes(removed, 0, "f16"), 0);
 * ```
 */
export function blockBytes(c: ModelConfig, b: number, dtype: "f16" | "f32"): number {
  const dt = dtypeBytes(dtype);
  const D = c.hiddenSize;
  const Hd = c.numHeads * c.headDim;
  const KV = c.numKvHeads * c.headDim;
  const F = c.intermediateSize;
  let total = 0;
  if (c.alive[2 * b]) {
    total += pad4(D * F32);
    total += linearBytes(Hd, D, dt, c.qkvBias) + 2 * linearBytes(KV, D, dt, c.qkvBias);
    total += linearBytes(D, Hd, dt, c.oBias);
  }
  if (c.alive[2 * b + 1]) {
    total += pad4(D * F32);
    total += 2 * linearBytes(F, D, dt, c.mlpBias) + linearBytes(D, F, dt, c.mlpBias);
  }
  return total;
}

/**
 * Device bytes of the weights that stay resident under block streaming: final norm, embedding,
 * LM head (per chunk) and RoPE table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR, readConfig } from "@sprint-wgpu/toolkit/model";
 * import { sharedWeightBytes } from "@sprint-wgpu/toolkit/plan";
 * const config = await readConfig(DEFAULT_MODEL_DIR); // V 4096, D 128, hd 32, 512 positions
 * const norm = 128 * 4, tables = 2 * 4096 * 128 * 2, rope = 512 * 2 * 16 * 4; // untied head
 * assert.equal(sharedWeightBytes(config, "f16"), norm + tables + rope);
 * ```
 */
export function sharedWeightBytes(
  c: ModelConfig,
  dtype: "f16" | "f32",
  options: { maxPositions?: number; headChunkOutputs?: number } = {},
): number {
  const dt = dtypeBytes(dtype);
  const D = c.hiddenSize;
  let total = pad4(D * F32); // final norm
  total += c.vocabSize * D * dt; // embedding (chunks are whole rows)
  const per = options.headChunkOutputs ?? c.vocabSize;
  for (let s = 0; s < c.vocabSize; s += per) {
    total += linearBytes(Math.min(per, c.vocabSize - s), D, dt, false);
  }
  const positions = options.maxPositions ?? c.maxPositions;
  total += pad4(positions * 2 * Math.floor(c.headDim / 2) * F32); // RoPE cos/sin
  return total;
}

/**
 * The weights row of a plan, resident or streamed through `slots` block slots.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR, readConfig } from "@sprint-wgpu/toolkit/model";
 * import {
 *   blockBytes, sharedWeightBytes, weightBytes, weightsRow,
 * } from "@sprint-wgpu/toolkit/plan";
 * const config = await readConfig(DEFAULT_MODEL_DIR); // 8 equal blocks
 * const row = weightsRow(config, "f16", true, 2, {}); // streamed through 2 slots
 * const block = blockBytes(config, 0, "f16");
 * assert.equal(row.device, sharedWeightBytes(config, "f16") + 2 * block); // tables + 2 slots
 * assert.equal(row.host, 8 * block); // every block waits in host memory
 * assert.equal(weightsRow(config, "f16", false, 2, {}).device, weightBytes(config, "f16"));
 * ```
 */
export function weightsRow(
  c: ModelConfig,
  dtype: "f16" | "f32",
  streamed: boolean,
  slots: number,
  options: { maxPositions?: number; headChunkOutputs?: number },
): PlanRow {
  if (!streamed) {
    return {
      category: "weights",
      device: weightBytes(c, dtype, options),
      host: 0,
      note: `${dtype} packed, head per chunk`,
    };
  }
  let blocks = 0;
  let largest = 0;
  for (let b = 0; b < c.numLayers; b++) {
    const n = blockBytes(c, b, dtype);
    blocks += n;
    largest = Math.max(largest, n);
  }
  const used = Math.min(slots, c.numLayers);
  return {
    category: "weights",
    device: sharedWeightBytes(c, dtype, options) + used * largest,
    host: blocks,
    note: `${dtype}; blocks streamed from host (${used} slot${used === 1 ? "" : "s"} × ${
      fmtBytes(largest)
    }), vocabulary tables resident`,
  };
}

/** Bytes of the forward scratch for M rows (h, hn, xn, q, k, v, att, gate, up). */
export function forwardWorkspaceBytes(c: ModelConfig, m: number): number {
  const Hd = c.numHeads * c.headDim;
  const KV = c.numKvHeads * c.headDim;
  return m * (3 * c.hiddenSize + 2 * Hd + 2 * KV + 2 * c.intermediateSize) * F32;
}

/**
 * Device bytes of the calibration/perplexity loss over `windows` windows of `seqLen` tokens
 * ({@link meanNll}): its residual and normed streams, and every token block's rows, logits and
 * NLLs (all recorded before one submission), plus the head's per-chunk scratch.
 */
export function lossBytes(
  c: ModelConfig,
  windows: number,
  seqLen: number,
  bindingLimit: number,
): number {
  const V = c.vocabSize;
  const D = c.hiddenSize;
  if (windows === 0) return 0;
  const rows = Math.max(1, Math.min(seqLen, Math.floor(bindingLimit / (4 * V))));
  const perWindow = (seqLen - 1) * (D + V + 1) * F32 +
    Math.ceil((seqLen - 1) / rows) * 16; // padding of small tensors
  return 2 * seqLen * D * F32 + windows * perWindow + rows * V * F32; // + head scratch ≤ [rows, V]
}

/** Gram/solve workspace of one re-fit (G, H, captured inputs/residuals, solver, new down_proj). */
export function gramSolveBytes(c: ModelConfig, m: number, dtype: "f16" | "f32"): number {
  const F = c.intermediateSize;
  const d = c.hiddenSize;
  const fp = Math.ceil(F / SOLVE_BLOCK) * SOLVE_BLOCK;
  const np = Math.ceil(d / 4) * 4;
  const g = F * F + F * d + m * F + m * d; // G, H, Xp, Rp
  const solver = fp * fp + fp + fp * SOLVE_BLOCK + SOLVE_BLOCK * fp + SOLVE_BLOCK * np + 4 +
    fp * np + 1; // a, dg, dinv, pt, yb, sc, x workspace, status
  return (g + solver) * F32 + linearBytes(d, F, dtypeBytes(dtype), c.mlpBias);
}

/**
 * How many distinct activation checkpoints SPRINT keeps for `numLayers` blocks and
 * `numCheckpoints` requested: the distinct values of `checkpointIndices` (spec §7,
 * `[0] + [2·⌊c·L/(C+1)⌋ for c = 1…C]`), which are `min(C + 1, L)` — steps of L/(C+1) ≥ 1 give
 * C + 1 distinct floors; smaller steps hit every block index below L.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkpointCount } from "@sprint-wgpu/toolkit/plan";
 * import { checkpointIndices } from "@sprint-wgpu/toolkit/sprint";
 * assert.equal(checkpointCount(32, 8), new Set(checkpointIndices(32, 8)).size); // 9
 * assert.equal(checkpointCount(4, 8), new Set(checkpointIndices(4, 8)).size); // 4
 * ```
 */
export function checkpointCount(numLayers: number, numCheckpoints: number): number {
  return Math.min(numCheckpoints + 1, numLayers);
}

/**
 * The memory plan of a SPRINT run. Per-batch activations (batch states, checkpoints, stage-2
 * reference outputs) are on the device when `resident` and in host memory when `streamed`
 * (then the device holds one batch's slots). Throws a {@link ToolkitError} when even the streamed
 * placement exceeds the device budget.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR, readConfig } from "@sprint-wgpu/toolkit/model";
 * import { planSprintMemory } from "@sprint-wgpu/toolkit/plan";
 * import { ToolkitError } from "@sprint-wgpu/toolkit/errors";
 * const config = await readConfig(DEFAULT_MODEL_DIR);
 * const settings = { nsamples: 8, seqLen: 64 };
 * const plan = planSprintMemory(config, "f16", settings); // no budget: all on the device
 * assert.deepEqual([plan.placement, plan.weights], ["resident", "resident"]);
 * const tight = { ...settings, deviceMemory: plan.deviceBytes - 1 };
 * assert.equal(planSprintMemory(config, "f16", tight).placement, "streamed"); // batches on host
 * const tiny = { ...settings, deviceMemory: 2 ** 20 }; // 1 MiB: not even the vocabulary tables
 * assert.throws(() => planSprintMemory(config, "f16", tiny), ToolkitError);
 * ```
 */
export function planSprintMemory(
  c: ModelConfig,
  dtype: "f16" | "f32",
  s: SprintMemorySettings,
  options: { bindingLimit?: number; headChunkOutputs?: number; maxPositions?: number } = {},
): MemoryPlan {
  const B = Math.min(s.batchSize ?? 4, s.nsamples);
  const nb = Math.floor(s.nsamples / B);
  const T = s.seqLen;
  const m = B * T;
  const act = m * c.hiddenSize * F32;
  const q = checkpointCount(c.numLayers, s.checkpoints ?? 8);
  const tuning = s.tuning ?? true;
  const limit = options.bindingLimit ?? 128 * 1024 * 1024;
  const lossWindows = Math.min(s.lossSequences ?? 8, s.nsamples);
  const slots = s.slots ?? 2;
  const rows = (placement: "resident" | "streamed", streamWeights: boolean): PlanRow[] => {
    const onDevice = placement === "resident";
    const batchSlots = onDevice ? nb : 1;
    const list: PlanRow[] = [
      weightsRow(c, dtype, streamWeights, slots, options),
      {
        category: "activations",
        device: forwardWorkspaceBytes(c, m) + forwardWorkspaceBytes(c, T) + 3 * act,
        host: s.nsamples * T * 4,
        note: `forward scratch at M=${m} and ${T}, 3 work streams [${m}, ${c.hiddenSize}]`,
      },
      {
        category: "batch states",
        device: batchSlots * act,
        host: onDevice ? 0 : nb * act,
        note: `${nb} batches × [${m}, ${c.hiddenSize}] f32`,
      },
      {
        category: "checkpoints",
        device: onDevice ? q * nb * act : act,
        host: onDevice ? 0 : q * nb * act,
        note: `${q} checkpoints × ${nb} batches`,
      },
    ];
    if (tuning) {
      list.push({
        category: "reference outputs",
        device: onDevice ? nb * act : act,
        host: 0,
        note: onDevice ? `${nb} batches of dense outputs` : "recomputed per batch",
      });
      list.push({
        category: "gram/solve",
        device: gramSolveBytes(c, m, dtype),
        host: 0,
        note: `F=${c.intermediateSize}: G F×F, H F×d, solver`,
      });
    }
    const perSubmit = onDevice ? lossWindows : Math.min(1, lossWindows);
    list.push({
      category: "logits",
      device: lossBytes(c, perSubmit, T, limit),
      host: 0,
      note: `calibration loss: ${lossWindows} windows${onDevice ? "" : " (one at a time)"} × ${
        T - 1
      } rows × V=${c.vocabSize}`,
    });
    return list;
  };
  const sum = (l: PlanRow[], k: "device" | "host") => l.reduce((a, r) => a + r[k], 0);
  // The first choice that fits the budget, keeping weights resident before activations.
  const choices: ["resident" | "streamed", boolean][] = [
    ["resident", false],
    ["streamed", false],
    ["resident", true],
    ["streamed", true],
  ];
  const allowed = choices.filter(([p, w]) =>
    (s.placement === undefined || s.placement === p) && (s.offload === undefined || s.offload === w)
  );
  let [placement, streamWeights] = allowed[0];
  let list = rows(placement, streamWeights);
  if (s.deviceMemory !== undefined) {
    for (const [p, w] of allowed) {
      const l = rows(p, w);
      [placement, streamWeights, list] = [p, w, l];
      if (sum(l, "device") <= s.deviceMemory) break;
    }
  }
  const plan: MemoryPlan = {
    kind: "sprint",
    rows: list,
    deviceBytes: sum(list, "device"),
    hostBytes: sum(list, "host"),
    deviceBudget: s.deviceMemory,
    budgetNote: s.budgetNote ?? (s.deviceMemory === undefined ? "unbounded" : "given"),
    hostAvailable: hostMemoryAvailable(),
    placement,
    weights: streamWeights ? "streamed" : "resident",
    slots: streamWeights ? Math.min(slots, c.numLayers) : undefined,
  };
  if (s.deviceMemory !== undefined && plan.deviceBytes > s.deviceMemory) {
    throw new ToolkitError(
      `memory plan: SPRINT needs ${fmtBytes(plan.deviceBytes)} of device memory even with ` +
        `activations in host memory${
          streamWeights ? " and the weights streamed block by block" : ""
        }, more than the budget of ${fmtBytes(s.deviceMemory)}${
          streamWeights ? "" : " (--offload streams the weights)"
        }`,
    );
  }
  return plan;
}

/** Settings of an evaluation that determine its memory. */
export interface EvalMemorySettings {
  /** Token rows per forward wanted (`--batch-tokens`, default 2048). */
  batchTokens?: number;
  /** Longest sequence (perplexity window) a forward must hold (a lower bound on the rows). */
  seqLen: number;
  /** KV-cache bytes a shared-prefix batch may allocate (zero-shot; 0 or undefined: none). */
  kvCacheBytes?: number;
  /** Device budget in bytes (undefined: unbounded). */
  deviceMemory?: number;
  /** Where the budget came from (for the printout). */
  budgetNote?: string;
  /** Weights: `true` streams the blocks, `false` keeps them resident, undefined: by the budget. */
  offload?: boolean;
  /** Device slots for streamed blocks (default 2). */
  slots?: number;
}

/**
 * The memory plan of an evaluation (perplexity / log-likelihood, `scoreGroups`): weights,
 * forward scratch and the hidden rows of one forward of `batchTokens` rows, the logits of its
 * scored rows, and the KV cache of shared prefixes. With a budget, the rows per forward are
 * halved (down to one window of `seqLen`) and the KV cache shrunk until the plan fits — the
 * windows are then streamed through smaller forwards, same per-window results — and then the
 * weights streamed block by block; {@link MemoryPlan.eval} holds the rows and cache chosen.
 * Throws a {@link ToolkitError} when nothing fits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR, readConfig } from "@sprint-wgpu/toolkit/model";
 * import { planEvalMemory } from "@sprint-wgpu/toolkit/plan";
 * const config = await readConfig(DEFAULT_MODEL_DIR);
 * const plan = planEvalMemory(config, "f16", { seqLen: 512 }); // 2048 rows per forward
 * assert.equal(plan.eval!.batchTokens, 2048);
 * const tight = planEvalMemory(config, "f16", { seqLen: 512, deviceMemory: plan.deviceBytes - 1 });
 * assert.equal(tight.eval!.batchTokens, 1024); // halved until it fits
 * ```
 */
export function planEvalMemory(
  c: ModelConfig,
  dtype: "f16" | "f32",
  s: EvalMemorySettings,
  options: { bindingLimit?: number; headChunkOutputs?: number; maxPositions?: number } = {},
): MemoryPlan {
  const want = Math.max(s.batchTokens ?? 2048, 1);
  const minRows = Math.min(want, Math.max(1, s.seqLen));
  const slots = s.slots ?? 2;
  const D = c.hiddenSize;
  const layers = c.alive.filter((a, i) => a && i % 2 === 0).length;
  const kvPerPos = 2 * layers * c.numKvHeads * c.headDim * F32;
  const rows = (m: number, kv: number, streamWeights: boolean): PlanRow[] => {
    const list: PlanRow[] = [
      weightsRow(c, dtype, streamWeights, slots, options),
      {
        category: "activations",
        device: forwardWorkspaceBytes(c, m) + 2 * m * D * F32 + m * 8,
        host: 0,
        note: `forward scratch, hidden and normed rows at M=${m}`,
      },
      {
        category: "logits",
        device: m * (c.vocabSize + 2) * F32,
        host: 0,
        note: `≤ ${m} scored rows × V=${c.vocabSize} (per forward)`,
      },
    ];
    if (kv > 0) {
      list.push({
        category: "kv cache",
        device: kv,
        host: 0,
        note: `shared prefixes: ${layers} attention layers × ${
          Math.floor(kv / kvPerPos)
        } positions`,
      });
    }
    return list;
  };
  const sum = (l: PlanRow[]) => l.reduce((a, r) => a + r.device, 0);
  const weightChoices = s.offload === undefined ? [false, true] : [s.offload];
  let m = want;
  let kv = s.kvCacheBytes ?? 0;
  let streamWeights = weightChoices[0];
  let list = rows(m, kv, streamWeights);
  const budget = s.deviceMemory;
  if (budget !== undefined) {
    search: for (const w of weightChoices) {
      for (let mm = want;; mm = Math.max(minRows, Math.floor(mm / 2))) {
        // The KV cache gets what is left (≥ one window's positions, else none is planned).
        let k = s.kvCacheBytes ?? 0;
        if (k > 0) {
          const left = budget - sum(rows(mm, 0, w));
          k = Math.min(k, Math.max(left, 0));
          if (k < kvPerPos * Math.max(1, s.seqLen)) {
            k = Math.min(s.kvCacheBytes!, kvPerPos * s.seqLen);
          }
        }
        [m, kv, streamWeights, list] = [mm, k, w, rows(mm, k, w)];
        if (sum(list) <= budget) break search;
        if (mm === minRows) break;
      }
    }
  }
  const deviceBytes = sum(list);
  if (budget !== undefined && deviceBytes > budget) {
    throw new ToolkitError(
      `memory plan: evaluation needs ${fmtBytes(deviceBytes)} of device memory even with ` +
        `${m} rows per forward${
          streamWeights ? " and the weights streamed block by block" : ""
        }, more than the budget of ${fmtBytes(budget)} (lower --seq-len${
          streamWeights ? "" : ", or --offload"
        })`,
    );
  }
  return {
    kind: "eval",
    rows: list,
    deviceBytes,
    hostBytes: list.reduce((a, r) => a + r.host, 0),
    deviceBudget: budget,
    budgetNote: s.budgetNote ?? (budget === undefined ? "unbounded" : "given"),
    hostAvailable: hostMemoryAvailable(),
    placement: m < want ? "streamed" : "resident",
    weights: streamWeights ? "streamed" : "resident",
    slots: streamWeights ? Math.min(slots, c.numLayers) : undefined,
    eval: { batchTokens: m, kvCacheBytes: kv },
  };
}

/**
 * Host bytes available now: the kernel's estimate of memory available without swapping
 * (`Deno.systemMemoryInfo().available`, i.e. /proc/meminfo MemAvailable on Linux), else
 * `os.freemem`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fmtBytes, hostMemoryAvailable } from "@sprint-wgpu/toolkit/plan";
 * const free = hostMemoryAvailable();
 * assert.ok(free > 0 && free <= Deno.systemMemoryInfo().total);
 * console.log(fmtBytes(free)); // e.g. 22.96 GiB
 * ```
 */
export function hostMemoryAvailable(): number {
  try {
    const info = Deno.systemMemoryInfo();
    if (info.available > 0) return info.available;
  } catch { /* not permitted or not supported: fall back */ }
  try {
    return freemem();
  } catch {
    return Infinity;
  }
}

/**
 * Refuses (one-line {@link ToolkitError}) a plan whose host part exceeds the host memory
 * available. `what` names the run in the message.
 */
export function assertHostFits(plan: MemoryPlan, what = "this run"): void {
  if (plan.hostBytes > plan.hostAvailable) {
    throw new ToolkitError(
      `memory plan: ${what} needs ${fmtBytes(plan.hostBytes)} of host memory, ` +
        `${fmtBytes(plan.hostAvailable)} is free`,
    );
  }
}

/**
 * The device budget: `given` bytes when set; else, on a CPU adapter (llvmpipe / lavapipe, whose
 * device memory is host memory), the free host memory; else unbounded (WebGPU does not expose a
 * GPU's memory size), with a note saying so.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveDeviceBudget } from "@sprint-wgpu/toolkit/plan";
 * import { ToolkitError } from "@sprint-wgpu/toolkit/errors";
 * const given = resolveDeviceBudget(undefined, 2 ** 30);
 * assert.deepEqual(given, { bytes: 2 ** 30, note: "--device-memory" });
 * assert.equal(resolveDeviceBudget(undefined, undefined).bytes, undefined); // no GPU: unbounded
 * assert.throws(() => resolveDeviceBudget(undefined, -1), ToolkitError);
 * ```
 */
export function resolveDeviceBudget(
  gpu: Gpu | undefined,
  given: number | undefined,
): { bytes?: number; note: string } {
  if (given !== undefined) {
    if (!Number.isFinite(given) || given <= 0) {
      throw new ToolkitError(`--device-memory: expected a positive number of bytes, got ${given}`);
    }
    return { bytes: given, note: "--device-memory" };
  }
  const desc = gpu ? `${gpu.adapterInfo.description} ${gpu.adapterInfo.device}`.toLowerCase() : "";
  if (/llvmpipe|lavapipe|swiftshader/.test(desc)) {
    const bytes = hostMemoryAvailable();
    return {
      bytes,
      note: `default: CPU adapter (${
        gpu!.adapterInfo.description || gpu!.adapterInfo.device
      }), its memory is host memory: ${fmtBytes(bytes)} available (MemAvailable)`,
    };
  }
  return { note: "unbounded: WebGPU does not report the adapter's memory (set --device-memory)" };
}

/** Bytes in binary units, e.g. `1.50 GiB`. */
export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(2)} ${units[u]}`;
}

/**
 * A printable table of the plan (and, when given, the measured peak device bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR, readConfig } from "@sprint-wgpu/toolkit/model";
 * import { formatPlan, planEvalMemory } from "@sprint-wgpu/toolkit/plan";
 * const plan = planEvalMemory(await readConfig(DEFAULT_MODEL_DIR), "f16", { seqLen: 512 });
 * const lines = formatPlan(plan, 1234).split("\n");
 * assert.equal(lines[1], "| category | device | host | note |");
 * assert.equal(lines.length, 3 + plan.rows.length + 2); // title, header, rule, rows, total, peak
 * assert.equal(lines.at(-1), "measured peak device bytes: 1.21 KiB");
 * ```
 */
export function formatPlan(plan: MemoryPlan, measuredPeak?: number): string {
  const lines = [
    `memory plan (${plan.kind}: activations ${plan.placement}, weights ${plan.weights}${
      plan.slots ? ` through ${plan.slots} block slots` : ""
    }; device budget ${
      plan.deviceBudget === undefined ? "unbounded" : fmtBytes(plan.deviceBudget)
    }: ${plan.budgetNote})`,
    "| category | device | host | note |",
    "|---|---:|---:|---|",
    ...plan.rows.map((r) =>
      `| ${r.category} | ${fmtBytes(r.device)} | ${fmtBytes(r.host)} | ${r.note} |`
    ),
    `| total | ${fmtBytes(plan.deviceBytes)} | ${fmtBytes(plan.hostBytes)} | host free ${
      fmtBytes(plan.hostAvailable)
    } |`,
  ];
  if (measuredPeak !== undefined) {
    lines.push(`measured peak device bytes: ${fmtBytes(measuredPeak)}`);
  }
  return lines.join("\n");
}
