/**
 * The inference-engine interface: what the toolkit needs from a forward pass to evaluate a model
 * and to time it, satisfied by the toolkit's own WebGPU forward ({@link WebGpuEngine} in
 * `webgpu.ts`) and by llama.cpp ({@link LlamaCppEngine} in `llamacpp.ts`, in a child process).
 *
 * - **Scoring**: {@link InferenceEngine.score} runs token sequences and returns, for chosen input
 *   positions, `log p(target | input[0..pos])` (natural log, f64 on the host) and whether the
 *   target is the argmax. Perplexity windows and lm-eval log-likelihood requests are both built
 *   on it (`src/engines/eval.ts`), so each protocol is written once for every engine.
 * - **Generation**: greedy continuation of a prompt.
 * - **Timing**: prefill `promptTokens` synthetic tokens, then `newTokens` greedy decode steps, each
 *   phase wall-clocked inside the engine's process (no IPC in the figure), warm-up runs first.
 *
 * @module
 */
import { median, quantile } from "../deps.ts";
import { ToolkitError } from "../errors.ts";

/** What ran: recorded with every figure an engine produces. */
export interface EngineDescription {
  /** `webgpu` (this toolkit's forward) or `llama.cpp`. */
  engine: "webgpu" | "llama.cpp";
  /** Version of the engine: toolkit version + Deno, or the llama.cpp release + node-llama-cpp. */
  version: string;
  /** Build: the WebGPU adapter, or llama.cpp's build type and CPU variant / system info. */
  build: string;
  /** Compute threads (llama.cpp `n_threads`; lavapipe `LP_NUM_THREADS`, when set, else "auto"). */
  threads: number | "auto";
  /** Storage type of the matrices. */
  dtype: "f32" | "f16";
  /** KV-cache element type (llama.cpp) or "f32" (WebGPU). */
  kvCache: string;
  /** Flash attention (llama.cpp; always false for WebGPU). */
  flashAttention: boolean;
  /** The model file or directory. */
  model: string;
  /** Runtime that hosts the engine (e.g. `node v20.20.2`, `deno 2.9.6`). */
  runtime: string;
}

/** One sequence to score: the input tokens and the positions whose next token is scored. */
export interface ScoreRequest {
  /** Input token ids (the model sees these, positions 0 … n−1). */
  input: readonly number[];
  /** Input positions whose logits are scored (each in [0, n)). */
  positions: readonly number[];
  /** The token each position should predict (same length as `positions`). */
  targets: readonly number[];
}

/** Scores of one {@link ScoreRequest}, in the order of its positions. */
export interface ScoreResult {
  /** `log softmax(logits[pos])[target]` (natural log). */
  logProbs: Float64Array;
  /** 1 where the target is the argmax of the logits, else 0. */
  argmax: Uint8Array;
}

/** Options of {@link InferenceEngine.time}. */
export interface EngineTimeOptions {
  /** Prompt tokens prefilled (synthetic ids `(7919·i + 1) mod V`, as `measureSpeed`). */
  promptTokens: number;
  /** Greedy decode steps after the prefill (the first new token comes from the prefill). */
  newTokens: number;
  /** Untimed runs first (default 1). */
  warmup?: number;
  /** Timed repetitions (default 3). */
  reps?: number;
}

/** Raw timings of {@link InferenceEngine.time}: one entry per timed repetition. */
export interface EngineTimings {
  /** Prefill wall times (ms): `promptTokens` tokens into an empty cache, up to the first token. */
  prefillMs: number[];
  /** Decode wall times (ms): `newTokens` greedy steps after the prefill. */
  decodeMs: number[];
  /**
   * CPU time (ms, user + system, all threads of the engine's process) of each prefill, where the
   * engine reports it (llama.cpp). With one thread it is the compute time, unaffected by other
   * processes sharing the cores.
   */
  prefillCpuMs?: number[];
  /** CPU time of each decode (see {@link EngineTimings.prefillCpuMs}). */
  decodeCpuMs?: number[];
  /** Prompt tokens per run. */
  promptTokens: number;
  /** Tokens generated per run. */
  newTokens: number;
  /** The engine's description at the time of the measurement. */
  engine: EngineDescription;
}

/** An inference engine (see the module doc). */
export interface InferenceEngine {
  /** Engine, version, build, threads, dtype: the protocol fields of its figures. */
  readonly description: EngineDescription;
  /** Vocabulary size (token ids are in [0, vocabSize)). */
  readonly vocabSize: number;
  /** Longest input (positions) a request may have. */
  readonly contextLength: number;
  /** Scores requests (see {@link ScoreRequest}). */
  score(requests: readonly ScoreRequest[]): Promise<ScoreResult[]>;
  /** Greedy continuation of `prompt` by `maxNewTokens` tokens (stops at EOS when `stopAtEos`). */
  generate(prompt: readonly number[], maxNewTokens: number, stopAtEos?: boolean): Promise<number[]>;
  /** Timed prefill and decode (see {@link EngineTimeOptions}). */
  time(options: EngineTimeOptions): Promise<EngineTimings>;
  /** Frees the model (and ends the child process of an out-of-process engine). */
  dispose(): Promise<void>;
}

/**
 * Per-token log-probabilities of a token sequence: entry i is `log p(tokens[i+1] | tokens[0..i])`
 * (length n − 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { sequenceLogProbs, WebGpuEngine } from "@sprint-wgpu/toolkit/engines";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const engine = new WebGpuEngine(model, {}, true); // the engine owns the model
 * const lp = await sequenceLogProbs(engine, model.tokenizer!.encode("Once upon a time"));
 * assert.ok(lp.every((x) => x < 0)); // log p of each token after the first
 * console.log(lp.reduce((a, b) => a + b, 0)); // the text's log-likelihood
 * await engine.dispose();
 * ```
 */
export async function sequenceLogProbs(
  engine: InferenceEngine,
  tokens: readonly number[],
): Promise<Float64Array> {
  if (tokens.length < 2) throw new ToolkitError("log-probs need at least 2 tokens");
  const input = tokens.slice(0, -1);
  const [r] = await engine.score([{
    input,
    positions: input.map((_, i) => i),
    targets: tokens.slice(1),
  }]);
  return r.logProbs;
}

/**
 * The synthetic prompt of the speed protocol (`measureSpeed`'s, batch 1): `(7919·i + 1) mod V`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticPrompt } from "@sprint-wgpu/toolkit/engines";
 * assert.deepEqual(syntheticPrompt(3, 100), [1, 20, 39]); // (7919·i + 1) mod V
 * ```
 */
export function syntheticPrompt(n: number, vocab: number): number[] {
  return Array.from({ length: n }, (_, i) => (7919 * i + 1) % vocab);
}

/** Median and spread of repeated timings (ms). */
export interface MsStats {
  /** Median time (ms). */
  medianMs: number;
  /** 10th percentile (ms). */
  p10Ms: number;
  /** 90th percentile (ms). */
  p90Ms: number;
  /** Fastest repetition (ms). */
  minMs: number;
  /** Timed repetitions. */
  reps: number;
}

/**
 * Median, p10, p90 and minimum of timings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { msStats } from "@sprint-wgpu/toolkit/engines";
 * assert.equal(msStats([3, 1, 2]).medianMs, 2);
 * ```
 */
export function msStats(ms: readonly number[]): MsStats {
  if (ms.length === 0) throw new ToolkitError("no timings to summarise");
  return {
    medianMs: median(ms)!,
    p10Ms: quantile(ms, 0.1)!,
    p90Ms: quantile(ms, 0.9)!,
    minMs: Math.min(...ms),
    reps: ms.length,
  };
}

/** Checks a request against the vocabulary and the context (one-line errors). */
export function checkScoreRequest(r: ScoreRequest, i: number, vocab: number, context: number) {
  const n = r.input.length;
  if (n === 0) throw new ToolkitError(`score request ${i}: empty input`);
  if (n > context) {
    throw new ToolkitError(
      `score request ${i}: ${n} input tokens exceed the engine's context of ${context}`,
    );
  }
  if (r.positions.length !== r.targets.length) {
    throw new ToolkitError(`score request ${i}: positions and targets differ in length`);
  }
  for (const p of r.positions) {
    if (!Number.isInteger(p) || p < 0 || p >= n) {
      throw new ToolkitError(`score request ${i}: position ${p} outside [0, ${n})`);
    }
  }
  for (const x of [...r.input, ...r.targets]) {
    if (!Number.isInteger(x) || x < 0 || x >= vocab) {
      throw new ToolkitError(
        `score request ${i}: token id ${x} outside the vocabulary [0, ${vocab})`,
      );
    }
  }
}
