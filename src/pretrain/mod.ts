/**
 * The default model's recipe: its corpus, the byte-level BPE tokenizer and the pretraining run.
 *
 * @module
 */
export * from "./corpus.ts";
export * from "./bpe.ts";
export * from "./pretrain.ts";
