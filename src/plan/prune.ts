/**
 * The memory plan of a prune (SPRINT or a baseline) or an evaluation decided from the config and
 * the flags before the model is loaded: the device budget (`--device-memory`, else derived from
 * the adapter), whether the blocks' weights are streamed (`--offload`, or because they do not fit
 * the budget), and the one-line refusal when even host memory cannot hold the plan (the f32
 * weights the loader reads, plus what stays in host memory during the run).
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import type { Gpu } from "../gpu/device.ts";
import { chunkBytesLimit, rowsPerChunk } from "../gpu/chunked.ts";
import { packedShape } from "../kernels/matmul.ts";
import type { ModelConfig } from "../model/config.ts";
import { expectedTensors } from "../model/model.ts";
import {
  fmtBytes,
  forwardWorkspaceBytes,
  hostMemoryAvailable,
  lossBytes,
  type MemoryPlan,
  planEvalMemory,
  type PlanRow,
  planSprintMemory,
  resolveDeviceBudget,
  weightsRow,
} from "./memory.ts";

/** What a prune's memory depends on (flags and defaults, resolved). */
export interface PrunePlanInput {
  /** `sprint` or a baseline (`sleb`, `blockpruner`, `shortgpt`). */
  method: string;
  /** Weight dtype on the device. */
  dtype: "f16" | "f32";
  /** Calibration windows. */
  nsamples: number;
  /** Tokens per window. */
  seqLen: number;
  /** Sequences per batch. */
  batch: number;
  /** SPRINT: activation checkpoints (default 8). */
  checkpoints?: number;
  /** SPRINT: stage-2 tuning (default true). */
  tuning?: boolean;
  /** Calibration-loss windows per evaluation (SPRINT default 8; baselines: nsamples). */
  lossSequences?: number;
  /** `--device-memory` bytes. */
  deviceMemory?: number;
  /** `--offload`: stream the blocks' weights whatever the budget. */
  offload?: boolean;
}

/** Options shared by the plan builders: the device's binding limit and head chunking. */
function deviceOptions(gpu: Gpu | undefined, c: ModelConfig, dtype: "f16" | "f32") {
  if (!gpu) return {};
  const limit = chunkBytesLimit(gpu);
  const { kp } = packedShape(c.vocabSize, c.hiddenSize);
  const per = rowsPerChunk(kp * (dtype === "f16" ? 2 : 4), limit, 16);
  return {
    bindingLimit: Math.min(gpu.caps.maxStorageBindingSize, gpu.caps.maxBufferSize),
    headChunkOutputs: Math.min(per, c.vocabSize),
  };
}

/**
 * Host bytes the loader holds while reading the checkpoint (every tensor as f32).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR, readConfig } from "@sprint-wgpu/toolkit/model";
 * import { loadHostBytes } from "@sprint-wgpu/toolkit/plan";
 * const config = await readConfig(DEFAULT_MODEL_DIR); // V 4096, D 128, F 352, 8 blocks, KV 64
 * const block = 2 * 128 + 2 * 128 * 128 + 2 * 64 * 128 + 3 * 352 * 128; // norms, q o k v, mlp
 * const params = 2 * 4096 * 128 + 128 + 8 * block; // untied embedding and head, final norm
 * assert.equal(loadHostBytes(config), 4 * params); // 4 bytes per parameter
 * ```
 */
export function loadHostBytes(c: ModelConfig): number {
  let n = 0;
  for (const shape of expectedTensors(c).values()) n += shape.reduce((a, b) => a * b, 1) * 4;
  return n;
}

/**
 * The plan of a baseline (SLEB, BlockPruner, ShortGPT): weights, one window's forward (ShortGPT: a
 * batch), and the calibration loss of `lossSequences` windows — all recorded before one
 * submission, or window by window (`placement` `streamed`) when that does not fit the budget.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR, readConfig } from "@sprint-wgpu/toolkit/model";
 * import { planBaselineMemory } from "@sprint-wgpu/toolkit/plan";
 * const config = await readConfig(DEFAULT_MODEL_DIR);
 * const s = { nsamples: 16, seqLen: 128, batch: 4 };
 * const plan = planBaselineMemory(config, "f16", s); // unbounded: all at once
 * assert.equal(plan.kind, "baseline");
 * assert.equal(plan.deviceBytes, plan.rows.reduce((a, r) => a + r.device, 0));
 * const tight = planBaselineMemory(config, "f16", { ...s, deviceMemory: plan.deviceBytes - 1 });
 * assert.equal(tight.placement, "streamed"); // the loss goes window by window
 * assert.ok(tight.deviceBytes < plan.deviceBytes);
 * ```
 */
export function planBaselineMemory(
  c: ModelConfig,
  dtype: "f16" | "f32",
  s: {
    nsamples: number;
    seqLen: number;
    batch: number;
    lossSequences?: number;
    deviceMemory?: number;
    budgetNote?: string;
    offload?: boolean;
  },
  options: { bindingLimit?: number; headChunkOutputs?: number; maxPositions?: number } = {},
): MemoryPlan {
  const T = s.seqLen;
  const m = Math.min(s.batch, s.nsamples) * T;
  const windows = Math.min(s.lossSequences ?? s.nsamples, s.nsamples);
  const limit = options.bindingLimit ?? 128 * 1024 * 1024;
  const rows = (perWindow: boolean, stream: boolean): PlanRow[] => [
    weightsRow(c, dtype, stream, 2, options),
    {
      category: "activations",
      device: forwardWorkspaceBytes(c, m) + 3 * m * c.hiddenSize * 4,
      host: 0,
      note: `forward scratch at M=${m}, ShortGPT's batch streams`,
    },
    {
      category: "logits",
      device: lossBytes(c, perWindow ? 1 : windows, T, limit),
      host: 0,
      note: `calibration loss: ${windows} windows${perWindow ? " (one at a time)" : ""} × ${
        T - 1
      } rows × V=${c.vocabSize}`,
    },
  ];
  const sum = (l: PlanRow[]) => l.reduce((a, r) => a + r.device, 0);
  // [loss window by window, weights streamed], cheapest first.
  const choices: [boolean, boolean][] = s.offload
    ? [[false, true], [true, true]]
    : [[false, false], [true, false], [true, true]];
  let [perWindow, stream] = choices[0];
  let list = rows(perWindow, stream);
  if (s.deviceMemory !== undefined) {
    for (const [p, w] of choices) {
      [perWindow, stream, list] = [p, w, rows(p, w)];
      if (sum(list) <= s.deviceMemory) break;
    }
    if (sum(list) > s.deviceMemory) {
      throw new ToolkitError(
        `memory plan: the baseline needs ${fmtBytes(sum(list))} of device memory even with ` +
          `the loss window by window${stream ? " and the weights streamed block by block" : ""}` +
          `, more than the budget of ${fmtBytes(s.deviceMemory)}`,
      );
    }
  }
  return {
    kind: "baseline",
    rows: list,
    deviceBytes: sum(list),
    hostBytes: list.reduce((a, r) => a + r.host, 0),
    deviceBudget: s.deviceMemory,
    budgetNote: s.budgetNote ?? (s.deviceMemory === undefined ? "unbounded" : "given"),
    hostAvailable: hostMemoryAvailable(),
    placement: perWindow ? "streamed" : "resident",
    weights: stream ? "streamed" : "resident",
    slots: stream ? Math.min(2, c.numLayers) : undefined,
  };
}

/**
 * Refuses (one line, exit 2) a plan whose host part — the f32 weights the loader reads, plus
 * what the run keeps in host memory — exceeds the host memory available.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR, readConfig } from "@sprint-wgpu/toolkit/model";
 * import { assertHostHolds, planSprintMemory } from "@sprint-wgpu/toolkit/plan";
 * const config = await readConfig(DEFAULT_MODEL_DIR);
 * const plan = planSprintMemory(config, "f16", { nsamples: 8, seqLen: 64, batchSize: 2 });
 * assertHostHolds(plan, config, "SPRINT"); // a few MiB: this host holds it
 * assert.throws(
 *   () => assertHostHolds({ ...plan, hostAvailable: 1024 }, config, "SPRINT"),
 *   /memory plan: SPRINT needs .* of host memory .*, 1.00 KiB is available$/,
 * );
 * ```
 */
export function assertHostHolds(plan: MemoryPlan, c: ModelConfig, what: string): void {
  const load = loadHostBytes(c);
  const need = plan.hostBytes + load;
  if (need > plan.hostAvailable) {
    throw new ToolkitError(
      `memory plan: ${what} needs ${fmtBytes(need)} of host memory (${
        fmtBytes(load)
      } to read the weights as f32, ${fmtBytes(plan.hostBytes)} during the run), ${
        fmtBytes(plan.hostAvailable)
      } is available`,
    );
  }
}

/**
 * The memory plan of a prune from the config and flags, before the model is loaded (see the
 * module doc). Throws a one-line {@link ToolkitError} when the device budget or host memory
 * cannot hold it; `plan.weights === "streamed"` tells the caller to load with `offload`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR, readConfig } from "@sprint-wgpu/toolkit/model";
 * import { formatPlan, planPrune } from "@sprint-wgpu/toolkit/plan";
 * import { ToolkitError } from "@sprint-wgpu/toolkit/errors";
 * const config = await readConfig(DEFAULT_MODEL_DIR);
 * const p = { method: "sprint", dtype: "f16", nsamples: 8, seqLen: 64, batch: 2 } as const;
 * const plan = planPrune(undefined, config, p); // no GPU given: an unbounded device budget
 * assert.equal(plan.kind, "sprint");
 * assert.equal(plan.weights, "resident"); // else: loadModel(gpu, dir, { offload: true })
 * assert.match(formatPlan(plan), /\| total \|/);
 * assert.equal(planPrune(undefined, config, { ...p, offload: true }).weights, "streamed");
 * assert.throws(() => planPrune(undefined, config, { ...p, deviceMemory: 1024 }), ToolkitError);
 * ```
 */
export function planPrune(gpu: Gpu | undefined, c: ModelConfig, p: PrunePlanInput): MemoryPlan {
  const budget = resolveDeviceBudget(gpu, p.deviceMemory);
  const opts = deviceOptions(gpu, c, p.dtype);
  const plan = p.method === "sprint"
    ? planSprintMemory(c, p.dtype, {
      nsamples: p.nsamples,
      seqLen: p.seqLen,
      batchSize: p.batch,
      checkpoints: p.checkpoints,
      tuning: p.tuning,
      lossSequences: p.lossSequences,
      deviceMemory: budget.bytes,
      budgetNote: budget.note,
      offload: p.offload ? true : undefined,
    }, opts)
    : planBaselineMemory(c, p.dtype, {
      nsamples: p.nsamples,
      seqLen: p.seqLen,
      batch: p.batch,
      lossSequences: p.lossSequences,
      deviceMemory: budget.bytes,
      budgetNote: budget.note,
      offload: p.offload ? true : undefined,
    }, opts);
  assertHostHolds(plan, c, p.method === "sprint" ? "SPRINT" : p.method);
  if (gpu) assertBindable(gpu, c, p);
  return plan;
}

/**
 * Refuses (one line) a prune whose single largest buffers cannot be bound on this device: the
 * forward's `[batch·seq-len, intermediate_size]` f32 activations, and SPRINT's re-fit Gram matrix
 * `[intermediate_size, intermediate_size]` f32 (vocabulary tables are chunked; these are not).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, readConfig } from "@sprint-wgpu/toolkit/model";
 * import { assertBindable } from "@sprint-wgpu/toolkit/plan";
 * const gpu = await getGpu();
 * const config = await readConfig(DEFAULT_MODEL_DIR);
 * const p = { method: "sprint", dtype: "f16", nsamples: 8, seqLen: 64, batch: 2 } as const;
 * assertBindable(gpu, config, p); // 2 × 64 rows of 352 f32: far under any binding limit
 * const huge = { ...p, nsamples: 2 ** 20, batch: 2 ** 20, seqLen: 512 }; // 700 GiB in one buffer
 * assert.throws(() => assertBindable(gpu, config, huge), /use --batch \d+ or less$/);
 * ```
 */
export function assertBindable(gpu: Gpu, c: ModelConfig, p: PrunePlanInput): void {
  const limit = Math.min(gpu.caps.maxStorageBindingSize, gpu.caps.maxBufferSize);
  const F = c.intermediateSize;
  const batch = Math.min(p.batch, p.nsamples);
  const rowBytes = 4 * Math.max(F, c.hiddenSize, c.numHeads * c.headDim);
  if (batch * p.seqLen * rowBytes > limit) {
    const fit = Math.floor(limit / (p.seqLen * rowBytes));
    throw new ToolkitError(
      `--batch ${batch} × --seq-len ${p.seqLen}: the forward's f32 activations of ` +
        `intermediate_size ${F} take ${fmtBytes(batch * p.seqLen * rowBytes)} in one buffer, ` +
        `over this device's ${fmtBytes(limit)} binding limit; ` +
        (fit >= 1
          ? `use --batch ${fit} or less`
          : `use --seq-len ${Math.floor(limit / rowBytes)} or less`),
    );
  }
  if (p.method === "sprint" && p.tuning !== false && 4 * F * F > limit) {
    throw new ToolkitError(
      `intermediate_size ${F} (config.json): SPRINT's re-fit needs an ${F}×${F} f32 Gram matrix ` +
        `(${fmtBytes(4 * F * F)}) in one buffer, over this device's ${fmtBytes(limit)} binding ` +
        `limit; run with --no-tuning, or on a device with larger storage bindings`,
    );
  }
}

/**
 * The memory plan of an evaluation from the config and flags, before the model is loaded: the
 * rows per forward and KV cache that fit the budget, and whether to stream the weights.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR, readConfig } from "@sprint-wgpu/toolkit/model";
 * import { planEval } from "@sprint-wgpu/toolkit/plan";
 * const config = await readConfig(DEFAULT_MODEL_DIR);
 * const p = { dtype: "f16", seqLen: 512, batchTokens: 2048 } as const;
 * const plan = planEval(undefined, config, p); // unbounded: the rows asked for
 * assert.deepEqual(plan.eval, { batchTokens: 2048, kvCacheBytes: 0 });
 * assert.equal(plan.weights, "resident"); // else: loadModel(gpu, dir, { offload: true })
 * const tight = planEval(undefined, config, { ...p, deviceMemory: plan.deviceBytes - 1 });
 * assert.equal(tight.eval!.batchTokens, 1024); // halved to fit the budget
 * ```
 */
export function planEval(
  gpu: Gpu | undefined,
  c: ModelConfig,
  p: {
    dtype: "f16" | "f32";
    seqLen: number;
    batchTokens: number;
    kvCacheBytes?: number;
    deviceMemory?: number;
    offload?: boolean;
  },
): MemoryPlan {
  const budget = resolveDeviceBudget(gpu, p.deviceMemory);
  const plan = planEvalMemory(c, p.dtype, {
    seqLen: p.seqLen,
    batchTokens: p.batchTokens,
    kvCacheBytes: p.kvCacheBytes,
    deviceMemory: budget.bytes,
    budgetNote: budget.note,
    offload: p.offload ? true : undefined,
  }, deviceOptions(gpu, c, p.dtype));
  assertHostHolds(plan, c, "the evaluation");
  return plan;
}
