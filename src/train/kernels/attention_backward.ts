/**
 * Causal grouped-query attention for training (no KV cache, `past = 0`, T ≤ a few thousand):
 * a forward that also stores each query's log-sum-exp ({@link attentionForwardTrain}), and the
 * backward ({@link attentionBackward}) producing dQ, dK, dV.
 *
 * Strategy (flash-style recomputation): the backward recomputes the probabilities
 * `P = exp2(s − LSE)` from q, k and the stored LSE instead of storing P. Storing P (and dS) would
 * take `B·H·T²` floats per layer — 128 MiB at H = 32, T = 1,024, B = 1, the whole storage-binding
 * limit of llvmpipe — while the recomputation costs two dot products per (query, key) pair that
 * run from registers. On llvmpipe loads, not arithmetic, are the bottleneck (each lane pays for
 * each loaded component), and the recomputing kernels load each k/v (or q/dO) vector once per
 * tile of queries (or keys) held in registers, so the recomputation is about as fast as reading
 * stored probabilities would be, with O(B·T·H) extra memory (LSE and D).
 *
 * The backward is two dispatches, both race-free without atomics:
 * 1. `attention_dq.wgsl`: per tile of queries (as the forward), stream the keys: dQ, and
 *    `D = rowsum(dO∘O)` per query;
 * 2. `attention_dkv.wgsl`: per tile of keys of one kv head, stream every query of the group's R
 *    heads that attends to them: dK, dV, summed over the group's heads in registers (each dK/dV
 *    row has exactly one owner).
 * Both split a tile's loop over up to 8 lanes (summed through workgroup memory) when tiles are
 * few or the loop would exceed llvmpipe's per-invocation loop budget.
 *
 * Measured on the shared 2-core test machine (llvmpipe, best of 4): T = 512, 8 heads / 2 kv
 * heads, hd 64: forward-with-LSE (the inference kernel with its LSE option) 35 ms, backward 126 ms;
 * T = 256, 32 / 8 heads, hd 128: 136 ms and 422 ms; T = 1,024, 4 / 1 heads, hd 64: 77 ms and
 * 227 ms. The backward costs ≈ 3–3.5× the forward, its ratio of arithmetic (7·hd against 2·hd
 * multiply-adds per (query, key) pair).
 *
 * @module
 */
import { rowsPerLane } from "../../kernels/tiles.ts";
import { linearGrid, Params, type Recorder } from "../../gpu/recorder.ts";
import { loadShader } from "../../gpu/shader.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { assertLoopBudget } from "../../kernels/canary.ts";
import { attention } from "../../kernels/attention.ts";
import { checkDistinct, checkF32, checkInt, scratchF32 } from "./common.ts";

const SRC_DQ = await loadShader("backward/attention_dq.wgsl");
const SRC_DKV = await loadShader("backward/attention_dkv.wgsl");

/** Invocations per workgroup (one 8-wide SIMD batch on llvmpipe). */
const LANES = 8;
/** Backward: queries (dQ) or keys (dK/dV) per lane × hd (3–4 register arrays of that size). */
const MAX_TILE_HD_BWD = 256;
/** The same bound where shaders compile slowly (the GL back end; see kernels/attention.ts). */
const SLOW_COMPILE_TILE_HD_BWD = 128;
/** Largest supported head dimension. */
export const MAX_TRAIN_HEAD_DIM = 256;
/** Loop iterations one invocation's main loop may run before the loop is split over lanes. */
const LOOP_LIMIT = 30000;

/** Shape of a training attention problem. */
export interface TrainAttentionOptions {
  /** B: sequences. */
  batch: number;
  /** T: tokens per sequence (positions 0 … T−1). */
  tokens: number;
  /** H: query heads. */
  heads: number;
  /** KVH: key/value heads (divides H). */
  kvHeads: number;
  /** hd: head dimension (a multiple of 4, at most {@link MAX_TRAIN_HEAD_DIM}). */
  headDim: number;
  /** Softmax scale (default 1/√hd). */
  scale?: number;
}

function checkShape(fn: string, o: TrainAttentionOptions): void {
  checkInt(fn, "batch", o.batch, 0);
  checkInt(fn, "tokens", o.tokens, 0);
  checkInt(fn, "heads", o.heads, 1);
  checkInt(fn, "kvHeads", o.kvHeads, 1);
  checkInt(fn, "headDim", o.headDim, 4);
  if (o.headDim % 4 !== 0 || o.headDim > MAX_TRAIN_HEAD_DIM) {
    throw new Error(
      `${fn}: headDim must be a multiple of 4 and at most ${MAX_TRAIN_HEAD_DIM}, got ${o.headDim}`,
    );
  }
  if (o.heads % o.kvHeads !== 0) {
    throw new Error(`${fn}: kvHeads (${o.kvHeads}) must divide heads (${o.heads})`);
  }
}

/** Lanes per tile: many when tiles are few (all lanes busy), enough to respect the loop budget. */
function splitsFor(fn: string, count: number, loop: number): number {
  let splits = count <= 8 ? 8 : count <= 16 ? 4 : count <= 32 ? 2 : 1;
  while (Math.ceil(loop / splits) > LOOP_LIMIT && splits < LANES) splits *= 2;
  assertLoopBudget(fn, Math.ceil(loop / splits) + 1000, `a loop of ${loop} per tile`);
  return splits;
}

/** Options for {@link attentionForwardTrain}. */
export interface AttentionForwardTrainOptions extends TrainAttentionOptions {
  /** Output `[B·T, H·hd]` f32 (allocated when absent). */
  out?: Tensor;
  /** Log-sum-exp `[B·T, H]` f32 (allocated when absent), in base-2 units of the scaled scores. */
  lse?: Tensor;
}

/**
 * Records causal GQA attention `o = softmax(scale·q·kᵀ)·v` (query t attends to keys 0 … t of kv
 * head ⌊h/(H/KVH)⌋) for q `[B·T, H·hd]`, k, v `[B·T, KVH·hd]` (f32), and stores each query's
 * log-sum-exp for {@link attentionBackward}: `lse = log2 Σ_j exp2(scale·log2(e)·q·k_j)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { attentionForwardTrain } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const q = gpu.tensor([1, 4], "f32", new Float32Array([1, 0, 0, 0])); // 1 token, 1 head of 4
 * const k = gpu.tensor([1, 4], "f32", new Float32Array([2, 0, 0, 0]));
 * const v = gpu.tensor([1, 4], "f32", new Float32Array([1, 2, 3, 4]));
 * const shape = { batch: 1, tokens: 1, heads: 1, kvHeads: 1, headDim: 4 };
 * const { out, lse } = gpu.run((rec) => attentionForwardTrain(rec, q, k, v, shape));
 * assert.deepEqual([...await out.read()], [1, 2, 3, 4]); // one position: its value
 * assert.ok(Math.abs((await lse.read())[0] - Math.LOG2E) < 1e-6); // log2 Σ exp(q·k/√4) = log2 e
 * ```
 */
export function attentionForwardTrain(
  rec: Recorder,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: AttentionForwardTrainOptions,
): { out: Tensor; lse: Tensor } {
  const fn = "attentionForwardTrain";
  checkShape(fn, options);
  const { batch, tokens, heads, kvHeads, headDim } = options;
  const rows = batch * tokens;
  checkF32(fn, "q", q, rows * heads * headDim, `[${rows}, ${heads * headDim}]`);
  checkF32(fn, "k", k, rows * kvHeads * headDim, `[${rows}, ${kvHeads * headDim}]`);
  checkF32(fn, "v", v, rows * kvHeads * headDim, `[${rows}, ${kvHeads * headDim}]`);
  const out = options.out ?? rec.gpu.tensor([rows, heads * headDim], "f32");
  const lse = options.lse ?? rec.gpu.tensor([rows, heads], "f32");
  checkF32(fn, "out", out, rows * heads * headDim, `[${rows}, ${heads * headDim}]`);
  checkF32(fn, "lse", lse, rows * heads, `[${rows}, ${heads}]`);
  checkDistinct(fn, { q, k, v, out, lse });
  if (rows === 0) return { out, lse };
  // K and V [B·T, KVH·hd] are the inference kernel's caches [B, S_cap = T, KVH, hd] with past 0.
  const kvShape = [batch, tokens, kvHeads, headDim];
  attention(rec, q, k.reshape(kvShape), v.reshape(kvShape), {
    batch,
    tokens,
    past: 0,
    heads,
    kvHeads,
    headDim,
    scale: options.scale,
    out,
    lse,
  });
  return { out, lse };
}

/** Options for {@link attentionBackward}. */
export interface AttentionBackwardOptions extends TrainAttentionOptions {
  /** dQ `[B·T, H·hd]` f32 (allocated when absent). */
  dq?: Tensor;
  /** dK `[B·T, KVH·hd]` f32 (allocated when absent). */
  dk?: Tensor;
  /** dV `[B·T, KVH·hd]` f32 (allocated when absent). */
  dv?: Tensor;
}

/**
 * Records the backward of {@link attentionForwardTrain}: given q, k, v, the forward's `out` and
 * `lse`, and `dOut` `[B·T, H·hd]`, writes dQ `[B·T, H·hd]` and dK, dV `[B·T, KVH·hd]` (dK/dV
 * summed over the query heads sharing each kv head). The gradients are overwritten, and must be
 * distinct from every input. Returns `{ dq, dk, dv }`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { attentionBackward, attentionForwardTrain } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const t = (...x: number[]) => gpu.tensor([1, 4], "f32", new Float32Array(x));
 * const [q, k, v] = [t(1, 0, 0, 0), t(2, 0, 0, 0), t(1, 2, 3, 4)];
 * const shape = { batch: 1, tokens: 1, heads: 1, kvHeads: 1, headDim: 4 };
 * const dOut = t(1, 1, 1, 1);
 * const { dq, dv } = gpu.run((rec) => {
 *   const { out, lse } = attentionForwardTrain(rec, q, k, v, shape);
 *   return attentionBackward(rec, q, k, v, out, lse, dOut, shape);
 * });
 * assert.deepEqual([...await dv.read()], [1, 1, 1, 1]); // one key: dV = dOut, dQ = 0
 * assert.deepEqual([...await dq.read()], [0, 0, 0, 0]);
 * ```
 */
export function attentionBackward(
  rec: Recorder,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  lse: Tensor,
  dOut: Tensor,
  options: AttentionBackwardOptions,
): { dq: Tensor; dk: Tensor; dv: Tensor } {
  const fn = "attentionBackward";
  checkShape(fn, options);
  const { batch, tokens, heads, kvHeads, headDim } = options;
  const rows = batch * tokens;
  const qs = `[${rows}, ${heads * headDim}]`;
  const ks = `[${rows}, ${kvHeads * headDim}]`;
  checkF32(fn, "q", q, rows * heads * headDim, qs);
  checkF32(fn, "k", k, rows * kvHeads * headDim, ks);
  checkF32(fn, "v", v, rows * kvHeads * headDim, ks);
  checkF32(fn, "out", out, rows * heads * headDim, qs);
  checkF32(fn, "dOut", dOut, rows * heads * headDim, qs);
  checkF32(fn, "lse", lse, rows * heads, `[${rows}, ${heads}]`);
  const dq = options.dq ?? rec.gpu.tensor([rows, heads * headDim], "f32");
  const dk = options.dk ?? rec.gpu.tensor([rows, kvHeads * headDim], "f32");
  const dv = options.dv ?? rec.gpu.tensor([rows, kvHeads * headDim], "f32");
  checkF32(fn, "dq", dq, rows * heads * headDim, qs);
  checkF32(fn, "dk", dk, rows * kvHeads * headDim, ks);
  checkF32(fn, "dv", dv, rows * kvHeads * headDim, ks);
  checkDistinct(fn, { q, k, v, out, lse, dOut, dq, dk, dv });
  if (rows === 0) return { dq, dk, dv };
  const hd4 = headDim / 4;
  const group = heads / kvHeads;
  const qn = tokens * group;
  const scale = options.scale ?? 1 / Math.sqrt(headDim);
  const dd = scratchF32(rec.gpu, "attentionBackward.D", rows * heads);

  // Part 1: dQ and D, per query tile.
  const tileLimit = rec.gpu.caps.slowCompile ? SLOW_COMPILE_TILE_HD_BWD : MAX_TILE_HD_BWD;
  const ql = rowsPerLane(tileLimit, headDim, qn);
  const qTiles = Math.ceil(qn / ql);
  const qCount = batch * kvHeads * qTiles;
  const qSplits = splitsFor(fn, qCount, tokens);
  const pdq = rec.gpu.pipeline(SRC_DQ, {
    WG: LANES,
    HD4: hd4,
    QL: ql,
    QLAST: ql - 1,
    WGQLHD4: LANES * ql * hd4,
  });
  const base = () => new Params().u32(tokens).u32(heads).u32(kvHeads).u32(group).u32(qn);
  rec.dispatch(
    pdq,
    [q, k, v, out, dOut, lse, dq, dd],
    linearGrid(Math.ceil(qCount / (LANES / qSplits))),
    base().u32(qTiles).u32(qSplits).u32(qCount).f32(scale * Math.LOG2E).f32(scale),
  );

  // Part 2: dK and dV, per key tile (reads D from part 1).
  const kl = rowsPerLane(tileLimit, headDim, tokens);
  const kTiles = Math.ceil(tokens / kl);
  const kCount = batch * kvHeads * kTiles;
  const kSplits = splitsFor(fn, kCount, qn);
  const pdkv = rec.gpu.pipeline(SRC_DKV, {
    WG: LANES,
    HD4: hd4,
    KL: kl,
    WGKLHD4: LANES * kl * hd4,
  });
  rec.dispatch(
    pdkv,
    [q, k, v, dOut, lse, dd, dk, dv],
    linearGrid(Math.ceil(kCount / (LANES / kSplits))),
    base().u32(kTiles).u32(kSplits).u32(kCount).f32(scale * Math.LOG2E).f32(scale),
  );
  return { dq, dk, dv };
}
