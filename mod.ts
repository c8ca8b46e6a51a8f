/**
 * sprint-wgpu: sublayer pruning of Llama-family models with SPRINT, on Deno's WebGPU.
 *
 * This entry point re-exports the public API: the GPU runtime and kernels, the model (loading,
 * masked forward with hooks, generation, saving), SPRINT itself, evaluation and baselines.
 *
 * @example Prune a model with SPRINT
 * ```ts
 * import { calibrationFromFile, getGpu, loadModel, measureLatency, saveModel, sprint } from "./mod.ts";
 * const gpu = await getGpu();
 * const model = await loadModel(gpu, "models/base");
 * const calib = await calibrationFromFile("text.txt", model.tokenizer!, { nsamples: 32, seqLen: 256 });
 * const latency = await measureLatency(model, {
 *   mode: "generation", promptLength: 256, generationLength: 128, batch: 1, iterations: 3,
 * });
 * const { mask, steps } = await sprint(model, calib, { targetSpeedup: 1.25, latency });
 * await saveModel(model, "out/pruned", { mask });
 * ```
 *
 * @example Run a kernel
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
export * from "./src/errors.ts";
export * from "./src/gpu/device.ts";
export * from "./src/gpu/tensor.ts";
export * from "./src/gpu/chunked.ts";
export * from "./src/gpu/recorder.ts";
export * from "./src/gpu/shader.ts";
export * from "./src/gpu/timing.ts";
export * from "./src/kernels/matmul.ts";
export * from "./src/kernels/rmsnorm.ts";
export * from "./src/kernels/elementwise.ts";
export * from "./src/kernels/embedding.ts";
export * from "./src/kernels/head.ts";
export * from "./src/kernels/softmax.ts";
export * from "./src/kernels/reduce.ts";
export * from "./src/kernels/rope.ts";
export * from "./src/kernels/attention.ts";
export * from "./src/kernels/gram.ts";
export * from "./src/kernels/solve.ts";
export * from "./src/model/config.ts";
export * from "./src/model/safetensors.ts";
export * from "./src/model/tokenizer.ts";
export * from "./src/model/model.ts";
export * from "./src/model/residency.ts";
export * from "./src/model/forward.ts";
export * from "./src/model/generate.ts";
export * from "./src/model/save.ts";
export * from "./src/model/loss.ts";
export * from "./src/model/default.ts";
export * from "./src/sprint/sprint.ts";
export * from "./src/sprint/calibration.ts";
export * from "./src/sprint/latency.ts";
export * from "./src/sprint/rules.ts";
export * from "./src/sprint/metrics.ts";
export * from "./src/sprint/log.ts";
export * from "./src/plan/memory.ts";
export * from "./src/plan/prune.ts";
export * from "./src/eval/perplexity.ts";
export * from "./src/eval/zeroshot.ts";
export * from "./src/eval/speed.ts";
export * from "./src/train/trainer.ts";
export * from "./src/train/lora.ts";
export type { EncodePairOptions, ScoreOptions } from "./src/eval/loglikelihood.ts";
export type { TokenBatch } from "./src/train/grad.ts";
/**
 * GGUF export for llama.cpp (dense models as `llama`, pruned ones as `deci`, tokenizer embedded).
 *
 * @example
 * ```ts
 * import { exportGguf } from "./mod.ts";
 * await exportGguf("out/pruned", "out/pruned.gguf", { dtype: "f16" });
 * ```
 */
export { exportGguf, type ExportGgufOptions, type ExportGgufResult } from "./src/export/gguf.ts";
export * from "./src/export/gguf_writer.ts";
/**
 * Inference engines behind one interface — the WebGPU forward (in process or in a Deno child with
 * a lavapipe thread count) and llama.cpp (npm node-llama-cpp 3.21.1 in a `node` child) — and the
 * evaluation protocols, SPRINT's latency table and speed measured through them.
 *
 * @example
 * ```ts
 * import { enginePerplexity, exportGguf, LlamaCppEngine, loadTokenizer } from "./mod.ts";
 * await exportGguf("out/pruned", "out/pruned.gguf");
 * const eng = await LlamaCppEngine.load("out/pruned.gguf", { threads: 1 });
 * const r = await enginePerplexity(eng, await loadTokenizer("out/pruned"), "Once upon a time…");
 * await eng.dispose();
 * ```
 */
export * from "./src/engines/engine.ts";
export * from "./src/engines/webgpu.ts";
export * from "./src/engines/webgpu_child.ts";
export * from "./src/engines/llamacpp.ts";
export * from "./src/engines/eval.ts";
export * from "./src/sprint/latency_llamacpp.ts";
