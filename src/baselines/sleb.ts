/**
 * SLEB (Song et al., ICML 2024): greedy, iterative whole-block removal by calibration loss. At
 * each step every remaining block is removed temporarily (together with every block removed
 * before), the calibration NLL is computed, and the block with the lowest loss is removed for
 * good. The first and last blocks are never candidates (`earlyBarrier = latterBarrier = 1`, the
 * official defaults). Stopping: see {@link greedyNllSearch} (a block adds both sublayers'
 * latencies; a block that crosses the limit is taken whole).
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

/** Options of {@link sleb}. */
export interface SlebOptions extends BaselineOptions {
  /** Leading blocks that are never removed (default 1). */
  earlyBarrier?: number;
  /** Trailing blocks that are never removed (default 1). */
  latterBarrier?: number;
}

/** The candidate blocks of SLEB for a model of `numLayers` blocks. */
export function slebCandidates(numLayers: number, earlyBarrier = 1, latterBarrier = 1): number[] {
  const out: number[] = [];
  for (let b = earlyBarrier; b < numLayers - latterBarrier; b++) out.push(b);
  return out;
}

/**
 * Runs SLEB on `model` (not modified: removal is a mask; save with the returned mask).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { sleb } from "@sprint-wgpu/toolkit/baselines";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { calibrationFromFile } from "@sprint-wgpu/toolkit/sprint";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const text = `${DEFAULT_MODEL_DIR}/calibration.txt`;
 * const calib = await calibrationFromFile(text, model.tokenizer!, { nsamples: 2, seqLen: 16 });
 * const latency = { attention: 1, mlp: 2, dense: 30, source: "file" } as const; // or measureLatency
 * const { mask } = await sleb(model, calib, { targetSpeedup: 1.05, latency });
 * assert.equal(mask.filter((kept) => !kept).length, 2); // save with saveModel(model, dir, { mask })
 * model.destroy();
 * ```
 */
export async function sleb(
  model: LlamaModel,
  calib: Calibration,
  options: SlebOptions,
): Promise<BaselineResult> {
  checkStart(model, calib, "sleb");
  const blocks = slebCandidates(
    model.config.numLayers,
    options.earlyBarrier ?? 1,
    options.latterBarrier ?? 1,
  );
  return await greedyNllSearch(model, calib, {
    ...options,
    units: blocks.map((b) => [2 * b, 2 * b + 1]),
  });
}
