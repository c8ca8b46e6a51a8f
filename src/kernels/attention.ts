/**
 * Causal grouped-query attention over a KV cache, for Llama-family models.
 *
 * Layouts (f32, row-major, tokens as rows): queries and the output `[B·T, H·hd]`, new keys and
 * values `[B·T, KVH·hd]`, caches `[B, S_cap, KVH, hd]`. All sequences of a batch share `past`, the
 * number of cached positions before the T new tokens, which sit at positions past … past+T−1.
 * {@link appendKv} writes the new keys/values into the caches; {@link attention} then attends
 * each query to the cache positions up to its own (one dispatch each).
 *
 * The attention kernel is laid out for llvmpipe (see `shaders/attention.wgsl`): each invocation
 * holds a tile of up to 8 queries sharing a kv head in registers and streams their keys and values
 * once, with an online max-subtracted softmax in f32; decode splits the keys of a tile over 8
 * invocations and merges them. On the 2-core test machine a Llama-3-8B-shaped layer (32 heads,
 * 8 kv heads, hd 128) takes ≈ 13 ms to decode one token against 4,096 cached positions and
 * ≈ 155 ms for a 512-token causal prefill (≈ 55 ms at hd 64).
 *
 * @module
 */
import { rowsPerLane } from "./tiles.ts";
import { loadShader } from "../gpu/shader.ts";
import { linearGrid, Params, type Recorder } from "../gpu/recorder.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { RopeTable } from "./rope.ts";

const SRC = await loadShader("attention.wgsl");

/** Invocations per attention workgroup (one 8-wide SIMD batch on llvmpipe). */
const LANES = 8;
/**
 * Most queries a lane handles (its registers hold QL·hd query and accumulator values): QL·hd ≤ 512
 * keeps the unrolled shader small enough to compile in a few seconds on llvmpipe.
 */
const MAX_QL_HD = 512;
/**
 * The same bound where shaders compile slowly (the GL back end): Mesa's GL path compiled the
 * QL·hd = 512 shader for 76 s (hd 128) and 146 s (hd 256) on llvmpipe, QL·hd = 128 in 8 s.
 */
const SLOW_COMPILE_QL_HD = 128;
/** Keys a lane scores together before one rescale of its accumulators (see the shader). */
const KEY_BLOCK = 4;
/** Invocations per workgroup of the append kernel. */
const APPEND_WG = 64;
/** Largest supported head dimension. */
export const MAX_HEAD_DIM = 256;
/** Key-loop iterations one invocation may run (Mesa 22.3 stops an invocation at 65,535). */
const LOOP_BUDGET = 60000;
/** Most cached keys a query may attend to: {@link LOOP_BUDGET} per lane, split over 8 lanes. */
export const MAX_KEYS = LOOP_BUDGET * LANES;

function checkInt(fn: string, name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) {
    throw new Error(`${fn}: ${name} must be an integer ≥ ${min}, got ${v}`);
  }
}

/** Checks a cache tensor's shape `[B, S_cap, KVH, hd]` and returns S_cap, KVH and hd. */
function cacheDims(fn: string, name: string, cache: Tensor, batch: number) {
  if (cache.dtype !== "f32" || cache.shape.length !== 4 || cache.shape[0] !== batch) {
    throw new Error(
      `${fn}: ${name} must be f32 [B=${batch}, S_cap, KVH, hd], got ${cache.dtype} [${cache.shape}]`,
    );
  }
  const [, cap, kvHeads, headDim] = cache.shape;
  return { cap, kvHeads, headDim };
}

/** Options for {@link appendKv}. */
export interface AppendKvOptions {
  /** B: sequences. */
  batch: number;
  /** T: new tokens per sequence. */
  tokens: number;
  /** Cache position of the first new token. */
  past: number;
}

/**
 * Records the copy of the new tokens' keys and values (`[B·T, KVH·hd]` each) into the caches
 * (`[B, S_cap, KVH, hd]`) at positions past … past+T−1 of every sequence, in one dispatch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { appendKv } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const k = gpu.tensor([2, 4], "f32", new Float32Array([1, 2, 3, 4, 5, 6, 7, 8])); // 2 tokens, 1 kv head of 4
 * const v = gpu.tensor([2, 4], "f32", new Float32Array(8).fill(1));
 * const kCache = gpu.tensor([1, 3, 1, 4], "f32"); // [B, capacity, KVH, hd]
 * const vCache = gpu.tensor([1, 3, 1, 4], "f32");
 * gpu.run((rec) => appendKv(rec, k, v, kCache, vCache, { batch: 1, tokens: 2, past: 1 }));
 * assert.deepEqual([...await kCache.read()], [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
 * ```
 */
export function appendKv(
  rec: Recorder,
  kNew: Tensor,
  vNew: Tensor,
  kCache: Tensor,
  vCache: Tensor,
  options: AppendKvOptions,
): void {
  const { batch, tokens, past } = options;
  checkInt("appendKv", "batch", batch, 0);
  checkInt("appendKv", "tokens", tokens, 0);
  checkInt("appendKv", "past", past, 0);
  const kd = cacheDims("appendKv", "kCache", kCache, batch);
  const vd = cacheDims("appendKv", "vCache", vCache, batch);
  if (kd.cap !== vd.cap || kd.kvHeads !== vd.kvHeads || kd.headDim !== vd.headDim) {
    throw new Error(`appendKv: kCache [${kCache.shape}] and vCache [${vCache.shape}] differ`);
  }
  if (kCache.buffer === vCache.buffer) throw new Error("appendKv: kCache and vCache are the same");
  if (past + tokens > kd.cap) {
    throw new Error(
      `appendKv: positions up to ${past + tokens - 1} (past ${past} + ${tokens} tokens) exceed` +
        ` the cache capacity of ${kd.cap}`,
    );
  }
  const width = kd.kvHeads * kd.headDim;
  if (width % 4 !== 0) throw new Error(`appendKv: KVH·hd (${width}) must be a multiple of 4`);
  for (const [name, t] of [["kNew", kNew], ["vNew", vNew]] as const) {
    if (t.dtype !== "f32" || t.size !== batch * tokens * width) {
      throw new Error(
        `appendKv: ${name} must be f32 with ${
          batch * tokens
        }×${width} values, got ${t.dtype} [${t.shape}]`,
      );
    }
  }
  const n4 = (batch * tokens * width) / 4;
  if (n4 === 0) return;
  const pipe = rec.gpu.pipeline(SRC, { APPEND: true, WG: APPEND_WG });
  const params = new Params().u32(n4).u32(width / 4).u32(tokens).u32(past).u32(kd.cap);
  rec.dispatch(
    pipe,
    [kNew, vNew, kCache, vCache],
    linearGrid(Math.ceil(n4 / APPEND_WG)),
    params,
  );
}

/** Options for {@link attention}. */
export interface AttentionOptions {
  /** B: sequences. */
  batch: number;
  /** T: new tokens (queries) per sequence. */
  tokens: number;
  /** Cached positions before the new tokens: query t attends to positions 0 … past+t. */
  past: number;
  /** H: query heads. */
  heads: number;
  /** KVH: key/value heads (divides H). */
  kvHeads: number;
  /** hd: head dimension (a multiple of 4, at most {@link MAX_HEAD_DIM}). */
  headDim: number;
  /** Softmax scale (default 1/√hd). */
  scale?: number;
  /** Output `[B·T, H·hd]` f32 (allocated when absent; must not be `q`). */
  out?: Tensor;
  /**
   * When given, each query's log-sum-exp `[B·T, H]` f32 is written here (training: the backward
   * recomputes the probabilities from it): `lse = log2 Σ_j exp2(scale·log2(e)·q·k_j)`.
   */
  lse?: Tensor;
}

/**
 * Records causal grouped-query attention: for query t of sequence b (position p = past + t) and
 * head h, `o = Σ_j softmax_j(scale·q·k_j)·v_j` over cache positions j = 0 … p of kv head
 * ⌊h / (H/KVH)⌋. `q` is `[B·T, H·hd]`, the caches `[B, S_cap, KVH, hd]` (already holding the new
 * tokens, see {@link appendKv}). Returns `o` `[B·T, H·hd]`. Queries may attend to at most
 * {@link MAX_KEYS} positions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { appendKv, attention } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const q = gpu.tensor([1, 8], "f32", new Float32Array(8).fill(0.5)); // 1 token, 2 heads of 4
 * const k = gpu.tensor([1, 4], "f32", new Float32Array([1, 0, 0, 0])); // 1 kv head (GQA)
 * const v = gpu.tensor([1, 4], "f32", new Float32Array([1, 2, 3, 4]));
 * const kCache = gpu.tensor([1, 2, 1, 4], "f32");
 * const vCache = gpu.tensor([1, 2, 1, 4], "f32");
 * const o = gpu.run((rec) => {
 *   appendKv(rec, k, v, kCache, vCache, { batch: 1, tokens: 1, past: 0 });
 *   return attention(rec, q, kCache, vCache, {
 *     batch: 1, tokens: 1, past: 0, heads: 2, kvHeads: 1, headDim: 4,
 *   });
 * });
 * assert.deepEqual([...await o.read()], [1, 2, 3, 4, 1, 2, 3, 4]); // one position: its value
 * ```
 */
export function attention(
  rec: Recorder,
  q: Tensor,
  kCache: Tensor,
  vCache: Tensor,
  options: AttentionOptions,
): Tensor {
  return recordAttention(rec, q, kCache, vCache, options);
}

/**
 * Whether {@link ropeAttentionDecode} takes this head dimension (half a head a whole number of
 * vec4s).
 */
export function ropeAttentionFits(headDim: number): boolean {
  return headDim % 8 === 0 && headDim <= MAX_HEAD_DIM;
}

/**
 * Records one decode step's attention with what precedes it fused in (one dispatch for
 * `ropeAppendKv` + {@link attention}): `q` `[B, H·hd]` holds the raw (un-rotated) queries of one
 * new token per sequence at position `past`, `k`, `v` `[B, KVH·hd]` its raw key and value. The
 * kernel applies RoPE (HF rotate_half, from `table`) to the queries and the key, attends to the
 * cached positions 0 … past−1 and to the new key, writes the roped key and the value into the
 * caches at position `past`, and returns `o` `[B, H·hd]`. `q` is left as it was. Needs
 * `options.tokens` = 1 and {@link ropeAttentionFits}(headDim).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { ropeAttentionDecode, ropeTable } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const hd = 8, values = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
 * const q = gpu.tensor([1, hd], "f32", new Float32Array(hd).fill(0.5));
 * const k = gpu.tensor([1, hd], "f32", new Float32Array(hd).fill(1));
 * const v = gpu.tensor([1, hd], "f32", values);
 * const kCache = gpu.tensor([1, 4, 1, hd], "f32"), vCache = gpu.tensor([1, 4, 1, hd], "f32");
 * const table = ropeTable(gpu, { headDim: hd, theta: 10000, maxPositions: 4 });
 * const o = gpu.run((rec) =>
 *   ropeAttentionDecode(rec, q, k, v, kCache, vCache, table, {
 *     batch: 1, tokens: 1, past: 0, heads: 1, kvHeads: 1, headDim: hd,
 *   })
 * );
 * // The first position attends only to itself: the output is its value.
 * assert.deepEqual([...await o.read()], [...values]);
 * ```
 */
export function ropeAttentionDecode(
  rec: Recorder,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  kCache: Tensor,
  vCache: Tensor,
  table: RopeTable,
  options: AttentionOptions,
): Tensor {
  const { batch, tokens, past, kvHeads, headDim } = options;
  if (tokens !== 1) throw new Error(`ropeAttentionDecode: one token per sequence, got ${tokens}`);
  if (!ropeAttentionFits(headDim)) {
    throw new Error(`ropeAttentionDecode: headDim must be a multiple of 8, got ${headDim}`);
  }
  if (table.headDim !== headDim) {
    throw new Error(
      `ropeAttentionDecode: headDim ${headDim} does not match the table's ${table.headDim}`,
    );
  }
  if (past + 1 > table.maxPositions) {
    throw new Error(
      `ropeAttentionDecode: position ${past} exceeds the table's ${table.maxPositions} positions`,
    );
  }
  for (const [name, t] of [["k", k], ["v", v]] as const) {
    if (t.dtype !== "f32" || t.size !== batch * kvHeads * headDim) {
      throw new Error(
        `ropeAttentionDecode: ${name} must be f32 [${batch}, ${
          kvHeads * headDim
        }], got ${t.dtype} [${t.shape}]`,
      );
    }
  }
  if (options.lse) throw new Error("ropeAttentionDecode: no log-sum-exp output");
  const o = options.out;
  if (o && (o.buffer === k.buffer || o.buffer === v.buffer)) {
    throw new Error("ropeAttentionDecode: out must be a tensor other than k and v");
  }
  if (kCache.buffer === vCache.buffer) {
    throw new Error("ropeAttentionDecode: kCache and vCache are the same");
  }
  return recordAttention(rec, q, kCache, vCache, options, { k, v, table: table.tensor });
}

function recordAttention(
  rec: Recorder,
  q: Tensor,
  kCache: Tensor,
  vCache: Tensor,
  options: AttentionOptions,
  fresh?: { k: Tensor; v: Tensor; table: Tensor },
): Tensor {
  const { batch, tokens, past, heads, kvHeads, headDim } = options;
  checkInt("attention", "batch", batch, 0);
  checkInt("attention", "tokens", tokens, 0);
  checkInt("attention", "past", past, 0);
  checkInt("attention", "heads", heads, 1);
  checkInt("attention", "kvHeads", kvHeads, 1);
  checkInt("attention", "headDim", headDim, 4);
  if (headDim % 4 !== 0 || headDim > MAX_HEAD_DIM) {
    throw new Error(
      `attention: headDim must be a multiple of 4 and at most ${MAX_HEAD_DIM}, got ${headDim}`,
    );
  }
  if (heads % kvHeads !== 0) {
    throw new Error(`attention: kvHeads (${kvHeads}) must divide heads (${heads})`);
  }
  for (const [name, c] of [["kCache", kCache], ["vCache", vCache]] as const) {
    const d = cacheDims("attention", name, c, batch);
    if (d.kvHeads !== kvHeads || d.headDim !== headDim) {
      throw new Error(
        `attention: ${name} [${c.shape}] must be [${batch}, S_cap, ${kvHeads}, ${headDim}]`,
      );
    }
  }
  const cap = kCache.shape[1];
  if (vCache.shape[1] !== cap) {
    throw new Error(`attention: kCache [${kCache.shape}] and vCache [${vCache.shape}] differ`);
  }
  if (past + tokens > cap) {
    throw new Error(
      `attention: positions up to ${past + tokens - 1} (past ${past} + ${tokens} tokens) exceed` +
        ` the cache capacity of ${cap}`,
    );
  }
  const rows = batch * tokens;
  const width = heads * headDim;
  if (q.dtype !== "f32" || q.size !== rows * width) {
    throw new Error(
      `attention: q must be f32 with ${rows}×${width} values (B·T × H·hd), got ${q.dtype} [${q.shape}]`,
    );
  }
  const out = options.out ?? rec.gpu.tensor([rows, width], "f32");
  if (out.dtype !== "f32" || out.size !== rows * width) {
    throw new Error(
      `attention: out must be f32 [${rows}, ${width}], got ${out.dtype} [${out.shape}]`,
    );
  }
  if (out.buffer === q.buffer || out.buffer === kCache.buffer || out.buffer === vCache.buffer) {
    throw new Error("attention: out must be a tensor other than q and the caches");
  }
  const lse = options.lse;
  if (lse) {
    if (lse.dtype !== "f32" || lse.size !== rows * heads) {
      throw new Error(
        `attention: lse must be f32 [${rows}, ${heads}], got ${lse.dtype} [${lse.shape}]`,
      );
    }
    if ([q, kCache, vCache, out].some((t) => t.buffer === lse.buffer)) {
      throw new Error("attention: lse must be a tensor other than q, the caches and out");
    }
  }
  if (rows === 0) return out;
  const hd4 = headDim / 4;
  const keys = past + tokens;
  if (keys > MAX_KEYS) {
    throw new Error(`attention: ${keys} keys exceed the ${MAX_KEYS} this kernel supports`);
  }
  // Query tiles: QL consecutive queries of one (sequence, kv head) in (t, r) order, which share
  // every key and value load. Each tile is walked by Z lanes (key splits): many when there are few
  // tiles (decode) so that all lanes and cores work, one when there are plenty (prefill).
  const group = heads / kvHeads;
  const qn = tokens * group;
  const qlLimit = rec.gpu.caps.slowCompile ? SLOW_COMPILE_QL_HD : MAX_QL_HD;
  const ql = rowsPerLane(qlLimit, headDim, qn);
  const tiles = Math.ceil(qn / ql);
  const count = batch * kvHeads * tiles;
  let splits = count <= 8 ? 8 : count <= 16 ? 4 : count <= 32 ? 2 : 1;
  while (Math.ceil(keys / splits) > LOOP_BUDGET) splits *= 2;
  const perWg = LANES / splits;
  const pipe = rec.gpu.pipeline(SRC, {
    APPEND: false,
    WG: LANES,
    HD4: hd4,
    QL: ql,
    QLAST: ql - 1,
    KB: KEY_BLOCK,
    WGQL: LANES * ql,
    WGQLHD4: LANES * ql * hd4,
    LSE: lse !== undefined,
    ROPEKV: fresh !== undefined,
    HH: headDim / 8,
  });
  const scale = options.scale ?? 1 / Math.sqrt(headDim);
  const params = new Params()
    .u32(tokens)
    .u32(past)
    .u32(heads)
    .u32(kvHeads)
    .u32(group)
    .u32(cap)
    .u32(qn)
    .u32(tiles)
    .u32(splits)
    .u32(count)
    .f32(scale * Math.LOG2E);
  const buffers = lse ? [q, kCache, vCache, out, lse] : [q, kCache, vCache, out];
  if (fresh) buffers.push(fresh.k, fresh.v, fresh.table);
  rec.dispatch(pipe, buffers, linearGrid(Math.ceil(count / perWg)), params);
  return out;
}
