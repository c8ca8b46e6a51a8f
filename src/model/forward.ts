/**
 * The one forward path of the toolkit: embedding → sublayers (each optional by a mask) → final
 * norm → LM head, recorded into a {@link Recorder}, with the hooks SPRINT needs (run a range of
 * sublayers on a given residual stream, capture the residual stream and down_proj inputs,
 * override a down_proj) and an optional KV cache for generation.
 *
 * Sublayer `s` is block `⌊s/2⌋`'s attention branch (s even) or MLP branch (s odd). A masked
 * sublayer is skipped entirely, its norm included: the residual stream passes through unchanged,
 * and a masked attention sublayer reads and writes no KV cache.
 *
 * Decode-sized forwards (at most `GEMV_MAX_ROWS` rows, no tape, no adapters on the layer) take
 * fused kernels: RMSNorm + q/k/v in one dispatch (`gemvSegments`; two with biases), RoPE + KV-cache
 * write + attention in one (`ropeAttentionDecode`, one token per sequence; else `ropeAppendKv` and
 * `attention`), o_proj accumulated into the residual, RMSNorm + gate/up + SwiGLU and down_proj
 * accumulated — 3 + 2 dispatches per block instead of 9 + 5; the final RMSNorm is folded into the
 * LM head's product.
 *
 * @module
 */
import type { Recorder } from "../gpu/recorder.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { type Linear, matmul } from "../kernels/matmul.ts";
import { rmsnorm } from "../kernels/rmsnorm.ts";
import { rope, ropeAppendKv } from "../kernels/rope.ts";
import { attention, ropeAttentionDecode, ropeAttentionFits } from "../kernels/attention.ts";
import { gemv, GEMV_MAX_ROWS, gemvSegments } from "../kernels/gemv.ts";
import { scale, swiglu } from "../kernels/elementwise.ts";
import { embedding } from "../kernels/embedding.ts";
import { headLogits } from "../kernels/head.ts";
import type { LlamaModel } from "./model.ts";
import type { Workspace } from "../gpu/workspace.ts";
import { blockWeights } from "./residency.ts";

/**
 * Key/value cache for generation: per block `[B, capacity, KVH, hd]` f32 keys and values
 * (absent for blocks whose attention is removed or masked), and the number of filled positions.
 */
export class KvCache {
  /** Sequences B cached together. */
  readonly batch: number;
  /** Positions per sequence the cache holds (prompt + generated). */
  readonly capacity: number;
  /** Per block: roped keys `[B, capacity, KVH, hd]` f32 (undefined: attention removed/masked). */
  readonly keys: (Tensor | undefined)[];
  /** Per block: values `[B, capacity, KVH, hd]` f32; undefined like `keys`. */
  readonly values: (Tensor | undefined)[];
  /** Positions filled so far (the `past` of the next forward). */
  length = 0;

  /**
   * Allocates the cache on the model's device, empty (`length` 0).
   *
   * @param model The model.
   * @param batch Sequences decoded together.
   * @param capacity Positions per sequence (prompt + generated).
   * @param mask Sublayer mask; blocks whose attention is masked get no cache.
   */
  constructor(
    model: LlamaModel,
    batch: number,
    capacity: number,
    mask: readonly boolean[] = model.alive,
  ) {
    const c = model.config;
    if (capacity > model.rope.maxPositions) {
      throw new Error(
        `KV cache capacity ${capacity} exceeds the ${model.rope.maxPositions} positions of the RoPE table`,
      );
    }
    this.batch = batch;
    this.capacity = capacity;
    const shape = [batch, capacity, c.numKvHeads, c.headDim];
    this.keys = model.blocks.map((
      b,
      i,
    ) => (b.attention && mask[2 * i] ? model.gpu.tensor(shape, "f32") : undefined));
    this.values = model.blocks.map((
      b,
      i,
    ) => (b.attention && mask[2 * i] ? model.gpu.tensor(shape, "f32") : undefined));
  }

  /** Frees the cache tensors. */
  destroy(): void {
    for (const t of [...this.keys, ...this.values]) t?.destroy();
  }
}

/** Hooks into the forward pass (all optional). */
export interface ForwardHooks {
  /**
   * Residual stream captures: before sublayer s (s = 2L: after the last sublayer, before the
   * final norm), the stream `[M, D]` is copied into the given tensor.
   */
  captureResidual?: ReadonlyMap<number, Tensor>;
  /** Block b's down_proj input (SiLU(gate)·up, `[M, F]`) is copied into the given tensor. */
  captureDownInput?: ReadonlyMap<number, Tensor>;
  /** Block b's down_proj is replaced by the given linear layer (e.g. re-fitted rows). */
  downOverride?: ReadonlyMap<number, Linear>;
  /**
   * Keeps every executed sublayer's intermediate activations for a backward pass (training):
   * each sublayer writes into fresh tensors owned by the tape instead of shared scratch space.
   */
  tape?: ActivationTape;
  /**
   * Low-rank adapters by `"<block>.<q|k|v|o|gate|up|down>"`: the layer computes
   * `x·Wᵀ + scale·(x·Aᵀ)·Bᵀ` (LoRA), with `a` (in → rank) and `b` (rank → out) packed linear layers.
   */
  lora?: ReadonlyMap<string, LoraAdapter>;
}

/** A low-rank adapter on one linear layer (see {@link ForwardHooks.lora}). */
export interface LoraAdapter {
  /** `A`: in → rank. */
  a: Linear;
  /** `B`: rank → out (initialised to zero). */
  b: Linear;
  /** `alpha / rank`. */
  scale: number;
}

/** Records `out (+)= x·Wᵀ` and, when an adapter is given, `out += scale·(x·Aᵀ)·Bᵀ`; `keep` receives the adapter's scaled low-rank activation. */
function linearWithAdapter(
  rec: Recorder,
  x: Tensor,
  layer: Linear,
  out: Tensor,
  accumulate: boolean,
  adapter: LoraAdapter | undefined,
  workspace: Workspace,
  layerKey: string,
  keep?: (u: Tensor) => void,
): void {
  matmul(rec, x, layer, { out, accumulate });
  if (!adapter) return;
  const m = x.size / layer.inFeatures;
  let u: Tensor;
  if (keep) {
    u = rec.gpu.tensor([m, adapter.a.outFeatures], "f32");
    keep(u);
  } else {
    u = workspace.entry(
      `lora.${layerKey}`,
      `${m}x${adapter.a.outFeatures}`,
      () => rec.gpu.tensor([m, adapter.a.outFeatures], "f32"),
    );
  }
  matmul(rec, x, adapter.a, { out: u });
  scale(rec, u, adapter.scale, { out: u });
  matmul(rec, u, adapter.b, { out, accumulate: true });
}

/** Intermediate activations of one executed sublayer (see {@link ActivationTape}). */
export interface SublayerActivations {
  /** Residual stream entering the sublayer `[M, D]`. */
  hIn: Tensor;
  /** Its normalised input `[M, D]`. */
  xn: Tensor;
  /** Attention: roped queries `[M, H·hd]`, roped keys and values `[M, KVH·hd]`, output `[M, H·hd]`. */
  q?: Tensor;
  /** Attention: roped keys `[M, KVH·hd]`. */
  k?: Tensor;
  /** Attention: values `[M, KVH·hd]`. */
  v?: Tensor;
  /** Attention: output before o_proj `[M, H·hd]`. */
  att?: Tensor;
  /** Attention: per-query log-sum-exp `[M, H]` of the training forward (for the backward). */
  lse?: Tensor;
  /** MLP: gate and up pre-activations and SiLU(gate)·up, `[M, F]`. */
  gate?: Tensor;
  /** MLP: up_proj output `[M, F]`. */
  up?: Tensor;
  /** MLP: SiLU(gate)·up, the down_proj input `[M, F]`. */
  act?: Tensor;
  /** LoRA: each adapted layer's scaled low-rank activation `scale·x·Aᵀ` `[M, rank]`, by layer name. */
  lora?: Map<string, Tensor>;
}

/**
 * Activations recorded by a forward pass for the backward pass, by sublayer index. Call
 * {@link ActivationTape.destroy} after the backward pass has been submitted and completed.
 */
export class ActivationTape {
  /** Activations by sublayer index (filled by {@link ActivationTape.take}). */
  readonly entries = new Map<number, SublayerActivations>();

  /** Fresh activation tensors for sublayer `s` over `m` rows. */
  take(model: LlamaModel, s: number, m: number): SublayerActivations {
    const c = model.config;
    const t = (n: number) => model.gpu.tensor([m, n], "f32");
    const e: SublayerActivations = s % 2 === 0
      ? {
        hIn: t(c.hiddenSize),
        xn: t(c.hiddenSize),
        q: t(c.numHeads * c.headDim),
        k: t(c.numKvHeads * c.headDim),
        v: t(c.numKvHeads * c.headDim),
        att: t(c.numHeads * c.headDim),
        lse: t(c.numHeads),
      }
      : {
        hIn: t(c.hiddenSize),
        xn: t(c.hiddenSize),
        gate: t(c.intermediateSize),
        up: t(c.intermediateSize),
        act: t(c.intermediateSize),
      };
    this.entries.get(s) && destroyEntry(this.entries.get(s)!);
    this.entries.set(s, e);
    return e;
  }

  /** Frees every recorded tensor. */
  destroy(): void {
    for (const e of this.entries.values()) destroyEntry(e);
    this.entries.clear();
  }
}

function destroyEntry(e: SublayerActivations): void {
  for (const [k, t] of Object.entries(e)) {
    if (k === "lora") { for (const u of (t as Map<string, Tensor>).values()) u.destroy(); }
    else (t as Tensor | undefined)?.destroy();
  }
}

/** Shape and state of a forward over `batch` sequences of `tokens` new tokens each. */
export interface SublayerContext {
  /** Sequences B. */
  batch: number;
  /** New tokens T per sequence (the forward has M = B·T rows). */
  tokens: number;
  /** KV cache: new keys/values are appended at positions `cache.length …`. */
  cache?: KvCache;
  /** Sublayer mask (default: every sublayer with weights). */
  mask?: readonly boolean[];
  /** Captures, overrides, activation tape and LoRA adapters. */
  hooks?: ForwardHooks;
}

/** Scratch tensors of a forward over M rows, reused across calls with the same M. */
interface ForwardScratch {
  [name: string]: Tensor;
  h: Tensor;
  hn: Tensor;
  xn: Tensor;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  att: Tensor;
  gate: Tensor;
  up: Tensor;
}

/** The forward scratch of `model` over `m` rows, held by the model's {@link Workspace}. */
function forwardScratch(model: LlamaModel, m: number): ForwardScratch {
  return model.workspace.entry("forward", `${m}`, () => {
    const c = model.config;
    const t = (n: number) => model.gpu.tensor([m, n], "f32");
    return {
      h: t(c.hiddenSize),
      hn: t(c.hiddenSize),
      xn: t(c.hiddenSize),
      q: t(c.numHeads * c.headDim),
      k: t(c.numKvHeads * c.headDim),
      v: t(c.numKvHeads * c.headDim),
      att: t(c.numHeads * c.headDim),
      gate: t(c.intermediateSize),
      up: t(c.intermediateSize),
    };
  });
}

/**
 * Records sublayers `from … to−1` on the residual stream `h` (`[B·T, D]` f32, updated in place).
 * This is the only implementation of a transformer block in the toolkit: {@link recordForward}
 * and SPRINT's windowed replays both call it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import {
 *   DEFAULT_MODEL_DIR, loadModel, recordForward, runSublayers,
 * } from "@sprint-wgpu/toolkit/model";
 * const gpu = await getGpu();
 * const model = await loadModel(gpu, DEFAULT_MODEL_DIR); // the embedded model: 16 sublayers
 * const prompt = model.tokenizer!.encode("Once upon a time");
 * const ctx = { batch: 1, tokens: prompt.length };
 * const ids = gpu.tensor([prompt.length], "u32", new Uint32Array(prompt));
 * const h = gpu.tensor([prompt.length, model.config.hiddenSize], "f32");
 * const hooks = { captureResidual: new Map([[4, h]]) }; // the stream entering sublayer 4
 * const opts = { ...ctx, hooks, output: "hidden" as const };
 * const full = gpu.run((rec) => recordForward(rec, model, ids, opts));
 * gpu.run((rec) => runSublayers(rec, model, h, 4, 16, ctx)); // replay sublayers 4 … 15 on it
 * const [a, b] = [await full.read(), await h.read()];
 * assert.ok(a.every((x, i) => Math.abs(x - b[i]) <= 1e-5)); // the same final stream
 * for (const t of [ids, h, full]) t.destroy();
 * model.destroy();
 * ```
 */
export function runSublayers(
  rec: Recorder,
  model: LlamaModel,
  h: Tensor,
  from: number,
  to: number,
  ctx: SublayerContext,
): void {
  const c = model.config;
  const mask = ctx.mask ?? model.alive;
  const m = ctx.batch * ctx.tokens;
  if (h.size !== m * c.hiddenSize) {
    throw new Error(`runSublayers: h must be [${m}, ${c.hiddenSize}], got [${h.shape}]`);
  }
  const ws = forwardScratch(model, m);
  const hooks = ctx.hooks;
  for (let s = from; s < to; s++) {
    const cap = hooks?.captureResidual?.get(s);
    if (cap) rec.copy(h, cap, h.byteLength);
    if (!mask[s]) continue;
    // With a tape, each sublayer writes into fresh tensors the tape keeps for the backward pass.
    const tape = hooks?.tape?.take(model, s, m);
    if (tape) rec.copy(h, tape.hIn, h.byteLength);
    if (s % 2 === 0) attentionSublayer(rec, model, h, s >> 1, ctx, tape ?? ws, tape);
    else mlpSublayer(rec, model, h, s >> 1, ctx, tape ?? { ...ws, act: ws.gate }, tape);
  }
  const capEnd = hooks?.captureResidual?.get(to);
  if (capEnd && to === 2 * c.numLayers) rec.copy(h, capEnd, h.byteLength);
}

/** Where a sublayer writes its intermediate activations: shared scratch or a tape entry. */
type SublayerBuffers = Partial<SublayerActivations>;

/**
 * Records block `b`'s attention sublayer on `h` (in place): RMSNorm, q/k/v, RoPE (and the KV-cache
 * write), attention over the cache or the batch, o_proj added into the residual.
 */
function attentionSublayer(
  rec: Recorder,
  model: LlamaModel,
  h: Tensor,
  b: number,
  ctx: SublayerContext,
  buf: SublayerBuffers,
  tape: SublayerActivations | undefined,
): void {
  const c = model.config;
  const a = blockWeights(rec, model, b).attention; // resident, or streamed into a slot
  if (!a) throw new Error(`sublayer ${2 * b} (block ${b} attention) has no weights`);
  const hooks = ctx.hooks;
  const m = ctx.batch * ctx.tokens;
  const past = ctx.cache?.length ?? 0;
  const { xn, q, k, v, att } = buf as Required<SublayerBuffers>;
  const lin = adapterLinear(rec, model, hooks, b, tape);
  // Decode (a few rows, no tape/adapters): norm + q/k/v in one dispatch (two with biases).
  const fused = m <= GEMV_MAX_ROWS && !tape &&
    !["q", "k", "v", "o"].some((n) => hooks?.lora?.has(`${b}.${n}`)) &&
    gemvFits(a.q) && gemvFits(a.k) && gemvFits(a.o) && !a.k.bias === !a.v.bias;
  if (fused) {
    const norm = { weight: a.norm, eps: c.rmsNormEps };
    if (!a.q.bias && !a.k.bias && !a.v.bias) {
      gemvSegments(rec, h, [a.q, a.k, a.v], [q, k, v], { norm });
    } else {
      gemv(rec, h, [a.q], [q], { norm });
      gemv(rec, h, [a.k, a.v], [k, v], { norm });
    }
  } else {
    rmsnorm(rec, h, a.norm, c.rmsNormEps, { out: xn });
    lin(xn, a.q, "q", q, false);
    lin(xn, a.k, "k", k, false);
    lin(xn, a.v, "v", v, false);
  }
  const pos = { batch: ctx.batch, tokensPerSeq: ctx.tokens, past, headDim: c.headDim };
  const kvShape = [ctx.batch, ctx.tokens, c.numKvHeads, c.headDim];
  let kc = k.reshape(kvShape);
  let vc = v.reshape(kvShape);
  let kvPast = 0;
  const heads = { heads: c.numHeads, kvHeads: c.numKvHeads, headDim: c.headDim };
  if (ctx.cache && fused && ctx.tokens === 1 && ropeAttentionFits(c.headDim)) {
    // Decode: RoPE, the cache write and attention in one dispatch.
    const kk = ctx.cache.keys[b];
    const vv = ctx.cache.values[b];
    if (!kk || !vv) throw new Error(`KV cache has no entry for block ${b}`);
    const o = { batch: ctx.batch, tokens: 1, past, ...heads, out: att };
    ropeAttentionDecode(rec, q, k, v, kk, vv, model.rope, o);
    gemv(rec, att, [a.o], [h], { accumulate: true });
    return;
  }
  if (ctx.cache) {
    const kk = ctx.cache.keys[b];
    const vv = ctx.cache.values[b];
    if (!kk || !vv) throw new Error(`KV cache has no entry for block ${b}`);
    // RoPE of q and k and the cache write in one dispatch.
    ropeAppendKv(rec, q, k, v, kk, vv, model.rope, {
      batch: ctx.batch,
      tokens: ctx.tokens,
      past,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      headDim: c.headDim,
    });
    kc = kk;
    vc = vv;
    kvPast = past;
  } else {
    rope(rec, q, model.rope, { ...pos, heads: c.numHeads });
    rope(rec, k, model.rope, { ...pos, heads: c.numKvHeads });
  }
  if (tape && ctx.cache) {
    throw new Error("runSublayers: an activation tape cannot be combined with a KV cache");
  }
  attention(rec, q, kc, vc, {
    batch: ctx.batch,
    tokens: ctx.tokens,
    past: kvPast,
    ...heads,
    out: att,
    lse: tape?.lse,
  });
  if (fused) gemv(rec, att, [a.o], [h], { accumulate: true });
  else lin(att, a.o, "o", h, true);
}

/**
 * Records block `b`'s MLP sublayer on `h` (in place): RMSNorm, gate/up, SwiGLU, down_proj (or
 * its override) added into the residual; the down_proj input is captured when a hook asks.
 */
function mlpSublayer(
  rec: Recorder,
  model: LlamaModel,
  h: Tensor,
  b: number,
  ctx: SublayerContext,
  buf: SublayerBuffers,
  tape: SublayerActivations | undefined,
): void {
  const c = model.config;
  const f = blockWeights(rec, model, b).mlp; // resident, or streamed into a slot
  if (!f) throw new Error(`sublayer ${2 * b + 1} (block ${b} MLP) has no weights`);
  const hooks = ctx.hooks;
  const m = ctx.batch * ctx.tokens;
  const { xn, gate, up, act } = buf as Required<SublayerBuffers>;
  const lin = adapterLinear(rec, model, hooks, b, tape);
  const capIn = hooks?.captureDownInput?.get(b);
  const down = hooks?.downOverride?.get(b) ?? f.down;
  // Decode (a few rows, no tape/adapters): norm + gate/up + SwiGLU in one dispatch.
  const fused = m <= GEMV_MAX_ROWS && !tape &&
    !["gate", "up", "down"].some((n) => hooks?.lora?.has(`${b}.${n}`)) &&
    gemvFits(f.gate) && gemvFits(down) && !f.gate.bias === !f.up.bias;
  if (fused) {
    gemv(rec, h, [f.gate, f.up], [act], {
      norm: { weight: f.norm, eps: c.rmsNormEps },
      swiglu: true,
    });
    if (capIn) rec.copy(act, capIn, act.byteLength);
    gemv(rec, act, [down], [h], { accumulate: true });
  } else {
    rmsnorm(rec, h, f.norm, c.rmsNormEps, { out: xn });
    lin(xn, f.gate, "gate", gate, false);
    lin(xn, f.up, "up", up, false);
    swiglu(rec, gate, up, { out: act }); // in place into gate unless a tape keeps gate
    if (capIn) rec.copy(act, capIn, act.byteLength);
    lin(act, down, "down", h, true);
  }
}

/** Whether the decode kernel takes this layer (K a multiple of 4). */
function gemvFits(layer: Linear): boolean {
  return layer.inFeatures % 4 === 0;
}

/** The linear-layer recorder of block `b` with its adapters (and their activations kept on a tape). */
function adapterLinear(
  rec: Recorder,
  model: LlamaModel,
  hooks: ForwardHooks | undefined,
  b: number,
  entry?: SublayerActivations,
) {
  return (x: Tensor, layer: Linear, name: string, out: Tensor, accumulate: boolean) => {
    const adapter = hooks?.lora?.get(`${b}.${name}`);
    const keep = entry && adapter
      ? (u: Tensor) => (entry.lora ??= new Map()).set(name, u)
      : undefined;
    const key = `${b}.${name}`;
    linearWithAdapter(rec, x, layer, out, accumulate, adapter, model.workspace, key, keep);
  };
}

/** Options for {@link recordForward}. */
export interface ForwardOptions extends SublayerContext {
  /**
   * `logits` — `[B·T, V]` for every position (default); `last` — `[B, V]` for each sequence's
   * last position only; `hidden` — the final residual stream `[B·T, D]` (no norm, no head).
   */
  output?: "logits" | "last" | "hidden";
  /** Tensor to write the output into. */
  out?: Tensor;
}

/**
 * Records a forward pass over token ids (`[B·T]` u32 tensor). Advances `cache.length` by T when a
 * cache is given. Returns the output tensor (see {@link ForwardOptions.output}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel, recordForward } from "@sprint-wgpu/toolkit/model";
 * const gpu = await getGpu();
 * const model = await loadModel(gpu, DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const prompt = model.tokenizer!.encode("Once upon a time");
 * const ids = gpu.tensor([prompt.length], "u32", new Uint32Array(prompt));
 * const opts = { batch: 1, tokens: prompt.length };
 * const logits = gpu.run((rec) => recordForward(rec, model, ids, opts)); // [T, V]
 * const last = gpu.run((rec) => recordForward(rec, model, ids, { ...opts, output: "last" }));
 * assert.deepEqual([logits.shape, last.shape], [[prompt.length, 4096], [1, 4096]]);
 * const [all, end] = [await logits.read(), await last.read()];
 * const row = all.subarray((prompt.length - 1) * 4096); // the last position's logits
 * assert.ok(end.every((x, i) => Math.abs(x - row[i]) <= 1e-3));
 * for (const t of [ids, logits, last]) t.destroy();
 * model.destroy();
 * ```
 */
export function recordForward(
  rec: Recorder,
  model: LlamaModel,
  ids: Tensor,
  options: ForwardOptions,
): Tensor {
  const c = model.config;
  const m = options.batch * options.tokens;
  if (ids.size !== m || ids.dtype !== "u32") {
    throw new Error(`forward: ids must be u32 [${m}], got ${ids.dtype} [${ids.shape}]`);
  }
  const past = options.cache?.length ?? 0;
  if (past + options.tokens > model.rope.maxPositions) {
    throw new Error(
      `forward: position ${
        past + options.tokens
      } exceeds the model's ${model.rope.maxPositions} positions`,
    );
  }
  if (c.slidingWindow !== undefined && past + options.tokens > c.slidingWindow) {
    throw new Error(
      `forward: context ${
        past + options.tokens
      } exceeds sliding_window ${c.slidingWindow} (not implemented)`,
    );
  }
  const ws = forwardScratch(model, m);
  const h = ws.h;
  embedding(rec, ids, model.embedTable, { out: h });
  runSublayers(rec, model, h, 0, 2 * c.numLayers, options);
  if (options.cache) options.cache.length += options.tokens;
  const output = options.output ?? "logits";
  if (output === "hidden") {
    const out = options.out ?? model.gpu.tensor(h.shape, "f32");
    rec.copy(h, out, h.byteLength);
    return out;
  }
  if (output === "last") {
    // Gather each sequence's last row into the first B rows of hn, then norm + head on B rows.
    // (With one token per sequence, as in decode, h already is the last rows: no copy, which
    // would also end the compute pass.)
    const rowBytes = c.hiddenSize * 4;
    const last = options.tokens === 1 ? h : forwardScratch(model, options.batch).xn;
    for (let b = 0; options.tokens > 1 && b < options.batch; b++) {
      rec.copy(h, last, rowBytes, ((b + 1) * options.tokens - 1) * rowBytes, b * rowBytes);
    }
    const headLin = model.head.parts.length === 1 ? model.head.parts[0].linear : undefined;
    if (options.batch <= GEMV_MAX_ROWS && headLin && gemvFits(headLin)) {
      // Decode-sized: the final norm folded into the head's product (one dispatch).
      const out = options.out ?? model.gpu.tensor([options.batch, c.vocabSize], "f32");
      gemv(rec, last, [headLin], [out], { norm: { weight: model.finalNorm, eps: c.rmsNormEps } });
      return out;
    }
    const hn = forwardScratch(model, options.batch).hn;
    rmsnorm(rec, last, model.finalNorm, c.rmsNormEps, { out: hn });
    return headLogits(rec, hn, model.head, { out: options.out, workspace: model.workspace });
  }
  rmsnorm(rec, h, model.finalNorm, c.rmsNormEps, { out: ws.hn });
  return headLogits(rec, ws.hn, model.head, { out: options.out, workspace: model.workspace });
}
