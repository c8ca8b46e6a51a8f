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
 * An offloaded model's `blocks` hold placeholders (device buffers already destroyed: any use that
 * bypasses this module fails loudly); {@link hostTensorValues} gives their values (what
 * `tensor.read()` would return on the resident model) to the save path and to SPRINT's re-fit,
 * and {@link replaceOffloadedLinear} writes a re-fitted down_proj into host memory.
 *
 * @module
 */
import { fromF16, toF16 } from "../gpu/f16.ts";
import type { Gpu } from "../gpu/device.ts";
import type { Recorder } from "../gpu/recorder.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { type Linear, packedShape, packWeightHost } from "../kernels/matmul.ts";
import type { ModelConfig } from "./config.ts";
// Types only: model.ts imports this module (loadModel with `offload`) and hands over its
// constructors, so there is no runtime import loop.
import type {
  AttentionWeights,
  BlockWeights,
  HostWeights,
  LlamaModel,
  LoadOptions,
  MlpWeights,
  modelFromHostWeights,
} from "./model.ts";

/** What {@link offloadModelFromHostWeights} builds models with (passed in by `model.ts`). */
export interface ModelBuilders {
  /** The model class. */
  LlamaModel: typeof LlamaModel;
  /** The resident upload path (used for the vocabulary tables, final norm and RoPE). */
  modelFromHostWeights: typeof modelFromHostWeights;
}
import type { TextTokenizer } from "./tokenizer.ts";

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

/** Options of {@link offloadModelFromHostWeights}. */
export interface OffloadOptions {
  /** Device slots for blocks (default 2: one computing, one being filled). */
  slots?: number;
}

/**
 * The host copies and device slots of an offloaded model (see the module doc). Obtain it with
 * {@link residencyOf}.
 *
 * @example
 * ```ts
 * const model = await loadModel(gpu, dir, { offload: true });
 * const r = residencyOf(model)!;
 * console.log(r.slotCount, r.slotBytes, r.hostBytes);
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
  #clock = 0;
  /** Block uploads done (each writes one block's weights into a slot). */
  uploads = 0;
  /** Bytes uploaded. */
  uploadedBytes = 0;
  /** Slots added beyond {@link BlockResidency.slotCount} (two open recordings needing them). */
  extraSlots = 0;

  /** Use {@link offloadModelFromHostWeights}. */
  constructor(gpu: Gpu, host: HostBlock[], slots: number) {
    if (!Number.isInteger(slots) || slots < 1) throw new Error(`offload: slots must be ≥ 1`);
    this.gpu = gpu;
    this.#host = host;
    this.slotCount = slots;
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

  /** Values of a host tensor as `tensor.read()` returns them (f16 widened to f32). */
  values(b: number, name: string): Float32Array<ArrayBuffer> {
    const t = this.#host[b].get(name);
    if (!t) throw new Error(`offload: block ${b} has no ${name}`);
    return t.dtype === "f16" ? fromF16(t.data) : (t.data as Float32Array<ArrayBuffer>).slice();
  }

  /** Replaces a block's host tensor (and the slot copy, when the block is in one). */
  replace(b: number, name: string, data: Uint16Array<ArrayBuffer> | Float32Array<ArrayBuffer>) {
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

  /** Frees the slots. */
  destroy(): void {
    for (const s of this.#slots) for (const t of s.tensors.values()) t.destroy();
    this.#slots.length = 0;
    this.#views.clear();
  }
}

const residencies = new WeakMap<LlamaModel, BlockResidency>();
/** Placeholder tensor → (block, host tensor name). */
const placeholders = new WeakMap<Tensor, { model: LlamaModel; block: number; name: string }>();

/**
 * The block residency of an offloaded model (undefined: the model's weights are resident).
 *
 * @example
 * ```ts
 * const r = residencyOf(model);
 * if (r) console.log(`${r.uploads} block uploads, ${r.uploadedBytes} bytes`);
 * ```
 */
export function residencyOf(model: LlamaModel): BlockResidency | undefined {
  return residencies.get(model);
}

/**
 * Block `b`'s weights for commands recorded into `rec`: the model's own when resident, else a
 * device slot filled from host memory (the one call {@link runSublayers} makes).
 *
 * @example
 * ```ts
 * const blk = blockWeights(rec, model, 3);
 * matmul(rec, xn, blk.attention!.q, { out: q });
 * ```
 */
export function blockWeights(rec: Recorder, model: LlamaModel, b: number): BlockWeights {
  const r = residencies.get(model);
  return r ? r.acquire(rec, b, model.blocks[b]) : model.blocks[b];
}

/**
 * The values `t.read()` would return for a placeholder tensor of an offloaded model, from host
 * memory; undefined for any other tensor.
 *
 * @example
 * ```ts
 * const w = hostTensorValues(model.blocks[0].mlp!.down.weight) ?? await down.weight.read();
 * ```
 */
export function hostTensorValues(t: Tensor): Float32Array<ArrayBuffer> | undefined {
  const p = placeholders.get(t);
  return p ? residencies.get(p.model)!.values(p.block, p.name) : undefined;
}

/**
 * `t.read()`, or the host values of an offloaded model's placeholder.
 *
 * @example
 * ```ts
 * const w = await readWeightValues(model.blocks[0].mlp!.down.weight); // packed [KP, NP] values
 * ```
 */
export async function readWeightValues(t: Tensor): Promise<Float32Array<ArrayBuffer>> {
  return hostTensorValues(t) ?? (await t.read()) as Float32Array<ArrayBuffer>;
}

/**
 * Replaces a linear layer of block `b` of an offloaded model with the HF-layout weight `w`
 * (`[out, in]`) and bias, packed and converted exactly as {@link packLinear} does. Returns false
 * (nothing done) when the model is resident.
 *
 * @example
 * ```ts
 * if (!replaceOffloadedLinear(model, 2, "down", w, bias)) mlp.down = packLinear(gpu, w, d, F);
 * ```
 */
export function replaceOffloadedLinear(
  model: LlamaModel,
  b: number,
  layer: LayerName,
  w: Float32Array<ArrayBuffer>,
  bias?: ArrayLike<number>,
): boolean {
  const r = residencies.get(model);
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

/** The block tensors of a config in host memory, packed as {@link modelFromHostWeights} uploads them. */
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

/**
 * Builds an offloaded {@link LlamaModel} from host weights: the vocabulary tables, final norm and
 * RoPE table on the device, the blocks in host memory (streamed into `slots` device slots by the
 * forward). Saves, SPRINT and every forward give the same results as the resident model.
 *
 * @example
 * ```ts
 * const model = offloadModelFromHostWeights(gpu, config, weights, { slots: 2 }, {
 *   LlamaModel,
 *   modelFromHostWeights,
 * });
 * console.log(residencyOf(model)!.hostBytes);
 * ```
 */
export function offloadModelFromHostWeights(
  gpu: Gpu,
  config: ModelConfig,
  weights: HostWeights,
  options: LoadOptions & OffloadOptions & { tokenizer?: TextTokenizer; sourceDir?: string },
  builders: ModelBuilders,
): LlamaModel {
  const { LlamaModel, modelFromHostWeights } = builders;
  const dtype = options.dtype ?? gpu.weightDType;
  const get = (name: string) => {
    const t = weights.get(name);
    if (!t) throw new Error(`weights: tensor ${name} is missing`);
    return t;
  };
  const host = hostBlocks(config, get, dtype);
  // The non-block parts, uploaded by the one upload path: a config with no sublayers.
  const shell = modelFromHostWeights(
    gpu,
    { ...config, alive: config.alive.map(() => false) },
    weights,
    {
      ...options,
      dtype,
    },
  );
  const dead = gpu.tensor([1], "f32");
  dead.destroy();
  const model = new LlamaModel({
    gpu,
    config,
    embed: shell.embedTable,
    blocks: [],
    finalNorm: shell.finalNorm,
    lmHead: shell.head,
    rope: shell.rope,
    tokenizer: options.tokenizer,
    dtype,
    sourceDir: options.sourceDir,
  });
  const placeholder = (b: number, name: string): Tensor => {
    const t = dead.reshape([1]);
    placeholders.set(t, { model, block: b, name });
    return t;
  };
  const D = config.hiddenSize;
  const H = config.numHeads * config.headDim;
  const KV = config.numKvHeads * config.headDim;
  const F = config.intermediateSize;
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
    model.blocks.push(blk);
  }
  residencies.set(model, new BlockResidency(gpu, host, options.slots ?? 2));
  return model;
}

/**
 * Frees an offloaded model's slots (called by {@link LlamaModel.destroy}).
 *
 * @example
 * ```ts
 * releaseResidency(model); // the next forward would fail: call model.destroy() instead
 * ```
 */
export function releaseResidency(model: LlamaModel): void {
  residencies.get(model)?.destroy();
  residencies.delete(model);
}
