/**
 * The scale benchmark's model shapes and SPRINT's cost model: which forwards, Gram accumulations
 * and solves one SPRINT step runs (src/sprint/sprint.ts, sprint-spec §5–§7), counted in
 * floating-point operations, so that a measured step time gives an effective FLOP rate and a
 * rate gives a step time for a model that was never run (docs/scale.md).
 *
 * Counting rules (matmul FLOPs only — norms, RoPE, softmax and metrics are O(N·d) and ignored):
 * - attention sublayer, per token: `2·d·(Hd + 2·KV)` (q, k, v) + `2·Hd·d` (o) + `2·T·Hd`
 *   (causal QKᵀ and PV: on average T/2 keys per query, 2 FLOPs per multiply-add, twice);
 * - MLP sublayer, per token: `6·d·F` (gate, up, down);
 * - LM head, per token: `2·d·V`.
 * - Stage 1 of a step that restarts at sublayer 0 (the first step; later steps restart at the
 *   checkpoint at or below the lowest changed sublayer, so they cost at most this): for each
 *   attention sublayer the reference window (attention + MLP), the pruned window (MLP) and the
 *   advance (attention) = 2A + 2M; for each MLP sublayer but the last the window to the next MLP
 *   (M + A + M), the pruned window (A + M) and the advance (M) = 2A + 4M; the last MLP 2M.
 * - Stage 2, per candidate re-fitted: the dense window and the captured pruned window (≈ 3
 *   sublayers for an attention candidate, 5 for an MLP one; 4 on average), the Gram matrices
 *   `G += XᵀX` (2·N·F²) and `H += XᵀZ` (2·N·F·d), the Cholesky solve (F³/3) with its two
 *   triangular solves for d right-hand sides (2·F²·d), and the re-scoring window (≈ 1.5
 *   sublayers); plus advancing the batch states over at most the whole model (A + M per block).
 * - Apply: the calibration loss over `lossSequences` windows (full forward + head).
 *
 * @module
 */
import { type ModelConfig, parseConfig } from "../model/config.ts";

/**
 * config.json of a generated Llama for the scale benchmark: `depth` blocks of width `hidden`,
 * MLP width 3.5·hidden (Llama-3-8B's ratio, rounded to 32), head width 64 up to d 2048 and 128
 * above, a quarter as many KV heads as query heads (GQA), vocabulary `vocab`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "@sprint-wgpu/toolkit/model";
 * import { scaleConfigJson } from "./scale_cost.ts"; // internal: src/bench/ has no package subpath
 * const config = parseConfig(scaleConfigJson(32, 128, 2048), "scale config");
 * assert.equal(config.numLayers, 32);
 * assert.equal(config.intermediateSize, 448); // 3.5 × 128
 * assert.deepEqual([config.numHeads, config.numKvHeads, config.headDim], [2, 1, 64]);
 * ```
 */
export function scaleConfigJson(
  depth: number,
  hidden: number,
  vocab: number,
  maxPositions = 2048,
): Record<string, unknown> {
  const headDim = hidden > 2048 ? 128 : Math.min(64, hidden);
  const heads = Math.max(1, Math.floor(hidden / headDim));
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: hidden,
    intermediate_size: Math.max(32, Math.round((3.5 * hidden) / 32) * 32),
    num_hidden_layers: depth,
    num_attention_heads: heads,
    num_key_value_heads: Math.max(1, Math.floor(heads / 4)),
    head_dim: headDim,
    vocab_size: vocab,
    max_position_embeddings: maxPositions,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    hidden_act: "silu",
    tie_word_embeddings: false,
  };
}

/** Public model shapes the benchmark and docs/scale.md use (max positions cut to 8192). */
export const NAMED_SHAPES: Record<string, Record<string, unknown>> = {
  "llama-3.2-1b": {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    vocab_size: 128256,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    hidden_act: "silu",
    tie_word_embeddings: true,
  },
  "llama-3-8b": {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: 4096,
    intermediate_size: 14336,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 128,
    vocab_size: 128256,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    hidden_act: "silu",
    tie_word_embeddings: false,
  },
  "llama-3-70b": {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: 8192,
    intermediate_size: 28672,
    num_hidden_layers: 80,
    num_attention_heads: 64,
    num_key_value_heads: 8,
    head_dim: 128,
    vocab_size: 128256,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    hidden_act: "silu",
    tie_word_embeddings: false,
  },
};

/** A named public shape as a parsed config. */
export function namedShape(name: keyof typeof NAMED_SHAPES | string): ModelConfig {
  const json = NAMED_SHAPES[name];
  if (!json) throw new Error(`unknown shape ${name}`);
  return parseConfig(json, name);
}

/** Settings of a SPRINT step that its cost depends on. */
export interface StepCostSettings {
  /** Calibration windows. */
  nsamples: number;
  /** Tokens per window. */
  seqLen: number;
  /** Stage-2 candidates re-fitted (default 5, the official setting). */
  candidates?: number;
  /** Calibration-loss windows (default 8). */
  lossSequences?: number;
}

/** FLOPs of one SPRINT step by part (see the module doc for the counting rules). */
export interface StepCost {
  /** Stage 1 forwards (restart at sublayer 0). */
  stage1: number;
  /** Stage 2 forwards (windows, re-scoring, advancing the batch states). */
  stage2Forward: number;
  /** Gram accumulation G and H over all calibration tokens, all candidates. */
  gram: number;
  /** Cholesky solves with d right-hand sides, all candidates. */
  solve: number;
  /** The calibration loss after the step. */
  loss: number;
  /** Sum of the parts. */
  total: number;
  /** FLOPs per token of one attention / MLP sublayer and of the head (at the window length). */
  perToken: { attention: number; mlp: number; head: number };
  /** Device bytes of the Gram matrix G (F × F f32) — the step's largest single tensor. */
  gramBytes: number;
}

/**
 * FLOPs of SPRINT's first step (the most expensive one: stage 1 from sublayer 0, `candidates`
 * re-fits) for `config` and the calibration in `s`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { namedShape, sprintStepCost } from "./scale_cost.ts"; // internal: src/bench/
 * const c = sprintStepCost(namedShape("llama-3-8b"), { nsamples: 128, seqLen: 2048 });
 * assert.equal(c.perToken.mlp, 6 * 4096 * 14336); // gate, up, down: 2 FLOPs per weight
 * assert.equal(c.gramBytes, 4 * 14336 ** 2); // G is F × F f32: 784 MiB
 * assert.equal(c.total, c.stage1 + c.stage2Forward + c.gram + c.solve + c.loss);
 * assert.ok(c.total > 1e15 && c.total < 1e18); // on the order of PFLOPs
 * ```
 */
export function sprintStepCost(config: ModelConfig, s: StepCostSettings): StepCost {
  const d = config.hiddenSize;
  const F = config.intermediateSize;
  const Hd = config.numHeads * config.headDim;
  const KV = config.numKvHeads * config.headDim;
  const T = s.seqLen;
  const N = s.nsamples * T;
  const L = config.numLayers;
  const candidates = Math.min(s.candidates ?? 5, 2 * L - 1);
  const lossTokens = Math.min(s.lossSequences ?? 8, s.nsamples) * T;
  const A = 2 * d * (Hd + 2 * KV) + 2 * Hd * d + 2 * T * Hd;
  const M = 6 * d * F;
  const head = 2 * d * config.vocabSize;
  const stage1 = N * (L * (2 * A + 2 * M) + (L - 1) * (2 * A + 4 * M) + 2 * M);
  const perCandidateForward = N * ((4 + 1.5) * (A + M) / 2);
  const stage2Forward = candidates * perCandidateForward + N * L * (A + M);
  const gram = candidates * (2 * N * F * F + 2 * N * F * d);
  const solve = candidates * (F * F * F / 3 + 2 * F * F * d);
  const loss = lossTokens * (L * (A + M) + head);
  return {
    stage1,
    stage2Forward,
    gram,
    solve,
    loss,
    total: stage1 + stage2Forward + gram + solve + loss,
    perToken: { attention: A, mlp: M, head },
    gramBytes: F * F * 4,
  };
}

/** Parameters of a config (embedding, head unless tied, blocks, norms). */
export function parameterCount(c: ModelConfig): number {
  const d = c.hiddenSize;
  const Hd = c.numHeads * c.headDim;
  const KV = c.numKvHeads * c.headDim;
  const block = d * (Hd + 2 * KV) + Hd * d + 3 * d * c.intermediateSize + 2 * d;
  return c.numLayers * block + c.vocabSize * d * (c.tieWordEmbeddings ? 1 : 2) + d;
}
