/**
 * The weight types of a model, shared by the resident model (`model.ts`) and the offloaded
 * blocks (`residency.ts`) so that neither imports the other's module for them. `model.ts`
 * re-exports them.
 *
 * @module
 */
import type { Tensor } from "../gpu/tensor.ts";
import type { Linear } from "../kernels/matmul.ts";

/** Weights of one attention sublayer. */
export interface AttentionWeights {
  /** input_layernorm weight `[D]` f32. */
  norm: Tensor;
  /** q_proj (HF `[H·hd, D]`), packed; biased when `qkvBias`. */
  q: Linear;
  /** k_proj (HF `[KVH·hd, D]`), packed; biased when `qkvBias`. */
  k: Linear;
  /** v_proj (HF `[KVH·hd, D]`), packed; biased when `qkvBias`. */
  v: Linear;
  /** o_proj (HF `[D, H·hd]`), packed; biased when `oBias`. */
  o: Linear;
}

/** Weights of one MLP sublayer. */
export interface MlpWeights {
  /** post_attention_layernorm weight `[D]` f32. */
  norm: Tensor;
  /** gate_proj (HF `[F, D]`), packed. */
  gate: Linear;
  /** up_proj (HF `[F, D]`), packed. */
  up: Linear;
  /** down_proj (HF `[D, F]`), packed; SPRINT re-fits its rows. */
  down: Linear;
}

/** One transformer block; a sublayer removed from the checkpoint is absent. */
export interface BlockWeights {
  /** Attention sublayer (index 2b); absent when removed. */
  attention?: AttentionWeights;
  /** MLP sublayer (index 2b + 1); absent when removed. */
  mlp?: MlpWeights;
}

/** Host-side weights by Hugging Face tensor name (f32 values). */
export type HostWeights = Map<string, Float32Array<ArrayBuffer>>;
