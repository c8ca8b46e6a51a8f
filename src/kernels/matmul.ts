/**
 * Linear layers: `Y = X·Wᵀ (+ bias) (+ Y)` with the weight stored packed for the fast kernel.
 *
 * Weights arrive in Hugging Face layout `[out, in]`. {@link packLinear} transposes them once into
 * `[KP, NP]` (in × out, padded to the kernel's vec4 tiles, f16 when the device has shader-f16)
 * so that the kernel is the plain NN product.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { loadShader } from "../gpu/shader.ts";
import { Params, type Recorder } from "../gpu/recorder.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { toF16 } from "../gpu/f16.ts";

const SRC = await loadShader("matmul.wgsl");

/** vec4 columns per invocation (columns per invocation = 4·CN). */
const CN = 4;
/** Invocations per workgroup along the columns. */
const WG = 8;

/** A linear layer's weight (and optional bias) on the GPU in the packed layout. */
export interface Linear {
  /**
   * Packed weight `[KP, NP]` (KP = in rounded up to 4, NP = out rounded up to 16), or rank 3: the
   * tiled `[NP/16, K, 16]` layout of `packLinearTiled` (forward kernels `matmul`/`gemv` only).
   */
  readonly weight: Tensor;
  /** Packed bias `[NP]`, if the layer has one. */
  readonly bias?: Tensor;
  /** Input features K. */
  readonly inFeatures: number;
  /** Output features N. */
  readonly outFeatures: number;
}

/** Padded sizes of a packed `[out, in]` weight. */
export function packedShape(outFeatures: number, inFeatures: number): { kp: number; np: number } {
  return {
    kp: Math.ceil(inFeatures / 4) * 4,
    np: Math.ceil(outFeatures / (4 * CN)) * (4 * CN),
  };
}

/**
 * Transposes an HF-layout weight `[out, in]` (row-major) into the packed `[KP, NP]` layout,
 * zero padded, as f32 values.
 */
export function packWeightHost(
  w: ArrayLike<number>,
  outFeatures: number,
  inFeatures: number,
): Float32Array<ArrayBuffer> {
  if (w.length !== outFeatures * inFeatures) {
    throw new Error(`weight has ${w.length} values, expected ${outFeatures}×${inFeatures}`);
  }
  const { kp, np } = packedShape(outFeatures, inFeatures);
  const out = new Float32Array(kp * np);
  for (let n = 0; n < outFeatures; n++) {
    const row = n * inFeatures;
    for (let k = 0; k < inFeatures; k++) out[k * np + n] = w[row + k];
  }
  return out;
}

/** Inverse of {@link packWeightHost}: the HF-layout `[out, in]` weight from packed values. */
export function unpackWeightHost(
  packed: ArrayLike<number>,
  outFeatures: number,
  inFeatures: number,
): Float32Array<ArrayBuffer> {
  const { np } = packedShape(outFeatures, inFeatures);
  const out = new Float32Array(outFeatures * inFeatures);
  for (let n = 0; n < outFeatures; n++) {
    for (let k = 0; k < inFeatures; k++) out[n * inFeatures + k] = packed[k * np + n];
  }
  return out;
}

/** Options for {@link packLinear}. */
export interface PackOptions {
  /** Bias `[out]`. */
  bias?: ArrayLike<number>;
  /** Storage type; defaults to the device's weight type (f16 with shader-f16, else f32). */
  dtype?: "f32" | "f16";
}

/**
 * Uploads an HF-layout weight `[out, in]` as a packed {@link Linear}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { packLinear } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const lin = packLinear(gpu, new Float32Array(3 * 5), 3, 5); // out 3, in 5
 * assert.deepEqual([lin.outFeatures, lin.inFeatures], [3, 5]);
 * ```
 */
export function packLinear(
  gpu: Gpu,
  w: ArrayLike<number>,
  outFeatures: number,
  inFeatures: number,
  options: PackOptions = {},
): Linear {
  const dtype = options.dtype ?? gpu.weightDType;
  if (dtype === "f16" && !gpu.caps.f16) throw new Error("f16 weights need the shader-f16 feature");
  const { kp, np } = packedShape(outFeatures, inFeatures);
  const host = packWeightHost(w, outFeatures, inFeatures);
  const weight = gpu.tensor([kp, np], dtype, dtype === "f16" ? toF16(host) : host);
  let bias: Tensor | undefined;
  if (options.bias) {
    if (options.bias.length !== outFeatures) {
      throw new Error(`bias has ${options.bias.length} values, expected ${outFeatures}`);
    }
    const b = new Float32Array(np);
    b.set(Array.from(options.bias));
    bias = gpu.tensor([np], dtype, dtype === "f16" ? toF16(b) : b);
  }
  return { weight, bias, inFeatures, outFeatures };
}

/** Options for {@link matmul}. */
export interface MatmulOptions {
  /** Output tensor `[M, N]` f32 (allocated when absent). */
  out?: Tensor;
  /** Add the product into `out` instead of overwriting it (e.g. a residual stream). */
  accumulate?: boolean;
}

/**
 * Rows per invocation for a given M: large blocks for prefill, small for decode. `slowCompile`
 * (the GL back end) caps it at 8: Mesa's GL path JIT-compiled the 32-row block for ≈ 34 s on
 * llvmpipe (8 rows: ≈ 3 s; Vulkan: well under a second for either).
 */
function rowsPerInvocation(m: number, slowCompile = false): number {
  if (m >= 32 && !slowCompile) return 32;
  if (m >= 8) return 8;
  if (m >= 4) return 4;
  return 1;
}

/**
 * Records `out = x·Wᵀ (+ bias)` (or `out += …` with `accumulate`) for `x` of shape `[..., K]`
 * (f32, row-major). Returns `out` with shape `[..., N]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { matmul, packLinear } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const lin = packLinear(gpu, new Float32Array([1, 2, 3, 4]), 2, 2, { dtype: "f32" });
 * const x = gpu.tensor([1, 2], "f32", new Float32Array([1, 1]));
 * const y = gpu.run((rec) => matmul(rec, x, lin)); // x·Wᵀ
 * assert.deepEqual([...await y.read()], [3, 7]);
 * ```
 */
export function matmul(rec: Recorder, x: Tensor, lin: Linear, options: MatmulOptions = {}): Tensor {
  const k = lin.inFeatures;
  const n = lin.outFeatures;
  if (x.dtype !== "f32") throw new Error(`matmul: x must be f32, got ${x.dtype}`);
  const xk = x.shape[x.shape.length - 1];
  if (xk !== k) throw new Error(`matmul: x has ${xk} features, layer expects ${k}`);
  const m = x.size / k;
  const outShape = [...x.shape.slice(0, -1), n];
  const out = options.out ?? rec.gpu.tensor(outShape, "f32");
  if (out.size !== m * n || out.dtype !== "f32") {
    throw new Error(`matmul: out must be f32 [${outShape}], got ${out.dtype} [${out.shape}]`);
  }
  if (options.accumulate && !options.out) throw new Error("matmul: accumulate needs out");
  if (m === 0) return out;
  const rm = rowsPerInvocation(m, rec.gpu.caps.slowCompile);
  // The tiled [NP/16, K, 16] layout of packLinearTiled (kernels/gemv.ts): 16 columns per tile.
  const tiled = lin.weight.shape.length === 3;
  if (tiled && CN !== 4) throw new Error("matmul: the tiled layout needs 16 columns a lane");
  const pipe = rec.gpu.pipeline(SRC, {
    RM: rm,
    CN,
    WG,
    AVEC: k % 4 === 0,
    WT: lin.weight.dtype,
    W16: lin.weight.dtype === "f16",
    CN2: CN / 2,
    TILED: tiled,
  });
  const np4 = tiled ? lin.weight.shape[0] * 4 : lin.weight.shape[1] / 4;
  const gx = Math.ceil(np4 / CN / WG);
  const blocks = Math.ceil(m / rm);
  const maxY = rec.gpu.caps.maxWorkgroupsPerDimension;
  const buffers = [x, lin.weight, lin.bias ?? lin.weight, out];
  const flags = (lin.bias ? 1 : 0) | (options.accumulate ? 2 : 0);
  for (let b0 = 0; b0 < blocks; b0 += maxY) {
    const gy = Math.min(maxY, blocks - b0);
    const params = new Params().u32(m).u32(k).u32(n).u32(np4).u32(b0 * rm).u32(flags);
    rec.dispatch(pipe, buffers, [gx, gy], params);
  }
  return out;
}
