/**
 * SPRINT's latency model (spec §3): per-type sublayer latency measured on this device with the
 * toolkit's own forward — dense (T1), minus k MLP sublayers (T2), minus k attention sublayers
 * (T3), k from the 25 % rule — so ℓ_MLP = (T1 − T2)/k and ℓ_MHA = (T1 − T3)/k. Tables are
 * cached per (adapter, model, workload) in a JSON file and can be supplied by the user.
 *
 * @module
 */
import { dirname } from "node:path";
import { median } from "../deps.ts";
import { ToolkitError } from "../errors.ts";
import { writeJsonAtomic } from "../report/json.ts";
import { greedyDecode, recordGreedyPrefill } from "../model/decode.ts";
import { KvCache, recordForward } from "../model/forward.ts";
import type { LlamaModel } from "../model/model.ts";
import { seededRandom } from "../util/random.ts";
import type { SublayerLatency } from "./rules.ts";
import { LATENCY_METHOD, measureSublayerLatency } from "./latency_design.ts";
import { type SublayerCost, sublayerCosts } from "./sublayer_cost.ts";
import type { LatencyWorkload } from "./workload.ts";

export type { LatencyWorkload } from "./workload.ts";

/** A measured (or supplied) latency table. */
export interface LatencyTable extends SublayerLatency {
  /** Dense, minus-k-MLP and minus-k-attention workload latencies (ms, medians). */
  t1?: number;
  /** Latency without the probe blocks' MLP sublayers (ms, median). */
  t2?: number;
  /** Latency without the probe blocks' attention sublayers (ms, median). */
  t3?: number;
  /** Blocks whose sublayers were removed for T2/T3. */
  probeBlocks?: number[];
  /** Rounds (T1, T2, T3 once each) behind the medians. */
  roundsMeasured?: number;
  /** Standard errors of ℓ_MHA and ℓ_MLP (ms). */
  standardError?: { attention: number; mlp: number };
  /** The measurement design ({@link LATENCY_METHOD} for tables this toolkit measures). */
  method?: string;
  /** The workload measured. */
  workload?: LatencyWorkload;
  /** The GPU adapter measured on. */
  adapter?: string;
  /** Model id the table is cached for. */
  model?: string;
  /** Deno version of the measurement. */
  deno?: string;
  /** When it was measured (ISO 8601). */
  measuredAt?: string;
  /** Where the numbers came from (`unmeasured`: not needed by the run, nominal 1 ms each). */
  source: "measured" | "cache" | "file" | "unmeasured";
  /** Dense latency minus Σ sublayer latencies (negative: the fixed cost does not fit). */
  fixedCost?: number;
  /** Findings about the measurement (e.g. dense below Σ sublayers, extra rounds taken). */
  warnings?: string[];
  /** FLOPs and minimum bytes of one sublayer of each type over the workload (measured tables). */
  cost?: { attention: SublayerCost; mlp: SublayerCost };
}

/**
 * Runs the workload once on `model` with `mask` (greedy decode kept on the GPU, several steps per
 * submission) and returns wall milliseconds from the first submission to the last result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { type LatencyWorkload, runWorkload } from "@sprint-wgpu/toolkit/sprint";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const w: LatencyWorkload = {
 *   mode: "generation", promptLength: 16, generationLength: 4, batch: 1, iterations: 1,
 * };
 * const ms = await runWorkload(model, model.alive, w); // wall ms of one run
 * assert.ok(Number.isFinite(ms) && ms > 0);
 * model.destroy();
 * ```
 */
export async function runWorkload(
  model: LlamaModel,
  mask: readonly boolean[],
  w: LatencyWorkload,
  seed = 0,
): Promise<number> {
  const gpu = model.gpu;
  const V = model.config.vocabSize;
  const rand = seededRandom(seed);
  const b = w.batch;
  const promptIds = new Uint32Array(b * w.promptLength).map(() => Math.floor(rand() * V));
  const ids = gpu.tensor([promptIds.length], "u32", promptIds);
  const t0 = performance.now();
  if (w.mode === "prefill") {
    const logits = gpu.tensor([b * w.promptLength, V], "f32");
    gpu.run((rec) =>
      recordForward(rec, model, ids, { batch: b, tokens: w.promptLength, mask, out: logits })
    );
    await gpu.sync();
    const ms = performance.now() - t0;
    logits.destroy();
    ids.destroy();
    return ms;
  }
  const cache = new KvCache(model, b, w.promptLength + w.generationLength, mask);
  const first = gpu.tensor([b], "u32");
  try {
    const logits = gpu.run((rec) =>
      recordGreedyPrefill(rec, model, ids, first, { batch: b, tokens: w.promptLength, mask, cache })
    );
    // The sampled ids are read after each submission, as in real decoding.
    await greedyDecode(model, first, { batch: b, cache, steps: w.generationLength - 1, mask });
    await gpu.sync();
    const ms = performance.now() - t0;
    logits.destroy();
    return ms;
  } finally {
    cache.destroy();
    for (const t of [first, ids]) t.destroy();
  }
}

/**
 * Median latency of `iterations` timed runs after one warm-up.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { timeWorkload } from "@sprint-wgpu/toolkit/sprint";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const w = { mode: "prefill", promptLength: 32, generationLength: 0, batch: 1, iterations: 3 } as const;
 * const ms = await timeWorkload(model, model.alive, w); // median of 3 runs after a warm-up
 * assert.ok(Number.isFinite(ms) && ms > 0);
 * model.destroy();
 * ```
 */
export async function timeWorkload(
  model: LlamaModel,
  mask: readonly boolean[],
  w: LatencyWorkload,
): Promise<number> {
  await runWorkload(model, mask, w, 1);
  const times: number[] = [];
  for (let i = 0; i < w.iterations; i++) times.push(await runWorkload(model, mask, w, 2 + i));
  return median(times)!;
}

/**
 * Measures ℓ_MHA and ℓ_MLP (spec §3.1) on this device with the toolkit's forward: the three
 * configurations interleaved (T1, T2, T3, T1, T2, T3, …) so slow drifts of a shared machine hit
 * all three alike, rounds and probe blocks chosen adaptively until each ℓ has a relative standard
 * error ≤ 10 % ({@link measureSublayerLatency}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { measureLatency } from "@sprint-wgpu/toolkit/sprint";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const lat = await measureLatency(model, {
 *   mode: "generation", promptLength: 16, generationLength: 8, batch: 1, iterations: 3,
 * });
 * assert.ok(lat.source === "measured" && lat.attention > 0 && lat.mlp > 0);
 * model.destroy();
 * ```
 */
export async function measureLatency(
  model: LlamaModel,
  w: LatencyWorkload,
  options: { attempts?: number; maxRelativeError?: number; log?: (msg: string) => void } = {},
): Promise<LatencyTable> {
  const L = model.config.numLayers;
  if (model.alive.some((a) => !a)) {
    throw new ToolkitError("latency: measure on the dense model (this one has removed sublayers)");
  }
  const m = await measureSublayerLatency(
    L,
    (mask, seed) => runWorkload(model, mask, w, seed),
    { iterations: w.iterations, ...options },
  );
  const attention = m.attention.value;
  const mlp = m.mlp.value;
  const warnings = [...m.warnings];
  const sum = L * (attention + mlp);
  const fixedCost = m.t1 - sum;
  if (fixedCost < 0) {
    const msg = `dense workload latency ${m.t1.toFixed(3)} ms is below the sum of the sublayer ` +
      `latencies ${sum.toFixed(3)} ms (fixed cost ${fixedCost.toFixed(3)} ms): the "total" ` +
      `speedup model takes the fixed cost as 0 and equals the "sublayers" model`;
    warnings.push(msg); // the prune command logs it for every table, measured or supplied
  }
  return {
    attention,
    mlp,
    dense: m.t1,
    t1: m.t1,
    t2: m.t2,
    t3: m.t3,
    probeBlocks: m.probeBlocks,
    roundsMeasured: m.rounds,
    standardError: { attention: m.attention.se, mlp: m.mlp.se },
    method: LATENCY_METHOD,
    workload: w,
    adapter: model.gpu.description,
    deno: Deno.version.deno,
    measuredAt: new Date().toISOString(),
    source: "measured",
    fixedCost,
    warnings,
    cost: sublayerCosts(model.config, w, model.dtype === "f16" ? 2 : 4),
  };
}

/**
 * Cache key of a latency table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LatencyWorkload, latencyKey } from "@sprint-wgpu/toolkit/sprint";
 * const w: LatencyWorkload = {
 *   mode: "generation", promptLength: 128, generationLength: 64, batch: 1, iterations: 5,
 * };
 * // iterations is not part of the key: more rounds measure the same quantity
 * assert.equal(latencyKey("llvmpipe", "models/base", w), '["llvmpipe","models/base","generation",128,64,1]');
 * ```
 */
export function latencyKey(adapter: string, modelId: string, w: LatencyWorkload): string {
  return JSON.stringify([adapter, modelId, w.mode, w.promptLength, w.generationLength, w.batch]);
}

/**
 * Returns the cached table for (adapter, model, workload) from `cacheFile`, or measures and stores
 * one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import {
 *   cachedLatency,
 *   LATENCY_METHOD,
 *   type LatencyWorkload,
 *   latencyKey,
 * } from "@sprint-wgpu/toolkit/sprint";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const w: LatencyWorkload = {
 *   mode: "prefill", promptLength: 32, generationLength: 0, batch: 1, iterations: 3,
 * };
 * // A cache holding this (adapter, model, workload), measured by this design, answers at once:
 * const dir = await Deno.makeTempDir();
 * const key = latencyKey(model.gpu.description, "default", w);
 * const stored = { attention: 0.2, mlp: 0.3, dense: 6, source: "measured", method: LATENCY_METHOD };
 * await Deno.writeTextFile(`${dir}/cache.json`, JSON.stringify({ [key]: stored }));
 * const latency = await cachedLatency(model, "default", w, `${dir}/cache.json`);
 * assert.deepEqual(latency, { ...stored, source: "cache" });
 * await Deno.remove(dir, { recursive: true });
 * model.destroy();
 * ```
 */
export async function cachedLatency(
  model: LlamaModel,
  modelId: string,
  w: LatencyWorkload,
  cacheFile: string,
  log?: (msg: string) => void,
): Promise<LatencyTable> {
  const key = latencyKey(model.gpu.description, modelId, w);
  let cache: Record<string, LatencyTable> = {};
  try {
    cache = JSON.parse(await Deno.readTextFile(cacheFile));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new ToolkitError(
        `${cacheFile}: latency cache is not valid JSON (${(e as Error).message})`,
      );
    }
  }
  // A table measured by an older design is measured again (and replaced).
  if (cache[key]?.method === LATENCY_METHOD) return { ...cache[key], source: "cache" };
  const table = { ...(await measureLatency(model, w, { log })), model: modelId };
  cache[key] = table;
  await Deno.mkdir(dirname(cacheFile), { recursive: true });
  await writeJsonAtomic(cacheFile, cache);
  return table;
}

/**
 * Reads a latency table supplied by the user (the format {@link measureLatency} writes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readLatencyTable } from "@sprint-wgpu/toolkit/sprint";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/latency.json`, JSON.stringify({ attention: 1.5, mlp: 2.5 }));
 * const latency = await readLatencyTable(`${dir}/latency.json`);
 * assert.deepEqual(latency, { attention: 1.5, mlp: 2.5, dense: 0, source: "file" });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readLatencyTable(path: string): Promise<LatencyTable> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new ToolkitError(`${path}: cannot read the latency table (${(e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ToolkitError(`${path}: latency table is not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ToolkitError(`${path}: latency table must be a JSON object`);
  }
  const r = raw as Record<string, unknown>;
  // Milliseconds: finite, positive and below a day (a larger value is a unit mistake, and huge
  // values overflow the speedup sums to Infinity/NaN).
  const MAX_MS = 86_400_000;
  const ms = (f: string, required: boolean): number | undefined => {
    const v = r[f];
    if (v === undefined && !required) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v) || !(v > 0) || v > MAX_MS) {
      throw new ToolkitError(
        `${path}: field ${f} is ${JSON.stringify(v) ?? "missing"} (expected a positive number ` +
          `of milliseconds below ${MAX_MS}${required ? "" : ", or omit the field"})`,
      );
    }
    return v;
  };
  const attention = ms("attention", true)!;
  const mlp = ms("mlp", true)!;
  const dense = ms("dense", false);
  const t1 = ms("t1", false);
  ms("t2", false);
  ms("t3", false);
  if (t1 !== undefined && dense !== undefined && t1 !== dense) {
    throw new ToolkitError(`${path}: fields t1 (${t1}) and dense (${dense}) disagree`);
  }
  if (
    r.probeBlocks !== undefined &&
    (!Array.isArray(r.probeBlocks) ||
      r.probeBlocks.some((b) => !Number.isInteger(b) || (b as number) < 0))
  ) {
    throw new ToolkitError(`${path}: field probeBlocks must be a list of block indices`);
  }
  for (const f of ["adapter", "model", "deno", "measuredAt"]) {
    if (r[f] !== undefined && typeof r[f] !== "string") {
      throw new ToolkitError(
        `${path}: field ${f} is ${JSON.stringify(r[f])} (expected a string, or omit the field)`,
      );
    }
  }
  if (
    r.workload !== undefined && (typeof r.workload !== "object" || r.workload === null ||
      Array.isArray(r.workload))
  ) {
    throw new ToolkitError(`${path}: field workload must be an object`);
  }
  return {
    ...(r as unknown as LatencyTable),
    attention,
    mlp,
    dense: dense ?? 0,
    source: "file",
  };
}
