/**
 * Evaluation throughput for `deno task bench`: PIQA items per second on stories260K (the first
 * 100 validation items, lm-eval v0.4.1 prompts, encoding included), after a warm-up that compiles
 * the pipelines.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Gpu } from "../gpu/device.ts";
import { loadModel } from "../model/model.ts";
import { TASKS } from "../eval/tasks.ts";
import { evaluateDocs } from "../eval/zeroshot.ts";
import { median } from "../deps.ts";

/** Figure of {@link benchEvalPiqa}. */
export interface EvalBenchResult {
  name: string;
  /** Median items (documents) per second. */
  itemsPerSecond: number;
  /** Median loglikelihood requests (choices) per second. */
  requestsPerSecond: number;
  /** Wall-clock seconds of each timed repetition. */
  seconds: number[];
  /** Accuracy on those items (a sanity check: the same every run). */
  acc: number;
  acc_norm: number;
  protocol: {
    model: string;
    task: "piqa";
    items: number;
    reps: number;
    dtype: "f32" | "f16";
    batchTokens: number;
    clock: "wall-clock (encode + GPU batches + read-back + scoring)";
    adapter: string;
    deno: string;
  };
}

function sharedPath(rel: string): string {
  return fileURLToPath(new URL(`../../../shared/data/${rel}`, import.meta.url));
}

/**
 * Measures PIQA items/s on stories260K; returns undefined (with the reason) when the shared
 * model or data is absent.
 *
 * @example
 * ```ts
 * const r = await benchEvalPiqa(await getGpu());
 * if ("itemsPerSecond" in r) console.log(`${r.itemsPerSecond.toFixed(1)} PIQA items/s`);
 * ```
 */
export async function benchEvalPiqa(
  gpu: Gpu,
  options: {
    modelDir?: string;
    dataDir?: string;
    items?: number;
    reps?: number;
    dtype?: "f32" | "f16";
    batchTokens?: number;
  } = {},
): Promise<EvalBenchResult | { skipped: string }> {
  const modelDir = options.modelDir ?? sharedPath("models/stories260K-hf");
  const dataDir = options.dataDir ?? sharedPath("");
  const file = join(dataDir, TASKS.piqa.file);
  for (const p of [join(modelDir, "model.safetensors"), file]) {
    try {
      await Deno.stat(p);
    } catch {
      return { skipped: `${p} is absent` };
    }
  }
  const items = options.items ?? 100;
  const reps = options.reps ?? 2;
  const dtype = options.dtype ?? "f32";
  const batchTokens = options.batchTokens ?? 2048;
  const model = await loadModel(gpu, modelDir, { dtype, weightLayout: "tiled" });
  try {
    const all = await TASKS.piqa.load(file, items);
    await evaluateDocs(model, TASKS.piqa, all.slice(0, 4), { batchTokens }); // warm-up: pipelines
    const seconds: number[] = [];
    let last;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      const docs = await TASKS.piqa.load(file, items);
      last = await evaluateDocs(model, TASKS.piqa, docs, { batchTokens });
      seconds.push((performance.now() - t0) / 1000);
    }
    const s = median(seconds)!;
    const requests = all.reduce((n, d) => n + d.requests.length, 0);
    return {
      name: `PIQA zero-shot, stories260K, first ${items} items`,
      itemsPerSecond: all.length / s,
      requestsPerSecond: requests / s,
      seconds,
      acc: last!.acc,
      acc_norm: last!.acc_norm!,
      protocol: {
        model: modelDir,
        task: "piqa",
        items: all.length,
        reps,
        dtype,
        batchTokens,
        clock: "wall-clock (encode + GPU batches + read-back + scoring)",
        adapter: gpu.description,
        deno: Deno.version.deno,
      },
    };
  } finally {
    model.destroy();
  }
}
