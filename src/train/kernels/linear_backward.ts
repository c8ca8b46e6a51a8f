/**
 * Backward of a linear layer `Y = X·Wᵀ (+ b)` stored as a packed {@link Linear}
 * (`Wp[KP, NP] = W_hfᵀ`, zero padded; see src/kernels/matmul.ts):
 *
 * - {@link linearBackwardInput}: `dX = dY·W`, i.e. `dX[m, k] = Σ_n dY[m, n]·Wp[k, n]`, an NT
 *   product against the packed layout (shaders/backward/matmul_nt.wgsl, register-blocked), with
 *   optional accumulation into `dX` (several layers reading the same input: q/k/v, gate/up);
 *   f32 or f16 weights (f16 for frozen base weights under LoRA), f32 arithmetic.
 * - {@link linearBackwardWeight}: the packed gradient `dWp[KP, NP] (+)= Xᵀ·dY`, with the TN
 *   kernel of src/kernels/gram.ts ({@link recordGemmTN}) on strided operands: only `k < K`,
 *   `n < N` are written, so the padding rows and columns of `dWp` stay zero (as AdamW needs).
 * - {@link linearBackwardBias}: `db[n] (+)= Σ_m dY[m, n]` into a packed bias gradient `[NP]`.
 *
 * Every long reduction is split into dispatches within llvmpipe's loop budget: N in chunks of
 * {@link NT_CHUNK_COLUMNS} for `dX`, M in chunks of {@link GRAM_CHUNK_ROWS} for `dW` and `db`;
 * the chunks accumulate one after another in the same recorder.
 *
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { linearGrid, Params, type Recorder } from "../../gpu/recorder.ts";
import { loadShader } from "../../gpu/shader.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { assertLoopBudget } from "../../kernels/canary.ts";
import { GRAM_CHUNK_ROWS, recordGemmTN } from "../../kernels/gram.ts";
import { type Linear, packedShape } from "../../kernels/matmul.ts";
import { checkF32 } from "./common.ts";

const SRC = await loadShader("backward/matmul_nt.wgsl");

/** Columns k of dX per invocation. */
const CK = 8;
/**
 * vec4 steps along n per loop iteration: each accumulator takes NU fused multiply-adds per
 * load/store (llvmpipe keeps this many accumulators in memory). RM 16 × CK 8 × NU 2 was the
 * fastest of the blockings tried (RM 8–32, CK 4–16, NU 1–4): 1.2–1.8× the forward matmul's time
 * for the same product on llvmpipe, against 2.3–2.7× for RM 16 × CK 4 × NU 1.
 */
const NU = 2;
/** Invocations per workgroup (along the columns of dX). */
const WG = 8;
/** Invocations per workgroup of the column-sum kernel. */
const WG_COLSUM = 64;
/**
 * Columns of dY (the layer's outputs) per dispatch of the NT product: ⌈chunk/(4·NU)⌉ + 1 loop
 * iterations per invocation, within the project's loop budget.
 */
export const NT_CHUNK_COLUMNS = 4 * NU * 30000;

/** Rows per invocation for a given M (as matmul.ts, capped at 16: shorter compiles). */
function rowsPerInvocation(m: number): number {
  if (m >= 16) return 16;
  if (m >= 8) return 8;
  if (m >= 4) return 4;
  return 1;
}

/** The gradient buffers of a linear layer, in its packed layout. */
export interface LinearGrad {
  /** `[KP, NP]` f32, the packed weight's shape; padding stays zero. */
  readonly weight: Tensor;
  /** `[NP]` f32 when the layer has a bias. */
  readonly bias?: Tensor;
}

/**
 * Zero-filled f32 gradient buffers shaped like `lin`'s packed weight (and bias).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { packLinear } from "@sprint-wgpu/toolkit/kernels";
 * import { linearGradTensors } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const lin = packLinear(gpu, new Float32Array(6), 2, 3, { dtype: "f32" });
 * const grad = linearGradTensors(gpu, lin);
 * assert.deepEqual(grad.weight.shape, lin.weight.shape); // the packed layout
 * ```
 */
export function linearGradTensors(gpu: Gpu, lin: Linear): LinearGrad {
  const { kp, np } = packedShape(lin.outFeatures, lin.inFeatures);
  return {
    weight: gpu.tensor([kp, np], "f32"),
    bias: lin.bias ? gpu.tensor([np], "f32") : undefined,
  };
}

/** Options for {@link linearBackwardInput}. */
export interface LinearInputGradOptions {
  /** `dX` `[..., K]` f32 (allocated when absent). Must not be `dY` or the weight. */
  out?: Tensor;
  /** Add into `out` instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * Records `dX (+)= dY·W` for `dY` `[..., N]` f32 and the packed layer `lin` (weight f32 or f16):
 * `dX[m, k] = Σ_n dY[m, n]·Wp[k, n]`. Returns `dX` `[..., K]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { packLinear } from "@sprint-wgpu/toolkit/kernels";
 * import { linearBackwardInput } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const w = packLinear(gpu, new Float32Array([1, 2, 3, 4]), 2, 2, { dtype: "f32" }); // W [out, in]
 * const dy = gpu.tensor([1, 2], "f32", new Float32Array([1, 2]));
 * const dx = gpu.run((rec) => linearBackwardInput(rec, dy, w)); // dX = dY·W
 * assert.deepEqual([...await dx.read()], [7, 10]);
 * ```
 */
export function linearBackwardInput(
  rec: Recorder,
  dy: Tensor,
  lin: Linear,
  options: LinearInputGradOptions = {},
): Tensor {
  const fn = "linearBackwardInput";
  const k = lin.inFeatures;
  const n = lin.outFeatures;
  if (dy.dtype !== "f32") throw new Error(`${fn}: dY must be f32, got ${dy.dtype}`);
  const dn = dy.shape[dy.shape.length - 1];
  if (dn !== n) throw new Error(`${fn}: dY has ${dn} columns, the layer has ${n} outputs`);
  const wt = lin.weight.dtype;
  if (wt !== "f32" && wt !== "f16") throw new Error(`${fn}: weight must be f32 or f16`);
  if (lin.weight.shape.length !== 2) {
    throw new Error(`${fn}: the tiled weight layout is forward-only; load the model with rows`);
  }
  const m = dy.size / n;
  const outShape = [...dy.shape.slice(0, -1), k];
  const out = options.out ?? rec.gpu.tensor(outShape, "f32");
  checkF32(fn, "out", out, m * k, `[${outShape}]`);
  if (options.accumulate && !options.out) throw new Error(`${fn}: accumulate needs out`);
  if (out.buffer === dy.buffer || out.buffer === lin.weight.buffer) {
    throw new Error(`${fn}: out must not be dY or the weight`);
  }
  if (m === 0) return out;
  const rm = rowsPerInvocation(m);
  const pipe = rec.gpu.pipeline(SRC, {
    RM: rm,
    CK,
    NU,
    WG,
    DYVEC: n % 4 === 0,
    WT: wt,
    COLSUM: false,
  });
  const np4 = lin.weight.shape[1] / 4;
  const gx = Math.ceil(Math.ceil(k / CK) / WG);
  const blocks = Math.ceil(m / rm);
  const maxY = rec.gpu.caps.maxWorkgroupsPerDimension;
  for (let n0 = 0; n0 < n; n0 += NT_CHUNK_COLUMNS) {
    const n1 = Math.min(n, n0 + NT_CHUNK_COLUMNS);
    assertLoopBudget("matmul_nt", Math.ceil((n1 - n0) / (4 * NU)) + 1, `${n1 - n0} columns`);
    const acc = options.accumulate || n0 > 0 ? 1 : 0;
    for (let b0 = 0; b0 < blocks; b0 += maxY) {
      const gy = Math.min(maxY, blocks - b0);
      const params = new Params()
        .u32(m).u32(k).u32(n).u32(np4).u32(b0 * rm).u32(n0).u32(n1).u32(acc);
      rec.dispatch(pipe, [dy, lin.weight, out], [gx, gy], params);
    }
  }
  return out;
}

/** Options for {@link linearBackwardWeight} and {@link linearBackwardBias}. */
export interface LinearParamGradOptions {
  /** Add into the gradient (gradient accumulation) instead of overwriting it. */
  accumulate?: boolean;
}

function rowsOf(fn: string, t: Tensor, cols: number, name: string): number {
  if (t.dtype !== "f32") throw new Error(`${fn}: ${name} must be f32, got ${t.dtype}`);
  const c = t.shape[t.shape.length - 1];
  if (c !== cols) throw new Error(`${fn}: ${name} has ${c} columns, expected ${cols}`);
  return t.size / cols;
}

/**
 * Records the packed weight gradient `dWp[k, n] (+)= Σ_m X[m, k]·dY[m, n]` (that is
 * `dW_hf = dYᵀ·X`, transposed into the packed layout) for `x` `[..., K]` and `dy` `[..., N]`
 * (f32, same rows), into `dw` `[KP, NP]` f32 (see {@link linearGradTensors}). Padding stays as it
 * is (zero). Returns `dw`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { packLinear, unpackWeightHost } from "@sprint-wgpu/toolkit/kernels";
 * import { linearBackwardWeight, linearGradTensors } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const lin = packLinear(gpu, new Float32Array(2), 1, 2, { dtype: "f32" }); // out 1, in 2
 * const grad = linearGradTensors(gpu, lin);
 * const x = gpu.tensor([1, 2], "f32", new Float32Array([2, 3]));
 * const dy = gpu.tensor([1, 1], "f32", new Float32Array([10]));
 * gpu.run((rec) => linearBackwardWeight(rec, x, dy, grad.weight, { inFeatures: 2, outFeatures: 1 }));
 * const dw = unpackWeightHost(await grad.weight.read(), 1, 2); // dW = dYᵀ·X, HF layout
 * assert.deepEqual([...dw], [20, 30]);
 * ```
 */
export function linearBackwardWeight(
  rec: Recorder,
  x: Tensor,
  dy: Tensor,
  dw: Tensor,
  shape: { inFeatures: number; outFeatures: number },
  options: LinearParamGradOptions = {},
): Tensor {
  const fn = "linearBackwardWeight";
  const { inFeatures: k, outFeatures: n } = shape;
  const m = rowsOf(fn, x, k, "x");
  const my = rowsOf(fn, dy, n, "dY");
  if (m !== my) throw new Error(`${fn}: x has ${m} rows, dY has ${my}`);
  const { kp, np } = packedShape(n, k);
  checkF32(fn, "dW", dw, kp * np, `[${kp}, ${np}]`);
  if (dw.buffer === x.buffer || dw.buffer === dy.buffer) {
    throw new Error(`${fn}: dW must not share a buffer with x or dY`);
  }
  if (!options.accumulate) rec.encoder.clearBuffer(dw.buffer);
  for (let m0 = 0; m0 < m; m0 += GRAM_CHUNK_ROWS) {
    const rows = Math.min(GRAM_CHUNK_ROWS, m - m0);
    recordGemmTN(
      rec,
      { t: x, off: m0 * k, ld: k },
      { t: dy, off: m0 * n, ld: n },
      { t: dw, off: 0, ld: np },
      { rows: k, cols: n, k: rows, alpha: 1 },
    );
  }
  return dw;
}

/**
 * Records the bias gradient `db[n] (+)= Σ_m dY[m, n]` for `dy` `[..., N]` f32 into `db` (the
 * packed bias gradient `[NP]`, or any f32 tensor of at least N elements; entries ≥ N are left
 * as they are). Returns `db`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { linearBackwardBias } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const dy = gpu.tensor([2, 2], "f32", new Float32Array([1, 2, 3, 4]));
 * const db = gpu.tensor([2], "f32");
 * gpu.run((rec) => linearBackwardBias(rec, dy, db, { accumulate: true })); // db += Σ_rows dY
 * assert.deepEqual([...await db.read()], [4, 6]);
 * ```
 */
export function linearBackwardBias(
  rec: Recorder,
  dy: Tensor,
  db: Tensor,
  options: LinearParamGradOptions = {},
): Tensor {
  const fn = "linearBackwardBias";
  if (dy.dtype !== "f32" || dy.shape.length < 1) throw new Error(`${fn}: dY must be f32 [..., N]`);
  const n = dy.shape[dy.shape.length - 1];
  const m = n === 0 ? 0 : dy.size / n;
  if (db.dtype !== "f32" || db.size < n) {
    throw new Error(
      `${fn}: db must be f32 with at least ${n} elements, got ${db.dtype} [${db.shape}]`,
    );
  }
  if (db.buffer === dy.buffer) throw new Error(`${fn}: db must not be dY`);
  const vec = n % 4 === 0 && db.size % 4 === 0;
  if (n === 0) return db;
  if (m === 0) {
    if (!options.accumulate) rec.encoder.clearBuffer(db.buffer, 0, n * 4);
    return db;
  }
  const pipe = rec.gpu.pipeline(SRC, { WG: WG_COLSUM, DYVEC: vec, COLSUM: true }, "colsum");
  const grid = linearGrid(Math.ceil((vec ? n / 4 : n) / WG_COLSUM));
  for (let m0 = 0; m0 < m; m0 += GRAM_CHUNK_ROWS) {
    const m1 = Math.min(m, m0 + GRAM_CHUNK_ROWS);
    assertLoopBudget("colsum", m1 - m0 + 1, `${m1 - m0} rows`);
    const acc = options.accumulate || m0 > 0 ? 1 : 0;
    const params = new Params().u32(m).u32(0).u32(n).u32(0).u32(m0).u32(m1).u32(0).u32(acc);
    rec.dispatch(pipe, [dy, db], grid, params);
  }
  return db;
}

/** Options for {@link linearBackward}. */
export interface LinearBackwardOptions {
  /** Where `dX` goes (allocated when absent); `false`: do not compute `dX` (a first layer). */
  dx?: Tensor | false;
  /** Add into `dx` instead of overwriting it. */
  accumulateDx?: boolean;
  /** Add into the parameter gradients instead of overwriting them. */
  accumulateGrad?: boolean;
}

/**
 * Records the whole backward of `Y = X·Wᵀ (+ b)`: `dX`, `dW` and (when the layer has a bias and
 * `grad.bias` is given) `db`. Returns `dX` (undefined with `dx: false`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { packLinear } from "@sprint-wgpu/toolkit/kernels";
 * import { linearBackward, linearGradTensors } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const wo = packLinear(gpu, new Float32Array([1, 2, 3, 4]), 2, 2, { dtype: "f32" });
 * const grad = linearGradTensors(gpu, wo);
 * const attn = gpu.tensor([1, 2], "f32", new Float32Array([1, 1]));
 * const dh = gpu.tensor([1, 2], "f32", new Float32Array([1, 2]));
 * const dAttn = gpu.run((rec) => linearBackward(rec, attn, dh, wo, grad)); // and dW into grad
 * assert.deepEqual([...await dAttn!.read()], [7, 10]);
 * ```
 */
export function linearBackward(
  rec: Recorder,
  x: Tensor,
  dy: Tensor,
  lin: Linear,
  grad: LinearGrad,
  options: LinearBackwardOptions = {},
): Tensor | undefined {
  const acc = { accumulate: options.accumulateGrad };
  linearBackwardWeight(rec, x, dy, grad.weight, lin, acc);
  if (grad.bias) linearBackwardBias(rec, dy, grad.bias, acc);
  if (options.dx === false) return undefined;
  return linearBackwardInput(rec, dy, lin, {
    out: options.dx,
    accumulate: options.accumulateDx,
  });
}
