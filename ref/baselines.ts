/**
 * Float64 brute-force references of the baselines' selection rules, on the f64 reference forward
 * (refEmbed / refSublayer / refHead): the calibration mean NLL of every candidate removal, the
 * greedy SLEB (blocks, first and last kept) and BlockPruner (sublayers) orders, and ShortGPT's
 * Block Influence. Independent of the GPU code and of src/baselines.
 */
import type { ModelConfig } from "../src/model/config.ts";
import { refEmbed, refHead, refSublayer, type RefWeights } from "./forward.ts";

/** Mean next-token NLL over every position but the first of each sequence, sublayers masked by `alive`. */
export function refMeanNll(
  cfg: ModelConfig,
  ws: RefWeights,
  seqs: readonly (readonly number[])[],
  alive: readonly boolean[],
): number {
  const V = cfg.vocabSize;
  let sum = 0;
  let count = 0;
  for (const ids of seqs) {
    const h = refEmbed(cfg, ws, ids);
    for (let s = 0; s < 2 * cfg.numLayers; s++) if (alive[s]) refSublayer(cfg, ws, h, s);
    const logits = refHead(cfg, ws, h);
    for (let p = 0; p + 1 < ids.length; p++) {
      let max = -Infinity;
      for (let v = 0; v < V; v++) max = Math.max(max, logits[p * V + v]);
      let z = 0;
      for (let v = 0; v < V; v++) z += Math.exp(logits[p * V + v] - max);
      sum += Math.log(z) + max - logits[p * V + ids[p + 1]];
      count++;
    }
  }
  return sum / count;
}

/** One greedy step of the reference: every candidate's loss and the chosen unit. */
export interface RefGreedyStep {
  /** Candidate units still available at this step, in tie-break order. */
  units: number[][];
  losses: number[];
  /** The removed unit (lowest loss; ties: the earlier unit). */
  chosen: number[];
  /** Best loss minus second-best loss (how clear the choice is). */
  margin: number;
}

/**
 * Brute-force greedy removal by calibration NLL over `units` for `steps` steps: at every step,
 * each remaining unit is removed on top of the previous choices and the loss recomputed.
 */
export function refGreedy(
  cfg: ModelConfig,
  ws: RefWeights,
  seqs: readonly (readonly number[])[],
  units: readonly (readonly number[])[],
  steps: number,
): RefGreedyStep[] {
  const alive = new Array<boolean>(2 * cfg.numLayers).fill(true);
  const out: RefGreedyStep[] = [];
  for (let k = 0; k < steps; k++) {
    const cand = units.filter((u) => u.every((s) => alive[s])).map((u) => [...u]);
    const losses = cand.map((u) => {
      const mask = alive.slice();
      for (const s of u) mask[s] = false;
      return refMeanNll(cfg, ws, seqs, mask);
    });
    let best = 0;
    for (let i = 1; i < cand.length; i++) if (losses[i] < losses[best]) best = i;
    const others = losses.filter((_, i) => i !== best);
    const margin = others.length ? Math.min(...others) - losses[best] : Infinity;
    for (const s of cand[best]) alive[s] = false;
    out.push({ units: cand, losses, chosen: cand[best], margin });
  }
  return out;
}

/** SLEB: greedy over blocks 1 … L−2 (the first and last blocks are kept). */
export function refSleb(
  cfg: ModelConfig,
  ws: RefWeights,
  seqs: readonly (readonly number[])[],
  steps: number,
): RefGreedyStep[] {
  const units: number[][] = [];
  for (let b = 1; b < cfg.numLayers - 1; b++) units.push([2 * b, 2 * b + 1]);
  return refGreedy(cfg, ws, seqs, units, steps);
}

/** BlockPruner: greedy over every sublayer. */
export function refBlockPruner(
  cfg: ModelConfig,
  ws: RefWeights,
  seqs: readonly (readonly number[])[],
  steps: number,
): RefGreedyStep[] {
  const units = Array.from({ length: 2 * cfg.numLayers }, (_, s) => [s]);
  return refGreedy(cfg, ws, seqs, units, steps);
}

/**
 * ShortGPT Block Influence of every block of the dense model: 1 − the mean over all tokens of
 * cos(block input, block output) on the raw residual stream.
 */
export function refBlockInfluence(
  cfg: ModelConfig,
  ws: RefWeights,
  seqs: readonly (readonly number[])[],
): number[] {
  const d = cfg.hiddenSize;
  const L = cfg.numLayers;
  const sum = new Array<number>(L).fill(0);
  let tokens = 0;
  for (const ids of seqs) {
    const h = refEmbed(cfg, ws, ids);
    for (let b = 0; b < L; b++) {
      const inp = Float64Array.from(h);
      refSublayer(cfg, ws, h, 2 * b);
      refSublayer(cfg, ws, h, 2 * b + 1);
      for (let t = 0; t < ids.length; t++) {
        let dot = 0;
        let na = 0;
        let nb = 0;
        for (let j = 0; j < d; j++) {
          const a = inp[t * d + j];
          const c = h[t * d + j];
          dot += a * c;
          na += a * a;
          nb += c * c;
        }
        sum[b] += 1 - dot / Math.sqrt(na * nb);
      }
    }
    tokens += ids.length;
  }
  return sum.map((s) => s / tokens);
}

/** Blocks in ascending Block Influence (ties: lower index first). */
export function refShortGptOrder(bi: readonly number[]): number[] {
  return bi.map((v, b) => ({ v, b })).sort((x, y) => x.v - y.v || x.b - y.b).map((x) => x.b);
}
