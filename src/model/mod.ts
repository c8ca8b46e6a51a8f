/**
 * Llama-family models: config, safetensors, tokenizer, loading, the one masked forward with SPRINT's hooks, the greedy decode loop, generation, loss and saving.
 *
 * @module
 */
export * from "./config.ts";
export * from "./safetensors.ts";
export * from "./tokenizer.ts";
export * from "./model.ts";
export * from "./forward.ts";
export * from "./decode.ts";
export * from "./generate.ts";
export * from "./loss.ts";
export * from "./save.ts";
export * from "./default.ts";
export * from "./residency.ts";
