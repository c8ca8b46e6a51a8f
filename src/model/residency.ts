/**
 * Block streaming (`--offload`): the weights of the transformer blocks stay in host memory, in
 * exactly the packed layout and dtype the device would hold, and each block is uploaded into one
 * of a few device slots as a forward reaches it (the embedding, final norm, LM head and RoPE
 * table stay resident). {@link runSublayers} asks {@link blockWeights} for a block's weights; a
 * block not in a slot is written into the least recently used one — after the commands already
 * recorded that read that slot are submitted ({@link Recorder.flush}), so the queue order
 * (commands, then the slot's `writeBuffer`, then later commands) keeps every result identical to
 * the resident model's. With two slots the next block's upload is queued while the previous
 * block's commands run (double buffering); slots are allocated once, so the device bytes of the
 * weights are bounded by the vocabulary tables plus `slots × one block`.
 *
 * An offloaded model owns its {@link BlockResidency} (`model.residency`, set when the model is
 * built by `offloadModelFromHostWeights` in `model.ts`, freed by `model.destroy()`); its `blocks`
 * hold placeholders (device buffers already destroyed: any use that bypasses this module fails
 * loudly), which the residency maps to its host tensors. {@link hostTensorValues} gives their
 * values (what `tensor.read()` would return on the resident model) to the save path and to
 * SPRINT's re-fit, and {@link replaceOffloadedLinear} writes a re-fitted down_proj into host
 * memory.
 *
 * This module imports no runtime code or type from `model.ts` (which imports it): the weight
 * types come from `weights.ts`, and the functions here take any {@link OffloadableModel}, which
 * a `LlamaModel` is.
 *
 * @module
 */
import { fromF16, toF16 } from "../gpu/f16.ts";
import type { Gpu } from "../gpu/device.ts";
import type { Recorder } from "../gpu/recorder.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { type Linear, packedShape, packWeightHost } from "../kernels/matmul.ts";
import type { ModelConfig } from "./config.ts";
import type { AttentionWeights, BlockWeights, HostWeights, MlpWeights } from "./weights.ts";

/**
 * What the functions of this module read of a model; a `LlamaModel` is one (its `residency` is
 * undefined when the weights are resident).
 */
export interface OffloadableModel {
  /** The blocks' weights (placeholders when offloaded). */
  readonly blocks: readonly BlockWeights[];
  /** The model's block residency; undefined: the blocks are resident. */
  readonly residency?: BlockResidency;
  /** Storage type of the linear weights. */
  readonly dtype: "f32" | "f16";
}

/** One weight in host memory: the bits the device tensor would hold (f16 bits or f32 values). */
interface HostTensor {
  shape: number[];
  data: Uint16Array<ArrayBuffer> | Float32Array<ArrayBuffer>;
  dtype: "f16" | "f32";
}

/** Linear-layer names of a block, attention first. */
const ATT = ["q", "k", "v", "o"] as const;
const MLP = ["gate", "up", "down"] as const;

/** A linear layer of a block: `q`, `k`, `v`, `o` (attention) or `gate`, `up`, `down` (MLP). */
export type LayerName = "q" | "k" | "v" | "o" | "gate" | "up" | "down";

/** A block in host memory: tensors by `"<q|k|v|o|gate|up|down>.<weight|bias>"`, `"att.norm"`, `"mlp.norm"`. */
type HostBlock = Map<string, HostTensor>;

/** One device slot: a full set of block tensors (allocated on first use) and its occupant. */
interface Slot {
  tensors: Map<string, Tensor>;
  block: number;
  lastRec?: Recorder;
  lastUse: number;
}

/** Slot options of an offloaded model (`offloadModelFromHostWeights`, {@link BlockResidency.fromHostWeights}). */
export interface OffloadOptions {
  /** Device slots for blocks (default 2: one computing, one being filled). */
  slots?: number;
}

/**
 * The host copies and device slots of an offloaded model (see the module doc), owned by the
 * model: `model.residency`, undefined when the model is resident. Its lifetime is the model's:
 * `model.destroy()` calls {@link BlockResidency.destroy}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR, { offload: true });
 * const r = model.residency!; // the embedded 8-block model, blocks in host memory
 * assert.equal(r.slotCount, 2);
 * assert.equal(r.uploads, 0); // nothing streamed before a forward
 * assert.ok(2 * r.slotBytes < r.hostBytes); // two slots hold less than the 8 blocks
 * model.destroy(); // frees the slots too
 * assert.throws(() => r.values(0, "att.norm"), /destroyed/); // its lifetime was the model's
 * ```
 */
export class BlockResidency {
  /** The device. */
  readonly gpu: Gpu;
  /** Slots planned (more are added only when one recording needs more blocks than that). */
  readonly slotCount: number;
  readonly #host: HostBlock[];
  readonly #slots: Slot[] = [];
  readonly #views = new Map<Slot, Map<number, BlockWeights>>();
  /** Placeholder tensor of the model's `blocks` → (block, host tensor name). */
  readonly #placeholders = new Map<Tensor, { block: number; name: string }>();
  #clock = 0;
  #destroyed = false;
  /** Block uploads done (each writes one block's weights into a slot). */
  uploads = 0;
  /** Bytes uploaded. */
  uploadedBytes = 0;
  /** Slots added beyond {@link BlockResidency.slotCount} (two open recordings needing them). */
  extraSlots = 0;

  /** Use {@link BlockResidency.fromHostWeights} (or `loadModel` with `offload`). */
  private constructor(gpu: Gpu, host: HostBlock[], slots: number) {
    if (!Number.isInteger(slots) || slots < 1) throw new Error(`offload: slots must be ≥ 1`);
    this.gpu = gpu;
    this.#host = host;
    this.slotCount = slots;
  }

  /**
   * The blocks of `config` in host memory, packed and converted to `dtype` as the resident
   * upload does, with `slots` device slots (default 2) and the placeholder `blocks` an offloaded
   * model holds (what `offloadModelFromHostWeights` passes to the model it builds).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
   * import {
   *   BlockResidency, DEFAULT_MODEL_DIR, openCheckpoint, readConfig, readHostWeights,
   * } from "@sprint-wgpu/toolkit/model";
   * const config = await readConfig(DEFAULT_MODEL_DIR); // the embedded 8-block model
   * const weights = await readHostWeights(config, await openCheckpoint(DEFAULT_MODEL_DIR));
   * const { residency, blocks } = BlockResidency.fromHostWeights(await getGpu(), config, weights, {
   *   dtype: "f32",
   * });
   * assert.equal(blocks.length, 8);
   * const norm = weights.get("model.layers.0.input_layernorm.weight")!;
   * assert.deepEqual(residency.hostValues(blocks[0].attention!.norm), norm);
   * residency.destroy();
   * ```
   */
  static fromHostWeights(
    gpu: Gpu,
    config: ModelConfig,
    weights: HostWeights,
    options: { dtype: "f32" | "f16" } & OffloadOptions,
  ): { residency: BlockResidency; blocks: BlockWeights[] } {
    const get = (name: string) => {
      const t = weights.get(name);
      if (!t) throw new Error(`weights: tensor ${name} is missing`);
      return t;
    };
    const host = hostBlocks(config, get, options.dtype);
    const residency = new BlockResidency(gpu, host, options.slots ?? 2);
    const dead = gpu.tensor([1], "f32");
    dead.destroy();
    const placeholder = (b: number, name: string): Tensor => {
      const t = dead.reshape([1]);
      residency.#placeholders.set(t, { block: b, name });
      return t;
    };
    const D = config.hiddenSize;
    const H = config.numHeads * config.headDim;
    const KV = config.numKvHeads * config.headDim;
    const F = config.intermediateSize;
    const blocks: BlockWeights[] = [];
    for (let b = 0; b < config.numLayers; b++) {
      const m = host[b];
      const lin = (key: string, out: number, inp: number): Linear => ({
        weight: placeholder(b, `${key}.weight`),
        bias: m.has(`${key}.bias`) ? placeholder(b, `${key}.bias`) : undefined,
        inFeatures: inp,
        outFeatures: out,
      });
      const blk: BlockWeights = {};
      if (m.has("att.norm")) {
        blk.attention = {
          norm: placeholder(b, "att.norm"),
          q: lin("q", H, D),
          k: lin("k", KV, D),
          v: lin("v", KV, D),
          o: lin("o", D, H),
        } satisfies AttentionWeights;
      }
      if (m.has("mlp.norm")) {
        blk.mlp = {
          norm: placeholder(b, "mlp.norm"),
          gate: lin("gate", F, D),
          up: lin("up", F, D),
          down: lin("down", D, F),
        } satisfies MlpWeights;
      }
      blocks.push(blk);
    }
    return { residency, blocks };
  }

  /** Host bytes of the block weights. */
  get hostBytes(): number {
    let n = 0;
    for (const b of this.#host) for (const t of b.values()) n += t.data.byteLength;
    return n;
  }

  /** Device bytes of the largest block (one slot). */
  get slotBytes(): number {
    let max = 0;
    for (const b of this.#host) {
      let n = 0;
      for (const t of b.values()) n += pad4(t.data.byteLength);
      max = Math.max(max, n);
    }
    return max;
  }

  /**
   * Block `b`'s weights on the device for commands recorded into `rec` (uploading it into a slot
   * when needed; see the module doc).
   */
  acquire(rec: Recorder, b: number, template: BlockWeights): BlockWeights {
    this.#live();
    const tick = ++this.#clock;
    let slot = this.#slots.find((s) => s.block === b);
    if (!slot) {
      slot = this.#victim(rec);
      this.#fill(slot, b);
    }
    slot.lastRec = rec;
    slot.lastUse = tick;
    let views = this.#views.get(slot);
    if (!views) this.#views.set(slot, views = new Map());
    let v = views.get(b);
    if (!v) {
      v = this.#view(slot, template);
      views.set(b, v);
    }
    return v;
  }

  /** A slot that may be overwritten now (flushing `rec` when it is the only reader left). */
  #victim(rec: Recorder): Slot {
    const free = (s: Slot) => !s.lastRec || s.lastRec.submitted;
    if (this.#slots.length < this.slotCount) return this.#newSlot();
    const lru = (list: Slot[]) => list.reduce((a, s) => (s.lastUse < a.lastUse ? s : a));
    const idle = this.#slots.filter(free);
    if (idle.length > 0) return lru(idle);
    const mine = this.#slots.filter((s) => s.lastRec === rec);
    if (mine.length > 0) {
      rec.flush(); // the commands reading these slots are on the queue before the overwrite
      return lru(mine);
    }
    this.extraSlots++;
    return this.#newSlot();
  }

  #newSlot(): Slot {
    const slot: Slot = { tensors: new Map(), block: -1, lastUse: 0 };
    this.#slots.push(slot);
    return slot;
  }

  #fill(slot: Slot, b: number): void {
    const host = this.#host[b];
    for (const [name, t] of host) {
      let dev = slot.tensors.get(name);
      if (!dev || dev.size !== t.data.length) {
        dev?.destroy();
        dev = this.gpu.tensor(t.shape, t.dtype);
        slot.tensors.set(name, dev);
      }
      dev.write(t.data);
      this.uploadedBytes += t.data.byteLength;
    }
    slot.block = b;
    this.#views.delete(slot);
    this.uploads++;
  }

  /** BlockWeights over a slot's tensors, with the template's shapes and presence. */
  #view(slot: Slot, tpl: BlockWeights): BlockWeights {
    const t = (name: string) => slot.tensors.get(name);
    const lin = (n: string, l: Linear): Linear => ({
      weight: t(`${n}.weight`)!,
      bias: l.bias ? t(`${n}.bias`) : undefined,
      inFeatures: l.inFeatures,
      outFeatures: l.outFeatures,
    });
    const out: BlockWeights = {};
    if (tpl.attention) {
      const a = tpl.attention;
      out.attention = {
        norm: t("att.norm")!,
        q: lin("q", a.q),
        k: lin("k", a.k),
        v: lin("v", a.v),
        o: lin("o", a.o),
      };
    }
    if (tpl.mlp) {
      const f = tpl.mlp;
      out.mlp = {
        norm: t("mlp.norm")!,
        gate: lin("gate", f.gate),
        up: lin("up", f.up),
        down: lin("down", f.down),
      };
    }
    return out;
  }

  /**
   * The values `t.read()` would return for one of the model's placeholder tensors, from host
   * memory; undefined for any other tensor.
   */
  hostValues(t: Tensor): Float32Array<ArrayBuffer> | undefined {
    const p = this.#placeholders.get(t);
    return p ? this.values(p.block, p.name) : undefined;
  }

  /** Values of a host tensor as `tensor.read()` returns them (f16 widened to f32). */
  values(b: number, name: string): Float32Array<ArrayBuffer> {
    this.#live();
    const t = this.#host[b].get(name);
    if (!t) throw new Error(`offload: block ${b} has no ${name}`);
    return t.dtype === "f16" ? fromF16(t.data) : (t.data as Float32Array<ArrayBuffer>).slice();
  }

  /** Replaces a block's host tensor (and the slot copy, when the block is in one). */
  replace(b: number, name: string, data: Uint16Array<ArrayBuffer> | Float32Array<ArrayBuffer>) {
    this.#live();
    const t = this.#host[b].get(name);
    if (!t || t.data.length !== data.length) throw new Error(`offload: ${name} of block ${b}`);
    t.data = data;
    const slot = this.#slots.find((s) => s.block === b);
    if (slot) {
      if (slot.lastRec && !slot.lastRec.submitted) {
        throw new Error("offload: a block's weights changed while a recording reads them");
      }
      slot.tensors.get(name)!.write(data);
    }
  }

  /**
   * Frees the slots (called by `model.destroy()`; again: nothing). Any later use of the
   * residency throws.
   */
  destroy(): void {
    this.#destroyed = true;
    for (const s of this.#slots) for (const t of s.tensors.values()) t.destroy();
    this.#slots.length = 0;
    this.#views.clear();
  }

  #live(): void {
    if (this.#destroyed) throw new Error("offload: the model was destroyed");
  }
}

/**
 * Block `b`'s weights for commands recorded into `rec`: the model's own when resident, else a
 * device slot filled from host memory (the one call {@link runSublayers} makes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { matmul } from "@sprint-wgpu/toolkit/kernels";
 * import { blockWeights, DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const gpu = await getGpu();
 * const model = await loadModel(gpu, DEFAULT_MODEL_DIR, { offload: true }); // D 128
 * const x = gpu.tensor([1, 128], "f32", new Float32Array(128).fill(0.5));
 * const q = gpu.run((rec) => matmul(rec, x, blockWeights(rec, model, 3).attention!.q));
 * assert.equal(model.residency!.uploads, 1); // block 3 was written into a slot
 * assert.ok((await q.read()).every(Number.isFinite));
 * x.destroy();
 * q.destroy();
 * model.destroy();
 * ```
 */
export function blockWeights(rec: Recorder, model: OffloadableModel, b: number): BlockWeights {
  const r = model.residency;
  return r ? r.acquire(rec, b, model.blocks[b]) : model.blocks[b];
}

/**
 * The values `t.read()` would return for a placeholder tensor of an offloaded model, from host
 * memory; undefined for any other tensor (and for every tensor of a resident model).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, hostTensorValues, loadModel } from "@sprint-wgpu/toolkit/model";
 * const gpu = await getGpu();
 * const offloaded = await loadModel(gpu, DEFAULT_MODEL_DIR, { offload: true });
 * const resident = await loadModel(gpu, DEFAULT_MODEL_DIR);
 * const w = hostTensorValues(offloaded, offloaded.blocks[0].mlp!.down.weight)!;
 * const down = resident.blocks[0].mlp!.down.weight;
 * assert.deepEqual(w, await down.read()); // the same packed values
 * assert.equal(hostTensorValues(resident, down), undefined);
 * assert.equal(hostTensorValues(offloaded, offloaded.finalNorm), undefined); // resident part
 * offloaded.destroy();
 * resident.destroy();
 * ```
 */
export function hostTensorValues(
  model: OffloadableModel,
  t: Tensor,
): Float32Array<ArrayBuffer> | undefined {
  return model.residency?.hostValues(t);
}

/**
 * `t.read()`, or the host values when `t` is a placeholder of an offloaded model.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel, readWeightValues } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR, { offload: true });
 * const norm = await readWeightValues(model, model.blocks[0].attention!.norm); // host memory
 * const final = await readWeightValues(model, model.finalNorm); // read from the device
 * assert.deepEqual([norm.length, final.length], [128, 128]); // [D]
 * model.destroy();
 * ```
 */
export async function readWeightValues(
  model: OffloadableModel,
  t: Tensor,
): Promise<Float32Array<ArrayBuffer>> {
  return hostTensorValues(model, t) ?? (await t.read()) as Float32Array<ArrayBuffer>;
}

/**
 * Replaces a linear layer of block `b` of an offloaded model with the HF-layout weight `w`
 * (`[out, in]`) and bias, packed and converted exactly as {@link packLinear} does. Returns false
 * (nothing done) when the model is resident.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { unpackWeightHost } from "@sprint-wgpu/toolkit/kernels";
 * import {
 *   DEFAULT_MODEL_DIR, hostTensorValues, loadModel, replaceOffloadedLinear,
 * } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR, { offload: true });
 * const { hiddenSize: d, intermediateSize: F } = model.config;
 * assert.ok(replaceOffloadedLinear(model, 2, "down", new Float32Array(d * F).fill(0.25)));
 * const packed = hostTensorValues(model, model.blocks[2].mlp!.down.weight)!;
 * assert.ok(unpackWeightHost(packed, d, F).every((x) => x === 0.25)); // exact in f16 too
 * model.destroy();
 * ```
 */
export function replaceOffloadedLinear(
  model: OffloadableModel,
  b: number,
  layer: LayerName,
  w: Float32Array<ArrayBuffer>,
  bias?: ArrayLike<number>,
): boolean {
  const r = model.residency;
  if (!r) return false;
  const blk = model.blocks[b];
  const lin =
    ((ATT as readonly string[]).includes(layer)
      ? blk.attention?.[layer as (typeof ATT)[number]]
      : blk.mlp?.[layer as (typeof MLP)[number]]) as Linear | undefined;
  if (!lin) throw new Error(`offload: block ${b} has no ${layer}`);
  const packed = packWeightHost(w, lin.outFeatures, lin.inFeatures);
  r.replace(b, `${layer}.weight`, model.dtype === "f16" ? toF16(packed) : packed);
  if (bias) {
    const { np } = packedShape(lin.outFeatures, lin.inFeatures);
    const pb = new Float32Array(np);
    pb.set(Array.from(bias));
    r.replace(b, `${layer}.bias`, model.dtype === "f16" ? toF16(pb) : pb);
  }
  return true;
}

function pad4(n: number): number {
  return Math.max(4, Math.ceil(n / 4) * 4);
}

/** The block tensors of a config in host memory, packed as `modelFromHostWeights` uploads them. */
function hostBlocks(
  config: ModelConfig,
  get: (name: string) => Float32Array<ArrayBuffer>,
  dtype: "f16" | "f32",
): HostBlock[] {
  const D = config.hiddenSize;
  const H = config.numHeads * config.headDim;
  const KV = config.numKvHeads * config.headDim;
  const F = config.intermediateSize;
  const conv = (x: Float32Array<ArrayBuffer>) => (dtype === "f16" ? toF16(x) : x);
  const blocks: HostBlock[] = [];
  for (let b = 0; b < config.numLayers; b++) {
    const p = `model.layers.${b}.`;
    const m: HostBlock = new Map();
    const lin = (key: string, name: string, out: number, inp: number, bias: boolean) => {
      const { kp, np } = packedShape(out, inp);
      m.set(`${key}.weight`, {
        shape: [kp, np],
        dtype,
        data: conv(packWeightHost(get(`${name}.weight`), out, inp)),
      });
      if (bias) {
        const pb = new Float32Array(np);
        pb.set(get(`${name}.bias`));
        m.set(`${key}.bias`, { shape: [np], dtype, data: conv(pb) });
      }
    };
    const norm = (key: string, name: string) =>
      m.set(key, { shape: [D], dtype: "f32", data: get(name).slice() });
    if (config.alive[2 * b]) {
      norm("att.norm", p + "input_layernorm.weight");
      lin("q", p + "self_attn.q_proj", H, D, config.qkvBias);
      lin("k", p + "self_attn.k_proj", KV, D, config.qkvBias);
      lin("v", p + "self_attn.v_proj", KV, D, config.qkvBias);
      lin("o", p + "self_attn.o_proj", D, H, config.oBias);
    }
    if (config.alive[2 * b + 1]) {
      norm("mlp.norm", p + "post_attention_layernorm.weight");
      lin("gate", p + "mlp.gate_proj", F, D, config.mlpBias);
      lin("up", p + "mlp.up_proj", F, D, config.mlpBias);
      lin("down", p + "mlp.down_proj", D, F, config.mlpBias);
    }
    blocks.push(m);
  }
  return blocks;
}
