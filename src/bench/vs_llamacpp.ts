/**
 * Side-by-side speed of the toolkit's WebGPU forward and llama.cpp on the same model (the HF
 * directory and its GGUF export), in one run (issue 14, deliverable 1): for each model, weight
 * dtype (f32, f16) and thread count (1, 2), both engines run in child processes — ours with
 * `LP_NUM_THREADS` = threads, llama.cpp with `n_threads` = threads — and are timed alternately,
 * round after round (prefill `promptTokens` synthetic tokens, then `newTokens` greedy steps, wall
 * clock inside each engine's process). Per round the ratio ours ÷ llama.cpp of tokens/s is taken;
 * the result reports each engine's median tokens/s and the ratios' median, p10 and p90.
 *
 * Before timing, each cell checks that the two engines compute the same model: the log-probs of
 * a short sequence agree within 1e-3 (f32) or 5e-2 (f16: llama.cpp rounds activations to f16 in
 * its f16 products; the toolkit keeps them f32).
 *
 * @module
 */
import { join } from "node:path";
import { median, quantile } from "../deps.ts";
import { ToolkitError } from "../errors.ts";
import { exportGguf } from "../export/gguf.ts";
import { parseConfig } from "../model/config.ts";
import { expectedTensors } from "../model/model.ts";
import { writeSafetensors } from "../model/safetensors.ts";
import {
  type EngineDescription,
  type InferenceEngine,
  sequenceLogProbs,
} from "../engines/engine.ts";
import { LlamaCppEngine } from "../engines/llamacpp.ts";
import { WebGpuChildEngine } from "../engines/webgpu_child.ts";
import { benchModelConfigJson, benchWeights } from "./forward_bench.ts";

/** A model to compare: a Hugging Face directory with a tokenizer (for the GGUF export). */
export interface VsModel {
  name: string;
  dir: string;
}

/** Options of {@link benchVsLlamaCpp}. */
export interface VsLlamaCppOptions {
  models: VsModel[];
  /** Thread counts (default [1, 2]). */
  threads?: number[];
  /** Weight dtypes (default ["f32", "f16"]). */
  dtypes?: ("f32" | "f16")[];
  /** Prefill length (default 512; capped at context − newTokens − 1 per model). */
  promptTokens?: number;
  /** Decode steps (default 128). */
  newTokens?: number;
  /** Timed rounds per cell, each engine once per round (default 5). */
  rounds?: number;
  /** Untimed rounds first (default 1). */
  warmup?: number;
  /** Where the GGUFs go (default: a temporary directory, removed afterwards). */
  workDir?: string;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** Median and spread of a list. */
export interface Spread {
  median: number;
  p10: number;
  p90: number;
  min: number;
  max: number;
}

function spread(xs: number[]): Spread {
  return {
    median: median(xs)!,
    p10: quantile(xs, 0.1)!,
    p90: quantile(xs, 0.9)!,
    min: Math.min(...xs),
    max: Math.max(...xs),
  };
}

/** One (model, dtype, threads) cell. */
export interface VsCell {
  model: string;
  dtype: "f32" | "f16";
  threads: number;
  promptTokens: number;
  newTokens: number;
  /** The output check made before timing. */
  check: { tokens: number; maxAbsLogProbDiff: number; tolerance: number };
  /** Tokens/s of each engine over the rounds. */
  ours: { prefill: Spread; decode: Spread };
  llamacpp: { prefill: Spread; decode: Spread };
  /** Per-round ours ÷ llama.cpp tokens/s. */
  ratio: { prefill: Spread; decode: Spread };
  engines: { ours: EngineDescription; llamacpp: EngineDescription };
}

/** One phase of a {@link VsBest}: each engine's best median tokens/s over the thread counts. */
export interface VsBestPhase {
  ours: number;
  oursThreads: number;
  llamacpp: number;
  llamacppThreads: number;
  /** ours ÷ llama.cpp of the two best medians. */
  ratio: number;
}

/**
 * Each engine at its own best thread count for one (model, dtype): the comparison a user who
 * picks the faster setting of each engine sees (on a 2-vCPU machine llama.cpp's 2-thread decode
 * can be several times slower than its 1-thread decode, which flatters a fixed-thread ratio).
 */
export interface VsBest {
  model: string;
  dtype: "f32" | "f16";
  /** The thread counts compared. */
  threads: number[];
  prefill: VsBestPhase;
  decode: VsBestPhase;
}

/**
 * Groups `cells` by (model, dtype) and takes each engine's best median tokens/s over the thread
 * counts, per phase.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bestOfThreads, type VsCell } from "./vs_llamacpp.ts"; // internal: src/bench/
 * const sp = (median: number) => ({ median, p10: median, p90: median, min: median, max: median });
 * const cell = (threads: number, ours: number, cpp: number) =>
 *   ({
 *     model: "m", dtype: "f16", threads,
 *     ours: { prefill: sp(ours), decode: sp(ours) },
 *     llamacpp: { prefill: sp(cpp), decode: sp(cpp) },
 *   }) as unknown as VsCell;
 * const [b] = bestOfThreads([cell(1, 50, 360), cell(2, 90, 60)]);
 * assert.deepEqual([b.decode.oursThreads, b.decode.llamacppThreads], [2, 1]);
 * assert.equal(b.decode.ratio, 90 / 360);
 * ```
 */
export function bestOfThreads(cells: readonly VsCell[]): VsBest[] {
  const groups = new Map<string, VsCell[]>();
  for (const c of cells) {
    const k = `${c.model}\u0000${c.dtype}`;
    groups.set(k, [...(groups.get(k) ?? []), c]);
  }
  const best = (g: VsCell[], engine: "ours" | "llamacpp", phase: "prefill" | "decode") =>
    g.reduce((a, b) => b[engine][phase].median > a[engine][phase].median ? b : a);
  return [...groups.values()].map((g) => {
    const phase = (p: "prefill" | "decode"): VsBestPhase => {
      const o = best(g, "ours", p);
      const l = best(g, "llamacpp", p);
      return {
        ours: o.ours[p].median,
        oursThreads: o.threads,
        llamacpp: l.llamacpp[p].median,
        llamacppThreads: l.threads,
        ratio: o.ours[p].median / l.llamacpp[p].median,
      };
    };
    return {
      model: g[0].model,
      dtype: g[0].dtype,
      threads: g.map((c) => c.threads),
      prefill: phase("prefill"),
      decode: phase("decode"),
    };
  });
}

/** Result of {@link benchVsLlamaCpp} (JSON-serialisable). */
export interface VsLlamaCppResult {
  protocol: {
    what: "WebGPU forward vs llama.cpp, same model (HF dir and its GGUF export)";
    rounds: number;
    warmup: number;
    order: "alternating per round: ours, then llama.cpp";
    prompt: "synthetic ids (7919·i + 1) mod V, batch 1";
    clock: "wall clock inside each engine's process (prefill: up to the first token)";
    ourThreads: "LP_NUM_THREADS of the WebGPU child";
    llamaThreads: "llama.cpp n_threads (F32 KV cache, flash attention off)";
    deno: string;
    date: string;
  };
  cells: VsCell[];
  /** Each engine at its best thread count, per (model, dtype). */
  best: VsBest[];
}

/**
 * Writes the generated "20M" benchmark model (`benchModelConfigJson`, d 512, 8 layers,
 * vocab 8192; 31.6M parameters with the two vocabulary tables) with a placeholder byte-level BPE tokenizer (llama.cpp needs a vocabulary) into
 * `dir`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readConfig } from "@sprint-wgpu/toolkit/model";
 * import { parameterCount } from "./scale_cost.ts"; // internal: src/bench/ has no subpath
 * import { writeBenchModelDir } from "./vs_llamacpp.ts";
 * const dir = await Deno.makeTempDir();
 * await writeBenchModelDir(dir);
 * const config = await readConfig(dir);
 * assert.deepEqual([config.hiddenSize, config.numLayers, config.vocabSize], [512, 8, 8192]);
 * const params = parameterCount(config); // 23.2M in the blocks, 31.6M with both vocab tables
 * const block = 512 * 1024 + 512 * 512 + 3 * 512 * 1376 + 2 * 512; // q k v, o, MLP, norms
 * assert.equal(params, 8 * block + 2 * 8192 * 512 + 512);
 * const bytes = (await Deno.stat(`${dir}/model.safetensors`)).size; // f32 tensors + a JSON header
 * assert.ok(bytes > 4 * params && bytes < 4 * params + 65536);
 * assert.ok((await Deno.stat(`${dir}/tokenizer.json`)).isFile); // llama.cpp needs a vocabulary
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeBenchModelDir(dir: string): Promise<void> {
  const json = benchModelConfigJson();
  const cfg = parseConfig(json, "bench config");
  const w = benchWeights(json);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "config.json"),
    JSON.stringify({
      ...json,
      architectures: ["LlamaForCausalLM"],
      bos_token_id: 1,
      eos_token_id: 2,
    }),
  );
  const shapes = expectedTensors(cfg);
  await writeSafetensors(
    join(dir, "model.safetensors"),
    [...w].map(([name, data]) => ({ name, shape: shapes.get(name)!, dtype: "F32", data })),
  );
  const specials = ["<unk>", "<s>", "</s>"];
  const vocab: Record<string, number> = {};
  specials.forEach((s, i) => vocab[s] = i);
  const chars = ["Ċ", "Ġ", ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,"];
  let id = specials.length;
  for (const c of chars) vocab[c] = id++;
  for (let i = 0; id < cfg.vocabSize; i++) vocab[`x${i}`] = id++;
  await Deno.writeTextFile(
    join(dir, "tokenizer.json"),
    JSON.stringify({
      version: "1.0",
      added_tokens: specials.map((content, i) => ({
        id: i,
        content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      })),
      normalizer: null,
      pre_tokenizer: {
        type: "ByteLevel",
        add_prefix_space: false,
        trim_offsets: true,
        use_regex: true,
      },
      post_processor: null,
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        merges: [],
      },
    }),
  );
  await Deno.writeTextFile(
    join(dir, "tokenizer_config.json"),
    JSON.stringify({ bos_token: "<s>", eos_token: "</s>", add_bos_token: false }),
  );
}

async function checkSame(
  a: InferenceEngine,
  b: InferenceEngine,
  tol: number,
): Promise<VsCell["check"]> {
  const ids = Array.from({ length: 24 }, (_, i) => (31 * i + 7) % a.vocabSize);
  const x = await sequenceLogProbs(a, ids);
  const y = await sequenceLogProbs(b, ids);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  if (!(m <= tol)) {
    throw new ToolkitError(
      `bench --vs llamacpp: the engines disagree before timing (max |Δ log-prob| ${m} > ${tol}); not timing a wrong forward`,
    );
  }
  return { tokens: x.length, maxAbsLogProbDiff: m, tolerance: tol };
}

/**
 * Runs the side-by-side benchmark (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR } from "@sprint-wgpu/toolkit/model";
 * import { benchVsLlamaCpp } from "./vs_llamacpp.ts"; // internal: src/bench/ has no subpath
 * const r = await benchVsLlamaCpp({ // the embedded model, one short f32 round on 1 thread
 *   models: [{ name: "default", dir: DEFAULT_MODEL_DIR }], dtypes: ["f32"], threads: [1],
 *   rounds: 1, warmup: 0, promptTokens: 16, newTokens: 4,
 * });
 * const [cell] = r.cells;
 * assert.ok(cell.check.maxAbsLogProbDiff <= cell.check.tolerance); // same outputs before timing
 * assert.deepEqual([cell.promptTokens, cell.newTokens, cell.threads], [16, 4, 1]);
 * assert.ok(cell.ours.decode.median > 0 && cell.llamacpp.decode.median > 0);
 * const ratio = cell.ours.prefill.median / cell.llamacpp.prefill.median;
 * assert.ok(Math.abs(cell.ratio.prefill.median - ratio) <= 1e-9 * ratio); // one round
 * ```
 */
export async function benchVsLlamaCpp(options: VsLlamaCppOptions): Promise<VsLlamaCppResult> {
  const threadsList = options.threads ?? [1, 2];
  const dtypes = options.dtypes ?? ["f32", "f16"];
  const newTokens = options.newTokens ?? 128;
  const rounds = options.rounds ?? 5;
  const warmup = options.warmup ?? 1;
  const log = options.log ?? (() => {});
  const own = options.workDir === undefined;
  const work = options.workDir ?? await Deno.makeTempDir({ prefix: "vs_llamacpp_" });
  const cells: VsCell[] = [];
  try {
    for (const m of options.models) {
      for (const dtype of dtypes) {
        const file = join(work, `${m.name.replace(/[^\w.-]/g, "_")}.${dtype}.gguf`);
        await exportGguf(m.dir, file, { dtype, overwrite: true });
        for (const threads of threadsList) {
          const ours = await WebGpuChildEngine.load(m.dir, { dtype, threads });
          let cpp: LlamaCppEngine | undefined;
          try {
            cpp = await LlamaCppEngine.load(file, { threads });
            const ctx = Math.min(ours.contextLength, cpp.contextLength);
            const promptTokens = Math.min(options.promptTokens ?? 512, ctx - newTokens - 1);
            if (promptTokens < 1) {
              throw new ToolkitError(
                `${m.name}: context ${ctx} too short for ${newTokens} new tokens`,
              );
            }
            const check = await checkSame(ours, cpp, dtype === "f32" ? 1e-3 : 5e-2);
            const w = { promptTokens, newTokens, warmup: 0, reps: 1 };
            const rate = {
              ours: { p: [] as number[], d: [] as number[] },
              cpp: { p: [] as number[], d: [] as number[] },
            };
            for (let r = 0; r < warmup + rounds; r++) {
              const a = await ours.time(w);
              const b = await cpp.time(w);
              if (r < warmup) continue;
              rate.ours.p.push(promptTokens / (a.prefillMs[0] / 1e3));
              rate.ours.d.push(newTokens / (a.decodeMs[0] / 1e3));
              rate.cpp.p.push(promptTokens / (b.prefillMs[0] / 1e3));
              rate.cpp.d.push(newTokens / (b.decodeMs[0] / 1e3));
            }
            const cell: VsCell = {
              model: m.name,
              dtype,
              threads,
              promptTokens,
              newTokens,
              check,
              ours: { prefill: spread(rate.ours.p), decode: spread(rate.ours.d) },
              llamacpp: { prefill: spread(rate.cpp.p), decode: spread(rate.cpp.d) },
              ratio: {
                prefill: spread(rate.ours.p.map((x, i) => x / rate.cpp.p[i])),
                decode: spread(rate.ours.d.map((x, i) => x / rate.cpp.d[i])),
              },
              engines: { ours: ours.description, llamacpp: cpp.description },
            };
            cells.push(cell);
            log(formatCell(cell));
          } finally {
            await cpp?.dispose();
            await ours.dispose();
          }
        }
      }
    }
  } finally {
    if (own) await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  return {
    protocol: {
      what: "WebGPU forward vs llama.cpp, same model (HF dir and its GGUF export)",
      rounds,
      warmup,
      order: "alternating per round: ours, then llama.cpp",
      prompt: "synthetic ids (7919·i + 1) mod V, batch 1",
      clock: "wall clock inside each engine's process (prefill: up to the first token)",
      ourThreads: "LP_NUM_THREADS of the WebGPU child",
      llamaThreads: "llama.cpp n_threads (F32 KV cache, flash attention off)",
      deno: Deno.version.deno,
      date: new Date().toISOString(),
    },
    cells,
    best: bestOfThreads(cells),
  };
}

function formatCell(c: VsCell): string {
  const f = (s: Spread) => `${s.median.toFixed(0)}`;
  const r = (s: Spread) => `${s.median.toFixed(2)}× [${s.p10.toFixed(2)}–${s.p90.toFixed(2)}]`;
  return `${c.model} ${c.dtype} ${c.threads}t | prefill ${c.promptTokens}: ours ${
    f(c.ours.prefill)
  } tok/s, llama.cpp ${f(c.llamacpp.prefill)} tok/s, ratio ${
    r(c.ratio.prefill)
  } | decode ${c.newTokens}: ours ${f(c.ours.decode)} tok/s, llama.cpp ${
    f(c.llamacpp.decode)
  } tok/s, ratio ${r(c.ratio.decode)}`;
}

/**
 * The result as a Markdown table (ratios are ours ÷ llama.cpp; brackets: p10–p90 over rounds).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR } from "@sprint-wgpu/toolkit/model";
 * import { benchVsLlamaCpp, formatVsLlamaCpp } from "./vs_llamacpp.ts"; // internal: src/bench/
 * const r = await benchVsLlamaCpp({
 *   models: [{ name: "default", dir: DEFAULT_MODEL_DIR }], dtypes: ["f32"], threads: [1],
 *   rounds: 1, warmup: 0, promptTokens: 16, newTokens: 4,
 * });
 * const lines = formatVsLlamaCpp(r).split("\n");
 * assert.equal(lines.length, 3); // header, rule, one cell
 * assert.match(lines[2], /^\| default \| f32 \| 1 \| 16 \| \d+ \| \d+ \| [\d.]+ \(/);
 * ```
 */
export function formatVsLlamaCpp(r: VsLlamaCppResult): string {
  const rows = [
    "| model | dtype | threads | prefill T | ours tok/s | llama.cpp tok/s | ratio (p10–p90) | decode steps | ours tok/s | llama.cpp tok/s | ratio (p10–p90) |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const c of r.cells) {
    const s = (x: Spread) => `${x.median.toFixed(2)} (${x.p10.toFixed(2)}–${x.p90.toFixed(2)})`;
    rows.push(
      `| ${c.model} | ${c.dtype} | ${c.threads} | ${c.promptTokens} | ${
        c.ours.prefill.median.toFixed(0)
      } | ${c.llamacpp.prefill.median.toFixed(0)} | ${s(c.ratio.prefill)} | ${c.newTokens} | ${
        c.ours.decode.median.toFixed(0)
      } | ${c.llamacpp.decode.median.toFixed(0)} | ${s(c.ratio.decode)} |`,
    );
  }
  const multi = r.best.filter((b) => b.threads.length > 1);
  if (multi.length > 0) {
    rows.push(
      "",
      "Each engine at its best thread count (median tok/s, threads in brackets):",
      "",
      "| model | dtype | prefill ours | prefill llama.cpp | ratio | decode ours | decode llama.cpp | ratio |",
      "|---|---|---|---|---|---|---|---|",
    );
    const e = (tps: number, t: number) => `${tps.toFixed(0)} (${t}t)`;
    for (const b of multi) {
      const p = b.prefill;
      const d = b.decode;
      rows.push(
        `| ${b.model} | ${b.dtype} | ${e(p.ours, p.oursThreads)} | ${
          e(p.llamacpp, p.llamacppThreads)
        } | ${p.ratio.toFixed(2)} | ${e(d.ours, d.oursThreads)} | ${
          e(d.llamacpp, d.llamacppThreads)
        } | ${d.ratio.toFixed(2)} |`,
      );
    }
  }
  return rows.join("\n");
}

/**
 * The standard side-by-side run of `deno task bench --vs llamacpp`: the generated "20M" model of
 * `deno task bench` (written to a temporary folder) and stories260K when ../shared is present,
 * prefill 512 and decode 128.
 *
 * @example
 * ```ts ignore
 * import { benchVsLlamaCppModels, formatVsLlamaCpp } from "./vs_llamacpp.ts";
 * const r = await benchVsLlamaCppModels({ rounds: 1, threads: [1], dtypes: ["f16"] });
 * console.log(formatVsLlamaCpp(r));
 * ```
 */
export async function benchVsLlamaCppModels(
  options: { rounds: number; threads: number[]; dtypes: ("f32" | "f16")[] },
): Promise<VsLlamaCppResult> {
  const tmp = await Deno.makeTempDir({ prefix: "bench20m_" });
  try {
    await writeBenchModelDir(tmp);
    const models: VsModel[] = [{ name: "generated 20M", dir: tmp }];
    const stories = new URL("../../../shared/data/models/stories260K-hf", import.meta.url)
      .pathname;
    try {
      await Deno.stat(join(stories, "model.safetensors"));
      models.push({ name: "stories260K", dir: stories });
    } catch {
      console.error("stories260K absent (../shared): only the generated model");
    }
    return await benchVsLlamaCpp({
      models,
      threads: options.threads,
      dtypes: options.dtypes,
      promptTokens: 512,
      newTokens: 128,
      rounds: options.rounds,
      log: (l) => console.error(l),
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}
