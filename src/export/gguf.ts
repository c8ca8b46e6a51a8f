/**
 * GGUF export for llama.cpp: a dense model as architecture `llama`, a pruned one (sublayers
 * removed, saved in the Nemotron-NAS `block_configs` form) as `deci` with per-layer head counts,
 * KV head counts and FFN lengths; the tokenizer is embedded (see gguf_tokenizer.ts).
 *
 * Facts of the pinned llama.cpp build (node-llama-cpp 3.21.1) the export respects:
 * - `llama`/`deci` rotate adjacent pairs (ggml "normal" RoPE), while HF checkpoints use
 *   rotate_half; q_proj/k_proj rows (and biases) are permuted per head (k with the KV head count).
 * - `deci` with n_ff = 0 skips the block's residual update (dropping its attention output) and
 *   aborts on the last layer, so a removed MLP is written as a zero FFN of width 1.
 * - `deci` reads the head size from layer 0, so a removed attention in block 0 is written as a
 *   zero "linear attention" (n_head = H, n_head_kv = 0, a zero `attn_output` [D, D]); removed
 *   attention elsewhere is n_head = n_head_kv = 0.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { ToolkitError } from "../errors.ts";
import { readTensors } from "../gpu/tensor.ts";
import { unpackLinearHost } from "../kernels/linear_layout.ts";
import type { Linear } from "../kernels/matmul.ts";
import { type ModelConfig, readConfig } from "../model/config.ts";
import { expectedTensors, type LlamaModel, readHostWeights } from "../model/model.ts";
import { openCheckpoint } from "../model/safetensors.ts";
import { tokenizerMetadata } from "./gguf_tokenizer.ts";
import { type GgufTensorType, GgufWriter } from "./gguf_writer.ts";

/** Options for {@link exportGguf}. */
export interface ExportGgufOptions {
  /** Storage of the matrices (1-D tensors stay f32). Default "f32". */
  dtype?: "f32" | "f16";
  /** Replace an existing output file (default false: error). */
  overwrite?: boolean;
  /** `general.name` (default: the model directory's name). */
  name?: string;
  /** Directory holding tokenizer.json (default: the model directory / the model's source). */
  tokenizerFrom?: string;
  /**
   * Sublayers to keep (2L flags, 2b = block b's attention, 2b+1 its MLP; default: all present).
   * Masked ones are exported as removed, as if the model had been saved with this mask.
   */
  mask?: readonly boolean[];
}

/** What {@link exportGguf} wrote. */
export interface ExportGgufResult {
  /** The output file. */
  file: string;
  /** GGUF architecture: "llama" (dense) or "deci" (sublayers removed). */
  arch: "llama" | "deci";
  /** Number of tensors. */
  tensors: number;
  /** File size in bytes. */
  bytes: number;
}

/** A weight source: config (with `alive`) and a reader of HF-named tensors as f32. */
interface WeightSource {
  config: ModelConfig;
  get(name: string): Promise<Float32Array>;
  tokenizerDir?: string;
  name: string;
}

/**
 * Permutes the rows of a q_proj/k_proj weight (or bias: `cols` = 1) from HF rotate_half order
 * (per head: first half of the rotary pairs, then the second) to llama.cpp's adjacent pairs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { permuteRotary } from "@sprint-wgpu/toolkit/export";
 * assert.deepEqual([...permuteRotary(new Float32Array([0, 1, 2, 3]), 1, 4, 1)], [0, 2, 1, 3]);
 * ```
 */
export function permuteRotary(
  w: ArrayLike<number>,
  heads: number,
  headDim: number,
  cols: number,
): Float32Array {
  if (w.length !== heads * headDim * cols) {
    throw new Error(`permuteRotary: ${w.length} values, expected ${heads * headDim * cols}`);
  }
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * headDim + j * half + i) * cols;
        const dst = (h * headDim + 2 * i + j) * cols;
        for (let c = 0; c < cols; c++) out[dst + c] = w[src + c];
      }
    }
  }
  return out;
}

/** llama3 RoPE frequency factors as llama.cpp's `rope_freqs.weight` (divisors of each frequency). */
export function llama3RopeFactors(cfg: ModelConfig): Float32Array {
  const s = cfg.ropeScaling;
  if (!s || s.type !== "llama3") throw new Error("llama3RopeFactors: no llama3 rope_scaling");
  const dim = cfg.headDim;
  const out = new Float32Array(dim / 2);
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let i = 0; i < dim / 2; i++) {
    const freq = 1 / Math.pow(cfg.ropeTheta, (2 * i) / dim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = s.factor;
    else {
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) /
        (s.highFreqFactor - s.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

/** Refuses what the llama/deci GGUF architectures cannot express. */
function checkSupported(c: ModelConfig, file: string): void {
  if (c.modelType === "qwen2") {
    throw new ToolkitError(
      `${file}: model_type qwen2 is not supported by the GGUF export (llama, mistral, nemotron-nas)`,
    );
  }
  if (c.mlpBias) {
    throw new ToolkitError(`${file}: mlp_bias true is not supported by the GGUF export`);
  }
}

async function dirSource(dir: string): Promise<WeightSource> {
  const config = await readConfig(dir);
  checkSupported(config, join(dir, "config.json"));
  const ckpt = await openCheckpoint(dir);
  const file = join(dir, "model.safetensors");
  // The loader's validation: unaccounted tensors, dtypes, shapes and non-finite values refused.
  const weights = await readHostWeights(config, ckpt, file);
  return {
    config,
    get: (name) => {
      const v = weights.get(name);
      if (!v) throw new ToolkitError(`${file}: tensor ${name} is missing`);
      return Promise.resolve(v);
    },
    tokenizerDir: dir,
    name: basename(dir.replace(/\/+$/, "")),
  };
}

async function modelSource(model: LlamaModel): Promise<WeightSource> {
  const c = model.config;
  const config: ModelConfig = { ...c, alive: model.alive };
  checkSupported(config, model.sourceDir ? join(model.sourceDir, "config.json") : "config.json");
  const entries: { name: string; tensor: LlamaModel["embed"]; lin?: Linear }[] = [
    { name: "model.embed_tokens.weight", tensor: model.embed },
    { name: "model.norm.weight", tensor: model.finalNorm },
  ];
  const linear = (name: string, l: LlamaModel["lmHead"]) => {
    entries.push({ name: `${name}.weight`, tensor: l.weight, lin: l });
    if (l.bias) entries.push({ name: `${name}.bias`, tensor: l.bias });
  };
  if (!c.tieWordEmbeddings) linear("lm_head", model.lmHead);
  model.blocks.forEach((blk, b) => {
    const p = `model.layers.${b}.`;
    if (blk.attention) {
      const a = blk.attention;
      entries.push({ name: p + "input_layernorm.weight", tensor: a.norm });
      linear(p + "self_attn.q_proj", a.q);
      linear(p + "self_attn.k_proj", a.k);
      linear(p + "self_attn.v_proj", a.v);
      linear(p + "self_attn.o_proj", a.o);
    }
    if (blk.mlp) {
      const f = blk.mlp;
      entries.push({ name: p + "post_attention_layernorm.weight", tensor: f.norm });
      linear(p + "mlp.gate_proj", f.gate);
      linear(p + "mlp.up_proj", f.up);
      linear(p + "mlp.down_proj", f.down);
    }
  });
  const host = await readTensors(model.gpu, entries.map((e) => e.tensor));
  const shapes = expectedTensors(config);
  const byName = new Map<string, Float32Array>();
  entries.forEach((e, i) => {
    const v = host[i] as Float32Array;
    const n = shapes.get(e.name)!.reduce((a, b) => a * b, 1);
    byName.set(e.name, e.lin ? unpackLinearHost(e.lin, v) : v.slice(0, n));
  });
  return {
    config,
    get: (name) => {
      const v = byName.get(name);
      if (!v) throw new Error(`exportGguf: tensor ${name} missing from the model`);
      return Promise.resolve(v);
    },
    tokenizerDir: model.sourceDir,
    name: model.sourceDir ? basename(model.sourceDir.replace(/\/+$/, "")) : "model",
  };
}

async function readJsonFile(path: string, optional: boolean): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (optional && e instanceof Deno.errors.NotFound) return {};
    throw new ToolkitError(`${path}: cannot read (${(e as Error).message})`);
  }
  try {
    const v = JSON.parse(text);
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v;
  } catch (e) {
    throw new ToolkitError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** Builds the writer (metadata and lazy tensors) for a weight source. */
async function buildGguf(
  src: WeightSource,
  dtype: "f32" | "f16",
  options: ExportGgufOptions,
): Promise<{ writer: GgufWriter; arch: "llama" | "deci" }> {
  const c = src.config;
  const tokDir = options.tokenizerFrom ?? src.tokenizerDir;
  if (!tokDir) {
    throw new ToolkitError(
      "exportGguf: the model has no source directory; pass tokenizerFrom (a directory with tokenizer.json)",
    );
  }
  const tjPath = join(tokDir, "tokenizer.json");
  const tj = await readJsonFile(tjPath, false);
  const tc = await readJsonFile(join(tokDir, "tokenizer_config.json"), true);
  const tokenizerKv = tokenizerMetadata(tj, tc, c.vocabSize, tjPath, {
    bos: c.bosTokenId,
    eos: c.eosTokenIds[0],
  });

  const pruned = c.alive.some((a) => !a);
  const arch = pruned ? "deci" : "llama";
  const L = c.numLayers;
  const D = c.hiddenSize;
  const hd = c.headDim;
  const mat: GgufTensorType = dtype === "f16" ? "F16" : "F32";
  const w = new GgufWriter();
  const u32 = (key: string, value: number) => w.add(key, { type: "u32", value });
  const f32 = (key: string, value: number) => w.add(key, { type: "f32", value });
  w.add("general.architecture", { type: "string", value: arch });
  w.add("general.name", { type: "string", value: options.name ?? src.name });
  u32("general.file_type", dtype === "f16" ? 1 : 0);
  u32(`${arch}.vocab_size`, c.vocabSize);
  // Sliding-window attention (Mistral) is not expressed in llama/deci: advertise only the span
  // where full attention equals it.
  u32(`${arch}.context_length`, Math.min(c.maxPositions, c.slidingWindow ?? Infinity));
  u32(`${arch}.embedding_length`, D);
  u32(`${arch}.block_count`, L);
  if (pruned) {
    const attn = (b: number) => c.alive[2 * b];
    const heads = Array.from({ length: L }, (_, b) => attn(b) || b === 0 ? c.numHeads : 0);
    const kvHeads = Array.from({ length: L }, (_, b) => attn(b) ? c.numKvHeads : 0);
    const ff = Array.from({ length: L }, (_, b) => c.alive[2 * b + 1] ? c.intermediateSize : 1);
    w.add(`${arch}.attention.head_count`, { type: "array", itemType: "i32", value: heads });
    w.add(`${arch}.attention.head_count_kv`, { type: "array", itemType: "i32", value: kvHeads });
    w.add(`${arch}.feed_forward_length`, { type: "array", itemType: "i32", value: ff });
  } else {
    u32(`${arch}.feed_forward_length`, c.intermediateSize);
    u32(`${arch}.attention.head_count`, c.numHeads);
    u32(`${arch}.attention.head_count_kv`, c.numKvHeads);
  }
  u32(`${arch}.attention.key_length`, hd);
  u32(`${arch}.attention.value_length`, hd);
  u32(`${arch}.rope.dimension_count`, hd);
  f32(`${arch}.rope.freq_base`, c.ropeTheta);
  f32(`${arch}.attention.layer_norm_rms_epsilon`, c.rmsNormEps);
  if (c.ropeScaling?.type === "linear") {
    w.add(`${arch}.rope.scaling.type`, { type: "string", value: "linear" });
    f32(`${arch}.rope.scaling.factor`, c.ropeScaling.factor);
  }
  for (const [k, v] of tokenizerKv) w.add(k, v);

  const hf = (name: string) => () => src.get(name);
  w.addTensor({
    name: "token_embd.weight",
    shape: [c.vocabSize, D],
    type: mat,
    data: hf("model.embed_tokens.weight"),
  });
  if (c.ropeScaling?.type === "llama3") {
    const factors = llama3RopeFactors(c);
    w.addTensor({ name: "rope_freqs.weight", shape: [hd / 2], type: "F32", data: () => factors });
  }
  const zeros = (n: number) => () => new Float32Array(n);
  const ones = (n: number) => () => new Float32Array(n).fill(1);
  const Hq = c.numHeads * hd;
  const Hkv = c.numKvHeads * hd;
  for (let b = 0; b < L; b++) {
    const p = `model.layers.${b}.`;
    const g = `blk.${b}.`;
    if (c.alive[2 * b]) {
      w.addTensor({
        name: g + "attn_norm.weight",
        shape: [D],
        type: "F32",
        data: hf(p + "input_layernorm.weight"),
      });
      const rot = (name: string, heads: number, cols: number) => async () =>
        permuteRotary(await src.get(name), heads, hd, cols);
      w.addTensor({
        name: g + "attn_q.weight",
        shape: [Hq, D],
        type: mat,
        data: rot(p + "self_attn.q_proj.weight", c.numHeads, D),
      });
      w.addTensor({
        name: g + "attn_k.weight",
        shape: [Hkv, D],
        type: mat,
        data: rot(p + "self_attn.k_proj.weight", c.numKvHeads, D),
      });
      w.addTensor({
        name: g + "attn_v.weight",
        shape: [Hkv, D],
        type: mat,
        data: hf(p + "self_attn.v_proj.weight"),
      });
      w.addTensor({
        name: g + "attn_output.weight",
        shape: [D, Hq],
        type: mat,
        data: hf(p + "self_attn.o_proj.weight"),
      });
      if (c.qkvBias) {
        w.addTensor({
          name: g + "attn_q.bias",
          shape: [Hq],
          type: "F32",
          data: rot(p + "self_attn.q_proj.bias", c.numHeads, 1),
        });
        w.addTensor({
          name: g + "attn_k.bias",
          shape: [Hkv],
          type: "F32",
          data: rot(p + "self_attn.k_proj.bias", c.numKvHeads, 1),
        });
        w.addTensor({
          name: g + "attn_v.bias",
          shape: [Hkv],
          type: "F32",
          data: hf(p + "self_attn.v_proj.bias"),
        });
      }
      if (c.oBias) {
        w.addTensor({
          name: g + "attn_output.bias",
          shape: [D],
          type: "F32",
          data: hf(p + "self_attn.o_proj.bias"),
        });
      }
    } else if (b === 0) {
      // deci reads the head size from layer 0: a zero linear-attention layer instead of n_head 0.
      w.addTensor({ name: g + "attn_norm.weight", shape: [D], type: "F32", data: ones(D) });
      w.addTensor({ name: g + "attn_output.weight", shape: [D, D], type: mat, data: zeros(D * D) });
    }
    if (c.alive[2 * b + 1]) {
      const F = c.intermediateSize;
      w.addTensor({
        name: g + "ffn_norm.weight",
        shape: [D],
        type: "F32",
        data: hf(p + "post_attention_layernorm.weight"),
      });
      w.addTensor({
        name: g + "ffn_gate.weight",
        shape: [F, D],
        type: mat,
        data: hf(p + "mlp.gate_proj.weight"),
      });
      w.addTensor({
        name: g + "ffn_up.weight",
        shape: [F, D],
        type: mat,
        data: hf(p + "mlp.up_proj.weight"),
      });
      w.addTensor({
        name: g + "ffn_down.weight",
        shape: [D, F],
        type: mat,
        data: hf(p + "mlp.down_proj.weight"),
      });
    } else {
      // deci with n_ff = 0 skips the block's residual update: a zero FFN of width 1 instead.
      w.addTensor({ name: g + "ffn_norm.weight", shape: [D], type: "F32", data: ones(D) });
      w.addTensor({ name: g + "ffn_gate.weight", shape: [1, D], type: mat, data: zeros(D) });
      w.addTensor({ name: g + "ffn_up.weight", shape: [1, D], type: mat, data: zeros(D) });
      w.addTensor({ name: g + "ffn_down.weight", shape: [D, 1], type: mat, data: zeros(D) });
    }
  }
  w.addTensor({
    name: "output_norm.weight",
    shape: [D],
    type: "F32",
    data: hf("model.norm.weight"),
  });
  if (!c.tieWordEmbeddings) {
    w.addTensor({
      name: "output.weight",
      shape: [c.vocabSize, D],
      type: mat,
      data: hf("lm_head.weight"),
    });
  }
  return { writer: w, arch };
}

/**
 * Exports a model directory (dense HF Llama/Mistral, or one this toolkit saved with removed
 * sublayers) or a loaded {@link LlamaModel} (its present sublayers) as a GGUF v3 file for
 * llama.cpp. The file is written under a temporary name and renamed into place.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exportGguf } from "@sprint-wgpu/toolkit/export";
 * import { DEFAULT_MODEL_DIR } from "@sprint-wgpu/toolkit/model";
 * const file = `${await Deno.makeTempDir()}/default.gguf`;
 * const r = await exportGguf(DEFAULT_MODEL_DIR, file, { dtype: "f16" }); // a pruned dir: "deci"
 * assert.equal(r.arch, "llama");
 * assert.equal(r.bytes, (await Deno.stat(file)).size);
 * await Deno.remove(file);
 * ```
 */
export async function exportGguf(
  model: string | LlamaModel,
  outFile: string,
  options: ExportGgufOptions = {},
): Promise<ExportGgufResult> {
  const dtype = options.dtype ?? "f32";
  if (dtype !== "f32" && dtype !== "f16") {
    throw new ToolkitError(`exportGguf: dtype ${JSON.stringify(dtype)} (expected f32 or f16)`);
  }
  let exists = false;
  try {
    await Deno.stat(outFile);
    exists = true;
  } catch { /* new file */ }
  if (exists && !options.overwrite) {
    throw new ToolkitError(`${outFile}: output file exists (use --overwrite)`);
  }
  const src = typeof model === "string" ? await dirSource(model) : await modelSource(model);
  if (options.mask) {
    const alive = src.config.alive;
    if (options.mask.length !== alive.length) {
      throw new ToolkitError(
        `exportGguf: mask has ${options.mask.length} flags, the model has ${alive.length} sublayers`,
      );
    }
    options.mask.forEach((m, s) => {
      if (m && !alive[s]) {
        throw new ToolkitError(`exportGguf: mask keeps sublayer ${s}, which the model lacks`);
      }
    });
    src.config = { ...src.config, alive: alive.map((a, s) => a && options.mask![s]) };
  }
  const { writer, arch } = await buildGguf(src, dtype, options);
  const parent = dirname(outFile);
  await Deno.mkdir(parent, { recursive: true });
  const tmp = join(parent, `.${basename(outFile)}.${Deno.pid}.partial`);
  try {
    const bytes = await writer.write(tmp);
    await Deno.rename(tmp, outFile);
    return { file: outFile, arch, tensors: writer.tensorNames.length, bytes };
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
