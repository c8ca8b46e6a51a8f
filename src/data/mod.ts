/**
 * Readers of the evaluation data: JSON lines, plain and WikiText corpora, and the zero-shot task files.
 *
 * @module
 */
export * from "./jsonl.ts";
export * from "./corpus.ts";
export * from "./zeroshot_files.ts";
