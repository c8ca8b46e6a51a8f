/**
 * SPRINT's latency model (spec §3) measured in llama.cpp instead of the toolkit's own forward:
 * the dense model (T1), minus k MLP sublayers (T2) and minus k attention sublayers (T3) — the
 * probe blocks of the 25 % rule — are exported as GGUFs (`exportGguf` with a mask; masked models
 * become `deci` files) and loaded into three llama.cpp child processes
 * with the same thread count. Rounds run T1, T2, T3 back to back; ℓ = median over rounds of the
 * paired differences / k, as `measureLatency` does. The table has the same shape as
 * `measureLatency`'s and is cached in the same file under a key that names the engine, the
 * thread count and the GGUF dtype.
 *
 * Workload in llama.cpp: `generation` = prefill `promptLength` synthetic tokens (logits of the
 * last position only), then `generationLength − 1` greedy single-token steps; `prefill` = the
 * prefill alone. One sequence (batch 1) only.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { median } from "../deps.ts";
import { ToolkitError } from "../errors.ts";
import { exportGguf } from "../export/gguf.ts";
import type { LlamaModel } from "../model/model.ts";
import { writeJsonAtomic } from "../report/json.ts";
import { LlamaCppEngine, NODE_LLAMA_CPP_VERSION } from "../engines/llamacpp.ts";
import type { EngineDescription } from "../engines/engine.ts";
import type { LatencyTable, LatencyWorkload } from "./latency.ts";
import { latencyProbeBlocks } from "./rules.ts";

/** Options of {@link measureLatencyLlamaCpp}. */
export interface LlamaCppLatencyOptions {
  /** llama.cpp threads (default 1). */
  threads?: number;
  /** Matrix storage of the exported GGUFs (default f32). */
  dtype?: "f32" | "f16";
  /**
   * `wall` (default): wall-clock latency, what a user sees. `cpu`: CPU time of the llama.cpp
   * process (user + system), which with one thread is the compute time and hardly moves when
   * other processes share the cores (on a machine whose cores are hyperthreads shared with
   * other jobs it still moves).
   */
  clock?: "wall" | "cpu";
  /**
   * `median` (default, spec §3 and `measureLatency`): median over rounds of the paired
   * differences T1 − T2 and T1 − T3. `min`: differences of the fastest run of each model — on a
   * machine where interference only ever slows a run down, the minimum is the quiet-machine time.
   */
  estimator?: "median" | "min";
  /** Directory for the three GGUFs (default: a temporary one, removed afterwards). */
  workDir?: string;
  /** Called after each round (diagnostics / progress). */
  onRound?: (round: number, ms: [number, number, number]) => void;
}

/** A latency table measured in llama.cpp. */
export interface LlamaCppLatencyTable extends LatencyTable {
  /** The engine the table describes. */
  engine: EngineDescription;
  /** llama.cpp threads. */
  threads: number;
  /** Matrix storage of the measured GGUFs. */
  ggufDtype: "f32" | "f16";
  /** The clock the table's figures use. */
  clock: "wall" | "cpu";
  /** The estimator the table's figures use. */
  estimator: "median" | "min";
  /** The same rounds under every clock × estimator (for comparison; SPRINT reads the top level). */
  alternatives: LatencyEstimate[];
  /** Raw times (ms) per round: `[T1, T2, T3]` on each clock. */
  rounds: { wall: number[][]; cpu: number[][] };
}

/** ℓ_MHA, ℓ_MLP and T1–T3 under one clock and estimator. */
export interface LatencyEstimate {
  /** The clock measured. */
  clock: "wall" | "cpu";
  /** How repetitions are combined. */
  estimator: "median" | "min";
  /** ℓ_MHA: one attention sublayer (ms). */
  attention: number;
  /** ℓ_MLP: one MLP sublayer (ms). */
  mlp: number;
  /** T1: the dense workload (ms). */
  t1: number;
  /** T2: without the probe blocks' MLPs (ms). */
  t2: number;
  /** T3: without the probe blocks' attention (ms). */
  t3: number;
}

/** Masks of the three measured models: dense, minus the probe MLPs, minus the probe attentions. */
export function latencyMasks(numLayers: number): {
  blocks: number[];
  masks: [boolean[], boolean[], boolean[]];
} {
  const blocks = latencyProbeBlocks(numLayers);
  const dense = new Array(2 * numLayers).fill(true);
  const noMlp = dense.map((_, s) => !(s % 2 === 1 && blocks.includes(s >> 1)));
  const noAttn = dense.map((_, s) => !(s % 2 === 0 && blocks.includes(s >> 1)));
  return { blocks, masks: [dense, noMlp, noAttn] };
}

/**
 * Exports `model` restricted to `mask` as a GGUF at `file` (dense → `llama`, else `deci`), from
 * the model's weights on the device (`exportGguf` with a mask).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gguf } from "@huggingface/gguf";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { exportMaskedGguf, latencyMasks } from "@sprint-wgpu/toolkit/sprint";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const [, noMlp] = latencyMasks(model.config.numLayers).masks; // minus the probe blocks' MLPs
 * const file = `${await Deno.makeTempDir()}/no_mlp.gguf`;
 * await exportMaskedGguf(model, noMlp, file, "f32");
 * const { metadata } = await gguf(file, { allowLocalFile: true });
 * assert.equal(metadata["general.architecture"], "deci"); // masked models are `deci` files
 * await Deno.remove(file);
 * model.destroy();
 * ```
 */
export async function exportMaskedGguf(
  model: LlamaModel,
  mask: readonly boolean[],
  file: string,
  dtype: "f32" | "f16",
): Promise<void> {
  await exportGguf(model, file, { dtype, mask, overwrite: true });
}

/**
 * Measures ℓ_MHA and ℓ_MLP of `model` in llama.cpp (see the module doc).
 *
 * @example Measure (not run by `deno test --doc`: three llama.cpp children take seconds, and a
 * sublayer of the 128-wide default model is below the run-to-run noise of a shared machine)
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { loadModel } from "@sprint-wgpu/toolkit/model";
 * import { measureLatencyLlamaCpp } from "@sprint-wgpu/toolkit/sprint";
 * const model = await loadModel(await getGpu(), "path/to/model"); // a model of realistic width
 * const w = { mode: "generation", promptLength: 128, generationLength: 64, batch: 1, iterations: 5 } as const;
 * const lat = await measureLatencyLlamaCpp(model, w, { threads: 1 });
 * assert.ok(lat.attention > 0 && lat.mlp > 0 && lat.engine.engine === "llama.cpp");
 * model.destroy();
 * ```
 */
export async function measureLatencyLlamaCpp(
  model: LlamaModel,
  w: LatencyWorkload,
  options: LlamaCppLatencyOptions = {},
): Promise<LlamaCppLatencyTable> {
  const threads = options.threads ?? 1;
  const dtype = options.dtype ?? "f32";
  const clock = options.clock ?? "wall";
  const estimator = options.estimator ?? "median";
  if (w.batch !== 1) {
    throw new ToolkitError(`latency in llama.cpp: batch ${w.batch} (only batch 1 is measured)`);
  }
  if (!Number.isInteger(w.iterations) || w.iterations < 1) {
    throw new ToolkitError(`latency: iterations must be a positive integer, got ${w.iterations}`);
  }
  if (model.alive.some((a) => !a)) {
    throw new ToolkitError("latency: measure on the dense model (this one has removed sublayers)");
  }
  const L = model.config.numLayers;
  const { blocks, masks } = latencyMasks(L);
  const own = options.workDir === undefined;
  const dir = options.workDir ?? await Deno.makeTempDir({ prefix: "latency_llamacpp_" });
  await Deno.mkdir(dir, { recursive: true });
  const names = ["dense", "no_mlp", "no_attention"];
  const engines: LlamaCppEngine[] = [];
  try {
    for (let j = 0; j < 3; j++) {
      const file = join(dir, `${names[j]}.${dtype}.gguf`);
      await exportMaskedGguf(model, masks[j], file, dtype);
      engines.push(await LlamaCppEngine.load(file, { threads }));
    }
    const decode = w.mode === "generation" ? Math.max(0, w.generationLength - 1) : 0;
    const run = async (e: LlamaCppEngine) => {
      const t = await e.time({
        promptTokens: w.promptLength,
        newTokens: decode,
        warmup: 0,
        reps: 1,
      });
      return {
        wall: t.prefillMs[0] + (decode > 0 ? t.decodeMs[0] : 0),
        cpu: t.prefillCpuMs![0] + (decode > 0 ? t.decodeCpuMs![0] : 0),
      };
    };
    for (const e of engines) await run(e); // warm-up
    const times = { wall: [[], [], []] as number[][], cpu: [[], [], []] as number[][] };
    for (let i = 0; i < w.iterations; i++) {
      const round = [];
      for (let j = 0; j < 3; j++) round.push(await run(engines[j]));
      round.forEach((r, j) => {
        times.wall[j].push(r.wall);
        times.cpu[j].push(r.cpu);
      });
      options.onRound?.(i, round.map((r) => r[clock]) as [number, number, number]);
    }
    const k = blocks.length;
    const estimate = (c: "wall" | "cpu", e: "median" | "min"): LatencyEstimate => {
      const ts = times[c];
      if (e === "min") {
        const [t1, t2, t3] = ts.map((t) => Math.min(...t));
        return { clock: c, estimator: e, attention: (t1 - t3) / k, mlp: (t1 - t2) / k, t1, t2, t3 };
      }
      const [t1, t2, t3] = ts.map((t) => median(t)!);
      const mlp = median(ts[0].map((t, i) => t - ts[1][i]))! / k;
      const attention = median(ts[0].map((t, i) => t - ts[2][i]))! / k;
      return { clock: c, estimator: e, attention, mlp, t1, t2, t3 };
    };
    const alternatives = (["wall", "cpu"] as const).flatMap((c) =>
      (["median", "min"] as const).map((e) => estimate(c, e))
    );
    const { attention, mlp, t1, t2, t3 } = estimate(clock, estimator);
    if (!(mlp > 0) || !(attention > 0)) {
      throw new ToolkitError(
        `latency in llama.cpp: measured non-positive sublayer latency (MLP ${
          mlp.toFixed(3)
        } ms, attention ${
          attention.toFixed(3)
        } ms); the workload is too small or the machine too noisy — raise --latency-iters or the workload, or pass --latency-table`,
      );
    }
    const engine = engines[0].description;
    return {
      attention,
      mlp,
      dense: t1,
      t1,
      t2,
      t3,
      probeBlocks: blocks,
      workload: w,
      adapter:
        `${engine.version}; ${threads} thread(s); ${dtype} GGUF; ${clock} clock, ${estimator}`,
      deno: Deno.version.deno,
      measuredAt: new Date().toISOString(),
      source: "measured",
      engine,
      threads,
      ggufDtype: dtype,
      clock,
      estimator,
      alternatives,
      rounds: {
        wall: times.wall[0].map((_, i) => times.wall.map((t) => t[i])),
        cpu: times.cpu[0].map((_, i) => times.cpu.map((t) => t[i])),
      },
    };
  } finally {
    for (const e of engines) await e.dispose();
    if (own) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Cache key of a llama.cpp latency table: engine (pinned node-llama-cpp), threads, GGUF dtype,
 * clock and estimator, model and workload.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { latencyKeyLlamaCpp, type LatencyWorkload } from "@sprint-wgpu/toolkit/sprint";
 * const w: LatencyWorkload = {
 *   mode: "generation", promptLength: 128, generationLength: 64, batch: 1, iterations: 5,
 * };
 * assert.equal(
 *   latencyKeyLlamaCpp("models/base", w, 1, "f32"),
 *   '["llama.cpp (node-llama-cpp 3.21.1)","threads=1","f32","wall clock, median","models/base","generation",128,64,1]',
 * );
 * ```
 */
export function latencyKeyLlamaCpp(
  modelId: string,
  w: LatencyWorkload,
  threads: number,
  dtype: "f32" | "f16",
  clock: "wall" | "cpu" = "wall",
  estimator: "median" | "min" = "median",
): string {
  return JSON.stringify([
    `llama.cpp (node-llama-cpp ${NODE_LLAMA_CPP_VERSION})`,
    `threads=${threads}`,
    dtype,
    `${clock} clock, ${estimator}`,
    modelId,
    w.mode,
    w.promptLength,
    w.generationLength,
    w.batch,
  ]);
}

/**
 * The cached llama.cpp table for (engine, threads, dtype, model, workload) from `cacheFile` (the
 * same file `cachedLatency` uses), or measures and stores one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { cachedLatencyLlamaCpp, latencyKeyLlamaCpp } from "@sprint-wgpu/toolkit/sprint";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const w = { mode: "generation", promptLength: 16, generationLength: 8, batch: 1, iterations: 5 } as const;
 * // A cache holding this (engine, threads, dtype, model, workload) answers without measuring;
 * // otherwise three llama.cpp children measure it and the table is added to the file.
 * const dir = await Deno.makeTempDir();
 * const stored = { attention: 0.02, mlp: 0.03, dense: 1.1, source: "measured", threads: 1 };
 * const cache = { [latencyKeyLlamaCpp("default", w, 1, "f32")]: stored };
 * await Deno.writeTextFile(`${dir}/cache.json`, JSON.stringify(cache));
 * const latency = await cachedLatencyLlamaCpp(model, "default", w, `${dir}/cache.json`, { threads: 1 });
 * assert.deepEqual(latency, { ...stored, source: "cache" });
 * await Deno.remove(dir, { recursive: true });
 * model.destroy();
 * ```
 */
export async function cachedLatencyLlamaCpp(
  model: LlamaModel,
  modelId: string,
  w: LatencyWorkload,
  cacheFile: string,
  options: LlamaCppLatencyOptions = {},
): Promise<LlamaCppLatencyTable> {
  const threads = options.threads ?? 1;
  const dtype = options.dtype ?? "f32";
  const key = latencyKeyLlamaCpp(
    modelId,
    w,
    threads,
    dtype,
    options.clock ?? "wall",
    options.estimator ?? "median",
  );
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
  const hit = cache[key] as LlamaCppLatencyTable | undefined;
  if (hit) return { ...hit, source: "cache" };
  const table = { ...(await measureLatencyLlamaCpp(model, w, options)), model: modelId };
  // Re-read: another run may have added tables meanwhile.
  try {
    cache = JSON.parse(await Deno.readTextFile(cacheFile));
  } catch { /* keep what we had */ }
  cache[key] = table;
  await Deno.mkdir(dirname(cacheFile), { recursive: true });
  await writeJsonAtomic(cacheFile, cache);
  return table;
}
