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
 * Measures PIQA items/s on stories260K; returns `{ skipped: reason }` when the shared model or
 * data is absent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR } from "@sprint-wgpu/toolkit/model";
 * import { benchEvalPiqa } from "./eval_bench.ts"; // internal: src/bench/ has no package subpath
 * const gpu = await getGpu();
 * const dataDir = await Deno.makeTempDir(); // four PIQA-format items instead of the shared file
 * await Deno.mkdir(`${dataDir}/bench`);
 * const item = (q: string, a: string, b: string, gold: number) =>
 *   JSON.stringify({ query: `Question: ${q}\n`, choices: [a, b], gold }); // the shared file's form
 * await Deno.writeTextFile(`${dataDir}/bench/piqa.jsonl`, [
 *   item("How do I dry wet hands?", "Use a towel.", "Use a cup of water.", 0),
 *   item("How do I open a door?", "Sing to it.", "Turn the handle.", 1),
 *   item("How do I cool tea?", "Wait a few minutes.", "Boil it again.", 0),
 *   item("How do I see at night?", "Close my eyes.", "Turn on a lamp.", 1),
 * ].join("\n") + "\n");
 * const r = await benchEvalPiqa(gpu, { modelDir: DEFAULT_MODEL_DIR, dataDir, items: 4, reps: 1 });
 * assert.ok("itemsPerSecond" in r, "model and data present: measured, not skipped");
 * assert.equal(r.protocol.items, 4);
 * assert.equal(r.seconds.length, 1);
 * assert.ok(r.itemsPerSecond > 0 && r.requestsPerSecond === 2 * r.itemsPerSecond);
 * assert.ok(r.acc >= 0 && r.acc <= 1);
 * const noData = { modelDir: DEFAULT_MODEL_DIR, dataDir: `${dataDir}/x` }; // no piqa.jsonl there
 * const absent = await benchEvalPiqa(gpu, noData);
 * assert.match((absent as { skipped: string }).skipped, /piqa\.jsonl is absent$/);
 * await Deno.remove(dataDir, { recursive: true });
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
