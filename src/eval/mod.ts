/**
 * Evaluation: perplexity, lm-eval-compatible zero-shot tasks and their accuracy, log-likelihood scoring, and speed.
 *
 * @module
 */
export * from "./perplexity.ts";
export * from "./zeroshot.ts";
export * from "./tasks.ts";
export * from "./accuracy.ts";
export * from "./loglikelihood.ts";
export * from "./speed.ts";
