/**
 * Backward kernels and the optimizer for training on WebGPU: the gradient of every forward op
 * (linear, RMSNorm, RoPE, causal GQA attention with its forward-with-LSE, SwiGLU, embedding,
 * fused cross-entropy) and AdamW with global-norm clipping.
 *
 * @module
 */
export * from "./linear_backward.ts";
export * from "./rmsnorm_backward.ts";
export * from "./rope_backward.ts";
export * from "./attention_backward.ts";
export * from "./swiglu_backward.ts";
export * from "./embedding_backward.ts";
export * from "./cross_entropy.ts";
export * from "./adamw.ts";
