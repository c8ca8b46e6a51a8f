/**
 * Decode-time linear layers over a few rows (one token per sequence), with the fusions a decode
 * step wants (`shaders/gemv.wgsl`): RMSNorm of the input folded into the product, two weights of
 * the same shape sharing the input loads (k/v, gate/up), and SwiGLU of the two products. One
 * dispatch replaces norm + projection(s) (+ SwiGLU), which on llvmpipe matters as much as the
 * weight stream: every dispatch costs ≈ 50 µs of fixed overhead.
 *
 * Weights are the packed {@link Linear} layout of `kernels/matmul.ts`; f16 weights are read as
 * u32 pairs (8 columns per vec4 load).
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { toF16 } from "../gpu/f16.ts";
import { loadShader } from "../gpu/shader.ts";
import { Params, type Recorder } from "../gpu/recorder.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { assertLoopBudget } from "./canary.ts";
import type { Linear } from "./matmul.ts";

const SRC = await loadShader("gemv.wgsl");

/**
 * Packs an HF-layout weight `[out, in]` for {@link gemv} only, tiled `[NP/16, K, 16]` (NP = out
 * rounded up to 16, zero padded; K = in, a multiple of 4): the 16 output columns one GEMV
 * invocation computes are stored contiguously for all K inputs, so every invocation streams one
 * contiguous run of weights (on llvmpipe ≈ 3× the read rate of the packed `[KP, NP]` layout's
 * row strips), and `matmul` takes it too (≈ 1.3× its GFLOP/s at 512 × 512 × 1536 f16). The
 * backward kernels (`src/train/kernels/`) and the weight readers of src/model do not: use it for
 * forward-only layers. A bias is packed as for `packLinear`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { gemv } from "@sprint-wgpu/toolkit/kernels";
 * import { packLinearTiled } from "./gemv.ts";
 * const gpu = await getGpu();
 * const x = gpu.tensor([1, 4], "f32", new Float32Array([1, 2, 3, 4]));
 * const w = packLinearTiled(gpu, new Float32Array([1, 1, 1, 1, 0, 0, 0, 1]), 2, 4, "f32");
 * const y = gpu.tensor([1, 2], "f32");
 * gpu.run((rec) => gemv(rec, x, [w], [y]));
 * assert.deepEqual([...await y.read()], [10, 4]);
 * ```
 */
export function packLinearTiled(
  gpu: Gpu,
  w: ArrayLike<number>,
  outFeatures: number,
  inFeatures: number,
  dtype: "f32" | "f16",
  bias?: ArrayLike<number>,
): Linear {
  if (inFeatures % 4 !== 0) throw new Error(`packLinearTiled: in (${inFeatures}) % 4 != 0`);
  if (w.length !== outFeatures * inFeatures) {
    throw new Error(`packLinearTiled: ${w.length} values, expected ${outFeatures * inFeatures}`);
  }
  if (dtype === "f16" && !gpu.caps.f16) throw new Error("f16 weights need the shader-f16 feature");
  const tiles = Math.ceil(outFeatures / 16);
  const host = new Float32Array(tiles * inFeatures * 16);
  for (let n = 0; n < outFeatures; n++) {
    const base = Math.floor(n / 16) * inFeatures * 16 + (n % 16);
    for (let k = 0; k < inFeatures; k++) host[base + k * 16] = w[n * inFeatures + k];
  }
  const weight = gpu.tensor([tiles, inFeatures, 16], dtype, dtype === "f16" ? toF16(host) : host);
  let b: Tensor | undefined;
  if (bias) {
    if (bias.length !== outFeatures) throw new Error("packLinearTiled: bias length != out");
    const p = new Float32Array(tiles * 16);
    p.set(Array.from(bias));
    b = gpu.tensor([tiles * 16], dtype, dtype === "f16" ? toF16(p) : p);
  }
  return { weight, bias: b, inFeatures, outFeatures };
}

/** Invocations per workgroup (one 8-wide SIMD batch on llvmpipe); each covers 16 columns. */
const WG = 8;
/** Most rows {@link gemv} takes (rows per invocation; beyond this use `matmul`). */
export const GEMV_MAX_ROWS = 4;

/** Options for {@link gemv}. */
export interface GemvOptions {
  /** RMSNorm the input rows first with this weight `[K]` f32 and epsilon. */
  norm?: { weight: Tensor; eps: number };
  /** `out += …` instead of `out = …` (every output). */
  accumulate?: boolean;
  /** With two layers: write `silu(x·Aᵀ)·(x·Bᵀ)` into `out[0]` only. */
  swiglu?: boolean;
}

/**
 * Records `out[i] (+)= norm?(x)·Wᵢᵀ (+ biasᵢ)` for one or two linear layers of the same shape
 * (`x` `[M, K]` f32 with M ≤ {@link GEMV_MAX_ROWS} and K a multiple of 4), or with `swiglu`
 * `out[0] = silu(norm?(x)·W₀ᵀ)·(norm?(x)·W₁ᵀ)`. Both layers must have the same weight dtype
 * and either both or neither a bias.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { gemv, packLinear } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const x = gpu.tensor([1, 4], "f32", new Float32Array([1, 2, 3, 4])); // one decode row, K = 4
 * const w = packLinear(gpu, new Float32Array([1, 1, 1, 1, 0, 0, 0, 1]), 2, 4, { dtype: "f32" });
 * const y = gpu.tensor([1, 2], "f32");
 * gpu.run((rec) => gemv(rec, x, [w], [y]));
 * assert.deepEqual([...await y.read()], [10, 4]);
 * ```
 */
export function gemv(
  rec: Recorder,
  x: Tensor,
  layers: readonly [Linear] | readonly [Linear, Linear],
  out: readonly Tensor[],
  options: GemvOptions = {},
): void {
  const [a, b] = layers;
  const k = a.inFeatures;
  const n = a.outFeatures;
  const m = x.size / k;
  if (x.dtype !== "f32" || !Number.isInteger(m) || x.shape[x.shape.length - 1] !== k) {
    throw new Error(`gemv: x must be f32 [M, ${k}], got ${x.dtype} [${x.shape}]`);
  }
  if (m > GEMV_MAX_ROWS) throw new Error(`gemv: at most ${GEMV_MAX_ROWS} rows, got ${m}`);
  if (k % 4 !== 0) throw new Error(`gemv: K (${k}) must be a multiple of 4`);
  if (b) {
    if (b.inFeatures !== k || b.outFeatures !== n || b.weight.dtype !== a.weight.dtype) {
      throw new Error("gemv: the two layers must have the same shape and weight dtype");
    }
    if (!b.bias !== !a.bias) throw new Error("gemv: both layers or neither must have a bias");
  } else if (options.swiglu) throw new Error("gemv: swiglu needs two layers");
  const outs = options.swiglu ? 1 : layers.length;
  if (out.length !== outs) throw new Error(`gemv: expected ${outs} output tensor(s)`);
  for (const o of out) {
    if (o.dtype !== "f32" || o.size !== m * n) {
      throw new Error(`gemv: out must be f32 [${m}, ${n}], got ${o.dtype} [${o.shape}]`);
    }
    if (o.buffer === x.buffer) throw new Error("gemv: out must not be x");
  }
  const norm = options.norm;
  if (norm && (norm.weight.dtype !== "f32" || norm.weight.size !== k)) {
    throw new Error(`gemv: norm weight must be f32 [${k}], got [${norm.weight.shape}]`);
  }
  if (m === 0) return;
  assertLoopBudget("gemv", (norm ? 2 : 1) * (k / 4), `K = ${k}`);
  const tiled = a.weight.shape.length === 3;
  if (b && (b.weight.shape.length === 3) !== tiled) {
    throw new Error("gemv: the two layers must have the same layout (packed or tiled)");
  }
  const pipe = rec.gpu.pipeline(SRC, {
    RM: m,
    WG,
    W16: a.weight.dtype === "f16",
    NORM: norm !== undefined,
    DUAL: b !== undefined,
    SWIGLU: options.swiglu === true,
    TILED: tiled,
  });
  const np4 = tiled ? a.weight.shape[0] * 4 : a.weight.shape[1] / 4;
  const flags = (a.bias ? 1 : 0) | (options.accumulate ? 2 : 0);
  const params = new Params().u32(m).u32(k).u32(n).u32(np4).u32(flags).f32(norm?.eps ?? 0);
  const buffers: Tensor[] = [x, a.weight, a.bias ?? a.weight];
  if (b) buffers.push(b.weight, b.bias ?? b.weight);
  if (norm) buffers.push(norm.weight);
  buffers.push(...out);
  rec.dispatch(pipe, buffers, [Math.ceil(np4 / 4 / WG), 1], params);
}

const SEG_SRC = await loadShader("gemv_segments.wgsl");

/** Storage buffers {@link gemvSegments} binds for `n` layers (x, weights, outputs, norm weight). */
export function gemvSegmentsBindings(n: number, norm: boolean): number {
  return 1 + 2 * n + (norm ? 1 : 0);
}

/**
 * Records `out[s] = norm?(x)·W_sᵀ` for two or three bias-free linear layers with the same input
 * (`x` `[M, K]` f32, M ≤ {@link GEMV_MAX_ROWS}, K a multiple of 4) and possibly different
 * output widths, in one dispatch — e.g. a decode step's q, k and v projections with the
 * attention norm folded in. The layers must share the weight dtype.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { gemvSegments, packLinear } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const x = gpu.tensor([1, 4], "f32", new Float32Array([1, 2, 3, 4]));
 * const a = packLinear(gpu, new Float32Array([1, 1, 1, 1, 0, 0, 0, 1]), 2, 4, { dtype: "f32" });
 * const b = packLinear(gpu, new Float32Array([1, 0, 0, 0]), 1, 4, { dtype: "f32" });
 * const ya = gpu.tensor([1, 2], "f32"), yb = gpu.tensor([1, 1], "f32");
 * gpu.run((rec) => gemvSegments(rec, x, [a, b], [ya, yb]));
 * assert.deepEqual([...await ya.read(), ...await yb.read()], [10, 4, 1]);
 * ```
 */
export function gemvSegments(
  rec: Recorder,
  x: Tensor,
  layers: readonly Linear[],
  out: readonly Tensor[],
  options: { norm?: { weight: Tensor; eps: number } } = {},
): void {
  const nseg = layers.length;
  if (nseg !== 2 && nseg !== 3) throw new Error(`gemvSegments: 2 or 3 layers, got ${nseg}`);
  if (out.length !== nseg) throw new Error(`gemvSegments: expected ${nseg} output tensors`);
  const k = layers[0].inFeatures;
  const m = x.size / k;
  if (x.dtype !== "f32" || !Number.isInteger(m) || x.shape[x.shape.length - 1] !== k) {
    throw new Error(`gemvSegments: x must be f32 [M, ${k}], got ${x.dtype} [${x.shape}]`);
  }
  if (m > GEMV_MAX_ROWS) throw new Error(`gemvSegments: at most ${GEMV_MAX_ROWS} rows, got ${m}`);
  if (k % 4 !== 0) throw new Error(`gemvSegments: K (${k}) must be a multiple of 4`);
  const dtype = layers[0].weight.dtype;
  layers.forEach((l, s) => {
    if (l.inFeatures !== k || l.weight.dtype !== dtype) {
      throw new Error("gemvSegments: the layers must share K and the weight dtype");
    }
    if (l.bias) throw new Error("gemvSegments: layers with a bias are not supported");
    const o = out[s];
    if (o.dtype !== "f32" || o.size !== m * l.outFeatures) {
      throw new Error(
        `gemvSegments: out ${s} must be f32 [${m}, ${l.outFeatures}], got ${o.dtype} [${o.shape}]`,
      );
    }
    if (o.buffer === x.buffer) throw new Error("gemvSegments: out must not be x");
  });
  if (new Set(out.map((o) => o.buffer)).size !== nseg) {
    throw new Error("gemvSegments: the outputs must be distinct tensors");
  }
  const norm = options.norm;
  if (norm && (norm.weight.dtype !== "f32" || norm.weight.size !== k)) {
    throw new Error(`gemvSegments: norm weight must be f32 [${k}], got [${norm.weight.shape}]`);
  }
  if (m === 0) return;
  assertLoopBudget("gemvSegments", (norm ? 2 : 1) * (k / 4), `K = ${k}`);
  const tiled = layers[0].weight.shape.length === 3;
  if (layers.some((l) => (l.weight.shape.length === 3) !== tiled)) {
    throw new Error("gemvSegments: the layers must have the same layout (packed or tiled)");
  }
  const pipe = rec.gpu.pipeline(SEG_SRC, {
    NSEG: nseg,
    SEG3: nseg === 3,
    RM: m,
    WG,
    W16: dtype === "f16",
    NORM: norm !== undefined,
    TILED: tiled,
  });
  const params = new Params().u32(m).u32(k).f32(norm?.eps ?? 0).u32(0);
  let first = 0;
  for (let s = 0; s < 3; s++) {
    const l = layers[s];
    const np4 = !l ? 0 : tiled ? l.weight.shape[0] * 4 : l.weight.shape[1] / 4;
    params.u32(l ? l.outFeatures : 0).u32(np4).u32(l ? first : 0xffffffff).u32(0);
    first += Math.ceil(np4 / 4 / WG);
  }
  const buffers: Tensor[] = [x, ...layers.map((l) => l.weight), ...out];
  if (norm) buffers.push(norm.weight);
  rec.dispatch(pipe, buffers, [first, 1], params);
}
