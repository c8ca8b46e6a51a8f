/**
 * SPRINT: calibration, the latency table, index rules, sensitivity and importance, the least-squares re-fit, the search loop and the prune log.
 *
 * @module
 */
export * from "./sprint.ts";
export * from "./state.ts";
export * from "./refit.ts";
export * from "./calibration.ts";
export * from "./latency.ts";
export * from "./latency_design.ts";
export * from "./latency_llamacpp.ts";
export * from "./rules.ts";
export * from "./sensitivity.ts";
export * from "./log.ts";
export * from "./sublayer_cost.ts";
