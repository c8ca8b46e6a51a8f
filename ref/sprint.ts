/**
 * Float64 reference of one SPRINT step from the dense model (spec §4–§9) with the default
 * settings: metric l2_sentence (the official relative-L1 form), latency-aware importance, tuning
 * the next MLP's down_proj (all rows, ρ = 1) by least squares, `candidates` re-scored in stage 2.
 * Plain loops over the f64 reference forward; independent of the GPU code.
 */
import type { ModelConfig } from "../src/model/config.ts";
import { refEmbed, refSublayer, type RefWeights } from "./forward.ts";

/** Result of {@link refSprintStep}. */
export interface RefStep {
  /** Raw stage-1 sensitivity per sublayer. */
  score1: number[];
  importance1: number[];
  candidates: number[];
  /** Stage-2 importance per candidate. */
  importance2: Map<number, number>;
  target: number;
  /** The re-fitted down_proj `[D, F]` of the target's tuning MLP (HF layout). */
  tunedDown: Float64Array;
  tunedBlock: number;
}

function l1(o: Float64Array, c: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < o.length; i++) {
    num += Math.abs(o[i] - c[i]);
    den += Math.abs(o[i]);
  }
  return num / den;
}

function tuneOf(s: number, n: number): number {
  for (let t = s + 1; t < n; t++) if (t % 2 === 1) return t;
  return Math.min(s + 1, n - 1);
}

/** Solves (G + shift·I) X = H by Cholesky in f64; G [f, f], H [f, m]. */
export function choleskySolveF64(
  g: Float64Array,
  h: Float64Array,
  f: number,
  m: number,
  shift: number,
): Float64Array {
  const a = Float64Array.from(g);
  for (let i = 0; i < f; i++) a[i * f + i] += shift;
  for (let j = 0; j < f; j++) {
    let d = a[j * f + j];
    for (let k = 0; k < j; k++) d -= a[j * f + k] ** 2;
    const ljj = Math.sqrt(d);
    a[j * f + j] = ljj;
    for (let i = j + 1; i < f; i++) {
      let v = a[i * f + j];
      for (let k = 0; k < j; k++) v -= a[i * f + k] * a[j * f + k];
      a[i * f + j] = v / ljj;
    }
  }
  const x = Float64Array.from(h);
  for (let c = 0; c < m; c++) {
    for (let i = 0; i < f; i++) {
      let v = x[i * m + c];
      for (let k = 0; k < i; k++) v -= a[i * f + k] * x[k * m + c];
      x[i * m + c] = v / a[i * f + i];
    }
    for (let i = f - 1; i >= 0; i--) {
      let v = x[i * m + c];
      for (let k = i + 1; k < f; k++) v -= a[k * f + i] * x[k * m + c];
      x[i * m + c] = v / a[i * f + i];
    }
  }
  return x;
}

/**
 * One SPRINT step on the dense model. `seqs` are the calibration windows; `lat` the per-type
 * latencies; `jitter` the solver's relative diagonal shift (the GPU solver's default 1e-6).
 */
export function refSprintStep(
  cfg: ModelConfig,
  ws: RefWeights,
  seqs: number[][],
  lat: { attention: number; mlp: number },
  candidates = 5,
  jitter = 1e-6,
): RefStep {
  const n = 2 * cfg.numLayers;
  const d = cfg.hiddenSize;
  const F = cfg.intermediateSize;
  const latOf = (s: number) => (s % 2 === 0 ? lat.attention : lat.mlp);
  // Input of every sublayer for every sequence.
  const inputs: Float64Array[][] = seqs.map((ids) => {
    const h = refEmbed(cfg, ws, ids);
    const list: Float64Array[] = [];
    for (let s = 0; s < n; s++) {
      list.push(Float64Array.from(h));
      refSublayer(cfg, ws, h, s);
    }
    return list;
  });
  const score1 = new Array<number>(n).fill(0);
  for (let s = 0; s < n; s++) {
    const t = tuneOf(s, n);
    for (const per of inputs) {
      const o = Float64Array.from(per[s]);
      for (let i = s; i <= t; i++) refSublayer(cfg, ws, o, i);
      const c = Float64Array.from(per[s]);
      for (let i = s + 1; i <= t; i++) refSublayer(cfg, ws, c, i);
      score1[s] += l1(o, c);
    }
  }
  const importance1 = score1.map((v, s) => v / latOf(s));
  const order = importance1.map((v, s) => [v, s]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((
    x,
  ) => x[1]);
  const cands = order.slice(0, candidates);
  const importance2 = new Map<number, number>();
  const tunedByCand = new Map<number, Float64Array>();
  for (const s of cands) {
    const t = tuneOf(s, n);
    if (t === s || t % 2 === 0) {
      importance2.set(s, Infinity);
      continue;
    }
    const G = new Float64Array(F * F);
    const Hm = new Float64Array(F * d);
    const data: { y: Float64Array; r: Float64Array; x: Float64Array }[] = [];
    for (const per of inputs) {
      const y = Float64Array.from(per[s]);
      for (let i = s; i <= t; i++) refSublayer(cfg, ws, y, i);
      const r = Float64Array.from(per[s]);
      for (let i = s + 1; i < t; i++) refSublayer(cfg, ws, r, i);
      let x = new Float64Array(0);
      refSublayer(cfg, ws, Float64Array.from(r), t, {
        captureDownInput: (v) => (x = Float64Array.from(v)),
      });
      const T = r.length / d;
      for (let p = 0; p < T; p++) {
        for (let i = 0; i < F; i++) {
          const xi = x[p * F + i];
          for (let j = 0; j < F; j++) G[i * F + j] += xi * x[p * F + j];
          for (let o = 0; o < d; o++) Hm[i * d + o] += xi * (y[p * d + o] - r[p * d + o]);
        }
      }
      data.push({ y, r, x });
    }
    let meanDiag = 0;
    for (let i = 0; i < F; i++) meanDiag += Math.abs(G[i * F + i]) / F;
    const X = choleskySolveF64(G, Hm, F, d, jitter * meanDiag); // [F, d] = W_newᵀ
    const Wn = new Float64Array(d * F);
    for (let o = 0; o < d; o++) for (let i = 0; i < F; i++) Wn[o * F + i] = X[i * d + o];
    let score = 0;
    for (const { y, r, x } of data) {
      const T = r.length / d;
      const c = Float64Array.from(r);
      for (let p = 0; p < T; p++) {
        for (let o = 0; o < d; o++) {
          let acc = 0;
          for (let i = 0; i < F; i++) acc += x[p * F + i] * Wn[o * F + i];
          c[p * d + o] += acc;
        }
      }
      score += l1(y, c);
    }
    importance2.set(s, score / latOf(s));
    tunedByCand.set(s, Wn);
  }
  let target = cands[0];
  for (const s of cands) if (importance2.get(s)! < importance2.get(target)!) target = s;
  return {
    score1,
    importance1,
    candidates: cands,
    importance2,
    target,
    tunedDown: tunedByCand.get(target)!,
    tunedBlock: tuneOf(target, n) >> 1,
  };
}
