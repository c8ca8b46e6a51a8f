/**
 * Perplexity of a text, the SparseGPT / Wanda / SPRINT way: the text is tokenized once with the
 * tokenizer's default special tokens (one BOS at the very start for Llama), cut into
 * non-overlapping windows of `seqLen` tokens (the tail shorter than a window is dropped), each
 * window is run on its own, and every position of a window except the first is scored from the
 * window's prefix (the first token of every window is only context). Perplexity is
 * `exp(mean NLL)` over all scored tokens, which equals SparseGPT's
 * `exp(Σ_windows mean_loss·seqlen / (windows·seqlen))` since every window scores `seqLen − 1`
 * tokens.
 *
 * With `stride < seqLen` windows start every `stride` tokens and each window scores only the
 * tokens no earlier window scored (its last `stride` targets; the first window scores all of its
 * `seqLen − 1`), the Hugging Face "strided perplexity" protocol with full-length windows.
 *
 * A text with fewer tokens than `seqLen` is scored as one window of its own length.
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import type { LlamaModel } from "../model/model.ts";
import { planGroup, scoreGroups, type ScoreOptions, type ScoreSeq } from "./loglikelihood.ts";

/** Options for {@link perplexity}. */
export interface PerplexityOptions extends Omit<ScoreOptions, "maxLength" | "sharePrefixes"> {
  /** Window length in tokens (default: the model's context, at most 2048). */
  seqLen?: number;
  /** Distance between window starts (default `seqLen`: non-overlapping). */
  stride?: number;
  /** Score only the first N windows. */
  limit?: number;
  /**
   * Encode with the tokenizer's special tokens, i.e. one BOS at the start of the text for Llama
   * (default true, the SparseGPT/SPRINT protocol; lm-eval's rolling perplexity adds none).
   */
  addSpecialTokens?: boolean;
  /** Where the text came from (its file), named in error messages (default "the text"). */
  source?: string;
}

/** Result of {@link perplexity}. */
export interface PerplexityResult {
  /** `exp(mean NLL)` over the scored tokens. */
  ppl: number;
  /** Mean negative log-likelihood per scored token (nats). */
  meanNll: number;
  /** Tokens scored. */
  tokens: number;
  /** Windows run. */
  windows: number;
  /** Tokens of the whole text (special tokens included). */
  textTokens: number;
  /** Tokens not covered by any window (the dropped tail, or everything after `limit`). */
  unusedTokens: number;
  /** Window length used (tokens; the text's length when it is shorter). */
  seqLen: number;
  /** Distance between window starts used (tokens; at most the text's length). */
  stride: number;
  /** Whether the tokenizer's special tokens were added (BOS). */
  addSpecialTokens: boolean;
}

/** One window: where it starts and which of its input positions are scored. */
export interface Window {
  /** Index of the window's first token in the text. */
  start: number;
  /** Tokens in the window (input = all but the last). */
  length: number;
  /** First scored input position; positions first … length−2 predict tokens start+first+1 … */
  first: number;
}

/**
 * The windows of a text of `n` tokens (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { perplexityWindows } from "@sprint-wgpu/toolkit/eval";
 * assert.deepEqual(perplexityWindows(10, 4, 4).map((w) => w.start), [0, 4]); // last 2 tokens dropped
 * assert.deepEqual(perplexityWindows(10, 4, 2).map((w) => w.start), [0, 2, 4, 6]);
 * ```
 */
export function perplexityWindows(
  n: number,
  seqLen: number,
  stride = seqLen,
  limit = Infinity,
): Window[] {
  if (!Number.isInteger(seqLen) || seqLen < 2) {
    throw new ToolkitError(`seq len must be an integer ≥ 2, got ${seqLen}`);
  }
  if (!Number.isInteger(stride) || stride < 1 || stride > seqLen) {
    throw new ToolkitError(`stride must be an integer in [1, seq len ${seqLen}], got ${stride}`);
  }
  if (n < 2) throw new ToolkitError(`the text has ${n} token(s); perplexity needs at least 2`);
  if (n < seqLen) return limit >= 1 ? [{ start: 0, length: n, first: 0 }] : [];
  const out: Window[] = [];
  for (let s = 0; s + seqLen <= n && out.length < limit; s += stride) {
    out.push({ start: s, length: seqLen, first: s === 0 ? 0 : Math.max(0, seqLen - stride - 1) });
  }
  return out;
}

/**
 * Default window length for a model: its context, at most 2048.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { defaultSeqLen } from "@sprint-wgpu/toolkit/eval";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * assert.equal(defaultSeqLen(model), 512); // its max_position_embeddings
 * model.destroy();
 * ```
 */
export function defaultSeqLen(model: LlamaModel): number {
  return Math.min(model.config.maxPositions, model.rope.maxPositions, 2048);
}

/**
 * Perplexity of `text` (a string, encoded with the model's tokenizer, or token ids) under the
 * model; see the module doc for the protocol.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { perplexity } from "@sprint-wgpu/toolkit/eval";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const text = await Deno.readTextFile(`${DEFAULT_MODEL_DIR}/heldout.txt`);
 * const r = await perplexity(model, text, { seqLen: 64, limit: 2 });
 * assert.equal(r.windows, 2);
 * assert.ok(r.ppl > 1 && r.ppl < model.config.vocabSize);
 * model.destroy();
 * ```
 */
export async function perplexity(
  model: LlamaModel,
  text: string | { ids: readonly number[] },
  options: PerplexityOptions = {},
): Promise<PerplexityResult> {
  const addSpecialTokens = options.addSpecialTokens ?? true;
  let ids: readonly number[];
  if (typeof text === "string") {
    if (!model.tokenizer) {
      throw new ToolkitError("the model has no tokenizer (tokenizer.json) to encode the text");
    }
    ids = model.tokenizer.encode(text, { addSpecialTokens });
  } else {
    ids = text.ids;
  }
  const context = Math.min(model.config.maxPositions, model.rope.maxPositions);
  const seqLen = options.seqLen ?? defaultSeqLen(model);
  if (seqLen > context) {
    throw new ToolkitError(
      `--seq-len ${seqLen} is longer than the model's context of ${context} positions`,
    );
  }
  const stride = options.stride ?? seqLen;
  const source = options.source ?? "the text";
  if (ids.length < 2) {
    throw new ToolkitError(
      `${source}: ${ids.length} token(s) after tokenization; perplexity needs at least 2`,
    );
  }
  const windows = perplexityWindows(ids.length, seqLen, stride, options.limit ?? Infinity);
  const V = model.config.vocabSize;
  for (let i = 0; i < ids.length; i++) {
    const x = ids[i];
    if (!Number.isInteger(x) || x < 0 || x >= V) {
      throw new ToolkitError(
        `${source}: token id ${x} at position ${i} is outside the model's vocabulary ` +
          `(${model.sourceDir ? model.sourceDir + "/" : ""}config.json field vocab_size is ${V})`,
      );
    }
  }
  const groups = windows.map((w, id) => {
    const input = ids.slice(w.start, w.start + w.length - 1);
    const scored = [];
    for (let p = w.first; p < w.length - 1; p++) {
      scored.push({ id, pos: p, target: ids[w.start + p + 1] });
    }
    return planGroup([{ input, scored } satisfies ScoreSeq]);
  });
  const res = await scoreGroups(model, groups, windows.length, {
    ...options,
    sharePrefixes: false,
  });
  let sum = 0;
  let tokens = 0;
  for (let i = 0; i < windows.length; i++) {
    sum += res.nll[i];
    tokens += res.count[i];
  }
  const covered = windows.length === 0
    ? 0
    : windows[windows.length - 1].start + windows[windows.length - 1].length;
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
  };
}
