/**
 * What a prune can reach: the most sublayers a method can remove from an L-block model and the
 * largest estimated speedup that removal gives under a latency table — so an unreachable
 * `--num-sublayers` / `--target-speedup` is refused before any search, naming the largest
 * reachable value.
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import type { LatencyTable } from "../sprint/latency.ts";
import { estimatedSpeedup, sublayerLatency } from "../sprint/rules.ts";

/** The mask (true = kept) of the largest removal `method` can make on `numLayers` blocks. */
export function maxRemovalMask(
  method: string,
  numLayers: number,
  latency?: Pick<LatencyTable, "attention" | "mlp">,
  keep: "cheapest" | "dearest" = "cheapest",
): boolean[] {
  const n = 2 * numLayers;
  const mask = new Array<boolean>(n).fill(false);
  if (method === "sleb") {
    // SLEB keeps its first and last blocks.
    for (const b of numLayers >= 2 ? [0, numLayers - 1] : [0]) mask[2 * b] = mask[2 * b + 1] = true;
    if (numLayers < 3) mask.fill(true);
  } else if (method === "shortgpt") {
    mask[0] = mask[1] = true; // one block stays
  } else {
    // SPRINT and BlockPruner remove single sublayers: all but one, best case the cheapest.
    const mlpCheaper = latency !== undefined && latency.attention > latency.mlp;
    mask[mlpCheaper === (keep === "cheapest") ? 1 : 0] = true;
  }
  return mask;
}

/**
 * The most sublayers `method` can remove.
 *
 * @example
 * ```ts
 * import { maxSublayers } from "./reach.ts";
 * if (maxSublayers("sprint", 4) !== 7 || maxSublayers("sleb", 4) !== 4) throw new Error();
 * ```
 */
export function maxSublayers(method: string, numLayers: number): number {
  return maxRemovalMask(method, numLayers).filter((k) => !k).length;
}

/**
 * The largest estimated speedup `method` can reach under `latency` and the speedup model
 * (`keep: "dearest"`: the largest it reaches whichever sublayer the search leaves).
 */
export function maxSpeedup(
  method: string,
  numLayers: number,
  latency: LatencyTable,
  speedupModel: "total" | "sublayers",
  keep: "cheapest" | "dearest" = "cheapest",
): number {
  const mask = maxRemovalMask(method, numLayers, latency, keep);
  return estimatedSpeedup(latency, mask, speedupModel === "total");
}

/** Refuses an unreachable `--num-sublayers`. */
export function checkNumSublayers(method: string, numLayers: number, k: number): void {
  const max = maxSublayers(method, numLayers);
  if (k > max) {
    throw new ToolkitError(
      `--num-sublayers ${k} is unreachable: ${method} can remove at most ${max} of the model's ` +
        `${2 * numLayers} sublayers; the largest reachable value is ${max}`,
    );
  }
}

/** Refuses an unreachable `--target-speedup` (or a latency table that gives no finite speedup). */
export function checkTargetSpeedup(
  method: string,
  numLayers: number,
  latency: LatencyTable,
  speedupModel: "total" | "sublayers",
  target: number,
): void {
  const max = maxSpeedup(method, numLayers, latency, speedupModel);
  const per = [sublayerLatency(latency, 0), sublayerLatency(latency, 1)];
  if (!Number.isFinite(max) || !per.every((x) => Number.isFinite(x) && x > 0)) {
    throw new ToolkitError(
      `latency table (attention ${latency.attention}, mlp ${latency.mlp}, dense ${latency.dense} ms) ` +
        "gives no finite estimated speedup",
    );
  }
  if (target > max) {
    const floor = (x: number) => Math.floor(x * 1000) / 1000;
    const sure = maxSpeedup(method, numLayers, latency, speedupModel, "dearest");
    throw new ToolkitError(
      `--target-speedup ${target} is unreachable: with ${method} removing every removable sublayer ` +
        `gives an estimated speedup of at most ${max.toFixed(4)} (speedup model ${speedupModel}, ` +
        `latency ${latency.source}); the largest reachable value is ${floor(max)}` +
        (sure < max ? ` (${floor(sure)} whichever sublayer the search keeps)` : ""),
    );
  }
}
