/**
 * Metrics of lm-evaluation-harness v0.4.1, on log-likelihoods already computed:
 *
 * - multiple choice: `acc` = 1 when `argmax(lls)` is the gold index; `acc_norm` = 1 when
 *   `argmax(lls / len(choice))` is, with `len` the choice text's length in characters (the raw
 *   choice, without the space lm-eval puts before it). Ties go to the first index (`np.argmax`).
 * - LAMBADA: `acc` = mean of `is_greedy`; `ppl` = `exp(−mean(ll))` over documents.
 * - standard errors as lm-eval reports them: sample standard deviation / √n.
 * - the headline mean of the SPRINT protocol: mean over tasks of `acc_norm` where the task
 *   reports it, else `acc`.
 *
 * @module
 */

/** Index of the largest value; the first one on ties (NumPy's `argmax`). */
export function argmaxIndex(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** Per-document outcome of a multiple-choice item. */
export interface ChoiceOutcome {
  /** Index chosen by raw log-likelihood. */
  pred: number;
  /** Index chosen by log-likelihood per character. */
  predNorm: number;
  /** 1 when `pred` is the gold index. */
  acc: 0 | 1;
  /** 1 when `predNorm` is the gold index. */
  accNorm: 0 | 1;
}

/**
 * Scores one multiple-choice document.
 *
 * @param lls Log-likelihood of each choice.
 * @param choices The choice texts (for `acc_norm`, their lengths in characters).
 * @param gold Index of the right choice.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scoreChoices } from "@sprint-wgpu/toolkit/eval";
 * // raw: −4 > −6 picks choice 0 (acc 0); per character: −4/2 = −2 < −6/6 = −1 picks 1 (acc_norm 1)
 * const r = scoreChoices([-4, -6], ["ab", "abcdef"], 1);
 * assert.deepEqual(r, { pred: 0, predNorm: 1, acc: 0, accNorm: 1 });
 * ```
 */
export function scoreChoices(
  lls: readonly number[],
  choices: readonly string[],
  gold: number,
): ChoiceOutcome {
  if (lls.length !== choices.length) {
    throw new Error(`scoreChoices: ${lls.length} log-likelihoods for ${choices.length} choices`);
  }
  const pred = argmaxIndex(lls);
  const predNorm = argmaxIndex(lls.map((ll, i) => ll / choices[i].length));
  return { pred, predNorm, acc: pred === gold ? 1 : 0, accNorm: predNorm === gold ? 1 : 0 };
}

/** Mean of a list (NaN when empty). */
export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** lm-eval's `mean_stderr`: sample standard deviation (n − 1) / √n (NaN for n < 2). */
export function meanStderr(xs: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const m = mean(xs);
  const v = xs.reduce((a, x) => a + (x - m) ** 2, 0) / (n - 1);
  return Math.sqrt(v) / Math.sqrt(n);
}

/** LAMBADA-style perplexity: `exp(−mean(ll))` over documents. */
export function docPerplexity(lls: readonly number[]): number {
  return Math.exp(-mean(lls));
}

/** The figures of one task that enter the headline mean. */
export interface HeadlineInput {
  /** Accuracy (mean over documents). */
  acc?: number;
  /** Length-normalised accuracy, where the task reports it. */
  acc_norm?: number;
}

/**
 * The SPRINT headline: mean over tasks of `acc_norm` where reported, else `acc` (tasks with
 * neither, e.g. perplexity, are left out). Returns NaN when no task has an accuracy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { headlineMean } from "@sprint-wgpu/toolkit/eval";
 * const { value } = headlineMean({ piqa: { acc: 0.6, acc_norm: 0.7 }, winogrande: { acc: 0.5 } });
 * assert.ok(Math.abs(value - 0.6) < 1e-12); // acc_norm where reported, else acc
 * ```
 */
export function headlineMean(
  tasks: Record<string, HeadlineInput>,
): { value: number; over: string[] } {
  const over: string[] = [];
  const xs: number[] = [];
  for (const [name, t] of Object.entries(tasks)) {
    const x = t.acc_norm ?? t.acc;
    if (x === undefined) continue;
    over.push(name);
    xs.push(x);
  }
  return { value: mean(xs), over };
}
