/**
 * SPRINT sensitivity metrics on the GPU (the official `CompressionManager.add_batch`, spec §4):
 * per-row statistics of a reference activation `O` and a pruned activation `C` (both `[b, T, d]`
 * f32) in one pass ({@link metricRowStats}), and the batch's contribution Σ_r dist(row r) added
 * into one slot of a score tensor on the GPU ({@link accumulateMetric}), so that the scores of all
 * candidates and batches are read back once.
 *
 * Rows by normalisation (`norm`): `sentence` — one row of T·d values per sequence; `token` — one
 * row of d values per token; `channel` — one row of T values per (sequence, channel), strided by
 * d; `element` — one row per scalar; `none` (the code's `None`) — one row of all b·T·d values.
 * Per row, 6 f32 sums are formed: `[Σ|O−C|, Σ|O|, Σ(O−C)², ΣO², ΣO·C, ΣC²]`
 * ({@link ROW_STAT_NAMES}), from which the distances follow:
 * - `l1`, and `l2` as the official code implements it (Σ sqrt((O−C)²) / Σ sqrt(O²) — the same
 *   number): Σ|O−C| / Σ|O|;
 * - `l2true` (opt-in, not in the official code): sqrt(Σ(O−C)²) / sqrt(ΣO²);
 * - `cos`: 1 − ΣO·C / (sqrt(ΣO²)·sqrt(ΣC²)), evaluated as (Σ(O−C)² − (‖O‖ − ‖C‖)²) / (2‖O‖‖C‖),
 *   the same quantity without the cancellation of 1 − cos when C ≈ O (the f32 result is then
 *   accurate relative to the distance itself; ΣO·C is still produced for callers of the row
 *   statistics).
 * A row whose denominator is 0 gives what PyTorch float32 gives: 0/0 = NaN, x/0 = +inf (cos: NaN
 * whenever ‖O‖ or ‖C‖ is 0). This is faithful, not fixed: an `element` metric is NaN/+inf as soon
 * as one scalar of O is 0, exactly like the official code ("Return nan because of zeros").
 *
 * Element rows are not materialised (b·T·d rows × 6 sums would be 6× the activation): the
 * distance of a 1-element row depends on that element only, so the `element` statistics are
 * per-workgroup partial sums of the per-element distances (column 0: |o−c| / |o|, which is l1,
 * l2 and l2true alike; column 1: the cos distance, 0, 2 or NaN).
 *
 * Loop budget and parallelism (Mesa 22.3 llvmpipe cuts an invocation off after 65,535 loop
 * iterations): a workgroup of 256 invocations handles RPW rows × TPR lanes; long rows (`sentence`,
 * `none`, and `channel` with very many tokens) are split over up to 1,024 workgroups whose
 * per-workgroup partial sums are tree-combined by a second dispatch, so an invocation adds at most
 * ≈ ⌈row / (splits·256)⌉ items (32 vec4s for a 4 × 2048 × 4096 batch) before log2(256) tree
 * levels. Every dispatch checks {@link assertLoopBudget}. The partial sums live in one 384 KiB
 * scratch buffer per device (in `gpu.workspace`), reused by every call (dispatches are ordered).
 *
 * @module
 */
import { nextPow2 } from "./tiles.ts";
import type { Gpu } from "../gpu/device.ts";
import { linearGrid, Params, type Recorder } from "../gpu/recorder.ts";
import { loadShader } from "../gpu/shader.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { assertLoopBudget } from "./canary.ts";

const SRC = await loadShader("metric.wgsl");

/** Invocations per workgroup. */
const WG = 256;
/** Most workgroups a long-row statistics dispatch is split over. */
const MAX_GROUPS = 1024;
/**
 * Fewest items per invocation before more lanes or workgroups are used (32 rather than 8: fewer
 * tree levels and barriers; token rows of d = 4096 ran ≈ 1.6× faster on llvmpipe).
 */
const MIN_PER_INVOCATION = 32;
/** Rows (× 6 f32) of the per-device scratch buffer of per-workgroup partial sums. */
const PARTIAL_ROWS = 16384;
/** Most lanes per row for channel rows (the other WG / lanes invocations take more channels). */
const CHANNEL_MAX_LANES = 16;

/** Values per row of a statistics tensor. */
export const ROW_STATS = 6;

/** What each of the {@link ROW_STATS} columns of a (non-element) statistics row holds. */
export const ROW_STAT_NAMES = [
  "sum|O-C|",
  "sum|O|",
  "sum(O-C)^2",
  "sumO^2",
  "sumO*C",
  "sumC^2",
] as const;

/** How activations are split into rows (spec §4; `none` is the official code's `None`). */
export type MetricNorm = "sentence" | "token" | "channel" | "element" | "none";

/**
 * Distances: `l1`; `l2` as the official code implements it (identical to `l1`); `l2true`, the
 * Euclidean relative error (opt-in); `cos`, one minus the cosine similarity.
 */
export type MetricDistance = "l1" | "l2" | "l2true" | "cos";

/** Every {@link MetricNorm}. */
export const METRIC_NORMS: readonly MetricNorm[] = [
  "sentence",
  "token",
  "channel",
  "element",
  "none",
];

/** Every {@link MetricDistance}. */
export const METRIC_DISTANCES: readonly MetricDistance[] = ["l1", "l2", "l2true", "cos"];

/** The layout of one batch of activations: `[batch, tokens, width]`, row-major. */
export interface MetricShape {
  /** Sequences in the batch (b). */
  batch: number;
  /** Tokens per sequence (T). */
  tokens: number;
  /** Residual-stream width (d). */
  width: number;
}

/** Options of {@link metricRowStats}: the batch layout and the normalisation. */
export interface RowStatsOptions extends MetricShape {
  /** How the batch is split into rows. */
  norm: MetricNorm;
}

/** Per-row statistics recorded by {@link metricRowStats}, the input of {@link accumulateMetric}. */
export interface RowStats {
  /**
   * f32 `[rows, 6]`. For every norm but `element`: one row per metric row, the sums named by
   * {@link ROW_STAT_NAMES}. For `element`: one row per workgroup of partial sums of the
   * per-element distances (column 0: Σ|o−c|/|o|, column 1: Σ cos distance, the rest 0).
   */
  readonly stats: Tensor;
  /** The normalisation the statistics were formed with. */
  readonly norm: MetricNorm;
  /** Rows of `stats` that hold data. */
  readonly rows: number;
}

/** Options of {@link accumulateMetric}. */
export interface AccumulateOptions {
  /** The distance whose per-row values are summed. */
  distance: MetricDistance;
}

/** The dispatch plan of one statistics computation. */
interface Plan {
  /** Rows of the statistics tensor. */
  rows: number;
  kind: "rows" | "elements" | "empty";
  /** rows: row length in items (vec4s with vec4); elements: items. */
  len: number;
  vec4: boolean;
  contig: boolean;
  tpr: number;
  splits: number;
  tiles: number;
  inner: number;
  outerStride: number;
  step: number;
  /** elements: workgroups. */
  groups: number;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function checkShape(name: string, s: MetricShape): void {
  for (const k of ["batch", "tokens", "width"] as const) {
    const v = s[k];
    if (!Number.isInteger(v) || v < 0) {
      throw new Error(`${name}: ${k} must be an integer ≥ 0, got ${v}`);
    }
  }
}

function plan(options: RowStatsOptions): Plan {
  const { batch: b, tokens: t, width: d, norm } = options;
  const n = b * t * d;
  const base = {
    vec4: false,
    contig: true,
    tpr: 1,
    splits: 1,
    tiles: 0,
    inner: 1,
    outerStride: 0,
    step: 1,
    groups: 0,
  };
  if (norm === "element") {
    const vec4 = n % 4 === 0;
    const items = vec4 ? n / 4 : n;
    const groups = Math.min(MAX_GROUPS, Math.ceil(items / (WG * MIN_PER_INVOCATION)));
    return {
      ...base,
      rows: groups,
      kind: groups === 0 ? "empty" : "elements",
      len: items,
      vec4,
      groups,
    };
  }
  let rows: number;
  let len: number;
  if (norm === "sentence") [rows, len] = [b, t * d];
  else if (norm === "token") [rows, len] = [b * t, d];
  else if (norm === "channel") [rows, len] = [b * d, t];
  else if (norm === "none") [rows, len] = [1, n];
  else throw new Error(`metricRowStats: unknown norm ${JSON.stringify(norm)}`);
  if (rows === 0 || len === 0) return { ...base, rows, kind: "empty", len };
  if (norm === "channel") {
    const tpr = clamp(nextPow2(Math.ceil(len / MIN_PER_INVOCATION)), 1, CHANNEL_MAX_LANES);
    const tiles = Math.ceil(rows / (WG / tpr));
    const splits = splitCount(len, tpr, tiles, rows);
    return {
      ...base,
      rows,
      kind: "rows",
      len,
      contig: false,
      tpr,
      splits,
      tiles,
      inner: d,
      outerStride: t * d,
      step: d,
    };
  }
  const vec4 = len % 4 === 0;
  const items = vec4 ? len / 4 : len;
  const tpr = clamp(nextPow2(Math.ceil(items / MIN_PER_INVOCATION)), 1, WG);
  const tiles = Math.ceil(rows / (WG / tpr));
  const splits = splitCount(items, tpr, tiles, rows);
  return { ...base, rows, kind: "rows", len: items, vec4, tpr, splits, tiles, outerStride: items };
}

/** Segments per row: enough to give every invocation ≥ 32 items, within the group/scratch caps. */
function splitCount(len: number, tpr: number, tiles: number, rows: number): number {
  const wanted = Math.ceil(len / (tpr * MIN_PER_INVOCATION));
  const cap = Math.min(Math.floor(MAX_GROUPS / tiles), Math.floor(PARTIAL_ROWS / rows));
  return Math.max(1, Math.min(wanted, cap));
}

/**
 * Rows of the statistics tensor {@link metricRowStats} writes for `options` (its `out` must be
 * f32 `[rows, 6]`): b for `sentence`, b·T for `token`, b·d for `channel`, 1 for `none`, and for
 * `element` the number of partial sums (⌈items / 8192⌉ capped at 1,024, items = b·T·d, or b·T·d / 4
 * when that is a multiple of 4; 0 for an empty batch).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { metricStatsRows } from "@sprint-wgpu/toolkit/kernels";
 * assert.equal(metricStatsRows({ batch: 4, tokens: 128, width: 64, norm: "token" }), 512);
 * ```
 */
export function metricStatsRows(options: RowStatsOptions): number {
  checkShape("metricStatsRows", options);
  return plan(options).rows;
}

/** The device's partial-sums scratch (one per device, in its workspace). */
function scratchFor(gpu: Pick<Gpu, "tensor" | "workspace">): Tensor {
  return gpu.workspace.entry(
    "metric.partials",
    "",
    () => gpu.tensor([PARTIAL_ROWS, ROW_STATS], "f32"),
  );
}

/**
 * Records the per-row statistics of reference activations `o` and pruned activations `c` (f32,
 * `batch·tokens·width` elements laid out `[batch, tokens, width]`, any tensor shape) for the rows
 * of `norm` into `out` (f32 `[rows, 6]`, see {@link metricStatsRows}; allocated when absent).
 * One pass over O and C for all distances; long rows take a second, small combining dispatch.
 * Returns the {@link RowStats} to pass to {@link accumulateMetric}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { metricRowStats } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const shape = { batch: 2, tokens: 3, width: 4 };
 * const o = gpu.tensor([2, 3, 4], "f32", new Float32Array(24).fill(1));
 * const c = gpu.tensor([2, 3, 4], "f32", new Float32Array(24).fill(0.5));
 * const st = gpu.run((rec) => metricRowStats(rec, o, c, { ...shape, norm: "sentence" }));
 * assert.deepEqual([...await st.stats.read()], [6, 12, 3, 12, 6, 3, 6, 12, 3, 12, 6, 3]);
 * ```
 */
export function metricRowStats(
  rec: Recorder,
  o: Tensor,
  c: Tensor,
  options: RowStatsOptions,
  out?: Tensor,
): RowStats {
  const name = "metricRowStats";
  checkShape(name, options);
  const n = options.batch * options.tokens * options.width;
  for (const [label, x] of [["o", o], ["c", c]] as const) {
    if (x.dtype !== "f32") throw new Error(`${name}: ${label} must be f32, got ${x.dtype}`);
    if (x.size !== n) {
      throw new Error(
        `${name}: ${label} [${x.shape}] has ${x.size} elements, [${options.batch}, ${options.tokens},` +
          ` ${options.width}] needs ${n}`,
      );
    }
  }
  const p = plan(options);
  const stats = out ?? rec.gpu.tensor([p.rows, ROW_STATS], "f32");
  if (stats.dtype !== "f32" || stats.size !== p.rows * ROW_STATS) {
    throw new Error(
      `${name}: out must be f32 [${p.rows}, ${ROW_STATS}] for ${options.norm} rows, got` +
        ` ${stats.dtype} [${stats.shape}]`,
    );
  }
  if (stats.buffer === o.buffer || stats.buffer === c.buffer) {
    throw new Error(`${name}: out must not be o or c`);
  }
  const result: RowStats = { stats, norm: options.norm, rows: p.rows };
  if (p.kind === "empty") {
    // Zero-length rows: all sums are 0 (and the distances 0/0 = NaN, as in PyTorch).
    if (p.rows > 0) rec.encoder.clearBuffer(stats.buffer);
    return result;
  }
  const fullPasses = 2; // the exit test of each loop counts as an iteration on llvmpipe
  if (p.kind === "elements") {
    const perInvocation = Math.ceil(p.len / (p.groups * WG));
    assertLoopBudget(name, perInvocation + Math.log2(WG) + fullPasses, `${n} elements`);
    const pipe = rec.gpu.pipeline(SRC, { WG, ELEMENTS: true, VEC4: p.vec4 });
    const params = new Params().u32(p.len).u32(p.groups).f32(Infinity).f32(NaN);
    rec.dispatch(pipe, [o, c, stats], [p.groups], params);
    return result;
  }
  const perInvocation = Math.ceil(p.len / (p.splits * p.tpr));
  assertLoopBudget(
    name,
    perInvocation + Math.log2(p.tpr) + fullPasses,
    `${options.norm} rows of ${p.vec4 ? 4 * p.len : p.len} elements`,
  );
  const pipe = rec.gpu.pipeline(SRC, {
    WG,
    ROWS: true,
    TPR: p.tpr,
    CONTIG: p.contig,
    VEC4: p.vec4,
  });
  const params = new Params()
    .u32(p.rows)
    .u32(p.len)
    .u32(p.splits)
    .u32(p.inner)
    .u32(p.outerStride)
    .u32(p.step)
    .u32(p.tiles);
  const grid = linearGrid(p.tiles * p.splits, rec.gpu.caps.maxWorkgroupsPerDimension);
  if (p.splits === 1) {
    rec.dispatch(pipe, [o, c, stats], grid, params);
    return result;
  }
  const partials = scratchFor(rec.gpu);
  if ([o, c, stats].some((t) => t.buffer === partials.buffer)) {
    throw new Error(`${name}: o, c and out must not be the metric scratch buffer`);
  }
  rec.dispatch(pipe, [o, c, partials], grid, params);
  assertLoopBudget(name, Math.ceil(p.splits / WG) + Math.log2(WG) + fullPasses, "combine");
  const combine = rec.gpu.pipeline(SRC, { WG, COMBINE: true });
  rec.dispatch(
    combine,
    [partials, stats],
    linearGrid(p.rows, rec.gpu.caps.maxWorkgroupsPerDimension),
    new Params().u32(p.rows).u32(p.splits),
  );
  return result;
}

const DISTANCE_CODE: Readonly<Record<MetricDistance, number>> = { l1: 0, l2: 0, l2true: 1, cos: 2 };

/**
 * Records `score[slot] += Σ_r dist(row r)` — one batch's contribution to a sensitivity score,
 * summed over the rows of `stats` (a strided chain plus a workgroup tree, in f32) and added on the
 * GPU, so scores accumulate over batches (summed, never averaged, as in the official code) and
 * many slots share one buffer read back once. `score` is any f32 tensor; `slot` indexes its
 * elements. Rows with a zero denominator contribute NaN or +inf (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { accumulateMetric, metricRowStats } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const o = gpu.tensor([2, 3, 4], "f32", new Float32Array(24).fill(1));
 * const c = gpu.tensor([2, 3, 4], "f32", new Float32Array(24).fill(0.5));
 * const score = gpu.tensor([4], "f32"); // one slot per candidate sublayer, zeroed
 * gpu.run((rec) => {
 *   const st = metricRowStats(rec, o, c, { batch: 2, tokens: 3, width: 4, norm: "sentence" });
 *   accumulateMetric(rec, st, { distance: "l2" }, score, 1);
 * });
 * assert.deepEqual([...await score.read()], [0, 1, 0, 0]); // c = o / 2: 0.5 per sequence
 * ```
 */
export function accumulateMetric(
  rec: Recorder,
  stats: RowStats,
  options: AccumulateOptions,
  score: Tensor,
  slot: number,
): void {
  const name = "accumulateMetric";
  const code = DISTANCE_CODE[options.distance];
  if (code === undefined || !Object.hasOwn(DISTANCE_CODE, options.distance)) {
    throw new Error(`${name}: unknown distance ${JSON.stringify(options.distance)}`);
  }
  if (score.dtype !== "f32") throw new Error(`${name}: score must be f32, got ${score.dtype}`);
  if (!Number.isInteger(slot) || slot < 0 || slot >= score.size) {
    throw new Error(`${name}: slot ${slot} is outside score [${score.shape}]`);
  }
  const t = stats.stats;
  if (t.dtype !== "f32" || t.size < stats.rows * ROW_STATS) {
    throw new Error(`${name}: stats must be f32 [${stats.rows}, ${ROW_STATS}], got [${t.shape}]`);
  }
  if (t.buffer === score.buffer) throw new Error(`${name}: score must not be the stats tensor`);
  if (stats.rows === 0) return;
  assertLoopBudget(name, Math.ceil(stats.rows / WG) + Math.log2(WG) + 2, `${stats.rows} rows`);
  const pipe = rec.gpu.pipeline(SRC, { WG, ACCUMULATE: true });
  const params = new Params()
    .u32(stats.rows)
    .u32(code)
    .u32(stats.norm === "element" ? 1 : 0)
    .u32(slot)
    .f32(Infinity)
    .f32(NaN);
  rec.dispatch(pipe, [t, score], [1], params);
}
