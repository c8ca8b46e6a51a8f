/**
 * The training loop: batches of token windows, forward + backward + global-norm clipping + AdamW
 * recorded into one submission per step, the loss read back only every few steps, warm-up +
 * cosine learning rate, periodic validation loss, and checkpoint/resume that reproduces an
 * uninterrupted run exactly (batches are drawn from a generator seeded by (seed, step)).
 *
 * @module
 */
import { join } from "node:path";
import { ToolkitError } from "../errors.ts";
import { readTensors, type Tensor } from "../gpu/tensor.ts";
import type { LlamaModel } from "../model/model.ts";
import type { LoraAdapter } from "../model/forward.ts";
import { linearGradTensors } from "./kernels/linear_backward.ts";
import type { Gpu } from "../gpu/device.ts";
import { meanNll } from "../model/loss.ts";
import { openSafetensors, writeSafetensors } from "../model/safetensors.ts";
import { seededRandom } from "../util/random.ts";
import { writeJsonAtomic } from "../report/json.ts";
import {
  allocGrads,
  gradTensors,
  type ModelGrads,
  type NamedParam,
  namedParams,
  recordLossAndGrads,
  type TokenBatch,
  zeroGrads,
} from "./grad.ts";
import { adamwStep, gradNormClip } from "./kernels/adamw.ts";

/** Training hyper-parameters. */
export interface TrainOptions {
  /** Optimiser steps in all (the length of the schedule). */
  steps: number;
  /** Sequences per step. */
  batch: number;
  /** Tokens per sequence. */
  seqLen: number;
  /** Peak learning rate. */
  lr: number;
  /** Final learning rate of the cosine schedule (default lr/10). */
  minLr?: number;
  /** Linear warm-up steps (default 5 % of steps). */
  warmup?: number;
  /** AdamW weight decay of the weight matrices (default 0.1). */
  weightDecay?: number;
  /** AdamW β1 (default 0.9). */
  beta1?: number;
  /** AdamW β2 (default 0.95). */
  beta2?: number;
  /** AdamW ε (default 1e-8). */
  eps?: number;
  /** Global gradient-norm clip (default 1). */
  clip?: number;
  /** Seed of the batch sampling (default 0). */
  seed?: number;
  /** Read the training loss back every this many steps (default 10). */
  logEvery?: number;
  /** Validation loss every this many steps (default 100; 0 = never). */
  evalEvery?: number;
  /** Validation windows (default 16). */
  evalWindows?: number;
  /** Write a resumable checkpoint every this many steps into `checkpointDir` (default 100). */
  checkpointEvery?: number;
  /** Directory of the resumable checkpoint (none is written without it). */
  checkpointDir?: string;
  /** Continue from the checkpoint in `checkpointDir` if there is one. */
  resume?: boolean;
  /** Progress callback. */
  onProgress?: (p: TrainProgress) => void;
  /**
   * Train only these LoRA adapters (the model's own weights stay frozen and may be f16);
   * default: train every parameter of the model (f32 weights needed).
   */
  lora?: ReadonlyMap<string, LoraAdapter>;
}

/** Progress of a training run. */
export interface TrainProgress {
  /** The step just done (1-based). */
  step: number;
  /** Steps in all. */
  steps: number;
  /** Training loss (mean NLL) of the step's batch, when it was read back. */
  loss?: number;
  /** Validation loss (mean NLL), on the steps that evaluate. */
  valLoss?: number;
  /** Learning rate of the step. */
  lr: number;
  /** Training tokens per second since this call started. */
  tokensPerSecond: number;
}

/** A logged point. */
export interface TrainPoint {
  /** The step (1-based). */
  step: number;
  /** Training loss (mean NLL) of the step's batch, when it was read back. */
  loss?: number;
  /** Validation loss (mean NLL), when the step evaluated. */
  valLoss?: number;
  /** Learning rate of the step. */
  lr: number;
  /** Training tokens consumed up to and including the step. */
  tokensSeen: number;
}

/** Result of {@link train}. */
export interface TrainResult {
  /** Steps that logged a loss, in order (a resumed run's included). */
  history: TrainPoint[];
  /** Training tokens consumed in all (before a resume included). */
  tokensSeen: number;
  /** Wall seconds of this call. */
  seconds: number;
  /** The last validation loss this call computed, if any. */
  finalValLoss?: number;
}

/**
 * Learning rate at `step` (1-based): linear warm-up, then cosine decay to minLr.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { learningRate } from "@sprint-wgpu/toolkit/train";
 * assert.equal(learningRate(1, { steps: 100, lr: 1e-3 }), 0.0002); // 1 of 5 warm-up steps
 * assert.ok(Math.abs(learningRate(100, { steps: 100, lr: 1e-3 }) - 1e-4) < 1e-12); // minLr = lr/10
 * ```
 */
export function learningRate(
  step: number,
  o: { steps: number; lr: number; minLr?: number; warmup?: number },
): number {
  const warm = o.warmup ?? Math.max(1, Math.round(0.05 * o.steps));
  const min = o.minLr ?? o.lr / 10;
  if (step <= warm) return (o.lr * step) / warm;
  const p = Math.min(1, (step - warm) / Math.max(1, o.steps - warm));
  return min + 0.5 * (o.lr - min) * (1 + Math.cos(Math.PI * p));
}

/**
 * The windows of step `step`: ids and next-token targets, from a generator seeded by
 * (seed, step).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sampleBatch } from "@sprint-wgpu/toolkit/train";
 * const trainIds = Array.from({ length: 500 }, (_, i) => i);
 * const { ids, targets } = sampleBatch(trainIds, 8, 128, 0, 1); // [8·128] each
 * assert.equal(ids.length, 8 * 128);
 * assert.equal(targets[0], ids[0] + 1); // the next token
 * ```
 */
export function sampleBatch(
  tokens: ArrayLike<number>,
  batch: number,
  seqLen: number,
  seed: number,
  step: number,
): TokenBatch {
  const rand = seededRandom((seed * 1_000_003 + step * 7919) >>> 0);
  const ids = new Uint32Array(batch * seqLen);
  const targets = new Uint32Array(batch * seqLen);
  const span = tokens.length - seqLen - 1;
  if (span < 1) {
    throw new ToolkitError(
      `training text has ${tokens.length} tokens, fewer than seq-len + 2 = ${seqLen + 2}`,
    );
  }
  for (let b = 0; b < batch; b++) {
    const start = Math.floor(rand() * span);
    for (let j = 0; j < seqLen; j++) {
      ids[b * seqLen + j] = tokens[start + j];
      targets[b * seqLen + j] = tokens[start + j + 1];
    }
  }
  return { batch, tokens: seqLen, ids, targets };
}

/** Zero gradients for LoRA adapters only. */
function loraGrads(gpu: Gpu, lora: ReadonlyMap<string, LoraAdapter>): ModelGrads {
  const map = new Map<
    string,
    { a: ReturnType<typeof linearGradTensors>; b: ReturnType<typeof linearGradTensors> }
  >();
  for (const [k, ad] of lora) {
    map.set(k, { a: linearGradTensors(gpu, ad.a), b: linearGradTensors(gpu, ad.b) });
  }
  return { blocks: [], lora: map };
}

interface OptimState {
  params: NamedParam[];
  m: Tensor[];
  v: Tensor[];
}

async function saveCheckpoint(
  dir: string,
  step: number,
  st: OptimState,
  history: TrainPoint[],
  tokensSeen: number,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const all = [...st.params.map((p) => p.param), ...st.m, ...st.v];
  const host = await readTensors(all[0].gpu, all);
  const n = st.params.length;
  await writeSafetensors(
    join(dir, "train_state.safetensors"),
    host.map((data, i) => ({
      name: i < n
        ? `param.${st.params[i].name}`
        : i < 2 * n
        ? `m.${st.params[i - n].name}`
        : `v.${st.params[i - 2 * n].name}`,
      shape: [data.length],
      dtype: "F32" as const,
      data: data as Float32Array<ArrayBuffer>,
    })),
  );
  await writeJsonAtomic(join(dir, "train_state.json"), { step, tokensSeen, history });
}

async function loadCheckpoint(
  dir: string,
  st: OptimState,
): Promise<{ step: number; tokensSeen: number; history: TrainPoint[] } | undefined> {
  let meta: { step: number; tokensSeen: number; history: TrainPoint[] };
  try {
    meta = JSON.parse(await Deno.readTextFile(join(dir, "train_state.json")));
  } catch {
    return undefined;
  }
  const f = await openSafetensors(join(dir, "train_state.safetensors"));
  for (let i = 0; i < st.params.length; i++) {
    const name = st.params[i].name;
    st.params[i].param.write(await f.float32(`param.${name}`));
    st.m[i].write(await f.float32(`m.${name}`));
    st.v[i].write(await f.float32(`v.${name}`));
  }
  return meta;
}

/**
 * Trains all parameters of `model` (f32 weights) on `trainTokens`; validation on `valTokens`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { train } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const model = await loadModel(gpu, DEFAULT_MODEL_DIR, { dtype: "f32" }); // full training: f32
 * const ids = model.tokenizer!.encode(await Deno.readTextFile(`${DEFAULT_MODEL_DIR}/calibration.txt`));
 * const opts = { steps: 2, batch: 2, seqLen: 32, lr: 1e-4, evalWindows: 1 };
 * const r = await train(model, ids.slice(0, 2000), ids.slice(2000, 2400), opts);
 * assert.equal(r.tokensSeen, 2 * 2 * 32);
 * model.destroy();
 * ```
 */
export async function train(
  model: LlamaModel,
  trainTokens: ArrayLike<number>,
  valTokens: ArrayLike<number>,
  o: TrainOptions,
): Promise<TrainResult> {
  if (!o.lora && model.dtype !== "f32") {
    throw new ToolkitError(
      "training all parameters needs f32 weights (load the model with dtype f32)",
    );
  }
  const gpu = model.gpu;
  const grads: ModelGrads = o.lora ? loraGrads(gpu, o.lora) : allocGrads(model);
  const params = namedParams(model, grads, o.lora);
  const hooks = o.lora ? { lora: o.lora } : undefined;
  const st: OptimState = {
    params,
    m: params.map((p) => gpu.tensor(p.param.shape, "f32")),
    v: params.map((p) => gpu.tensor(p.param.shape, "f32")),
  };
  const seed = o.seed ?? 0;
  const logEvery = o.logEvery ?? 10;
  const evalEvery = o.evalEvery ?? 100;
  const ckptEvery = o.checkpointEvery ?? 100;
  const evalWindows = o.evalWindows ?? 16;
  let history: TrainPoint[] = [];
  let start = 1;
  let tokensSeen = 0;
  if (o.resume && o.checkpointDir) {
    const meta = await loadCheckpoint(o.checkpointDir, st);
    if (meta) {
      start = meta.step + 1;
      tokensSeen = meta.tokensSeen;
      history = meta.history;
    }
  }
  const valIds = Uint32Array.from(
    { length: Math.min(valTokens.length, evalWindows * o.seqLen) },
    (_, i) => valTokens[i],
  );
  const nVal = Math.floor(valIds.length / o.seqLen);
  const validate = async () =>
    nVal > 0 ? await meanNll(model, valIds, nVal, o.seqLen, model.alive, hooks) : undefined;
  const t0 = performance.now();
  let tokensAtT0 = tokensSeen;
  let lastVal: number | undefined;
  try {
    for (let step = start; step <= o.steps; step++) {
      const lr = learningRate(step, o);
      const batch = sampleBatch(trainTokens, o.batch, o.seqLen, seed, step);
      const rec = gpu.recorder();
      zeroGrads(rec, grads);
      const r = recordLossAndGrads(rec, model, grads, batch, o.lora);
      const clip = gradNormClip(rec, gradTensors(grads), o.clip ?? 1);
      params.forEach((p, i) => {
        adamwStep(rec, { param: p.param, grad: p.grad, m: st.m[i], v: st.v[i] }, {
          lr,
          step,
          beta1: o.beta1 ?? 0.9,
          beta2: o.beta2 ?? 0.95,
          eps: o.eps ?? 1e-8,
          weightDecay: p.decay ? (o.weightDecay ?? 0.1) : 0,
          clip,
        });
      });
      rec.submit();
      tokensSeen += o.batch * o.seqLen;
      const point: TrainPoint = { step, lr, tokensSeen };
      if (step % logEvery === 0 || step === o.steps) {
        point.loss = (await r.loss.read())[0];
        if (!Number.isFinite(point.loss)) {
          throw new Error(`training diverged at step ${step} (loss ${point.loss})`);
        }
      }
      r.release();
      clip.destroy();
      if (evalEvery > 0 && (step % evalEvery === 0 || step === o.steps)) {
        point.valLoss = lastVal = await validate();
      }
      if (point.loss !== undefined || point.valLoss !== undefined) history.push(point);
      const secs = (performance.now() - t0) / 1e3;
      o.onProgress?.({
        step,
        steps: o.steps,
        loss: point.loss,
        valLoss: point.valLoss,
        lr,
        tokensPerSecond: (tokensSeen - tokensAtT0) / Math.max(secs, 1e-9),
      });
      if (o.checkpointDir && ckptEvery > 0 && (step % ckptEvery === 0 || step === o.steps)) {
        await saveCheckpoint(o.checkpointDir, step, st, history, tokensSeen);
      }
    }
    await gpu.sync();
    return { history, tokensSeen, seconds: (performance.now() - t0) / 1e3, finalValLoss: lastVal };
  } finally {
    for (const t of [...st.m, ...st.v, ...gradTensors(grads)]) t.destroy();
    tokensAtT0 = 0;
  }
}
