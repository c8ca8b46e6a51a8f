/**
 * A Llama-family model on the GPU: configuration, weights (linear layers packed for the matmul
 * kernel, f16 when the device has shader-f16), RoPE table and tokenizer, loaded from a Hugging
 * Face model directory.
 *
 * @module
 */
import { join } from "node:path";
import { ToolkitError } from "../errors.ts";
import type { Gpu } from "../gpu/device.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { Linear } from "../kernels/matmul.ts";
import { packLinearAs, type WeightLayout } from "../kernels/linear_layout.ts";
import { ChunkedTensor } from "../gpu/chunked.ts";
import {
  type ChunkedLinear,
  chunkedOf,
  destroyChunkedLinear,
  packChunkedLinear,
} from "../kernels/head.ts";
import { type RopeTable, ropeTable } from "../kernels/rope.ts";
import { type ModelConfig, readConfig } from "./config.ts";
import { type Checkpoint, openCheckpoint } from "./safetensors.ts";
import { loadTokenizer, type TextTokenizer } from "./tokenizer.ts";
import { Workspace } from "../gpu/workspace.ts";
import { BlockResidency, type OffloadOptions } from "./residency.ts";
import type { BlockWeights, HostWeights } from "./weights.ts";

export type { AttentionWeights, BlockWeights, HostWeights, MlpWeights } from "./weights.ts";

/** Options for {@link loadModel}. */
export interface LoadOptions {
  /** Weight storage on the GPU (default: f16 when the device has shader-f16, else f32). */
  dtype?: "f32" | "f16";
  /** Positions the RoPE table covers (default: the config's max_position_embeddings). */
  maxPositions?: number;
  /**
   * Keep the blocks' weights in host memory and stream them through device slots as the forward
   * reaches them (`true`: two slots; see src/model/residency.ts). Same results.
   */
  offload?: boolean | { slots: number };
  /**
   * Device layout of the projection weights and the LM head (default `rows`, which every kernel
   * takes). `tiled` stores each 16-column strip contiguously (≈ 3× the decode GEMV read rate on
   * llvmpipe) and serves the forward, saving, export, re-fit and LoRA merging, but not the
   * backward kernels (`deno task tune` loads with `rows`). Ignored with `offload`.
   */
  weightLayout?: WeightLayout;
}

/**
 * A loaded model. Sublayer `s` is block `⌊s/2⌋`'s attention (s even) or MLP (s odd); `alive`
 * says which sublayers have weights.
 */
export class LlamaModel {
  /** The device the weights live on. */
  readonly gpu: Gpu;
  /** The validated configuration (config.json). */
  readonly config: ModelConfig;
  /** Token embedding table `[V, D]`, in row chunks that each fit one storage binding. */
  readonly embedTable: ChunkedTensor;
  /** Weights of the L blocks, in order. */
  readonly blocks: BlockWeights[];
  /** Final norm weight `[D]` f32. */
  readonly finalNorm: Tensor;
  /** LM head in vocabulary chunks that each fit one binding (a copy of the embedding when tied). */
  readonly head: ChunkedLinear;
  /** RoPE cos/sin table; its `maxPositions` bounds the usable context. */
  readonly rope: RopeTable;
  /** The tokenizer, when the directory has one. */
  readonly tokenizer?: TextTokenizer;
  /** Storage type of the linear weights. */
  readonly dtype: "f32" | "f16";
  /** The directory the model was loaded from, if any. */
  readonly sourceDir?: string;
  /** Scratch tensors of this model's forwards, freed by {@link LlamaModel.destroy}. */
  readonly workspace: Workspace;
  /**
   * Host copies and device slots of the blocks when the model is offloaded (`loadModel` with
   * `offload`, {@link offloadModelFromHostWeights}; the `blocks` then hold placeholders);
   * undefined when the weights are resident. Owned by the model: set at construction, freed by
   * {@link LlamaModel.destroy}.
   */
  readonly residency?: BlockResidency;

  /** Wraps parts already on the GPU; use {@link loadModel} to load a model. */
  constructor(init: {
    gpu: Gpu;
    config: ModelConfig;
    embed: Tensor | ChunkedTensor;
    blocks: BlockWeights[];
    finalNorm: Tensor;
    lmHead: Linear | ChunkedLinear;
    rope: RopeTable;
    tokenizer?: TextTokenizer;
    dtype: "f32" | "f16";
    sourceDir?: string;
    residency?: BlockResidency;
  }) {
    this.gpu = init.gpu;
    this.config = init.config;
    this.embedTable = init.embed instanceof ChunkedTensor
      ? init.embed
      : ChunkedTensor.of(init.embed);
    this.blocks = init.blocks;
    this.finalNorm = init.finalNorm;
    this.head = "parts" in init.lmHead ? init.lmHead : chunkedOf(init.lmHead);
    this.rope = init.rope;
    this.tokenizer = init.tokenizer;
    this.dtype = init.dtype;
    this.sourceDir = init.sourceDir;
    this.workspace = new Workspace(init.gpu);
    this.residency = init.residency;
  }

  /**
   * The embedding table as one tensor. Throws a {@link ToolkitError} when it is split across
   * bindings (use {@link LlamaModel.embedTable}, which every kernel over the vocabulary takes).
   */
  get embed(): Tensor {
    const t = this.embedTable.single;
    if (!t) throw splitError("model.embed_tokens.weight", this.embedTable.chunks.length);
    return t;
  }

  /**
   * The LM head as one packed layer. Throws a {@link ToolkitError} when it is split across
   * bindings (use {@link LlamaModel.head} with `headLogits`).
   */
  get lmHead(): Linear {
    if (this.head.parts.length !== 1) throw splitError("lm_head.weight", this.head.parts.length);
    return this.head.parts[0].linear;
  }

  /** Number of sublayers (2L). */
  get numSublayers(): number {
    return 2 * this.config.numLayers;
  }

  /** Sublayers that have weights (2L flags). */
  get alive(): boolean[] {
    return this.blocks.flatMap((b) => [b.attention !== undefined, b.mlp !== undefined]);
  }

  /** Frees all GPU memory of the model (the workspace and, when offloaded, the block slots). */
  destroy(): void {
    this.workspace.destroy();
    this.residency?.destroy();
    const lin = (l: Linear) => {
      l.weight.destroy();
      l.bias?.destroy();
    };
    this.embedTable.destroy();
    this.finalNorm.destroy();
    destroyChunkedLinear(this.head);
    this.rope.tensor.destroy();
    for (const b of this.blocks) {
      if (b.attention) {
        b.attention.norm.destroy();
        [b.attention.q, b.attention.k, b.attention.v, b.attention.o].forEach(lin);
      }
      if (b.mlp) {
        b.mlp.norm.destroy();
        [b.mlp.gate, b.mlp.up, b.mlp.down].forEach(lin);
      }
    }
  }
}

/**
 * Expected tensors of a config: name → shape (only the sublayers marked alive).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR, expectedTensors, readConfig } from "@sprint-wgpu/toolkit/model";
 * const shapes = expectedTensors(await readConfig(DEFAULT_MODEL_DIR)); // 8 blocks, D 128, untied
 * const k = shapes.get("model.layers.0.self_attn.k_proj.weight");
 * assert.deepEqual(k, [64, 128]); // [KVH·hd, D]
 * assert.equal(shapes.size, 3 + 8 * 9); // embed, norm, lm_head + 9 tensors per block
 * ```
 */
export function expectedTensors(cfg: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const D = cfg.hiddenSize;
  const H = cfg.numHeads * cfg.headDim;
  const KV = cfg.numKvHeads * cfg.headDim;
  const F = cfg.intermediateSize;
  m.set("model.embed_tokens.weight", [cfg.vocabSize, D]);
  m.set("model.norm.weight", [D]);
  if (!cfg.tieWordEmbeddings) m.set("lm_head.weight", [cfg.vocabSize, D]);
  for (let b = 0; b < cfg.numLayers; b++) {
    const p = `model.layers.${b}.`;
    if (cfg.alive[2 * b]) {
      m.set(p + "input_layernorm.weight", [D]);
      for (const [n, out] of [["q_proj", H], ["k_proj", KV], ["v_proj", KV]] as const) {
        m.set(p + `self_attn.${n}.weight`, [out, D]);
        if (cfg.qkvBias) m.set(p + `self_attn.${n}.bias`, [out]);
      }
      m.set(p + "self_attn.o_proj.weight", [D, H]);
      if (cfg.oBias) m.set(p + "self_attn.o_proj.bias", [D]);
    }
    if (cfg.alive[2 * b + 1]) {
      m.set(p + "post_attention_layernorm.weight", [D]);
      for (
        const [n, shape] of [["gate_proj", [F, D]], ["up_proj", [F, D]], ["down_proj", [
          D,
          F,
        ]]] as const
      ) {
        m.set(p + `mlp.${n}.weight`, [...shape]);
        if (cfg.mlpBias) m.set(p + `mlp.${n}.bias`, [shape[0]]);
      }
    }
  }
  return m;
}

/** Tensors some exporters add that carry no weights (old Llama checkpoints store RoPE's inv_freq). */
const IGNORED_TENSOR = /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/;

/**
 * Reads and validates every expected tensor of `cfg` from a checkpoint (shapes, dtypes, finite
 * values), converting to f32; a tensor the config does not account for is an error too. `file`
 * names the checkpoint in errors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   DEFAULT_MODEL_DIR, openCheckpoint, readConfig, readHostWeights,
 * } from "@sprint-wgpu/toolkit/model";
 * const cfg = await readConfig(DEFAULT_MODEL_DIR); // the embedded 8-layer model, D 128
 * const ckpt = await openCheckpoint(DEFAULT_MODEL_DIR);
 * const weights = await readHostWeights(cfg, ckpt);
 * assert.equal(weights.get("model.norm.weight")!.length, 128); // f32 on the host
 * const sevenBlocks = { ...cfg, numLayers: 7, alive: cfg.alive.slice(0, 14) };
 * const extra = /unexpected tensor model\.layers\.7\./; // the checkpoint has an 8th block
 * await assert.rejects(readHostWeights(sevenBlocks, ckpt), extra);
 * ```
 */
export async function readHostWeights(
  cfg: ModelConfig,
  ckpt: Checkpoint,
  file = "model.safetensors",
): Promise<HostWeights> {
  const out: HostWeights = new Map();
  const expected = expectedTensors(cfg);
  for (const name of ckpt.tensors.keys()) {
    if (expected.has(name) || IGNORED_TENSOR.test(name)) continue;
    const layer =
      /^model\.layers\.(\d+)\.(self_attn|input_layernorm|mlp|post_attention_layernorm)\./
        .exec(name);
    const b = layer ? Number(layer[1]) : -1;
    const sub = layer && /^(self_attn|input_layernorm)$/.test(layer[2]) ? 2 * b : 2 * b + 1;
    const why = name === "lm_head.weight" && cfg.tieWordEmbeddings
      ? "config.json field tie_word_embeddings is true, so there is no separate LM head"
      : layer && b >= cfg.numLayers
      ? `config.json field num_hidden_layers is ${cfg.numLayers}`
      : layer && cfg.modelType === "nemotron-nas" && !cfg.alive[sub]
      ? `config.json block_configs[${b}] marks that sublayer as removed (no_op)`
      : "config.json accounts for no such tensor";
    throw new ToolkitError(`${file}: unexpected tensor ${name} (${why})`);
  }
  for (const [name, shape] of expected) {
    const info = ckpt.info(name, file);
    if (info.dtype !== "F32" && info.dtype !== "F16" && info.dtype !== "BF16") {
      throw new ToolkitError(
        `${file}: tensor ${name} has dtype ${info.dtype}, expected F32, F16 or BF16`,
      );
    }
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new ToolkitError(
        `${file}: tensor ${name} has shape [${info.shape}], config.json implies [${shape}]`,
      );
    }
    out.set(name, await ckpt.float32(name));
  }
  return out;
}

/**
 * Uploads host weights as a {@link LlamaModel}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import {
 *   expectedTensors, modelFromHostWeights, parseConfig, recordForward,
 * } from "@sprint-wgpu/toolkit/model";
 * import { seededRandom } from "@sprint-wgpu/toolkit/random";
 * const config = parseConfig({
 *   model_type: "llama", hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2,
 *   num_attention_heads: 2, vocab_size: 8,
 * });
 * const random = seededRandom(7);
 * const weights = new Map([...expectedTensors(config)].map(([name, shape]) => [
 *   name,
 *   Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => random() - 0.5),
 * ]));
 * const gpu = await getGpu();
 * const model = modelFromHostWeights(gpu, config, weights); // a random 2-block model
 * const ids = gpu.tensor([3], "u32", new Uint32Array([1, 5, 2]));
 * const logits = gpu.run((rec) => recordForward(rec, model, ids, { batch: 1, tokens: 3 }));
 * assert.deepEqual(logits.shape, [3, 8]); // [T, V]
 * assert.ok((await logits.read()).every(Number.isFinite));
 * ids.destroy();
 * logits.destroy();
 * model.destroy();
 * ```
 */
export function modelFromHostWeights(
  gpu: Gpu,
  config: ModelConfig,
  weights: HostWeights,
  options: LoadOptions & { tokenizer?: TextTokenizer; sourceDir?: string } = {},
): LlamaModel {
  const dtype = options.dtype ?? gpu.weightDType;
  const get = (name: string) => {
    const t = weights.get(name);
    if (!t) throw new ToolkitError(`weights: tensor ${name} is missing`);
    return t;
  };
  const D = config.hiddenSize;
  const layout = options.weightLayout ?? "rows";
  const lin = (prefix: string, out: number, inp: number, bias: boolean): Linear =>
    packLinearAs(gpu, layout, get(prefix + ".weight"), out, inp, {
      dtype,
      bias: bias ? get(prefix + ".bias") : undefined,
    });
  const vec = (name: string) => gpu.tensor([D], "f32", get(name));
  const H = config.numHeads * config.headDim;
  const KV = config.numKvHeads * config.headDim;
  const F = config.intermediateSize;
  const blocks: BlockWeights[] = [];
  for (let b = 0; b < config.numLayers; b++) {
    const p = `model.layers.${b}.`;
    const blk: BlockWeights = {};
    if (config.alive[2 * b]) {
      blk.attention = {
        norm: vec(p + "input_layernorm.weight"),
        q: lin(p + "self_attn.q_proj", H, D, config.qkvBias),
        k: lin(p + "self_attn.k_proj", KV, D, config.qkvBias),
        v: lin(p + "self_attn.v_proj", KV, D, config.qkvBias),
        o: lin(p + "self_attn.o_proj", D, H, config.oBias),
      };
    }
    if (config.alive[2 * b + 1]) {
      blk.mlp = {
        norm: vec(p + "post_attention_layernorm.weight"),
        gate: lin(p + "mlp.gate_proj", F, D, config.mlpBias),
        up: lin(p + "mlp.up_proj", F, D, config.mlpBias),
        down: lin(p + "mlp.down_proj", D, F, config.mlpBias),
      };
    }
    blocks.push(blk);
  }
  const { embed, lmHead } = uploadVocabTables(gpu, config, get, dtype, layout);
  const rope = ropeTable(gpu, {
    headDim: config.headDim,
    theta: config.ropeTheta,
    scaling: config.ropeScaling,
    maxPositions: options.maxPositions ?? config.maxPositions,
  });
  return new LlamaModel({
    gpu,
    config,
    embed,
    blocks,
    finalNorm: vec("model.norm.weight"),
    lmHead,
    rope,
    tokenizer: options.tokenizer,
    dtype,
    sourceDir: options.sourceDir,
  });
}

/**
 * Builds an offloaded {@link LlamaModel} from host weights: the vocabulary tables, final norm and
 * RoPE table on the device, the blocks in host memory (its {@link LlamaModel.residency}, streamed
 * into `slots` device slots by the forward). Saves, SPRINT and every forward give the same
 * results as the resident model.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import {
 *   DEFAULT_MODEL_DIR, offloadModelFromHostWeights, openCheckpoint, readConfig, readHostWeights,
 *   recordForward,
 * } from "@sprint-wgpu/toolkit/model";
 * const config = await readConfig(DEFAULT_MODEL_DIR); // the embedded 8-block model
 * const weights = await readHostWeights(config, await openCheckpoint(DEFAULT_MODEL_DIR));
 * const gpu = await getGpu();
 * const model = offloadModelFromHostWeights(gpu, config, weights, { slots: 1 });
 * const ids = gpu.tensor([3], "u32", new Uint32Array([1, 5, 2]));
 * const logits = gpu.run((rec) => recordForward(rec, model, ids, { batch: 1, tokens: 3 }));
 * assert.ok((await logits.read()).every(Number.isFinite));
 * assert.equal(model.residency!.uploads, 8); // each block streamed through the one slot
 * ids.destroy();
 * logits.destroy();
 * model.destroy();
 * ```
 */
export function offloadModelFromHostWeights(
  gpu: Gpu,
  config: ModelConfig,
  weights: HostWeights,
  options: LoadOptions & OffloadOptions & { tokenizer?: TextTokenizer; sourceDir?: string } = {},
): LlamaModel {
  const dtype = options.dtype ?? gpu.weightDType;
  const { residency, blocks } = BlockResidency.fromHostWeights(gpu, config, weights, {
    dtype,
    slots: options.slots,
  });
  // The non-block parts, uploaded by the one upload path: a config with no sublayers. The
  // layout stays `rows` (the streamed blocks are packed as rows; `weightLayout` is ignored).
  const shell = modelFromHostWeights(
    gpu,
    { ...config, alive: config.alive.map(() => false) },
    weights,
    { ...options, dtype, weightLayout: "rows" },
  );
  return new LlamaModel({
    gpu,
    config,
    embed: shell.embedTable,
    blocks,
    finalNorm: shell.finalNorm,
    lmHead: shell.head,
    rope: shell.rope,
    tokenizer: options.tokenizer,
    dtype,
    sourceDir: options.sourceDir,
    residency,
  });
}

/** Error for a whole-tensor accessor on a tensor split across bindings. */
function splitError(name: string, chunks: number): ToolkitError {
  return new ToolkitError(
    `${name} is split across ${chunks} storage bindings; this operation needs it in one binding` +
      " (a device with a larger maxStorageBufferBindingSize)",
  );
}

/**
 * Uploads the embedding table and the LM head (a copy of the embedding when tied) in chunks
 * that each fit one storage binding (one chunk when the whole table fits).
 */
function uploadVocabTables(
  gpu: Gpu,
  config: ModelConfig,
  get: (name: string) => Float32Array<ArrayBuffer>,
  dtype: "f32" | "f16",
  layout: WeightLayout,
): { embed: ChunkedTensor; lmHead: ChunkedLinear } {
  const shape = [config.vocabSize, config.hiddenSize] as const;
  const embedHost = get("model.embed_tokens.weight");
  const embed = ChunkedTensor.upload(gpu, shape, dtype, embedHost);
  const headHost = config.tieWordEmbeddings ? embedHost : get("lm_head.weight");
  const lmHead = packChunkedLinear(gpu, headHost, ...shape, { dtype, layout });
  return { embed, lmHead };
}

/**
 * Loads a Hugging Face model directory (config.json, model.safetensors or a sharded index,
 * tokenizer.json + tokenizer_config.json when present) onto the GPU.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { ToolkitError } from "@sprint-wgpu/toolkit/errors";
 * const gpu = await getGpu();
 * const model = await loadModel(gpu, DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * assert.deepEqual([model.config.numLayers, model.blocks.length], [8, 8]);
 * assert.equal(model.tokenizer!.encode("Once upon a time")[0], model.tokenizer!.bosId);
 * model.destroy();
 * const empty = await Deno.makeTempDir();
 * await assert.rejects(loadModel(gpu, empty), ToolkitError); // no config.json there
 * await Deno.remove(empty);
 * ```
 */
export async function loadModel(
  gpu: Gpu,
  dir: string,
  options: LoadOptions = {},
): Promise<LlamaModel> {
  const config = await readConfig(dir);
  const ckpt = await openCheckpoint(dir);
  const file = join(dir, "model.safetensors");
  checkBindingLimits(gpu, config, options.dtype ?? gpu.weightDType, file);
  let tokenizer: TextTokenizer | undefined;
  let hasTokenizer = true;
  try {
    await Deno.stat(join(dir, "tokenizer.json"));
  } catch {
    hasTokenizer = false;
  }
  if (hasTokenizer) {
    tokenizer = await loadTokenizer(dir);
    if (tokenizer.maxId >= config.vocabSize) {
      throw new ToolkitError(
        `${join(dir, "tokenizer.json")}: token id ${tokenizer.maxId} is outside the model's ` +
          `vocabulary (${join(dir, "config.json")} field vocab_size is ${config.vocabSize})`,
      );
    }
  }
  const weights = await readHostWeights(config, ckpt, file);
  const opts = { ...options, tokenizer, sourceDir: dir };
  if (options.offload) {
    const slots = options.offload === true ? undefined : options.offload.slots;
    return offloadModelFromHostWeights(gpu, config, weights, { ...opts, slots });
  }
  return modelFromHostWeights(gpu, config, weights, opts);
}

/**
 * Refuses, before anything is read or allocated, a model whose largest weight does not fit one
 * storage binding of the device (the limit `maxStorageBufferBindingSize`).
 */
function checkBindingLimits(
  gpu: Gpu,
  cfg: ModelConfig,
  dtype: "f32" | "f16",
  file: string,
): void {
  const limit = gpu.caps.maxStorageBindingSize;
  const bytes = dtype === "f16" ? 2 : 4;
  for (const [name, shape] of expectedTensors(cfg)) {
    const size = shape.reduce((a, b) => a * b, 1) * bytes;
    if (size > limit) {
      throw new ToolkitError(
        `${file}: tensor ${name} [${shape}] needs ${size} bytes as ${dtype}, more than the ` +
          `device's storage binding limit (maxStorageBufferBindingSize ${limit} bytes on ` +
          `${gpu.description}); the model is too large for this device`,
      );
    }
  }
}
