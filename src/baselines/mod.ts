/**
 * Depth-pruning baselines in the same harness as SPRINT: SLEB (greedy block removal by
 * calibration loss), ShortGPT (one-shot Block Influence), BlockPruner (greedy sublayer removal by
 * calibration loss), dispatched by name for the prune command (src/prune).
 *
 * @module
 */
export * from "./common.ts";
export { sleb, slebCandidates, type SlebOptions } from "./sleb.ts";
export { blockInfluence, shortgpt, type ShortGptOptions } from "./shortgpt.ts";
export { blockpruner } from "./blockpruner.ts";
export { runBaseline } from "./prune.ts";
