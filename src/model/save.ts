/**
 * Writing a model directory back: config.json, model.safetensors and the tokenizer files.
 *
 * A model with removed (masked) sublayers is written in the per-block form of Nemotron-NAS /
 * DeciLM configs — `model_type: "nemotron-nas"`, `block_configs[i].attention.no_op` and
 * `.ffn.no_op` — with only the surviving sublayers' weights, which this toolkit (and loaders that
 * know that form) read back. The Llama fields (including `intermediate_size`) are kept.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { ToolkitError } from "../errors.ts";
import { readTensors, type Tensor } from "../gpu/tensor.ts";
import { toF16 } from "../gpu/f16.ts";
import type { Linear } from "../kernels/matmul.ts";
import { unpackLinearHost } from "../kernels/linear_layout.ts";
import type { LlamaModel } from "./model.ts";
import { type TensorToWrite, writeSafetensors } from "./safetensors.ts";
import { hostTensorValues } from "./residency.ts";

/** Options for {@link saveModel}. */
export interface SaveOptions {
  /** Sublayers to keep (default: all with weights). Masked ones are written as no_op. */
  mask?: readonly boolean[];
  /** File dtype (default: F16 when the model's weights are f16 on the GPU, else F32). */
  dtype?: "F32" | "F16";
  /** Replacement down_proj layers by block (e.g. SPRINT's re-fitted rows). */
  downOverride?: ReadonlyMap<number, Linear>;
  /** Directory to copy tokenizer files from (default: the model's source directory). */
  tokenizerFrom?: string;
  /** Extra top-level config.json fields (e.g. provenance). */
  extraConfig?: Record<string, unknown>;
  /** Replace an existing output directory (default false: error). */
  overwrite?: boolean;
  /** Writes further files into the (temporary) output directory before it is renamed into place. */
  extraFiles?: (dir: string) => Promise<void>;
}

/** Files copied from the source directory: tokenizer, generation settings and shipped texts. */
const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "generation_config.json",
  "heldout.txt",
  "calibration.txt",
];

/** The config.json object for a model saved with `mask`. */
export function savedConfig(
  model: LlamaModel,
  mask: readonly boolean[],
  dtype: "F32" | "F16",
): Record<string, unknown> {
  const c = model.config;
  const raw: Record<string, unknown> = { ...c.raw };
  delete raw.block_configs;
  raw.torch_dtype = dtype === "F16" ? "float16" : "float32";
  const pruned = mask.some((m) => !m);
  if (!pruned) {
    if (raw.model_type === "nemotron-nas") {
      raw.model_type = "llama";
      raw.architectures = ["LlamaForCausalLM"];
    }
    return raw;
  }
  if (
    c.modelType === "qwen2" || c.oBias || c.mlpBias || (c.qkvBias && c.modelType !== "nemotron-nas")
  ) {
    raw.attention_bias = c.qkvBias;
  }
  raw.model_type = "nemotron-nas";
  raw.architectures = ["DeciLMForCausalLM"];
  raw.num_key_value_heads = c.numKvHeads;
  const group = c.numHeads / c.numKvHeads;
  const ffnMult = (3 * c.intermediateSize) / (2 * c.hiddenSize);
  raw.block_configs = Array.from({ length: c.numLayers }, (_, b) => ({
    attention: { no_op: !mask[2 * b], replace_with_linear: false, n_heads_in_group: group },
    ffn: { no_op: !mask[2 * b + 1], replace_with_linear: false, ffn_mult: ffnMult },
  }));
  return raw;
}

/** The embedding table `[V, D]` as f32 host values (read chunk by chunk). */
async function readEmbedding(model: LlamaModel): Promise<Float32Array<ArrayBuffer>> {
  return (await model.embedTable.read()) as Float32Array<ArrayBuffer>;
}

/** The LM head `[V, D]` in HF layout as f32 host values (read and unpacked chunk by chunk). */
async function readHead(model: LlamaModel): Promise<Float32Array<ArrayBuffer>> {
  const { inFeatures: d, outFeatures: v, parts } = model.head;
  const out = new Float32Array(v * d);
  for (const p of parts) {
    const [packed] = await readTensors(model.gpu, [p.linear.weight]);
    out.set(unpackLinearHost(p.linear, packed as Float32Array), p.start * d);
  }
  return out;
}

/**
 * Saves `model` (with `mask` applied) to `dir` atomically: everything is written into a temporary
 * directory beside it, which is renamed into place at the end.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel, readConfig, saveModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const root = await Deno.makeTempDir();
 * const out = `${root}/pruned`;
 * const mask = model.alive.map((_, s) => s !== 5); // drop block 2's MLP
 * await saveModel(model, out, { mask, tokenizerFrom: DEFAULT_MODEL_DIR });
 * assert.equal((await readConfig(out)).numLayers, 8); // block 2 keeps its attention
 * model.destroy();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function saveModel(
  model: LlamaModel,
  dir: string,
  options: SaveOptions = {},
): Promise<void> {
  const c = model.config;
  const mask = options.mask ?? model.alive;
  if (mask.length !== 2 * c.numLayers) {
    throw new Error(`saveModel: mask needs ${2 * c.numLayers} flags`);
  }
  mask.forEach((m, s) => {
    if (m && !model.alive[s]) {
      throw new Error(`saveModel: sublayer ${s} is kept but has no weights`);
    }
  });
  const dtype = options.dtype ?? (model.dtype === "f16" ? "F16" : "F32");
  const entries: {
    name: string;
    shape: number[];
    tensor?: Tensor;
    lin?: Linear;
    bias?: boolean;
    values?: Float32Array<ArrayBuffer>;
  }[] = [];
  const addLinear = (name: string, lin: Linear) => {
    entries.push({
      name: `${name}.weight`,
      shape: [lin.outFeatures, lin.inFeatures],
      tensor: lin.weight,
      lin,
    });
    if (lin.bias) {
      entries.push({
        name: `${name}.bias`,
        shape: [lin.outFeatures],
        tensor: lin.bias,
        lin,
        bias: true,
      });
    }
  };
  entries.push({
    name: "model.embed_tokens.weight",
    shape: [c.vocabSize, c.hiddenSize],
    values: await readEmbedding(model),
  });
  entries.push({ name: "model.norm.weight", shape: [c.hiddenSize], tensor: model.finalNorm });
  if (!c.tieWordEmbeddings) {
    entries.push({
      name: "lm_head.weight",
      shape: [c.vocabSize, c.hiddenSize],
      values: await readHead(model),
    });
  }
  model.blocks.forEach((blk, b) => {
    const p = `model.layers.${b}.`;
    if (mask[2 * b] && blk.attention) {
      const a = blk.attention;
      entries.push({ name: p + "input_layernorm.weight", shape: [c.hiddenSize], tensor: a.norm });
      addLinear(p + "self_attn.q_proj", a.q);
      addLinear(p + "self_attn.k_proj", a.k);
      addLinear(p + "self_attn.v_proj", a.v);
      addLinear(p + "self_attn.o_proj", a.o);
    }
    if (mask[2 * b + 1] && blk.mlp) {
      const f = blk.mlp;
      entries.push({
        name: p + "post_attention_layernorm.weight",
        shape: [c.hiddenSize],
        tensor: f.norm,
      });
      addLinear(p + "mlp.gate_proj", f.gate);
      addLinear(p + "mlp.up_proj", f.up);
      addLinear(p + "mlp.down_proj", options.downOverride?.get(b) ?? f.down);
    }
  });
  // An offloaded model's block weights are read from host memory (src/model/residency.ts).
  const offloaded = new Map(entries.map((e) => [e, e.tensor && hostTensorValues(model, e.tensor)]));
  const onDevice = entries.filter((e) => e.tensor && !offloaded.get(e));
  const host = await readTensors(model.gpu, onDevice.map((e) => e.tensor!));
  const read = new Map(onDevice.map((e, i) => [e, host[i] as Float32Array<ArrayBuffer>]));
  for (const [e, v] of offloaded) if (v) read.set(e, v);
  const tensors: TensorToWrite[] = entries.map((e) => {
    let values = e.values ?? read.get(e)!;
    if (e.values) { /* already host values in HF layout */ }
    else if (e.lin && !e.bias) {
      values = unpackLinearHost(e.lin, values);
    } else values = values.slice(0, e.shape.reduce((a, b) => a * b, 1));
    return dtype === "F16"
      ? { name: e.name, shape: e.shape, dtype, data: toF16(values) }
      : { name: e.name, shape: e.shape, dtype, data: values };
  });
  const config = { ...savedConfig(model, mask, dtype), ...options.extraConfig };

  const parent = dirname(dir);
  await Deno.mkdir(parent, { recursive: true });
  let exists = false;
  try {
    await Deno.stat(dir);
    exists = true;
  } catch { /* new directory */ }
  if (exists && !options.overwrite) {
    throw new ToolkitError(`${dir}: output directory exists (use --overwrite)`);
  }
  const tmp = join(parent, `.${basename(dir)}.${Deno.pid}.partial`);
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  await Deno.mkdir(tmp);
  try {
    await Deno.writeTextFile(join(tmp, "config.json"), JSON.stringify(config, null, 2) + "\n");
    await writeSafetensors(join(tmp, "model.safetensors"), tensors);
    const tokenizerFrom = options.tokenizerFrom ?? model.sourceDir;
    if (tokenizerFrom) {
      for (const f of TOKENIZER_FILES) {
        try {
          await Deno.copyFile(join(tokenizerFrom, f), join(tmp, f));
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
      }
    }
    await options.extraFiles?.(tmp);
    if (exists) await Deno.remove(dir, { recursive: true });
    await Deno.rename(tmp, dir);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
}
