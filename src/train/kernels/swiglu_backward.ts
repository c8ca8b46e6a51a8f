/**
 * Backward of the SwiGLU activation `out = silu(gate)·up` (src/kernels/elementwise.ts):
 * `dGate = dOut·up·σ(g)(1 + g(1 − σ(g)))`, `dUp = dOut·silu(g)`, elementwise, optionally in place
 * over the activations (shaders/backward/swiglu_backward.wgsl).
 *
 * @module
 */
import { linearGrid, Params, type Recorder } from "../../gpu/recorder.ts";
import { loadShader } from "../../gpu/shader.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import { checkDistinct, checkF32 } from "./common.ts";

const SRC = await loadShader("backward/swiglu_backward.wgsl");

/** Invocations per workgroup. */
const WG = 256;

/** Options for {@link swigluBackward}. */
export interface SwigluBackwardOptions {
  /**
   * Write `dGate` into `gate` and `dUp` into `up` (the activations are consumed): no new
   * buffers. Otherwise `dGate` / `dUp` are the given tensors or newly allocated.
   */
  inPlace?: boolean;
  /** `dGate` (not in place; allocated when absent). */
  dGate?: Tensor;
  /** `dUp` (not in place; allocated when absent). */
  dUp?: Tensor;
}

/**
 * Records the gradients of `out = silu(gate)·up` for f32 `gate`, `up`, `dOut` of one shape
 * (typically `[M, F]`). Returns `{ dGate, dUp }` (`gate` and `up` themselves with `inPlace`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { swigluBackward } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const gate = gpu.tensor([1], "f32", new Float32Array([0]));
 * const up = gpu.tensor([1], "f32", new Float32Array([2]));
 * const dAct = gpu.tensor([1], "f32", new Float32Array([1]));
 * const { dGate, dUp } = gpu.run((rec) => swigluBackward(rec, gate, up, dAct, { inPlace: true }));
 * assert.deepEqual([...await dGate.read(), ...await dUp.read()], [1, 0]); // up·silu′(0), silu(0)
 * ```
 */
export function swigluBackward(
  rec: Recorder,
  gate: Tensor,
  up: Tensor,
  dOut: Tensor,
  options: SwigluBackwardOptions = {},
): { dGate: Tensor; dUp: Tensor } {
  const fn = "swigluBackward";
  const n = gate.size;
  const shape = `[${gate.shape}]`;
  checkF32(fn, "gate", gate, n, shape);
  checkF32(fn, "up", up, n, shape);
  checkF32(fn, "dOut", dOut, n, shape);
  let dGate = gate;
  let dUp = up;
  if (options.inPlace) {
    if (options.dGate || options.dUp) throw new Error(`${fn}: inPlace takes no dGate / dUp`);
    checkDistinct(fn, { gate, up, dOut });
  } else {
    dGate = options.dGate ?? rec.gpu.tensor(gate.shape, "f32");
    dUp = options.dUp ?? rec.gpu.tensor(gate.shape, "f32");
    checkF32(fn, "dGate", dGate, n, shape);
    checkF32(fn, "dUp", dUp, n, shape);
    checkDistinct(fn, { gate, up, dOut, dGate, dUp });
  }
  if (n === 0) return { dGate, dUp };
  const vec4 = n % 4 === 0;
  const items = vec4 ? n / 4 : n;
  const pipe = rec.gpu.pipeline(SRC, { WG, VEC4: vec4, INPLACE: !!options.inPlace });
  const grid = linearGrid(Math.ceil(items / WG), rec.gpu.caps.maxWorkgroupsPerDimension);
  const buffers = options.inPlace ? [gate, up, dOut] : [gate, up, dOut, dGate, dUp];
  rec.dispatch(pipe, buffers, grid, new Params().u32(items));
  return { dGate, dUp };
}
