/**
 * The training engine: gradients through the same forward, AdamW, the training loop and LoRA fine-tuning (backward kernels in `train/kernels/`).
 *
 * @module
 */
export * from "./trainer.ts";
export * from "./grad.ts";
export * from "./lora.ts";
export * from "./kernels/mod.ts";
