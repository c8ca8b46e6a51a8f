/**
 * BlockPruner (Zhong et al., 2024): greedy, iterative sublayer removal by whole-model calibration
 * perplexity. At each step every remaining attention and MLP sublayer is masked on top of the
 * current removal set, the calibration NLL (log-perplexity) is computed, and the sublayer with
 * the lowest value is removed. Every sublayer is a candidate (the optional block-influence
 * pre-filter of the search space is not used); attention and MLP count the same in the criterion
 * — the method is not latency-aware — but the run stops on the shared latency model (see
 * {@link greedyNllSearch}).
 *
 * @module
 */
import type { LlamaModel } from "../model/model.ts";
import type { Calibration } from "../sprint/calibration.ts";
import {
  type BaselineOptions,
  type BaselineResult,
  checkStart,
  greedyNllSearch,
} from "./common.ts";

/**
 * Runs BlockPruner on `model` (not modified: removal is a mask; save with the returned mask).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { blockpruner } from "@sprint-wgpu/toolkit/baselines";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { calibrationFromFile } from "@sprint-wgpu/toolkit/sprint";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const text = `${DEFAULT_MODEL_DIR}/calibration.txt`;
 * const calib = await calibrationFromFile(text, model.tokenizer!, { nsamples: 2, seqLen: 16 });
 * const latency = { attention: 1, mlp: 2, dense: 30, source: "file" } as const; // or measureLatency
 * const { steps } = await blockpruner(model, calib, { targetSpeedup: 1.05, latency });
 * assert.ok(steps.at(-1)!.estimatedSpeedup >= 1.05); // greedy sublayer removal by calibration loss
 * model.destroy();
 * ```
 */
export async function blockpruner(
  model: LlamaModel,
  calib: Calibration,
  options: BaselineOptions,
): Promise<BaselineResult> {
  checkStart(model, calib, "blockpruner");
  return await greedyNllSearch(model, calib, {
    ...options,
    units: Array.from({ length: model.numSublayers }, (_, s) => [s]),
  });
}
