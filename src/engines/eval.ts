/**
 * The evaluation protocols of `src/eval/` run through any {@link InferenceEngine} (llama.cpp on
 * an exported GGUF, or the WebGPU forward), so `eval --engine llamacpp` reports the same figures
 * by the same rules:
 *
 * - **Perplexity** ({@link enginePerplexity}): the windows of `perplexityWindows` (non-overlapping
 *   `seqLen` windows, or strided), every position but a window's first scored, `exp(mean NLL)`;
 *   the text is tokenized by the model directory's tokenizer (the same ids for both engines).
 * - **Zero-shot** ({@link engineZeroShot}): lm-eval v0.4.1 `loglikelihood` (`encodePair`, left
 *   truncation to `max_length + 1`, Σ log p over the continuation, `is_greedy`), the task files and
 *   metrics of `src/eval/tasks.ts` / `metrics.ts`.
 * - **Speed** ({@link engineSpeed}): prefill `promptTokens` synthetic ids and `newTokens` greedy
 *   steps, median tokens/s with p10/p90, and {@link engineSpeedup} over a baseline.
 *
 * @module
 */
import { join } from "node:path";
import { ToolkitError } from "../errors.ts";
import type { TextTokenizer } from "../model/tokenizer.ts";
import { encodePair, type EncodePairOptions, type TokenRequest } from "../eval/loglikelihood.ts";
import type { LoglikelihoodResult } from "../eval/loglikelihood.ts";
import { docPerplexity, mean, meanStderr } from "../eval/accuracy.ts";
import { type PerplexityResult, perplexityWindows } from "../eval/perplexity.ts";
import {
  isZeroShotTask,
  knownTaskNames,
  type TaskDoc,
  TASKS,
  type TaskSpec,
} from "../eval/tasks.ts";
import { checkDataDir, scoreDocs, type ZeroShotResult } from "../eval/zeroshot.ts";
import {
  type EngineDescription,
  type InferenceEngine,
  type MsStats,
  msStats,
  type ScoreRequest,
} from "./engine.ts";

/** Options of {@link enginePerplexity}. */
export interface EnginePerplexityOptions {
  /** Window length (default: the engine's context, at most 2048). */
  seqLen?: number;
  /** Distance between window starts (default `seqLen`). */
  stride?: number;
  /** Score only the first N windows. */
  limit?: number;
  /** Encode a text with the tokenizer's special tokens (BOS), default true. */
  addSpecialTokens?: boolean;
  /** Windows sent to the engine per call (default 8). */
  windowsPerCall?: number;
  /** Called after each call with windows done / total. */
  onProgress?: (done: number, total: number) => void;
}

/** {@link PerplexityResult} plus the engine that computed it. */
export interface EnginePerplexityResult extends PerplexityResult {
  /** The engine that computed the result. */
  engine: EngineDescription;
}

/**
 * Perplexity of a text through an engine, by the protocol of `perplexity()` (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { enginePerplexity, WebGpuEngine } from "@sprint-wgpu/toolkit/engines";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const eng = new WebGpuEngine(model); // or LlamaCppEngine.fromModelDir(DEFAULT_MODEL_DIR)
 * const text = await Deno.readTextFile(`${DEFAULT_MODEL_DIR}/heldout.txt`);
 * const r = await enginePerplexity(eng, model.tokenizer, text, { seqLen: 64, limit: 2 });
 * assert.ok(r.windows === 2 && r.ppl > 1 && r.ppl < model.config.vocabSize);
 * await eng.dispose();
 * model.destroy();
 * ```
 */
export async function enginePerplexity(
  engine: InferenceEngine,
  tokenizer: TextTokenizer | undefined,
  text: string | { ids: readonly number[] },
  options: EnginePerplexityOptions = {},
): Promise<EnginePerplexityResult> {
  const addSpecialTokens = options.addSpecialTokens ?? true;
  let ids: readonly number[];
  if (typeof text === "string") {
    if (!tokenizer) throw new ToolkitError("perplexity: no tokenizer to encode the text");
    ids = tokenizer.encode(text, { addSpecialTokens });
  } else {
    ids = text.ids;
  }
  const seqLen = options.seqLen ?? Math.min(engine.contextLength, 2048);
  if (seqLen > engine.contextLength) {
    throw new ToolkitError(
      `--seq-len ${seqLen} is longer than the engine's context of ${engine.contextLength} positions`,
    );
  }
  const stride = options.stride ?? seqLen;
  const windows = perplexityWindows(ids.length, seqLen, stride, options.limit ?? Infinity);
  const requests: ScoreRequest[] = windows.map((w) => {
    const input = ids.slice(w.start, w.start + w.length - 1);
    const positions: number[] = [];
    const targets: number[] = [];
    for (let p = w.first; p < w.length - 1; p++) {
      positions.push(p);
      targets.push(ids[w.start + p + 1]);
    }
    return { input, positions, targets };
  });
  const per = options.windowsPerCall ?? 8;
  let sum = 0;
  let tokens = 0;
  for (let i = 0; i < requests.length; i += per) {
    const res = await engine.score(requests.slice(i, i + per));
    for (const r of res) {
      for (const lp of r.logProbs) sum -= lp;
      tokens += r.logProbs.length;
    }
    options.onProgress?.(Math.min(i + per, requests.length), requests.length);
  }
  const last = windows[windows.length - 1];
  const covered = last ? last.start + last.length : 0;
  const meanNll = sum / tokens;
  return {
    ppl: Math.exp(meanNll),
    meanNll,
    tokens,
    windows: windows.length,
    textTokens: ids.length,
    unusedTokens: ids.length - covered,
    seqLen: Math.min(seqLen, ids.length),
    stride: Math.min(stride, ids.length),
    addSpecialTokens,
    engine: engine.description,
  };
}

/**
 * lm-eval `_loglikelihood_tokens` through an engine: left truncation to `maxLength + 1` tokens,
 * Σ log p of the continuation, `isGreedy`. Requests are sent in order (a document's choices
 * together, so llama.cpp reuses the shared context in its KV cache).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { engineLoglikelihoodTokens, WebGpuEngine } from "@sprint-wgpu/toolkit/engines";
 * import { encodePair } from "@sprint-wgpu/toolkit/eval";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const eng = new WebGpuEngine(model);
 * const reqs = [" States", " Kingdom"].map((c) => encodePair(model.tokenizer!, "The people of the United", c));
 * const [states, kingdom] = await engineLoglikelihoodTokens(eng, reqs);
 * assert.ok(states.isGreedy && states.logLikelihood > kingdom.logLikelihood);
 * await eng.dispose();
 * model.destroy();
 * ```
 */
export async function engineLoglikelihoodTokens(
  engine: InferenceEngine,
  requests: readonly TokenRequest[],
  options: { maxLength?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<LoglikelihoodResult[]> {
  const L = options.maxLength ?? engine.contextLength;
  if (!Number.isInteger(L) || L < 1 || L > engine.contextLength) {
    throw new ToolkitError(
      `max length ${L} must be an integer in [1, ${engine.contextLength}] (the engine's context)`,
    );
  }
  const scored: { id: number; req: ScoreRequest; cut: number }[] = [];
  requests.forEach((r, id) => {
    const c = r.continuation.length;
    if (r.context.length === 0) {
      throw new ToolkitError(`request ${id}: the context has no tokens (lm-eval puts EOS there)`);
    }
    if (c > L) {
      throw new ToolkitError(
        `request ${id}: the continuation has ${c} tokens, more than the model's context of ${L}`,
      );
    }
    if (c === 0) return;
    const full = [...r.context, ...r.continuation];
    const cut = Math.max(0, full.length - (L + 1));
    const input = full.slice(cut, full.length - 1);
    const n = input.length;
    scored.push({
      id,
      cut,
      req: {
        input,
        positions: r.continuation.map((_, j) => n - c + j),
        targets: [...r.continuation],
      },
    });
  });
  const out: LoglikelihoodResult[] = requests.map((r) => ({
    logLikelihood: 0,
    isGreedy: true,
    tokens: r.continuation.length,
    truncated: 0,
  }));
  const per = 64;
  for (let i = 0; i < scored.length; i += per) {
    const part = scored.slice(i, i + per);
    const res = await engine.score(part.map((s) => s.req));
    part.forEach((s, j) => {
      let ll = 0;
      for (const x of res[j].logProbs) ll += x;
      out[s.id] = {
        logLikelihood: ll,
        isGreedy: res[j].argmax.every((a) => a === 1),
        tokens: s.req.targets.length,
        truncated: s.cut,
      };
    });
    options.onProgress?.(Math.min(i + per, scored.length), scored.length);
  }
  return out;
}

/** Options of {@link engineZeroShot}. */
export interface EngineZeroShotOptions extends EncodePairOptions {
  /** Directory laid out like `../shared/data`. */
  dataDir: string;
  /** Only the first N documents of each task. */
  limit?: number;
  /** lm-eval `max_length` (default: the engine's context). */
  maxLength?: number;
  /** Keep per-document records. */
  samples?: boolean;
  /** Called when a task starts. */
  onTask?: (task: string, docs: number) => void;
}

/** Scores documents of one task through an engine (as `evaluateDocs`). */
export async function engineEvaluateDocs(
  engine: InferenceEngine,
  tokenizer: TextTokenizer,
  spec: TaskSpec,
  docs: readonly TaskDoc[],
  options: Omit<EngineZeroShotOptions, "dataDir"> & { file?: string } = {},
): Promise<ZeroShotResult & { engine: EngineDescription }> {
  const maxLength = options.maxLength ?? engine.contextLength;
  const requests = docs.flatMap((d) =>
    d.requests.map((r) => encodePair(tokenizer, r.context, r.continuation, options))
  );
  const results = await engineLoglikelihoodTokens(engine, requests, { maxLength });
  const { accs, accNorms, lambadaLls, samples } = scoreDocs(spec, docs, results, options.samples);
  const res: ZeroShotResult & { engine: EngineDescription } = {
    task: spec.name,
    n: docs.length,
    acc: mean(accs),
    acc_stderr: meanStderr(accs),
    protocol: {
      task: spec.name,
      dataset: spec.dataset,
      split: spec.split,
      file: options.file ?? spec.file,
      n: docs.length,
      size: spec.size,
      prompt: spec.prompt,
      continuation: spec.continuation,
      targetDelimiter: " ",
      semantics: "lm-evaluation-harness v0.4.1 (HFLM loglikelihood)",
      bos: options.bos ?? false,
      maxLength,
      truncatedRequests: results.filter((r) => r.truncated > 0).length,
      metrics: spec.metrics,
    },
    engine: engine.description,
  };
  if (spec.metrics.includes("acc_norm")) {
    res.acc_norm = mean(accNorms);
    res.acc_norm_stderr = meanStderr(accNorms);
  }
  if (spec.kind === "lambada") res.ppl = docPerplexity(lambadaLls);
  if (options.samples) res.samples = samples;
  return res;
}

/**
 * Zero-shot tasks through an engine (as `zeroShot`, see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { engineZeroShot, WebGpuEngine } from "@sprint-wgpu/toolkit/engines";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const eng = new WebGpuEngine(model);
 * // A data directory laid out like ../shared/data, with a one-item PIQA file:
 * const dataDir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dataDir}/bench`);
 * const item = { query: "Question: Open a jar?\n", choices: ["Twist the lid.", "Eat the lid."], gold: 0 };
 * await Deno.writeTextFile(`${dataDir}/bench/piqa.jsonl`, JSON.stringify(item) + "\n");
 * const r = await engineZeroShot(eng, model.tokenizer!, ["piqa"], { dataDir });
 * assert.ok(r.piqa.n === 1 && [0, 1].includes(r.piqa.acc) && r.piqa.engine.engine === "webgpu");
 * await Deno.remove(dataDir, { recursive: true });
 * await eng.dispose();
 * model.destroy();
 * ```
 */
export async function engineZeroShot(
  engine: InferenceEngine,
  tokenizer: TextTokenizer,
  tasks: string | readonly string[],
  options: EngineZeroShotOptions,
): Promise<Record<string, ZeroShotResult & { engine: EngineDescription }>> {
  const names = typeof tasks === "string" ? [tasks] : [...tasks];
  for (const n of names) {
    if (!isZeroShotTask(n)) {
      throw new ToolkitError(
        `unknown zero-shot task "${n}"; known tasks: ${knownTaskNames().join(", ")}`,
      );
    }
  }
  await checkDataDir(options.dataDir);
  const out: Record<string, ZeroShotResult & { engine: EngineDescription }> = {};
  for (const name of names) {
    const spec = TASKS[name as keyof typeof TASKS];
    const path = join(options.dataDir, spec.file);
    const docs = await spec.load(path, options.limit);
    options.onTask?.(name, docs.length);
    out[name] = await engineEvaluateDocs(engine, tokenizer, spec, docs, { ...options, file: path });
  }
  return out;
}

/** Throughput of one phase. */
export interface EngineRate {
  /** Tokens per repetition. */
  tokens: number;
  /** Median tokens/s. */
  tokensPerSecond: number;
  /** Tokens/s at the slow end (p90 time). */
  tokensPerSecondP10: number;
  /** Tokens/s at the fast end (p10 time). */
  tokensPerSecondP90: number;
  /** Wall-clock statistics of the repetitions. */
  timing: MsStats & { clock: "wall-clock" };
}

/** Result of {@link engineSpeed}. */
export interface EngineSpeedResult {
  /** Prefill (the prompt in one forward). */
  prefill: EngineRate;
  /** Decode (one token per step). */
  decode: EngineRate;
  /** How it was measured. */
  protocol: {
    promptTokens: number;
    newTokens: number;
    batch: 1;
    warmup: number;
    reps: number;
    prompt: "synthetic ids (7919·i + 1) mod V";
    clock: "wall-clock inside the engine's process";
    engine: EngineDescription;
  };
}

function rate(tokens: number, ms: number[]): EngineRate {
  const t = msStats(ms);
  return {
    tokens,
    tokensPerSecond: tokens / (t.medianMs / 1e3),
    tokensPerSecondP10: tokens / (t.p90Ms / 1e3),
    tokensPerSecondP90: tokens / (t.p10Ms / 1e3),
    timing: { ...t, clock: "wall-clock" },
  };
}

/**
 * Prefill and decode throughput through an engine.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { engineSpeed, WebGpuEngine } from "@sprint-wgpu/toolkit/engines";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const eng = new WebGpuEngine(model);
 * const s = await engineSpeed(eng, { promptTokens: 16, newTokens: 4, warmup: 1, reps: 2 });
 * assert.ok(s.prefill.tokens === 16 && s.decode.tokensPerSecond > 0);
 * await eng.dispose();
 * model.destroy();
 * ```
 */
export async function engineSpeed(
  engine: InferenceEngine,
  options: { promptTokens?: number; newTokens?: number; warmup?: number; reps?: number } = {},
): Promise<EngineSpeedResult> {
  const newTokens = options.newTokens ?? 32;
  const promptTokens = options.promptTokens ?? Math.min(128, engine.contextLength - newTokens - 1);
  const warmup = options.warmup ?? 2;
  const reps = options.reps ?? 5;
  for (
    const [k, v, min] of [["prompt tokens", promptTokens, 1], ["new tokens", newTokens, 1], [
      "warmup",
      warmup,
      0,
    ], ["reps", reps, 1]] as const
  ) {
    if (!Number.isInteger(v) || v < min) {
      throw new ToolkitError(`speed: ${k} must be an integer ≥ ${min}, got ${v}`);
    }
  }
  const t = await engine.time({ promptTokens, newTokens, warmup, reps });
  return {
    prefill: rate(promptTokens, t.prefillMs),
    decode: rate(newTokens, t.decodeMs),
    protocol: {
      promptTokens,
      newTokens,
      batch: 1,
      warmup,
      reps,
      prompt: "synthetic ids (7919·i + 1) mod V",
      clock: "wall-clock inside the engine's process",
      engine: t.engine,
    },
  };
}

/**
 * Measured speedup of `pruned` over `dense` (ratios of median tokens/s); both must be the same
 * workload on the same engine build and thread count.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { engineSpeed, engineSpeedup, WebGpuEngine } from "@sprint-wgpu/toolkit/engines";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const eng = new WebGpuEngine(model); // a pruned model: a second engine, measured the same way
 * const dense = await engineSpeed(eng, { promptTokens: 16, newTokens: 4, warmup: 1, reps: 2 });
 * assert.deepEqual(engineSpeedup(dense, dense), { prefill: 1, decode: 1 });
 * const other = { ...dense, protocol: { ...dense.protocol, newTokens: 8 } };
 * assert.throws(() => engineSpeedup(dense, other), /measured differently/); // protocols must match
 * await eng.dispose();
 * model.destroy();
 * ```
 */
export function engineSpeedup(
  dense: EngineSpeedResult,
  pruned: EngineSpeedResult,
): { prefill: number; decode: number } {
  const a = dense.protocol;
  const b = pruned.protocol;
  if (
    a.promptTokens !== b.promptTokens || a.newTokens !== b.newTokens ||
    a.engine.engine !== b.engine.engine || a.engine.threads !== b.engine.threads
  ) {
    throw new ToolkitError(
      `speedup: dense (${a.engine.engine}, ${a.engine.threads} threads, ${a.promptTokens}+${a.newTokens}) and pruned (${b.engine.engine}, ${b.engine.threads} threads, ${b.promptTokens}+${b.newTokens}) were measured differently`,
    );
  }
  return {
    prefill: pruned.prefill.tokensPerSecond / dense.prefill.tokensPerSecond,
    decode: pruned.decode.tokensPerSecond / dense.decode.tokensPerSecond,
  };
}
