/**
 * Float64 references for the evaluation code, written independently of `src/eval/`: lm-eval's
 * request scoring (truncate to the last max_length + 1 tokens, sum of log-softmax at the
 * continuation positions, greedy check) and windowed perplexity, on top of `refForward`.
 */
import type { ModelConfig } from "../src/model/config.ts";
import { refForward, type RefWeights } from "./forward.ts";

/** log-softmax of one row (f64). */
export function refLogSoftmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i] - lse;
  return out;
}

/** lm-eval's log-likelihood and is_greedy of (context, continuation) token ids. */
export function refLoglikelihood(
  cfg: ModelConfig,
  ws: RefWeights,
  context: readonly number[],
  continuation: readonly number[],
  maxLength = cfg.maxPositions,
  alive: readonly boolean[] = cfg.alive,
): { ll: number; greedy: boolean } {
  const whole = [...context, ...continuation].slice(-(maxLength + 1));
  const input = whole.slice(0, -1);
  const V = cfg.vocabSize;
  const logits = refForward(cfg, ws, input, alive);
  let ll = 0;
  let greedy = true;
  const c = continuation.length;
  for (let j = 0; j < c; j++) {
    const pos = input.length - c + j;
    const lp = refLogSoftmax(logits.subarray(pos * V, (pos + 1) * V));
    ll += lp[continuation[j]];
    let best = 0;
    for (let v = 1; v < V; v++) if (lp[v] > lp[best]) best = v;
    if (best !== continuation[j]) greedy = false;
  }
  return { ll, greedy };
}

/**
 * Windowed perplexity: windows of `seqLen` starting every `stride` tokens (full windows only;
 * a shorter text is one window), the first window scoring all its positions, later ones only the
 * targets no earlier window scored.
 */
export function refPerplexity(
  cfg: ModelConfig,
  ws: RefWeights,
  ids: readonly number[],
  seqLen: number,
  stride = seqLen,
  limit = Infinity,
): { ppl: number; tokens: number; windows: number } {
  const V = cfg.vocabSize;
  let sum = 0;
  let tokens = 0;
  let windows = 0;
  let scoredUpTo = 0; // targets with absolute index < scoredUpTo are done
  const T = Math.min(seqLen, ids.length);
  for (let s = 0; s + T <= ids.length && windows < limit; s += stride) {
    const win = ids.slice(s, s + T);
    const logits = refForward(cfg, ws, win.slice(0, -1));
    for (let p = 0; p < T - 1; p++) {
      const target = s + p + 1;
      if (target < scoredUpTo) continue;
      const lp = refLogSoftmax(logits.subarray(p * V, (p + 1) * V));
      sum -= lp[win[p + 1]];
      tokens++;
    }
    scoredUpTo = s + T;
    windows++;
    if (T < seqLen) break;
  }
  return { ppl: Math.exp(sum / tokens), tokens, windows };
}
