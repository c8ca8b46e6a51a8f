/**
 * GGUF export for llama.cpp: the GGUF v3 writer, the embedded tokenizer and the dense/pruned model exporter.
 *
 * @module
 */
export * from "./gguf.ts";
export * from "./gguf_writer.ts";
export * from "./gguf_tokenizer.ts";
