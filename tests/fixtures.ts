/** Generated test models: random Llama-family checkpoints written in Hugging Face layout. */
import { join } from "node:path";
import { type ModelConfig, parseConfig } from "../src/model/config.ts";
import { expectedTensors, type HostWeights } from "../src/model/model.ts";
import { writeSafetensors } from "../src/model/safetensors.ts";
import { randn } from "./util.ts";

/** config.json fields of a tiny Llama (override any). */
export function tinyConfigJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: 24,
    intermediate_size: 40,
    num_hidden_layers: 3,
    num_attention_heads: 6,
    num_key_value_heads: 2,
    head_dim: 4,
    vocab_size: 67,
    max_position_embeddings: 64,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: "silu",
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
    ...overrides,
  };
}

/** Random weights for `cfg` (norm weights near 1, projections scaled by 1/√fan_in). */
export function randomWeights(cfg: ModelConfig, seed = 1): HostWeights {
  const out: HostWeights = new Map();
  let s = seed * 1000;
  for (const [name, shape] of expectedTensors(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (name.endsWith("norm.weight")) {
      out.set(name, randn(n, s++, 0.2).map((v) => 1 + v));
    } else if (name.endsWith(".bias")) {
      out.set(name, randn(n, s++, 0.1));
    } else {
      const fanIn = shape.length === 2 ? shape[1] : 1;
      out.set(
        name,
        randn(
          n,
          s++,
          name.includes("embed") || name.includes("lm_head") ? 1 : 1.5 / Math.sqrt(fanIn),
        ),
      );
    }
  }
  return out;
}

/** Writes config.json and model.safetensors of a random model into `dir`; returns its config and weights. */
export async function writeTinyModel(
  dir: string,
  overrides: Record<string, unknown> = {},
  seed = 1,
): Promise<{ config: ModelConfig; weights: HostWeights }> {
  const json = tinyConfigJson(overrides);
  const config = parseConfig(json);
  const weights = randomWeights(config, seed);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(json, null, 2));
  await writeSafetensors(
    join(dir, "model.safetensors"),
    [...weights].map(([name, data]) => ({
      name,
      shape: expectedTensors(config).get(name)!,
      dtype: "F32",
      data,
    })),
  );
  return { config, weights };
}

/** Path of the shared real checkpoint, or undefined (with the reason) when ../shared is absent. */
export async function sharedModelDir(): Promise<string | undefined> {
  const dir = new URL("../../shared/data/models/stories260K-hf", import.meta.url).pathname;
  try {
    await Deno.stat(join(dir, "model.safetensors"));
    return dir;
  } catch {
    return undefined;
  }
}
