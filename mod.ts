/**
 * sprint-wgpu: sublayer pruning of Llama-family models with SPRINT, on Deno's WebGPU.
 *
 * This front door holds the everyday workflow — get a GPU, load a model, calibrate, prune with
 * SPRINT or a baseline, evaluate, save, export to GGUF — and the first steps with kernels. Each
 * part of the toolkit has its own entry point with its whole API:
 *
 * | entry | what |
 * | --- | --- |
 * | `./gpu` | device, tensors, `Recorder`, shaders, chunked tensors, timing, workspaces |
 * | `./kernels` | every WGSL kernel (matmul, attention, RoPE, metric, Cholesky, …) |
 * | `./model` | config, safetensors, tokenizer, loading, the forward with hooks, decode, generation |
 * | `./sprint` | SPRINT: calibration, latency, sensitivity, re-fit, search, prune log |
 * | `./baselines` | SLEB, ShortGPT, BlockPruner |
 * | `./plan` | memory plans |
 * | `./eval`, `./data` | perplexity, zero-shot tasks, speed; their data readers |
 * | `./train`, `./pretrain` | training engine and LoRA; the default model's recipe |
 * | `./export`, `./engines` | GGUF export; WebGPU and llama.cpp engines |
 * | `./errors`, `./random` | `ToolkitError`; the seeded generator |
 *
 * @example Run a kernel
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { getGpu, matmul, packLinear } from "@sprint-wgpu/toolkit";
 * const gpu = await getGpu();
 * const lin = packLinear(gpu, new Float32Array([1, 2, 3, 4, 5, 6]), 2, 3, { dtype: "f32" });
 * const x = gpu.tensor([1, 3], "f32", new Float32Array([1, 1, 1])); // W is [out 2, in 3]
 * const y = gpu.run((rec) => matmul(rec, x, lin));
 * assertEquals([...await y.read()], [6, 15]);
 * ```
 *
 * @example Prune the embedded default model by one sublayer with SPRINT
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { DEFAULT_MODEL_DIR, getGpu, loadModel, sampleCalibration, sprint } from "@sprint-wgpu/toolkit";
 * const gpu = await getGpu();
 * const model = await loadModel(gpu, DEFAULT_MODEL_DIR);
 * const ids = new Uint32Array(4 * 16).map((_, i) => 2 + (i * 37) % 4000); // stand-in token ids
 * const calib = sampleCalibration(ids, { nsamples: 2, seqLen: 16 });
 * const latency = { attention: 1, mlp: 2, dense: 30, source: "file" } as const;
 * const { mask } = await sprint(model, calib, { numSublayers: 1, latency, lossSequences: 0 });
 * assertEquals(mask.filter((kept) => !kept).length, 1);
 * model.destroy();
 * ```
 *
 * @module
 */
export { ToolkitError } from "./src/errors.ts";
export { createGpu, getGpu, Gpu, type GpuOptions } from "./src/gpu/device.ts";
export { type DType, Tensor } from "./src/gpu/tensor.ts";
export { Recorder } from "./src/gpu/recorder.ts";
export { type Linear, matmul, packLinear, type PackOptions } from "./src/kernels/matmul.ts";
export { readConfig } from "./src/model/config.ts";
export type { ModelConfig } from "./src/model/config.ts";
export { LlamaModel, loadModel, type LoadOptions } from "./src/model/model.ts";
export { loadTokenizer, type TextTokenizer } from "./src/model/tokenizer.ts";
export { DEFAULT_MODEL_DIR } from "./src/model/default.ts";
export { recordForward } from "./src/model/forward.ts";
export { generate, type GenerateOptions, type GenerateResult } from "./src/model/generate.ts";
export { saveModel, type SaveOptions } from "./src/model/save.ts";
export {
  type Calibration,
  calibrationFromFile,
  type CalibrationOptions,
  sampleCalibration,
} from "./src/sprint/calibration.ts";
export {
  cachedLatency,
  type LatencyTable,
  type LatencyWorkload,
  measureLatency,
} from "./src/sprint/latency.ts";
export {
  sprint,
  type SprintOptions,
  type SprintProgress,
  type SprintResult,
  type SprintState,
  type StepLog,
  type TunedRows,
} from "./src/sprint/sprint.ts";
export { runBaseline } from "./src/baselines/prune.ts";
export {
  perplexity,
  type PerplexityOptions,
  type PerplexityResult,
} from "./src/eval/perplexity.ts";
export { zeroShot, type ZeroShotOptions, type ZeroShotResult } from "./src/eval/zeroshot.ts";
export { measureSpeed, type SpeedOptions, type SpeedResult } from "./src/eval/speed.ts";
export { exportGguf, type ExportGgufOptions, type ExportGgufResult } from "./src/export/gguf.ts";
export { seededRandom } from "./src/util/random.ts";
