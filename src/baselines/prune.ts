/**
 * Dispatch of the baselines by name. `deno task prune --method sleb|shortgpt|blockpruner` runs
 * them through the prune command (src/prune/command.ts), which writes the same outputs, state
 * and resume format as for SPRINT.
 *
 * @module
 */
import type { LlamaModel } from "../model/model.ts";
import type { Calibration } from "../sprint/calibration.ts";
import { blockpruner } from "./blockpruner.ts";
import { type BaselineMethod, type BaselineOptions, type BaselineResult } from "./common.ts";
import { shortgpt } from "./shortgpt.ts";
import { sleb } from "./sleb.ts";

/** Runs baseline `method` with `options`. */
export async function runBaseline(
  method: BaselineMethod,
  model: LlamaModel,
  calib: Calibration,
  options: BaselineOptions & { batchSize?: number },
): Promise<BaselineResult> {
  if (method === "sleb") return await sleb(model, calib, options);
  if (method === "shortgpt") return await shortgpt(model, calib, options);
  if (method === "blockpruner") return await blockpruner(model, calib, options);
  throw new Error(`unknown baseline ${method}`);
}
