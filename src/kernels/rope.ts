/**
 * Rotary position embedding (RoPE) for Llama-family models.
 *
 * The inverse frequencies follow Hugging Face transformers (`ROPE_INIT_FUNCTIONS`): the default
 * rope, Llama 3's wavelength smoothing (`_compute_llama3_parameters`) and linear scaling. They and
 * the cos/sin of every position are computed in float64 on the host ({@link ropeTable}) and
 * uploaded once as an f32 table, so the kernel ({@link rope}) only multiplies: its error does not
 * grow with the position.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { loadShader } from "../gpu/shader.ts";
import { linearGrid, Params, type Recorder } from "../gpu/recorder.ts";
import type { Tensor } from "../gpu/tensor.ts";

const SRC = await loadShader("rope.wgsl");

/** Invocations per workgroup. */
const WG = 64;

/** RoPE scaling as in a Hugging Face config's `rope_scaling` (the supported types). */
export type RopeScaling =
  | {
    /** Llama 3.x wavelength-dependent scaling. */
    type: "llama3";
    /** `factor` (8 for Llama 3.1). */
    factor: number;
    /** `low_freq_factor` (1 for Llama 3.1). */
    lowFreqFactor: number;
    /** `high_freq_factor` (4 for Llama 3.1). */
    highFreqFactor: number;
    /** `original_max_position_embeddings` (8192 for Llama 3.1). */
    originalMaxPositionEmbeddings: number;
  }
  | {
    /** Linear position interpolation: every inverse frequency divided by `factor`. */
    type: "linear";
    /** `factor`. */
    factor: number;
  };

/** What determines the inverse frequencies. */
export interface RopeConfig {
  /** Head dimension hd (even). */
  headDim: number;
  /** `rope_theta` (base), e.g. 10000 or 500000. */
  theta: number;
  /** `rope_scaling`; absent for the default rope. */
  scaling?: RopeScaling;
}

/** Options for {@link ropeTable}. */
export interface RopeTableOptions extends RopeConfig {
  /** Positions the table covers: 0 … maxPositions − 1. */
  maxPositions: number;
}

/** A cos/sin table on the device, made by {@link ropeTable}. */
export interface RopeTable {
  /** `[maxPositions, 2, headDim/2]` f32: `[pos, 0, i]` = cos, `[pos, 1, i]` = sin of pos·invFreq[i]. */
  readonly tensor: Tensor;
  /** Head dimension the table is for. */
  readonly headDim: number;
  /** Number of positions covered. */
  readonly maxPositions: number;
  /** The float64 inverse frequencies (headDim/2 values). */
  readonly invFreq: Float64Array;
}

function checkHeadDim(headDim: number): void {
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) {
    throw new Error(`rope: headDim must be a positive even integer, got ${headDim}`);
  }
}

/**
 * The RoPE inverse frequencies (headDim/2 values) in float64, as Hugging Face transformers
 * computes them: `1 / theta^(2i/hd)`, then the scaling's adjustment (`llama3`: frequencies with
 * wavelength above `original/lowFreqFactor` divided by `factor`, below `original/highFreqFactor`
 * kept, smoothly interpolated in between; `linear`: all divided by `factor`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ropeInvFreq } from "@sprint-wgpu/toolkit/kernels";
 * const f = ropeInvFreq({ headDim: 128, theta: 500000, scaling: {
 *   type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4,
 *   originalMaxPositionEmbeddings: 8192,
 * } });
 * assert.equal(f.length, 64); // one frequency per pair of dimensions; f[0] = 1 (unscaled)
 * assert.equal(f[0], 1);
 * ```
 */
export function ropeInvFreq(config: RopeConfig): Float64Array {
  const { headDim, theta, scaling } = config;
  checkHeadDim(headDim);
  if (!(theta > 0)) throw new Error(`rope: theta must be positive, got ${theta}`);
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / theta ** ((2 * i) / headDim);
  if (!scaling) return inv;
  if (!(scaling.factor > 0)) throw new Error(`rope: scaling factor must be positive`);
  if (scaling.type === "linear") {
    for (let i = 0; i < half; i++) inv[i] /= scaling.factor;
    return inv;
  }
  if (scaling.type !== "llama3") {
    throw new Error(`rope: unsupported scaling type ${(scaling as { type: string }).type}`);
  }
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: old } = scaling;
  if (!(highFreqFactor > lowFreqFactor)) {
    throw new Error("rope: llama3 scaling needs highFreqFactor > lowFreqFactor");
  }
  const lowFreqWavelen = old / lowFreqFactor;
  const highFreqWavelen = old / highFreqFactor;
  for (let i = 0; i < half; i++) {
    const wavelen = (2 * Math.PI) / inv[i];
    if (wavelen > lowFreqWavelen) inv[i] = inv[i] / factor;
    else if (wavelen >= highFreqWavelen) {
      const smooth = (old / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
      inv[i] = ((1 - smooth) * inv[i]) / factor + smooth * inv[i];
    }
  }
  return inv;
}

/**
 * The host table of {@link ropeTable}: `[maxPositions, 2, hd/2]` with cos then sin of
 * pos·invFreq[i], computed in float64 and rounded to f32.
 */
export function ropeTableHost(
  invFreq: ArrayLike<number>,
  maxPositions: number,
): Float32Array<ArrayBuffer> {
  const half = invFreq.length;
  const out = new Float32Array(maxPositions * 2 * half);
  for (let p = 0; p < maxPositions; p++) {
    const base = p * 2 * half;
    for (let i = 0; i < half; i++) {
      const a = p * invFreq[i];
      out[base + i] = Math.cos(a);
      out[base + half + i] = Math.sin(a);
    }
  }
  return out;
}

/**
 * Computes the cos/sin table for positions 0 … maxPositions − 1 in float64 and uploads it as f32.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { ropeTable } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const table = ropeTable(gpu, { headDim: 8, theta: 10000, maxPositions: 16 });
 * assert.equal(table.maxPositions, 16);
 * ```
 */
export function ropeTable(gpu: Gpu, options: RopeTableOptions): RopeTable {
  const { maxPositions } = options;
  if (!Number.isInteger(maxPositions) || maxPositions < 1) {
    throw new Error(`rope: maxPositions must be a positive integer, got ${maxPositions}`);
  }
  const invFreq = ropeInvFreq(options);
  const half = options.headDim / 2;
  const tensor = gpu.tensor([maxPositions, 2, half], "f32", ropeTableHost(invFreq, maxPositions));
  return { tensor, headDim: options.headDim, maxPositions, invFreq };
}

/** Options for {@link rope}. */
export interface RopeOptions {
  /** Heads per token row (H for queries, KVH for keys). */
  heads: number;
  /** Head dimension (must equal the table's). */
  headDim: number;
  /** T: new tokens per sequence. */
  tokensPerSeq: number;
  /** B: sequences. */
  batch: number;
  /** Cached positions before the new tokens; token t of a sequence is at position past + t. */
  past: number;
  /**
   * Rotate by the negative angles (the transpose): the backward of RoPE, which turns the gradient
   * with respect to the rotated tensor into the gradient with respect to the unrotated one.
   */
  inverse?: boolean;
}

function checkCount(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) {
    throw new Error(`rope: ${name} must be an integer ≥ ${min}, got ${v}`);
  }
}

/**
 * Records the in-place rotation of `x` (`[B·T, heads·hd]` f32, tokens as rows) by the positions
 * past … past+T−1 of each sequence, with HF's rotate_half convention. Returns `x`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { rope, ropeTable } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const table = ropeTable(gpu, { headDim: 2, theta: 10000, maxPositions: 4 });
 * const q = gpu.tensor([2, 2], "f32", new Float32Array([1, 0, 1, 0])); // 2 tokens, 1 head of 2
 * gpu.run((rec) => rope(rec, q, table, { heads: 1, headDim: 2, tokensPerSeq: 2, batch: 1, past: 0 }));
 * const r = await q.read(); // position p turns (1, 0) by p radians
 * assert.ok([1, 0, Math.cos(1), Math.sin(1)].every((v, i) => Math.abs(r[i] - v) < 1e-6));
 * ```
 */
export function rope(rec: Recorder, x: Tensor, table: RopeTable, options: RopeOptions): Tensor {
  const { heads, headDim, tokensPerSeq: t, batch, past } = options;
  checkCount("heads", heads, 1);
  checkCount("tokensPerSeq", t, 0);
  checkCount("batch", batch, 0);
  checkCount("past", past, 0);
  if (headDim !== table.headDim) {
    throw new Error(`rope: headDim ${headDim} does not match the table's ${table.headDim}`);
  }
  if (past + t > table.maxPositions) {
    throw new Error(
      `rope: positions up to ${past + t - 1} (past ${past} + ${t} tokens) exceed the table's` +
        ` ${table.maxPositions} positions`,
    );
  }
  if (x.dtype !== "f32") throw new Error(`rope: x must be f32, got ${x.dtype}`);
  const rows = batch * t;
  if (x.size !== rows * heads * headDim) {
    throw new Error(
      `rope: x [${x.shape}] must have ${rows}×${heads * headDim} values (B·T × heads·hd)`,
    );
  }
  if (rows === 0) return x;
  const half = headDim / 2;
  const vec = half % 4 === 0;
  const halfV = vec ? half / 4 : half;
  const n = rows * heads * halfV;
  const pipe = rec.gpu.pipeline(SRC, { VEC: vec, WG, INVERSE: options.inverse === true });
  const params = new Params().u32(n).u32(halfV).u32(heads).u32(t).u32(past);
  rec.dispatch(pipe, [x, table.tensor], linearGrid(Math.ceil(n / WG)), params);
  return x;
}

/** Options for {@link ropeAppendKv}. */
export interface RopeAppendKvOptions {
  /** B: sequences. */
  batch: number;
  /** T: new tokens per sequence. */
  tokens: number;
  /** Cache position of the first new token (token t is at position past + t). */
  past: number;
  /** H: query heads. */
  heads: number;
  /** KVH: key/value heads. */
  kvHeads: number;
  /** Head dimension (must equal the table's). */
  headDim: number;
}

/**
 * Records, in one dispatch, RoPE of the queries `q` (`[B·T, H·hd]`, in place) and of the new keys
 * `k` (`[B·T, KVH·hd]`, left as they are) written into `kCache` (`[B, S_cap, KVH, hd]`) at
 * positions past … past+T−1, and the copy of the new values `v` into `vCache` — what
 * `rope(q)`, `rope(k)` and `appendKv` do in three.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { ropeAppendKv, ropeTable } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const table = ropeTable(gpu, { headDim: 2, theta: 10000, maxPositions: 4 });
 * const q = gpu.tensor([1, 2], "f32", new Float32Array([1, 0])); // 1 token, 1 head of 2
 * const k = gpu.tensor([1, 2], "f32", new Float32Array([1, 0]));
 * const v = gpu.tensor([1, 2], "f32", new Float32Array([5, 6]));
 * const kCache = gpu.tensor([1, 4, 1, 2], "f32");
 * const vCache = gpu.tensor([1, 4, 1, 2], "f32");
 * gpu.run((rec) => ropeAppendKv(rec, q, k, v, kCache, vCache, table, {
 *   batch: 1, tokens: 1, past: 2, heads: 1, kvHeads: 1, headDim: 2,
 * }));
 * assert.deepEqual([...await vCache.read()].slice(4, 6), [5, 6]); // written at position 2
 * ```
 */
export function ropeAppendKv(
  rec: Recorder,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  kCache: Tensor,
  vCache: Tensor,
  table: RopeTable,
  options: RopeAppendKvOptions,
): void {
  const { batch, tokens, past, heads, kvHeads, headDim } = options;
  checkCount("batch", batch, 0);
  checkCount("tokens", tokens, 0);
  checkCount("past", past, 0);
  checkCount("heads", heads, 1);
  checkCount("kvHeads", kvHeads, 1);
  if (headDim !== table.headDim) {
    throw new Error(`rope: headDim ${headDim} does not match the table's ${table.headDim}`);
  }
  const rows = batch * tokens;
  const check = (name: string, t: Tensor, size: number) => {
    if (t.dtype !== "f32" || t.size !== size) {
      throw new Error(`rope: ${name} must be f32 with ${size} values, got ${t.dtype} [${t.shape}]`);
    }
  };
  check("q", q, rows * heads * headDim);
  check("k", k, rows * kvHeads * headDim);
  check("v", v, rows * kvHeads * headDim);
  const cap = kCache.shape[1];
  for (const [name, c] of [["kCache", kCache], ["vCache", vCache]] as const) {
    const [cb, ccap, ch, cd] = c.shape;
    if (
      c.dtype !== "f32" || c.shape.length !== 4 || cb !== batch || ccap !== cap ||
      ch !== kvHeads || cd !== headDim
    ) {
      throw new Error(
        `rope: ${name} must be f32 [${batch}, S_cap, ${kvHeads}, ${headDim}], got [${c.shape}]`,
      );
    }
  }
  if (kCache.buffer === vCache.buffer) throw new Error("rope: kCache and vCache are the same");
  if (past + tokens > Math.min(cap, table.maxPositions)) {
    throw new Error(
      `rope: positions up to ${past + tokens - 1} (past ${past} + ${tokens} tokens) exceed the` +
        ` cache capacity ${cap} or the table's ${table.maxPositions} positions`,
    );
  }
  if (rows === 0) return;
  const half = headDim / 2;
  const vec = half % 4 === 0;
  const halfV = vec ? half / 4 : half;
  const nq = rows * heads * halfV;
  const n = nq + rows * kvHeads * halfV;
  const pipe = rec.gpu.pipeline(SRC, { VEC: vec, WG, INVERSE: false, KV: true });
  const params = new Params().u32(nq).u32(n).u32(halfV).u32(heads).u32(kvHeads).u32(tokens)
    .u32(past).u32(cap);
  rec.dispatch(
    pipe,
    [q, k, v, kCache, vCache, table.tensor],
    linearGrid(Math.ceil(n / WG)),
    params,
  );
}
