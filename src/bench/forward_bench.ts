/**
 * Model-level benchmarks: prefill and decode throughput of the full forward, and the weight
 * traffic per decoded token. Each model's logits are checked against the f64 reference forward
 * before anything is timed.
 *
 * @module
 */
import type { WeightLayout } from "../kernels/linear_layout.ts";
import { refForward } from "../../ref/forward.ts";
import type { Gpu } from "../gpu/device.ts";
import { fromF16, toF16 } from "../gpu/f16.ts";
import { timeGpu, type TimingStats } from "../gpu/timing.ts";
import type { Linear } from "../kernels/matmul.ts";
import { parseConfig } from "../model/config.ts";
import { KvCache, recordForward } from "../model/forward.ts";
import { argmax } from "../kernels/softmax.ts";
import { generate } from "../model/generate.ts";
import {
  expectedTensors,
  type HostWeights,
  type LlamaModel,
  modelFromHostWeights,
} from "../model/model.ts";
import { benchData, expectClose } from "./check.ts";

/** Figures of one model. */
export interface ForwardBenchResult {
  model: string;
  params: number;
  weights: "f32" | "f16";
  /** Device layout of the projection weights. */
  layout: WeightLayout;
  prefill: { tokens: number; timing: TimingStats; tokensPerSecond: number }[];
  decode: {
    promptTokens: number;
    newTokens: number;
    tokensPerSecond: number;
    msPerToken: number;
    /** Kernel dispatches recorded for one decode token (forward + argmax). */
    dispatchesPerToken: number;
    /** Device time of one decode token (GPU timeline when available), median of 32-token runs. */
    deviceMsPerToken: number;
  };
  /** Bytes of weights read per decoded token (all linear layers incl. LM head, one embedding row). */
  weightBytesPerToken: number;
  /** weightBytesPerToken × decode tokens/s. */
  weightGBps: number;
  check: "passed";
}

/**
 * The generated "20M" model of the benchmark (d 512, 8 layers, ffn 1376, GQA 8/4, vocab 8192):
 * 31.6M parameters, 23.2M of them in the blocks and 4.2M each in the embedding and the untied
 * LM head.
 */
export function benchModelConfigJson(): Record<string, unknown> {
  return {
    model_type: "llama",
    hidden_size: 512,
    intermediate_size: 1376,
    num_hidden_layers: 8,
    num_attention_heads: 8,
    num_key_value_heads: 4,
    vocab_size: 8192,
    max_position_embeddings: 1024,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: false,
  };
}

/** Deterministic random weights for a config (scaled like an initialised model). */
export function benchWeights(configJson: Record<string, unknown>): HostWeights {
  const cfg = parseConfig(configJson, "bench config");
  const w: HostWeights = new Map();
  let seed = 1;
  for (const [name, shape] of expectedTensors(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (name.endsWith("norm.weight")) w.set(name, new Float32Array(n).fill(1));
    else w.set(name, benchData(n, seed++, shape.length === 2 ? 1 / Math.sqrt(shape[1]) : 0.02));
  }
  return w;
}

function linearBytes(l: Linear): number {
  return l.weight.buffer.size + (l.bias?.buffer.size ?? 0);
}

/** Weight bytes read per decoded token. */
export function decodeWeightBytes(model: LlamaModel): number {
  let bytes = linearBytes(model.lmHead) + model.finalNorm.byteLength;
  bytes += model.embed.byteLength / model.config.vocabSize; // one embedding row
  for (const b of model.blocks) {
    if (b.attention) {
      bytes +=
        [b.attention.q, b.attention.k, b.attention.v, b.attention.o].map(linearBytes).reduce((
          x,
          y,
        ) => x + y) + b.attention.norm.byteLength;
    }
    if (b.mlp) {
      bytes += [b.mlp.gate, b.mlp.up, b.mlp.down].map(linearBytes).reduce((x, y) => x + y) +
        b.mlp.norm.byteLength;
    }
  }
  return bytes;
}

/** Dispatches per decode token and its device time (32 steps at position `past` …). */
async function decodeStepCost(
  gpu: Gpu,
  model: LlamaModel,
  past: number,
): Promise<{ dispatches: number; deviceMs: number }> {
  const steps = 32;
  const cache = new KvCache(model, 1, past + steps);
  const ids = gpu.tensor([1], "u32", new Uint32Array([1]));
  const logits = gpu.tensor([1, model.config.vocabSize], "f32");
  let dispatches = 0;
  try {
    const timing = await timeGpu(gpu, (rec) => {
      cache.length = past;
      for (let i = 0; i < steps; i++) {
        const before = rec.dispatchCount;
        recordForward(rec, model, ids, { batch: 1, tokens: 1, cache, output: "last", out: logits });
        argmax(rec, logits, { out: ids });
        dispatches = rec.dispatchCount - before;
      }
    }, { warmup: 1, reps: 5 });
    return { dispatches, deviceMs: timing.medianMs / steps };
  } finally {
    cache.destroy();
    ids.destroy();
    logits.destroy();
  }
}

/**
 * Benchmarks one model: checks 4 positions of logits against the reference, times prefill at
 * each length in `prefillLengths` (GPU timeline, median), and greedy decode of `newTokens` after a
 * 16-token prompt (wall clock, as a user sees it).
 */
export async function benchForward(
  gpu: Gpu,
  name: string,
  configJson: Record<string, unknown>,
  weights: HostWeights,
  options: {
    dtype: "f32" | "f16";
    prefillLengths: number[];
    newTokens: number;
    reps?: number;
    /** Projection weight layout (default `tiled`, what generate and eval use). */
    layout?: WeightLayout;
  },
): Promise<ForwardBenchResult> {
  const cfg = parseConfig(configJson, name);
  const layout = options.layout ?? "tiled";
  const model = modelFromHostWeights(gpu, cfg, weights, {
    dtype: options.dtype,
    weightLayout: layout,
  });
  try {
    const V = cfg.vocabSize;
    const probe = [1, 17, 300 % V, 42];
    const ids = gpu.tensor([probe.length], "u32", new Uint32Array(probe));
    const logits = await gpu.run((rec) =>
      recordForward(rec, model, ids, { batch: 1, tokens: probe.length })
    ).read();
    const refWeights = options.dtype === "f16"
      ? new Map([...weights].map(([k, v]) => [k, k.includes("norm") ? v : fromF16(toF16(v))]))
      : weights;
    expectClose(`${name} logits`, logits, refForward(cfg, refWeights, probe), 1e-3, 1e-3);
    ids.destroy();
    let params = 0;
    for (const v of weights.values()) params += v.length;
    const prefill = [];
    for (const t of options.prefillLengths) {
      const x = gpu.tensor(
        [t],
        "u32",
        new Uint32Array(Array.from({ length: t }, (_, i) => (i * 7919) % V)),
      );
      const out = gpu.tensor([t, V], "f32");
      const timing = await timeGpu(
        gpu,
        (rec) => void recordForward(rec, model, x, { batch: 1, tokens: t, out }),
        {
          warmup: 1,
          reps: options.reps ?? 5,
        },
      );
      prefill.push({ tokens: t, timing, tokensPerSecond: t / (timing.medianMs / 1e3) });
      x.destroy();
      out.destroy();
    }
    const prompt = Array.from({ length: 16 }, (_, i) => (i * 31 + 1) % V);
    await generate(model, prompt, { maxNewTokens: 4, stopAtEos: false }); // warm-up
    const r = await generate(model, prompt, { maxNewTokens: options.newTokens, stopAtEos: false });
    const bytes = decodeWeightBytes(model);
    const { dispatches, deviceMs } = await decodeStepCost(gpu, model, prompt.length);
    return {
      model: name,
      params,
      weights: options.dtype,
      layout,
      prefill,
      decode: {
        promptTokens: prompt.length,
        newTokens: r.decodeTokens,
        tokensPerSecond: r.decodeTokensPerSecond,
        msPerToken: r.decodeMs / Math.max(1, r.decodeTokens),
        dispatchesPerToken: dispatches,
        deviceMsPerToken: deviceMs,
      },
      weightBytesPerToken: bytes,
      weightGBps: (bytes * r.decodeTokensPerSecond) / 1e9,
      check: "passed",
    };
  } finally {
    model.destroy();
  }
}
