/**
 * sprint-wgpu: sublayer pruning of Llama-family models with SPRINT, on Deno's WebGPU.
 *
 * This entry point re-exports the public API.
 *
 * @example
 * ```ts
 * import { getGpu, matmul, packLinear } from "./mod.ts";
 * const gpu = await getGpu();
 * const lin = packLinear(gpu, new Float32Array([1, 2, 3, 4, 5, 6]), 2, 3); // W [out 2, in 3]
 * const x = gpu.tensor([1, 3], "f32", new Float32Array([1, 1, 1]));
 * const y = gpu.run((rec) => matmul(rec, x, lin));
 * console.log(await y.read()); // Float32Array [6, 15]
 * ```
 *
 * @module
 */
export { ToolkitError } from "./src/errors.ts";
export { createGpu, getGpu, Gpu, type GpuCapabilities, type GpuOptions } from "./src/gpu/device.ts";
export { type DType, readTensors, Tensor } from "./src/gpu/tensor.ts";
export {
  type Bindable,
  linearGrid,
  Params,
  Recorder,
  type Workgroups,
} from "./src/gpu/recorder.ts";
export { loadShader, type ShaderSource, specialise } from "./src/gpu/shader.ts";
export { timeGpu, type TimeOptions, type TimingStats } from "./src/gpu/timing.ts";
export {
  type Linear,
  matmul,
  type MatmulOptions,
  packLinear,
  type PackOptions,
} from "./src/kernels/matmul.ts";
