/**
 * The AdamW optimizer step and global-norm gradient clipping on the GPU (shaders/adamw.wgsl).
 *
 * {@link adamwStep} follows PyTorch's `torch.optim.AdamW` (amsgrad off, maximize off) exactly: for
 * step t ≥ 1, with g the (scaled, clipped) gradient,
 *
 * ```
 * p ← p·(1 − lr·wd)
 * m ← m + (1 − β1)(g − m)
 * v ← β2·v + (1 − β2)·g²
 * p ← p − lr/(1 − β1^t) · m / (sqrt(v)/sqrt(1 − β2^t) + eps)
 * ```
 *
 * over flat f32 buffers of any size (one element or vec4 per invocation, dispatch folded by
 * {@link linearGrid}); the bias corrections are computed in float64 on the host.
 *
 * {@link gradNormClip} computes the global L2 norm of many gradient tensors and PyTorch's
 * `clip_grad_norm_` factor `min(1, maxNorm/(norm + 1e-6))` entirely on the GPU: one
 * {@link sumSquares} per tensor (two-stage tree reductions) copied into a slot of a small buffer,
 * then one invocation sums the slots and writes `[norm, factor]`. {@link adamwStep} with
 * `clip: thatTensor` multiplies every gradient by the factor inside the update, so clipping needs
 * no host round trip.
 *
 * @module
 */
import { linearGrid, Params, type Recorder } from "../../gpu/recorder.ts";
import { loadShader } from "../../gpu/shader.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { assertLoopBudget } from "../../kernels/canary.ts";
import { sumSquares } from "../../kernels/reduce.ts";
import { checkDistinct, checkF32, scratchF32 } from "./common.ts";

const SRC = await loadShader("adamw.wgsl");

/** Invocations per workgroup. */
const WG = 256;

/** AdamW hyper-parameters (PyTorch defaults where PyTorch has them). */
export interface AdamWHyper {
  /** Learning rate. */
  lr: number;
  /** 1-based step number t (bias corrections 1 − β^t). */
  step: number;
  /** β1 (default 0.9). */
  beta1?: number;
  /** β2 (default 0.999). */
  beta2?: number;
  /** ε (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay (default 0.01). */
  weightDecay?: number;
}

/** Options for {@link adamwStep}. */
export interface AdamWOptions extends AdamWHyper {
  /** Constant factor on the gradient (e.g. 1 / gradient-accumulation steps; default 1). */
  gradScale?: number;
  /** `[2]` f32 from {@link gradNormClip}: the gradient is also multiplied by element 1. */
  clip?: Tensor;
}

/** One parameter tensor's optimizer state: all f32 with the same number of elements. */
export interface AdamWState {
  /** The parameter (updated in place). */
  param: Tensor;
  /** Its gradient (read only). */
  grad: Tensor;
  /** First moment (zero-initialised; updated in place). */
  m: Tensor;
  /** Second moment (zero-initialised; updated in place). */
  v: Tensor;
}

/**
 * Records one AdamW update of `state.param` in place (see the module doc for the formula).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { adamwStep, gradNormClip } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const f32 = (...v: number[]) => gpu.tensor([v.length], "f32", new Float32Array(v));
 * const state = { param: f32(1), grad: f32(0.5), m: f32(0), v: f32(0) };
 * gpu.run((rec) => {
 *   const clip = gradNormClip(rec, [state.grad], 1.0); // norm 0.5: factor 1
 *   adamwStep(rec, state, { lr: 0.1, step: 1, weightDecay: 0, clip });
 * });
 * const [p] = await state.param.read(); // first step: p − lr·sign(g)
 * assert.ok(Math.abs(p - 0.9) < 1e-5);
 * ```
 */
export function adamwStep(rec: Recorder, state: AdamWState, options: AdamWOptions): void {
  const fn = "adamwStep";
  const { param, grad, m, v } = state;
  const n = param.size;
  const shape = `[${param.shape}]`;
  for (const [name, t] of [["param", param], ["grad", grad], ["m", m], ["v", v]] as const) {
    checkF32(fn, name, t, n, shape);
  }
  checkDistinct(fn, { param, grad, m, v, clip: options.clip });
  if (options.clip) checkF32(fn, "clip", options.clip, 2, "[2]");
  const { lr, step } = options;
  const beta1 = options.beta1 ?? 0.9;
  const beta2 = options.beta2 ?? 0.999;
  const eps = options.eps ?? 1e-8;
  const wd = options.weightDecay ?? 0.01;
  const gradScale = options.gradScale ?? 1;
  if (!Number.isInteger(step) || step < 1) throw new Error(`${fn}: step must be an integer ≥ 1`);
  if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`${fn}: invalid lr ${lr}`);
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
    throw new Error(`${fn}: betas must be in [0, 1), got ${beta1}, ${beta2}`);
  }
  if (!(eps >= 0) || !Number.isFinite(wd) || !Number.isFinite(gradScale)) {
    throw new Error(`${fn}: invalid eps, weightDecay or gradScale`);
  }
  if (n === 0) return;
  const bc1 = 1 - beta1 ** step;
  const bc2 = 1 - beta2 ** step;
  const vec4 = n % 4 === 0;
  const items = vec4 ? n / 4 : n;
  const pipe = rec.gpu.pipeline(SRC, { WG, VEC4: vec4, CLIP: !!options.clip, NORM: false });
  const params = new Params()
    .u32(items)
    .f32(1 - lr * wd)
    .f32(beta1)
    .f32(beta2)
    .f32(1 - beta1)
    .f32(1 - beta2)
    .f32(lr / bc1)
    .f32(1 / Math.sqrt(bc2))
    .f32(eps)
    .f32(gradScale);
  const buffers = options.clip ? [param, grad, m, v, options.clip] : [param, grad, m, v];
  rec.dispatch(pipe, buffers, linearGrid(Math.ceil(items / WG)), params);
}

/** Options for {@link gradNormClip}. */
export interface GradNormOptions {
  /** The norm is of the gradients times this factor (the `gradScale` AdamW will use; default 1). */
  gradScale?: number;
  /** Output `[2]` f32 (allocated when absent). */
  out?: Tensor;
}

/**
 * Records the global L2 norm of `grads` (f32 tensors of any shapes) times `gradScale`, and the
 * clip factor `min(1, maxNorm/(norm + 1e-6))`, into `out` = `[norm, factor]` on the GPU.
 * Returns `out`, for {@link adamwStep}'s `clip`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { gradNormClip } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const g1 = gpu.tensor([1], "f32", new Float32Array([3]));
 * const g2 = gpu.tensor([1], "f32", new Float32Array([4]));
 * const clip = gpu.run((rec) => gradNormClip(rec, [g1, g2], 1.0));
 * const [norm, factor] = await clip.read();
 * assert.ok(norm === 5 && Math.abs(factor - 1 / 5) < 1e-6); // [norm, min(1, max/norm)]
 * ```
 */
export function gradNormClip(
  rec: Recorder,
  grads: readonly Tensor[],
  maxNorm: number,
  options: GradNormOptions = {},
): Tensor {
  const fn = "gradNormClip";
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) {
    throw new Error(`${fn}: maxNorm must be positive and finite, got ${maxNorm}`);
  }
  const gradScale = options.gradScale ?? 1;
  const out = options.out ?? rec.gpu.tensor([2], "f32");
  checkF32(fn, "out", out, 2, "[2]");
  const count = grads.length;
  assertLoopBudget(fn, count + 1, `${count} tensors`);
  const slots = scratchF32(rec.gpu, "gradNormClip.slots", Math.max(1, count));
  const one = scratchF32(rec.gpu, "gradNormClip.tmp", 1); // always exactly one element
  for (let i = 0; i < count; i++) {
    const g = grads[i];
    if (g.dtype !== "f32") throw new Error(`${fn}: grads[${i}] must be f32, got ${g.dtype}`);
    if (g.buffer === out.buffer) throw new Error(`${fn}: out must not be a gradient`);
    sumSquares(rec, g, { out: one });
    rec.copy(one, slots, 4, 0, 4 * i);
  }
  const pipe = rec.gpu.pipeline(SRC, { NORM: true }, "grad_norm");
  const params = new Params().u32(count).f32(maxNorm).f32(gradScale);
  rec.dispatch(pipe, [slots, out], [1], params);
  return out;
}
