/**
 * Backward of RMSNorm (`y = x·r·w`, `r = 1/sqrt(mean(x²) + eps)`, src/kernels/rmsnorm.ts):
 * the input gradient `dx = r·(w∘dy) − x·r³·Σ(w∘dy∘x)/D` (one workgroup per row, optionally added
 * into an existing gradient: the residual stream) and the weight gradient `dw = Σ_rows dy∘x·r`.
 *
 * The weight gradient is a reduction over tokens, split race-free: the rows are cut into chunks,
 * one invocation per (column, chunk) writes a partial sum into a scratch `[chunks, D]`, and a
 * second dispatch adds the partials of each column (and the previous gradient when
 * accumulating). No float atomics, a fixed summation order (deterministic), and every loop within
 * llvmpipe's per-invocation budget. `r` per row comes from the `dx` pass (a scratch `[M]`).
 *
 * @module
 */
import { linearGrid, Params, type Recorder } from "../../gpu/recorder.ts";
import { loadShader } from "../../gpu/shader.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { assertLoopBudget } from "../../kernels/canary.ts";
import { checkDistinct, checkF32, scratchF32 } from "./common.ts";

const SRC = await loadShader("backward/rmsnorm_backward.wgsl");

/** Invocations per workgroup of the row kernel (one workgroup per row). */
const WG = 256;
/** Invocations per workgroup of the weight-gradient kernels. */
const WG_DW = 64;
/** Rows per chunk of the weight gradient (at least; more when M is huge). */
const DW_CHUNK = 128;

/** Options for {@link rmsnormBackward}. */
export interface RmsnormBackwardOptions {
  /**
   * Input gradient `[..., D]` f32 (allocated when absent); `false`: skip it (only `dWeight`).
   * Must not be `x`, `weight` or `dy`.
   */
  dx?: Tensor | false;
  /** Add into `dx` instead of overwriting it (a residual stream's gradient). */
  accumulate?: boolean;
  /** Weight gradient `[D]` f32 to compute (skipped when absent, e.g. a frozen norm). */
  dWeight?: Tensor;
  /** Add into `dWeight` instead of overwriting it. */
  accumulateWeight?: boolean;
}

/**
 * Records the backward of `y = rmsnorm(x, weight, eps)` for `x`, `dy` `[..., D]` f32 and
 * `weight` `[D]` (f32, or f16 with shader-f16). Returns `dx` (undefined with `dx: false`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { rmsnormBackward } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const h = gpu.tensor([1, 2], "f32", new Float32Array([1, 1])); // rms 1: y = h·w
 * const norm = gpu.tensor([2], "f32", new Float32Array([1, 1]));
 * const dxn = gpu.tensor([1, 2], "f32", new Float32Array([1, 1]));
 * const dh = gpu.tensor([1, 2], "f32");
 * const dNorm = gpu.tensor([2], "f32");
 * gpu.run((rec) => rmsnormBackward(rec, h, norm, dxn, 0, { dx: dh, accumulate: true, dWeight: dNorm }));
 * const [a, b] = await dh.read(); // a uniform upstream gradient only rescales: dx = 0
 * assert.ok(Math.abs(a) < 1e-6 && Math.abs(b) < 1e-6);
 * assert.deepEqual([...await dNorm.read()], [1, 1]); // dw = Σ dy·x/rms
 * ```
 */
export function rmsnormBackward(
  rec: Recorder,
  x: Tensor,
  weight: Tensor,
  dy: Tensor,
  eps: number,
  options: RmsnormBackwardOptions = {},
): Tensor | undefined {
  const fn = "rmsnormBackward";
  if (x.dtype !== "f32" || x.shape.length < 1) throw new Error(`${fn}: x must be f32 [..., D]`);
  const d = x.shape[x.shape.length - 1];
  if (weight.shape.length !== 1 || weight.shape[0] !== d) {
    throw new Error(`${fn}: weight must be [${d}], got [${weight.shape}]`);
  }
  if (weight.dtype !== "f32" && weight.dtype !== "f16") {
    throw new Error(`${fn}: weight must be f32 or f16, got ${weight.dtype}`);
  }
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`${fn}: invalid eps ${eps}`);
  checkF32(fn, "dy", dy, x.size, `[${x.shape}]`);
  const m = d === 0 ? 0 : x.size / d;
  let dx: Tensor | undefined;
  if (options.dx !== false) {
    dx = options.dx ?? rec.gpu.tensor(x.shape, "f32");
    checkF32(fn, "dx", dx, x.size, `[${x.shape}]`);
    if (options.accumulate && !options.dx) throw new Error(`${fn}: accumulate needs dx`);
  }
  if (options.dWeight) checkF32(fn, "dWeight", options.dWeight, d, `[${d}]`);
  checkDistinct(fn, { x, weight, dy, dx, dWeight: options.dWeight });
  if (m === 0) {
    if (options.dWeight && !options.accumulateWeight) {
      rec.encoder.clearBuffer(options.dWeight.buffer);
    }
    return dx;
  }
  if (!dx && !options.dWeight) return dx;
  const vec4 = d % 4 === 0;
  const cols = vec4 ? d / 4 : d;
  assertLoopBudget(fn, 2 * Math.ceil(cols / WG) + 4 + Math.log2(WG), `D = ${d}`);
  const rstd = scratchF32(rec.gpu, "rmsnormBackward.rstd", m);
  const out = dx ?? rstd; // with statistics only, a dummy binding (never written)
  const pipe = rec.gpu.pipeline(SRC, { WG, VEC4: vec4, WT: weight.dtype, DX: true }, "dx");
  const flags = (options.accumulate ? 1 : 0) | (dx ? 0 : 2);
  const base = () => new Params().u32(m).u32(d).u32(cols).f32(eps);
  if (out === rstd) {
    // The statistics-only variant still binds a DX: a separate dummy.
    const dummy = scratchF32(rec.gpu, "rmsnormBackward.dummy", vec4 ? 4 : 1);
    rec.dispatch(pipe, [x, weight, dy, dummy, rstd], linearGrid(m), base().u32(0).u32(flags));
  } else {
    rec.dispatch(pipe, [x, weight, dy, out, rstd], linearGrid(m), base().u32(0).u32(flags));
  }
  if (!options.dWeight) return dx;
  const dw = options.dWeight;
  const acc = options.accumulateWeight ? 1 : 0;
  const chunk = Math.max(DW_CHUNK, Math.ceil(m / 16384));
  const chunks = Math.ceil(m / chunk);
  assertLoopBudget(fn, Math.max(chunk, chunks) + 1, `M = ${m}`);
  const gx = Math.ceil(cols / WG_DW);
  const partial = rec.gpu.pipeline(SRC, { WG: WG_DW, VEC4: vec4, DW_PARTIAL: true }, "dw_partial");
  if (chunks === 1) {
    rec.dispatch(partial, [x, dy, rstd, dw], [gx, 1], base().u32(chunk).u32(acc));
    return dx;
  }
  const part = scratchF32(rec.gpu, "rmsnormBackward.partials", chunks * d);
  rec.dispatch(partial, [x, dy, rstd, part], [gx, chunks], base().u32(chunk).u32(0));
  const reduce = rec.gpu.pipeline(SRC, { WG: WG_DW, VEC4: vec4, DW_REDUCE: true }, "dw_reduce");
  rec.dispatch(reduce, [part, dw], linearGrid(gx), base().u32(chunks).u32(acc));
  return dx;
}
