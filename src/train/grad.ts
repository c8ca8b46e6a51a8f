/**
 * Loss and gradients of a Llama-family model on the GPU: a forward pass through the toolkit's one
 * forward path with an {@link ActivationTape}, then the backward pass sublayer by sublayer with
 * the backward kernels, all recorded into one submission.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { Recorder } from "../gpu/recorder.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { embedding } from "../kernels/embedding.ts";
import { scale } from "../kernels/elementwise.ts";
import { type Linear, matmul } from "../kernels/matmul.ts";
import { rmsnorm } from "../kernels/rmsnorm.ts";
import {
  ActivationTape,
  type LoraAdapter,
  runSublayers,
  type SublayerActivations,
} from "../model/forward.ts";
import type { LlamaModel } from "../model/model.ts";
import { attentionBackward } from "./kernels/attention_backward.ts";
import { crossEntropy } from "./kernels/cross_entropy.ts";
import { embeddingBackward, type EmbeddingGradPlan } from "./kernels/embedding_backward.ts";
import {
  linearBackwardBias,
  linearBackwardInput,
  linearBackwardWeight,
  type LinearGrad,
  linearGradTensors,
} from "./kernels/linear_backward.ts";
import { rmsnormBackward } from "./kernels/rmsnorm_backward.ts";
import { ropeBackward } from "./kernels/rope_backward.ts";
import { swigluBackward } from "./kernels/swiglu_backward.ts";

/** Gradients shaped like a model's parameters (f32; linear layers in the packed layout). */
export interface ModelGrads {
  /** Gradients of LoRA adapters by the same keys as {@link ForwardHooks.lora}. */
  lora?: Map<string, { a: LinearGrad; b: LinearGrad }>;
  /** Embedding-table gradient `[V, D]`. */
  embed?: Tensor;
  /** Final norm gradient `[D]`. */
  finalNorm?: Tensor;
  /** LM head gradient (untied heads). */
  lmHead?: LinearGrad;
  /** Per block: norm and linear-layer gradients of each sublayer present. */
  blocks: {
    attention?: { norm?: Tensor; q?: LinearGrad; k?: LinearGrad; v?: LinearGrad; o?: LinearGrad };
    mlp?: { norm?: Tensor; gate?: LinearGrad; up?: LinearGrad; down?: LinearGrad };
  }[];
}

/** A parameter with its gradient, named as in a Hugging Face checkpoint. */
export interface NamedParam {
  /** Hugging Face tensor name. */
  name: string;
  /** The parameter tensor. */
  param: Tensor;
  /** Its gradient. */
  grad: Tensor;
  /** Weight decay applies (matrices; not norms, biases or embeddings' padding). */
  decay: boolean;
}

/** Zero-filled gradients for every parameter of `model` (all trainable). */
export function allocGrads(model: LlamaModel): ModelGrads {
  const gpu = model.gpu;
  const c = model.config;
  const vec = () => gpu.tensor([c.hiddenSize], "f32");
  const lg = (l: Linear) => linearGradTensors(gpu, l);
  return {
    embed: gpu.tensor([c.vocabSize, c.hiddenSize], "f32"),
    finalNorm: vec(),
    lmHead: c.tieWordEmbeddings ? undefined : lg(model.lmHead),
    blocks: model.blocks.map((b) => ({
      attention: b.attention
        ? {
          norm: vec(),
          q: lg(b.attention.q),
          k: lg(b.attention.k),
          v: lg(b.attention.v),
          o: lg(b.attention.o),
        }
        : undefined,
      mlp: b.mlp
        ? { norm: vec(), gate: lg(b.mlp.gate), up: lg(b.mlp.up), down: lg(b.mlp.down) }
        : undefined,
    })),
  };
}

/** Parameter/gradient pairs present in both `model` and `grads`. */
export function namedParams(
  model: LlamaModel,
  grads: ModelGrads,
  lora?: ReadonlyMap<string, LoraAdapter>,
): NamedParam[] {
  const out: NamedParam[] = [];
  const lin = (name: string, l: Linear, g?: LinearGrad) => {
    if (!g) return;
    out.push({ name: `${name}.weight`, param: l.weight, grad: g.weight, decay: true });
    if (l.bias && g.bias) {
      out.push({ name: `${name}.bias`, param: l.bias, grad: g.bias, decay: false });
    }
  };
  if (grads.embed) {
    out.push({
      name: "model.embed_tokens.weight",
      param: model.embed,
      grad: grads.embed,
      decay: true,
    });
  }
  for (const [key, g] of grads.lora ?? []) {
    const ad = lora?.get(key);
    if (!ad) throw new Error(`namedParams: no adapter ${key}`);
    out.push({ name: `lora.${key}.A`, param: ad.a.weight, grad: g.a.weight, decay: false });
    out.push({ name: `lora.${key}.B`, param: ad.b.weight, grad: g.b.weight, decay: false });
  }
  if (grads.finalNorm) {
    out.push({
      name: "model.norm.weight",
      param: model.finalNorm,
      grad: grads.finalNorm,
      decay: false,
    });
  }
  if (grads.lmHead) lin("lm_head", model.lmHead, grads.lmHead);
  model.blocks.forEach((b, i) => {
    const p = `model.layers.${i}.`;
    const g = grads.blocks[i];
    if (!g) return;
    if (b.attention && g.attention) {
      const a = b.attention;
      if (g.attention.norm) {
        out.push({
          name: p + "input_layernorm.weight",
          param: a.norm,
          grad: g.attention.norm,
          decay: false,
        });
      }
      lin(p + "self_attn.q_proj", a.q, g.attention.q);
      lin(p + "self_attn.k_proj", a.k, g.attention.k);
      lin(p + "self_attn.v_proj", a.v, g.attention.v);
      lin(p + "self_attn.o_proj", a.o, g.attention.o);
    }
    if (b.mlp && g.mlp) {
      const f = b.mlp;
      if (g.mlp.norm) {
        out.push({
          name: p + "post_attention_layernorm.weight",
          param: f.norm,
          grad: g.mlp.norm,
          decay: false,
        });
      }
      lin(p + "mlp.gate_proj", f.gate, g.mlp.gate);
      lin(p + "mlp.up_proj", f.up, g.mlp.up);
      lin(p + "mlp.down_proj", f.down, g.mlp.down);
    }
  });
  return out;
}

/** Every gradient tensor of `grads`. */
export function gradTensors(grads: ModelGrads): Tensor[] {
  const out: Tensor[] = [];
  const lin = (g?: LinearGrad) => g && out.push(g.weight, ...(g.bias ? [g.bias] : []));
  if (grads.embed) out.push(grads.embed);
  if (grads.finalNorm) out.push(grads.finalNorm);
  lin(grads.lmHead);
  for (const g of grads.lora?.values() ?? []) out.push(g.a.weight, g.b.weight);
  for (const b of grads.blocks) {
    if (b.attention) {
      if (b.attention.norm) out.push(b.attention.norm);
      [b.attention.q, b.attention.k, b.attention.v, b.attention.o].forEach(lin);
    }
    if (b.mlp) {
      if (b.mlp.norm) out.push(b.mlp.norm);
      [b.mlp.gate, b.mlp.up, b.mlp.down].forEach(lin);
    }
  }
  return out;
}

/** Records zeroing of every gradient. */
export function zeroGrads(rec: Recorder, grads: ModelGrads): void {
  for (const g of gradTensors(grads)) rec.encoder.clearBuffer(g.buffer);
}

/** A batch of B token windows of length T: inputs and next-token targets. */
export interface TokenBatch {
  /** Windows B. */
  batch: number;
  /** Tokens T per window. */
  tokens: number;
  /** `[B·T]` input ids. */
  ids: Uint32Array<ArrayBuffer>;
  /** `[B·T]` target ids (the next token; an ignore value for rows that do not count). */
  targets: Uint32Array<ArrayBuffer> | Int32Array<ArrayBuffer>;
  /** Precomputed embedding-gradient plan for `ids` (built when absent). */
  embedPlan?: EmbeddingGradPlan;
}

/** Result tensors of {@link recordLossAndGrads}; `release()` frees the step's temporaries. */
export interface LossAndGrads {
  /** `[1]`: the mean loss over counted targets (times `scale`). */
  loss: Tensor;
  /** Frees the step's temporaries (after the step's submission completed). */
  release(): void;
}

/**
 * Records forward, loss and backward of one batch, accumulating into `grads` (zero them first for
 * a fresh step). The loss is the mean NLL over the counted targets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel, meanNll } from "@sprint-wgpu/toolkit/model";
 * import {
 *   allocGrads, gradTensors, recordLossAndGrads, zeroGrads,
 * } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const model = await loadModel(gpu, DEFAULT_MODEL_DIR, { dtype: "f32" }); // trainable weights
 * const w = model.tokenizer!.encode("Once upon a time there was a little girl.").slice(0, 12);
 * assert.equal(w.length, 12); // one window of 12 tokens: 11 inputs, 11 next-token targets
 * const ids = new Uint32Array(w.slice(0, 11)), targets = new Uint32Array(w.slice(1, 12));
 * const grads = allocGrads(model);
 * const rec = gpu.recorder();
 * zeroGrads(rec, grads);
 * const r = recordLossAndGrads(rec, model, grads, { batch: 1, tokens: 11, ids, targets });
 * rec.submit();
 * const loss = (await r.loss.read())[0];
 * const nll = await meanNll(model, w, 1, 12); // the inference path's loss of the same window
 * assert.ok(Math.abs(loss - nll) <= 1e-4 * nll, `${loss} vs ${nll}`);
 * const g = (await grads.finalNorm!.read()) as Float32Array;
 * assert.ok(g.some((x) => x !== 0) && g.every(Number.isFinite)); // a real, finite gradient
 * r.release();
 * for (const t of gradTensors(grads)) t.destroy();
 * model.destroy();
 * ```
 */
export function recordLossAndGrads(
  rec: Recorder,
  model: LlamaModel,
  grads: ModelGrads,
  batch: TokenBatch,
  lora?: ReadonlyMap<string, LoraAdapter>,
): LossAndGrads {
  const gpu: Gpu = model.gpu;
  const c = model.config;
  const B = batch.batch;
  const T = batch.tokens;
  const m = B * T;
  const eps = c.rmsNormEps;
  const temps: Tensor[] = [];
  const t = (n: number) => {
    const x = gpu.tensor([m, n], "f32");
    temps.push(x);
    return x;
  };
  const ids = gpu.tensor([m], "u32", batch.ids);
  temps.push(ids);
  const h = t(c.hiddenSize);
  embedding(rec, ids, model.embed, { out: h });
  const tape = new ActivationTape();
  runSublayers(rec, model, h, 0, 2 * c.numLayers, { batch: B, tokens: T, hooks: { tape, lora } });
  const hn = t(c.hiddenSize);
  rmsnorm(rec, h, model.finalNorm, eps, { out: hn });
  const logits = matmul(rec, hn, model.lmHead);
  temps.push(logits);
  const loss = gpu.tensor([1], "f32");
  const ce = crossEntropy(rec, logits, batch.targets, { inPlace: true, loss });
  temps.push(ce.rowLoss);

  /** Backward of `y = x·Wᵀ (+ b) (+ scale·(x·Aᵀ)·Bᵀ)`: parameter grads when trainable, dx always. */
  const linBack = (
    x: Tensor,
    dy: Tensor,
    layer: Linear,
    g: LinearGrad | undefined,
    dx: Tensor,
    accumulateDx: boolean,
    key?: string,
    entry?: SublayerActivations,
  ) => {
    if (g) {
      linearBackwardWeight(rec, x, dy, g.weight, layer, { accumulate: true });
      if (g.bias) linearBackwardBias(rec, dy, g.bias, { accumulate: true });
    }
    linearBackwardInput(rec, dy, layer, { out: dx, accumulate: accumulateDx });
    const ad = key ? lora?.get(key) : undefined;
    if (!ad || !key) return;
    const ga = grads.lora?.get(key);
    const u = entry?.lora?.get(key.split(".")[1]);
    if (!u) throw new Error(`internal: adapter activation ${key} missing from the tape`);
    if (ga) linearBackwardWeight(rec, u, dy, ga.b.weight, ad.b, { accumulate: true });
    const du = t(ad.a.outFeatures);
    linearBackwardInput(rec, dy, ad.b, { out: du });
    scale(rec, du, ad.scale, { out: du });
    if (ga) linearBackwardWeight(rec, x, du, ga.a.weight, ad.a, { accumulate: true });
    linearBackwardInput(rec, du, ad.a, { out: dx, accumulate: true });
  };

  const dhn = t(c.hiddenSize);
  linBack(hn, ce.dLogits, model.lmHead, grads.lmHead, dhn, false);
  const dh = t(c.hiddenSize);
  rmsnormBackward(rec, h, model.finalNorm, dhn, eps, {
    dx: dh,
    dWeight: grads.finalNorm,
    accumulateWeight: true,
  });
  const dxn = t(c.hiddenSize);
  const pos = { batch: B, tokensPerSeq: T, past: 0, headDim: c.headDim };
  for (let s = 2 * c.numLayers - 1; s >= 0; s--) {
    const e = tape.entries.get(s);
    if (!e) continue;
    const b = s >> 1;
    const blk = model.blocks[b];
    const g = grads.blocks[b] ?? {};
    if (s % 2 === 1) {
      const f = blk.mlp!;
      const gm = g.mlp ?? {};
      const dAct = t(c.intermediateSize);
      linBack(e.act!, dh, f.down, gm.down, dAct, false, `${b}.down`, e);
      const { dGate, dUp } = swigluBackward(rec, e.gate!, e.up!, dAct, { inPlace: true });
      linBack(e.xn, dGate, f.gate, gm.gate, dxn, false, `${b}.gate`, e);
      linBack(e.xn, dUp, f.up, gm.up, dxn, true, `${b}.up`, e);
      rmsnormBackward(rec, e.hIn, f.norm, dxn, eps, {
        dx: dh,
        accumulate: true,
        dWeight: gm.norm,
        accumulateWeight: true,
      });
    } else {
      const a = blk.attention!;
      const ga = g.attention ?? {};
      const dAtt = t(c.numHeads * c.headDim);
      linBack(e.att!, dh, a.o, ga.o, dAtt, false, `${b}.o`, e);
      const { dq, dk, dv } = attentionBackward(rec, e.q!, e.k!, e.v!, e.att!, e.lse!, dAtt, {
        batch: B,
        tokens: T,
        heads: c.numHeads,
        kvHeads: c.numKvHeads,
        headDim: c.headDim,
      });
      temps.push(dq, dk, dv);
      ropeBackward(rec, dq, model.rope, { ...pos, heads: c.numHeads });
      ropeBackward(rec, dk, model.rope, { ...pos, heads: c.numKvHeads });
      linBack(e.xn, dq, a.q, ga.q, dxn, false, `${b}.q`, e);
      linBack(e.xn, dk, a.k, ga.k, dxn, true, `${b}.k`, e);
      linBack(e.xn, dv, a.v, ga.v, dxn, true, `${b}.v`, e);
      rmsnormBackward(rec, e.hIn, a.norm, dxn, eps, {
        dx: dh,
        accumulate: true,
        dWeight: ga.norm,
        accumulateWeight: true,
      });
    }
  }
  if (grads.embed) {
    embeddingBackward(rec, batch.embedPlan ?? batch.ids, dh, grads.embed, { accumulate: true });
  }
  return {
    loss,
    release() {
      tape.destroy();
      for (const x of temps) x.destroy();
      loss.destroy();
    },
  };
}
