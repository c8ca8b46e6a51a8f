/**
 * Memory plans: what a prune or eval needs on the device and in host memory, by category, and
 * the placement (resident, streamed activations, streamed weights) that fits a budget.
 *
 * @module
 */
export * from "./memory.ts";
export * from "./prune.ts";
