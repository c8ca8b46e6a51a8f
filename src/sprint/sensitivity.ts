/**
 * SPRINT sensitivity scoring (spec §4) and ranking (spec §5.1): metric strings as the official
 * code accepts them ({@link parseMetrics}), a GPU-resident score table that accumulates every
 * candidate's sensitivity over calibration batches and is read back once per stage
 * ({@link SensitivityAccumulator}), latency-aware importance ({@link importance}) and the
 * multi-metric rank sum ({@link rankSum}).
 *
 * Faithfulness notes (official `snudm-starlab/SPRINT`, `CompressionManager`):
 * - `l2` is the official "l2", which is numerically the relative L1 error (Σ sqrt((O−C)²) /
 *   Σ sqrt(O²)); `l2true` is the Euclidean variant, offered as an opt-in.
 * - Scores are raw sums over rows and batches (never averaged), accumulated in f32 like the
 *   official `torch.zeros` score table.
 * - `element` metrics are NaN/+inf as soon as O has a zero (the official code's own comment:
 *   "Return nan because of zeros"); this is reproduced, not fixed.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { Recorder } from "../gpu/recorder.ts";
import { readTensors, type Tensor } from "../gpu/tensor.ts";
import {
  accumulateMetric,
  METRIC_DISTANCES,
  METRIC_NORMS,
  type MetricDistance,
  type MetricNorm,
  metricRowStats,
  type MetricShape,
  metricStatsRows,
  type RowStats,
} from "../kernels/metric.ts";

export type { MetricDistance, MetricNorm, MetricShape } from "../kernels/metric.ts";

/**
 * The default metric: `l2_sentence`, what every official script passes. (The official
 * `sprint.py` default `"l2"` has no normalisation and crashes in `add_batch`; it is rejected.)
 */
export const DEFAULT_METRIC = "l2_sentence";

/** One parsed metric. */
export interface MetricSpec {
  /** Canonical name `<dist>_<norm>`, with the official spelling `None` for norm `none`. */
  readonly name: string;
  /** Distance between a row of O and of C. */
  readonly distance: MetricDistance;
  /** How activations are split into rows. */
  readonly norm: MetricNorm;
}

const NORM_SPELLINGS: Readonly<Record<string, MetricNorm>> = {
  sentence: "sentence",
  token: "token",
  channel: "channel",
  element: "element",
  None: "none",
  none: "none",
};

const FORMAT_HINT = `metrics are <dist>_<norm> with dist in {${METRIC_DISTANCES.join(", ")}} and` +
  ` norm in {sentence, token, channel, element, None}, comma-separated`;

/**
 * Parses one metric `<dist>_<norm>`: dist ∈ l1, l2, l2true, cos; norm ∈ sentence, token, channel,
 * element, None (`none` also accepted). Surrounding whitespace is ignored (the official code strips
 * it). Throws with a clear message where the official code would crash (`"l2"`: no norm; more than
 * one `_`; an unknown norm) or would silently score 0 (an unknown distance).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMetric } from "@sprint-wgpu/toolkit/sprint";
 * assert.deepEqual(parseMetric("l2_sentence"), { name: "l2_sentence", distance: "l2", norm: "sentence" });
 * assert.deepEqual(parseMetric("cos_none"), { name: "cos_None", distance: "cos", norm: "none" });
 * ```
 */
export function parseMetric(text: string): MetricSpec {
  const item = text.trim();
  if (item === "") throw new Error(`empty metric name: ${FORMAT_HINT}`);
  const parts = item.split("_");
  if (parts.length === 1) {
    throw new Error(
      `metric "${item}" has no normalisation: ${FORMAT_HINT}, e.g. "${item}_sentence"` +
        ` (the default is "${DEFAULT_METRIC}"; the official default "l2" crashes in add_batch)`,
    );
  }
  if (parts.length > 2) {
    throw new Error(`metric "${item}" has more than one "_": ${FORMAT_HINT}`);
  }
  const [dist, normText] = parts;
  if (!(METRIC_DISTANCES as readonly string[]).includes(dist)) {
    throw new Error(
      `metric "${item}": unknown distance "${dist}" (expected one of` +
        ` ${METRIC_DISTANCES.join(", ")}; the official code would silently score 0)`,
    );
  }
  const norm = Object.hasOwn(NORM_SPELLINGS, normText) ? NORM_SPELLINGS[normText] : undefined;
  if (!norm) {
    throw new Error(
      `metric "${item}": unknown normalisation "${normText}" (expected one of sentence, token,` +
        ` channel, element, None)`,
    );
  }
  const distance = dist as MetricDistance;
  return { name: `${distance}_${norm === "none" ? "None" : norm}`, distance, norm };
}

/**
 * Parses a metric list: a comma-separated string (as the official `--metrics` flag) or an array
 * of names. Repeated metrics are kept once (the official code would add the repeated metric's
 * score twice into the same table, which changes no ranking). Empty items are errors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMetrics } from "@sprint-wgpu/toolkit/sprint";
 * assert.deepEqual(parseMetrics("l2_sentence, cos_token").map((m) => m.name), ["l2_sentence", "cos_token"]);
 * assert.deepEqual(parseMetrics(), [{ name: "l2_sentence", distance: "l2", norm: "sentence" }]);
 * ```
 */
export function parseMetrics(spec: string | readonly string[] = DEFAULT_METRIC): MetricSpec[] {
  const items = typeof spec === "string" ? spec.split(",") : [...spec];
  if (items.length === 0) throw new Error(`no metrics given: ${FORMAT_HINT}`);
  const out: MetricSpec[] = [];
  for (const item of items) {
    if (item.trim() === "") {
      throw new Error(`empty metric name in ${JSON.stringify(spec)}: ${FORMAT_HINT}`);
    }
    const m = parseMetric(item);
    if (!out.some((x) => x.name === m.name)) out.push(m);
  }
  return out;
}

/**
 * The sensitivity scores of `slots` candidate sublayers × K metrics, kept on the GPU (f32
 * `[K, slots]`, {@link SensitivityAccumulator.scores}). {@link SensitivityAccumulator.record}
 * records one batch's contribution for every metric (row statistics computed once per
 * normalisation, then one accumulation per metric); nothing is read back until
 * {@link SensitivityAccumulator.read}, which returns one Float64Array per metric with a single
 * wait. Scores start at 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { SensitivityAccumulator } from "@sprint-wgpu/toolkit/sprint";
 * const gpu = await getGpu();
 * const shape = { batch: 2, tokens: 3, width: 4 }; // activations [B·T, d]
 * const acc = new SensitivityAccumulator(gpu, "l2_sentence", 4, shape); // 4 candidate sublayers
 * const reference = gpu.tensor([6, 4], "f32", new Float32Array(24).fill(1));
 * const pruned = gpu.tensor([6, 4], "f32", new Float32Array(24).fill(0.5));
 * acc.reset(); // all slots 0
 * const rec = gpu.recorder();
 * acc.record(rec, reference, pruned, 1); // one batch of candidate 1
 * rec.submit();
 * const [l2] = await acc.read();
 * assert.deepEqual([...l2], [0, 1, 0, 0]); // 0.5 per sequence, summed over the batch
 * acc.destroy();
 * ```
 */
export class SensitivityAccumulator {
  /** The device the scores live on. */
  readonly gpu: Gpu;
  /** The metrics, in the order of {@link SensitivityAccumulator.read}'s result. */
  readonly metrics: readonly MetricSpec[];
  /** Candidate slots (N), e.g. the number of sublayers 2L. */
  readonly slots: number;
  /** The batch layout {@link SensitivityAccumulator.record} uses when it is given none. */
  readonly shape: MetricShape | undefined;
  /** The score table, f32 `[K, N]`: metric k, slot s at `k·N + s`. */
  readonly scores: Tensor;
  readonly #stats = new Map<string, Tensor>();

  /**
   * Parses the metrics and allocates the score table `[K, N]` on `gpu`.
   *
   * @param gpu Device.
   * @param metrics Metric string(s) (see {@link parseMetrics}) or parsed specs; `undefined`:
   *   {@link DEFAULT_METRIC}.
   * @param slots Number of candidate slots N (≥ 1).
   * @param shape Default batch layout `[batch, tokens, width]` of the activations (needed when
   *   they are not 3-D tensors, e.g. `[B·T, d]`).
   */
  constructor(
    gpu: Gpu,
    metrics: string | readonly string[] | readonly MetricSpec[] | undefined,
    slots: number,
    shape?: MetricShape,
  ) {
    if (!Number.isInteger(slots) || slots < 1) {
      throw new Error(`SensitivityAccumulator: slots must be an integer ≥ 1, got ${slots}`);
    }
    this.gpu = gpu;
    this.slots = slots;
    this.shape = shape
      ? { batch: shape.batch, tokens: shape.tokens, width: shape.width }
      : undefined;
    this.metrics = metrics === undefined || typeof metrics === "string"
      ? parseMetrics(metrics ?? DEFAULT_METRIC)
      : parseMetrics(metrics.map((m: string | MetricSpec) => (typeof m === "string" ? m : m.name)));
    this.scores = gpu.tensor([this.metrics.length, slots], "f32");
  }

  /**
   * Records `score[k][slot] += metric_k(O, C)` for every metric k, for one batch of reference
   * activations `o` and pruned activations `c` (f32, `[batch, tokens, width]` row-major). The
   * layout is `shape` when given, else the constructor's `shape`, else `o`'s shape (when 3-D).
   */
  record(rec: Recorder, o: Tensor, c: Tensor, slot: number, shape?: MetricShape): void {
    this.#checkSlot("record", slot);
    const s = shape ?? this.shape ?? (o.shape.length === 3 ? shapeOf(o) : undefined);
    if (!s) {
      throw new Error(
        `SensitivityAccumulator.record: activations [${o.shape}] are not [b, T, d] and no shape` +
          " was given",
      );
    }
    const byNorm = new Map<MetricNorm, RowStats>();
    this.metrics.forEach((m, k) => {
      let st = byNorm.get(m.norm);
      if (!st) {
        st = metricRowStats(rec, o, c, { ...s, norm: m.norm }, this.#statsTensor(s, m.norm));
        byNorm.set(m.norm, st);
      }
      accumulateMetric(rec, st, { distance: m.distance }, this.scores, k * this.slots + slot);
    });
  }

  /**
   * Zeroes the given slots (every slot when omitted) for all metrics. With `rec` the clear is
   * recorded, in order with that recorder's other commands (e.g. the official stage 1's
   * `score1[s] = 0` between candidates). Without, it is submitted at once on the queue: ordered
   * after everything already submitted and before everything submitted later — so do not call it
   * while a recorder holding this accumulator's commands is still unsubmitted.
   */
  reset(rec?: Recorder, slots?: readonly number[]): void {
    for (const s of slots ?? []) this.#checkSlot("reset", s);
    const enc = rec ? rec.encoder : this.gpu.device.createCommandEncoder();
    if (!slots) enc.clearBuffer(this.scores.buffer);
    else {
      for (const s of slots) {
        for (let k = 0; k < this.metrics.length; k++) {
          enc.clearBuffer(this.scores.buffer, (k * this.slots + s) * 4, 4);
        }
      }
    }
    if (!rec) this.gpu.device.queue.submit([enc.finish()]);
  }

  /**
   * Waits for the submitted work and returns the scores, one Float64Array `[N]` per metric in
   * the order of {@link SensitivityAccumulator.metrics} (one copy, one wait). Commands still being
   * recorded are not included: submit their recorder first.
   */
  async read(): Promise<Float64Array[]> {
    const [all] = await readTensors(this.gpu, [this.scores]);
    return this.metrics.map((_, k) =>
      Float64Array.from(all.subarray(k * this.slots, (k + 1) * this.slots))
    );
  }

  /** Frees the score table and the statistics buffers. */
  destroy(): void {
    this.scores.destroy();
    for (const t of this.#stats.values()) t.destroy();
    this.#stats.clear();
  }

  /** A statistics tensor for this batch shape and norm, kept for reuse (never freed mid-run). */
  #statsTensor(shape: MetricShape, norm: MetricNorm): Tensor {
    const rows = metricStatsRows({ ...shape, norm });
    const key = `${norm}:${rows}`;
    let t = this.#stats.get(key);
    if (!t) {
      t = this.gpu.tensor([rows, 6], "f32");
      this.#stats.set(key, t);
    }
    return t;
  }

  #checkSlot(name: string, slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slots) {
      throw new Error(
        `SensitivityAccumulator.${name}: slot ${slot} is outside 0…${this.slots - 1}`,
      );
    }
  }
}

function shapeOf(t: Tensor): MetricShape {
  const [batch, tokens, width] = t.shape;
  return { batch, tokens, width };
}

/** Options of {@link importance}. */
export interface ImportanceOptions {
  /**
   * Slots that cannot be pruned now (already pruned; untunable in stage 2): their importance is
   * +inf whatever their score (official `set_score_inf`).
   */
  unavailable?: Iterable<number>;
}

/**
 * Importance of each slot (spec §5.1): `score[s] / latency[s]` when `latencyPerSublayer` is given
 * (latency-aware, the default of the official code), else `score[s]`; unavailable slots are +inf.
 * Lowest importance is pruned first. Computed in f64 (the official code multiplies its f32 score
 * by an f32 `1/latency`; the two agree to f32 rounding, which can only reorder exact ties).
 * Latencies of available slots must be finite and > 0: a non-positive measured latency (possible
 * with the 25 % removal rule on a noisy machine) would silently invert the ranking, so it throws.
 * NaN scores stay NaN (they rank after +inf, see {@link ranks}). Returns a new array.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { importance } from "@sprint-wgpu/toolkit/sprint";
 * assert.deepEqual(importance([2, 4, 6, 8], [1, 2, 1, 2], { unavailable: [2] }), [2, 2, Infinity, 4]);
 * ```
 */
export function importance(
  scores: ArrayLike<number>,
  latencyPerSublayer: ArrayLike<number> | undefined,
  options: ImportanceOptions = {},
): number[] {
  const n = scores.length;
  const lat = latencyPerSublayer;
  if (lat && lat.length !== n) {
    throw new Error(`importance: ${lat.length} latencies for ${n} scores`);
  }
  const out = new Array<number>(n);
  const blocked = new Set<number>();
  for (const s of options.unavailable ?? []) {
    if (!Number.isInteger(s) || s < 0 || s >= n) {
      throw new Error(`importance: unavailable slot ${s} is outside 0…${n - 1}`);
    }
    blocked.add(s);
  }
  for (let s = 0; s < n; s++) {
    if (blocked.has(s)) {
      out[s] = Infinity;
      continue;
    }
    if (lat) {
      const l = lat[s];
      if (!(l > 0) || !Number.isFinite(l)) {
        throw new Error(
          `importance: latency of slot ${s} is ${l}; latencies must be finite and > 0`,
        );
      }
      out[s] = scores[s] / l;
    } else out[s] = scores[s];
  }
  return out;
}

/** Ascending order with NaN after +inf (as torch.sort); ties keep index order. */
function compareScores(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  const na = Number.isNaN(a);
  const nb = Number.isNaN(b);
  return na === nb ? 0 : na ? 1 : -1;
}

/** Indices of `v` in stable ascending order (NaN last). */
function argsort(v: ArrayLike<number>): number[] {
  return Array.from({ length: v.length }, (_, i) => i).sort((i, j) =>
    compareScores(v[i], v[j]) || i - j
  );
}

/**
 * Ranks of `scores`: `argsort(argsort(scores))`, 0 = smallest, ties broken by index (stable),
 * +inf after every finite score and NaN after +inf (torch.sort's order).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ranks } from "@sprint-wgpu/toolkit/sprint";
 * assert.deepEqual([...ranks([3, 1, 2, Infinity, 1])], [3, 0, 2, 4, 1]);
 * ```
 */
export function ranks(scores: ArrayLike<number>): Int32Array {
  const order = argsort(scores);
  const r = new Int32Array(scores.length);
  order.forEach((idx, pos) => (r[idx] = pos));
  return r;
}

/**
 * The multi-metric ranking of spec §5.1 (official `get_target_subids`): for each score vector
 * (one per metric, already latency-normalised by {@link importance}) the {@link ranks}; their
 * sum over metrics; then the slot indices in stable ascending order of the summed ranks (ties:
 * lower index first). The first k entries are the k least important slots.
 *
 * +inf handling: +inf slots (pruned, untunable) rank after every finite score in each metric, so
 * a slot that is +inf in every metric comes after every slot that is finite in every metric; among
 * themselves they keep index order. They are not removed: like the official code, a caller taking
 * k entries when fewer than k slots are finite gets +inf slots and must skip them. NaN (an
 * `element` metric over zeros) ranks after +inf.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rankSum } from "@sprint-wgpu/toolkit/sprint";
 * const order = rankSum([[3, 1, 2, Infinity, 1], [0.5, 0.5, 0.1, Infinity, 0.9]]);
 * assert.deepEqual(order, [1, 2, 0, 4, 3]);
 * ```
 */
export function rankSum(scoreVectors: readonly ArrayLike<number>[]): number[] {
  if (scoreVectors.length === 0) throw new Error("rankSum: no score vectors");
  const n = scoreVectors[0].length;
  const total = new Float64Array(n);
  for (const v of scoreVectors) {
    if (v.length !== n) throw new Error(`rankSum: score vectors of lengths ${n} and ${v.length}`);
    const r = ranks(v);
    for (let i = 0; i < n; i++) total[i] += r[i];
  }
  return argsort(total);
}

/** Every accepted normalisation, re-exported for callers that list the options. */
export { METRIC_DISTANCES, METRIC_NORMS };
