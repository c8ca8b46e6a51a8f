/**
 * f64 references of the SPRINT sensitivity metrics (spec §4, the official
 * `CompressionManager.add_batch`), computed directly from the O and C arrays `[b, T, d]`.
 * Divisions follow IEEE (as PyTorch does): 0/0 = NaN, x/0 = ±inf.
 */
import type { MetricDistance, MetricNorm, MetricShape } from "../src/kernels/metric.ts";

/** The flat indices of the elements of each row of `norm`, in row order. */
export function metricRows(shape: MetricShape, norm: MetricNorm): number[][] {
  const { batch: b, tokens: t, width: d } = shape;
  const rows: number[][] = [];
  const range = (start: number, len: number, step = 1) =>
    Array.from({ length: len }, (_, j) => start + j * step);
  if (norm === "sentence") { for (let s = 0; s < b; s++) rows.push(range(s * t * d, t * d)); }
  else if (norm === "token") { for (let r = 0; r < b * t; r++) rows.push(range(r * d, d)); }
  else if (norm === "channel") {
    for (let s = 0; s < b; s++) {
      for (let ch = 0; ch < d; ch++) rows.push(range(s * t * d + ch, t, d));
    }
  } else if (norm === "element") { for (let i = 0; i < b * t * d; i++) rows.push([i]); }
  else rows.push(range(0, b * t * d));
  return rows;
}

/** f64 sums of one row: [Σ|O−C|, Σ|O|, Σ(O−C)², ΣO², ΣO·C, ΣC²]. */
export function rowStatsRef(o: ArrayLike<number>, c: ArrayLike<number>, idx: number[]): number[] {
  const s = [0, 0, 0, 0, 0, 0];
  for (const i of idx) {
    const e = o[i] - c[i];
    s[0] += Math.abs(e);
    s[1] += Math.abs(o[i]);
    s[2] += e * e;
    s[3] += o[i] * o[i];
    s[4] += o[i] * c[i];
    s[5] += c[i] * c[i];
  }
  return s;
}

/** f64 statistics of every row of `norm` (not for `element`, whose GPU form is pre-reduced). */
export function metricRowStatsRef(
  o: ArrayLike<number>,
  c: ArrayLike<number>,
  shape: MetricShape,
  norm: MetricNorm,
): Float64Array {
  const rows = metricRows(shape, norm);
  const out = new Float64Array(rows.length * 6);
  rows.forEach((idx, r) => out.set(rowStatsRef(o, c, idx), r * 6));
  return out;
}

/** The distance of one row, by the spec's formulas (l2 as the official code implements it). */
export function rowDistanceRef(
  o: ArrayLike<number>,
  c: ArrayLike<number>,
  idx: number[],
  distance: MetricDistance,
): number {
  let num = 0;
  let den = 0;
  if (distance === "l1") {
    for (const i of idx) {
      num += Math.abs(o[i] - c[i]);
      den += Math.abs(o[i]);
    }
    return num / den;
  }
  if (distance === "l2") {
    for (const i of idx) {
      num += Math.sqrt((o[i] - c[i]) ** 2);
      den += Math.sqrt(o[i] ** 2);
    }
    return num / den;
  }
  if (distance === "l2true") {
    for (const i of idx) {
      num += (o[i] - c[i]) ** 2;
      den += o[i] ** 2;
    }
    return Math.sqrt(num) / Math.sqrt(den);
  }
  let oo = 0;
  let cc = 0;
  let oc = 0;
  for (const i of idx) {
    oo += o[i] * o[i];
    cc += c[i] * c[i];
    oc += o[i] * c[i];
  }
  return 1 - oc / (Math.sqrt(oo) * Math.sqrt(cc));
}

/** One batch's contribution Σ_r dist(row r) to a score, in f64. */
export function metricRef(
  o: ArrayLike<number>,
  c: ArrayLike<number>,
  shape: MetricShape,
  distance: MetricDistance,
  norm: MetricNorm,
): number {
  let total = 0;
  for (const idx of metricRows(shape, norm)) total += rowDistanceRef(o, c, idx, distance);
  return total;
}
