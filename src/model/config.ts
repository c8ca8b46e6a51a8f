/**
 * Hugging Face `config.json` parsing for the Llama family (model_type llama, mistral, qwen2) and
 * the per-block Nemotron-NAS/DeciLM form (`nemotron-nas`, `block_configs[i].attention.no_op` /
 * `.ffn.no_op`) that pruned models are saved in.
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";

import type { RopeScaling } from "../kernels/rope.ts";

export type { RopeScaling };

/** A validated model configuration. */
export interface ModelConfig {
  /** The architecture family as given in config.json. */
  modelType: "llama" | "mistral" | "qwen2" | "nemotron-nas";
  /** Residual stream width D (`hidden_size`). */
  hiddenSize: number;
  /** MLP width F (`intermediate_size`). */
  intermediateSize: number;
  /** Transformer blocks L (`num_hidden_layers`); there are 2L sublayers. */
  numLayers: number;
  /** Query heads H (`num_attention_heads`). */
  numHeads: number;
  /** Key/value heads KVH (`num_key_value_heads`, default H); divides H. */
  numKvHeads: number;
  /** Width of one head hd (`head_dim`, default D / H; even). */
  headDim: number;
  /** Vocabulary size V (`vocab_size`). */
  vocabSize: number;
  /** Context length in positions (`max_position_embeddings`, default 2048). */
  maxPositions: number;
  /** RMSNorm epsilon (`rms_norm_eps`, default 1e-6). */
  rmsNormEps: number;
  /** RoPE base (`rope_theta`, default 10000). */
  ropeTheta: number;
  /** RoPE scaling (`rope_scaling`: llama3 or linear), when set. */
  ropeScaling?: RopeScaling;
  /** The LM head is the embedding matrix (`tie_word_embeddings`, default false). */
  tieWordEmbeddings: boolean;
  /** q/k/v projections have biases (Qwen2; Llama with attention_bias). */
  qkvBias: boolean;
  /** o_proj has a bias (Llama with attention_bias). */
  oBias: boolean;
  /** gate/up/down projections have biases (Llama with mlp_bias). */
  mlpBias: boolean;
  /** BOS token id (`bos_token_id`), when set. */
  bosTokenId?: number;
  /** EOS token ids (`eos_token_id`, one or a list; empty when unset). */
  eosTokenIds: number[];
  /** Mistral/Qwen2 sliding-window attention span, when enabled (longer contexts are refused). */
  slidingWindow?: number;
  /**
   * Sublayers present: 2L flags, index 2b = block b's attention, 2b+1 its MLP. All true for a
   * dense model; from `block_configs` for a pruned (nemotron-nas) one.
   */
  alive: boolean[];
  /** The parsed JSON, kept for writing the model back. */
  raw: Record<string, unknown>;
}

const SUPPORTED = ["llama", "mistral", "qwen2", "nemotron-nas"] as const;

/**
 * Largest accepted value of each size field, checked before anything is allocated: well above
 * every published Llama-family model (Llama-3.1-405B: hidden 16,384, MLP 53,248, 126 layers,
 * 128 heads, 128K context; vocabularies ≤ 256K), far below sizes that would exhaust memory
 * or overflow index arithmetic.
 */
const MAX_SIZE: Record<string, number> = {
  hidden_size: 65_536,
  intermediate_size: 262_144,
  num_hidden_layers: 1_024,
  num_attention_heads: 1_024,
  num_key_value_heads: 1_024,
  head_dim: 1_024,
  vocab_size: 4_194_304,
  max_position_embeddings: 1_048_576,
  sliding_window: 1_048_576,
};

/**
 * Validates a parsed config.json. `file` names the source in error messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "@sprint-wgpu/toolkit/model";
 * import { ToolkitError } from "@sprint-wgpu/toolkit/errors";
 * const raw = {
 *   model_type: "llama", hidden_size: 64, intermediate_size: 172, num_hidden_layers: 2,
 *   num_attention_heads: 4, vocab_size: 32,
 * };
 * const cfg = parseConfig(raw, "tiny/config.json");
 * assert.equal(cfg.numKvHeads, 4); // num_key_value_heads defaults to the query heads
 * assert.equal(cfg.headDim, 16); // head_dim defaults to D / H
 * assert.throws(
 *   () => parseConfig({ ...raw, hidden_size: undefined }, "tiny/config.json"),
 *   new ToolkitError(
 *     "tiny/config.json: field hidden_size is missing (expected a positive integer)",
 *   ),
 * );
 * ```
 */
export function parseConfig(raw: unknown, file = "config.json"): ModelConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ToolkitError(`${file}: expected a JSON object`);
  }
  const c = raw as Record<string, unknown>;
  const archs = c.architectures;
  if (
    archs !== undefined && archs !== null &&
    (!Array.isArray(archs) || archs.some((a) => typeof a !== "string"))
  ) {
    throw new ToolkitError(
      `${file}: field architectures is ${JSON.stringify(archs)} (expected a list of class names)`,
    );
  }
  const modelType = c.model_type;
  if (typeof modelType !== "string" || !(SUPPORTED as readonly string[]).includes(modelType)) {
    throw new ToolkitError(
      `${file}: field model_type is ${JSON.stringify(modelType)}; supported: ${
        SUPPORTED.join(", ")
      }`,
    );
  }
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (v === undefined || v === null) {
      throw new ToolkitError(`${file}: field ${key} is missing (expected a positive integer)`);
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      throw new ToolkitError(
        `${file}: field ${key} is ${JSON.stringify(v)} (expected a positive integer)`,
      );
    }
    const max = MAX_SIZE[key];
    if (max !== undefined && v > max) {
      throw new ToolkitError(
        `${file}: field ${key} is ${v}, implausibly large (at most ${max} is accepted)`,
      );
    }
    return v;
  };
  const num = (key: string, fallback: number, max = Infinity): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || v > max) {
      throw new ToolkitError(
        `${file}: field ${key} is ${JSON.stringify(v)} (expected a positive number${
          max < Infinity ? ` below ${max}` : ""
        })`,
      );
    }
    return v;
  };
  const tokenIds = (key: string): number[] => {
    const v = c[key];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    if (list.some((x) => typeof x !== "number" || !Number.isInteger(x) || x < 0)) {
      throw new ToolkitError(
        `${file}: field ${key} is ${
          JSON.stringify(v)
        } (expected a token id, a list of them, or null)`,
      );
    }
    return list as number[];
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = c[key] ?? fallback;
    if (typeof v !== "boolean") {
      throw new ToolkitError(
        `${file}: field ${key} is ${JSON.stringify(v)} (expected true or false)`,
      );
    }
    return v;
  };
  const hiddenSize = int("hidden_size");
  const numHeads = int("num_attention_heads");
  const numLayers = int("num_hidden_layers");
  const numKvHeads = int("num_key_value_heads", numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new ToolkitError(
      `${file}: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`,
    );
  }
  const headDim = int("head_dim", hiddenSize % numHeads === 0 ? hiddenSize / numHeads : undefined);
  if (headDim % 2 !== 0) {
    throw new ToolkitError(`${file}: field head_dim ${headDim} must be even for RoPE`);
  }
  const act = c.hidden_act ?? "silu";
  if (act !== "silu") {
    throw new ToolkitError(
      `${file}: field hidden_act is ${JSON.stringify(act)}; only silu (SwiGLU) is supported`,
    );
  }
  let intermediateSize: number;
  if (modelType === "nemotron-nas" && c.intermediate_size === undefined) {
    throw new ToolkitError(
      `${file}: field intermediate_size is missing (nemotron-nas configs written by this toolkit carry it)`,
    );
  } else {
    intermediateSize = int("intermediate_size");
  }
  const eosTokenIds = tokenIds("eos_token_id");
  const bosIds = tokenIds("bos_token_id");
  if (bosIds.length > 1) {
    throw new ToolkitError(`${file}: field bos_token_id is a list (expected one token id)`);
  }
  const vocabSize = int("vocab_size");
  for (const [key, ids] of [["bos_token_id", bosIds], ["eos_token_id", eosTokenIds]] as const) {
    const bad = ids.find((id) => id >= vocabSize);
    if (bad !== undefined) {
      throw new ToolkitError(
        `${file}: field ${key} ${bad} is outside the vocabulary (vocab_size ${vocabSize})`,
      );
    }
  }
  const isQwen = modelType === "qwen2";
  const attentionBias = bool("attention_bias", false);
  let slidingWindow: number | undefined;
  if (modelType === "mistral" && c.sliding_window !== null && c.sliding_window !== undefined) {
    slidingWindow = int("sliding_window");
  }
  bool("use_sliding_window", false);
  if (isQwen && c.use_sliding_window === true && c.sliding_window) {
    slidingWindow = int("sliding_window");
  }
  const alive = new Array<boolean>(2 * numLayers).fill(true);
  if (modelType === "nemotron-nas") {
    const blocks = c.block_configs;
    if (!Array.isArray(blocks) || blocks.length !== numLayers) {
      throw new ToolkitError(
        `${file}: field block_configs must be an array of num_hidden_layers (${numLayers}) entries`,
      );
    }
    blocks.forEach((b, i) => {
      const blk = b as { attention?: Record<string, unknown>; ffn?: Record<string, unknown> };
      if (
        !blk || typeof blk !== "object" || !blk.attention || typeof blk.attention !== "object" ||
        !blk.ffn || typeof blk.ffn !== "object"
      ) {
        throw new ToolkitError(`${file}: block_configs[${i}] needs attention and ffn objects`);
      }
      for (const [part, idx] of [["attention", 2 * i], ["ffn", 2 * i + 1]] as const) {
        const p = blk[part]!;
        if (p.replace_with_linear === true) {
          throw new ToolkitError(
            `${file}: block_configs[${i}].${part}.replace_with_linear is not supported`,
          );
        }
        if (p.no_op !== undefined && p.no_op !== null && typeof p.no_op !== "boolean") {
          throw new ToolkitError(
            `${file}: block_configs[${i}].${part}.no_op is ${
              JSON.stringify(p.no_op)
            } (expected true or false)`,
          );
        }
        alive[idx] = p.no_op !== true;
      }
      const group = blk.attention!.n_heads_in_group;
      if (alive[2 * i] && group !== undefined && group !== numHeads / numKvHeads) {
        throw new ToolkitError(
          `${file}: block_configs[${i}].attention.n_heads_in_group ${group} differs from num_attention_heads/num_key_value_heads`,
        );
      }
    });
  }
  return {
    modelType: modelType as ModelConfig["modelType"],
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize,
    maxPositions: int("max_position_embeddings", 2048),
    rmsNormEps: num("rms_norm_eps", 1e-6, 1),
    ropeTheta: num("rope_theta", 10000, 1e12),
    ropeScaling: parseRopeScaling(c.rope_scaling, file),
    tieWordEmbeddings: bool("tie_word_embeddings", false),
    qkvBias: isQwen ? true : attentionBias,
    oBias: isQwen ? false : attentionBias,
    mlpBias: bool("mlp_bias", false),
    bosTokenId: bosIds[0],
    eosTokenIds,
    slidingWindow,
    alive,
    raw: c,
  };
}

function parseRopeScaling(v: unknown, file: string): RopeScaling | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object") {
    throw new ToolkitError(`${file}: field rope_scaling must be an object or null`);
  }
  const r = v as Record<string, unknown>;
  const type = r.rope_type ?? r.type;
  const pos = (key: string): number => {
    const x = r[key];
    if (typeof x !== "number" || !Number.isFinite(x) || !(x > 0)) {
      throw new ToolkitError(
        `${file}: field rope_scaling.${key} is ${JSON.stringify(x)} (expected a positive number)`,
      );
    }
    return x;
  };
  if (type === "default") return undefined;
  if (type === "llama3") {
    return {
      type: "llama3",
      factor: pos("factor"),
      lowFreqFactor: pos("low_freq_factor"),
      highFreqFactor: pos("high_freq_factor"),
      originalMaxPositionEmbeddings: pos("original_max_position_embeddings"),
    };
  }
  if (type === "linear") return { type: "linear", factor: pos("factor") };
  throw new ToolkitError(
    `${file}: field rope_scaling.rope_type ${
      JSON.stringify(type)
    } is not supported (llama3, linear)`,
  );
}

/**
 * Reads and validates `<dir>/config.json`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR, readConfig } from "@sprint-wgpu/toolkit/model";
 * const cfg = await readConfig(DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * assert.deepEqual([cfg.hiddenSize, cfg.numLayers, cfg.numKvHeads], [128, 8, 2]);
 * ```
 */
export async function readConfig(dir: string): Promise<ModelConfig> {
  const path = `${dir.replace(/\/$/, "")}/config.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new ToolkitError(`${path}: cannot read (${(e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ToolkitError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return parseConfig(raw, path);
}
