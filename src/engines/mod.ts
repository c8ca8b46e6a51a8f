/**
 * Inference engines behind one interface — the WebGPU forward (in process or in a Deno child) and llama.cpp (node-llama-cpp in a `node` child) — with the evaluation protocols run through them.
 *
 * @module
 */
export * from "./engine.ts";
export * from "./webgpu.ts";
export * from "./webgpu_child.ts";
export * from "./llamacpp.ts";
export * from "./eval.ts";
export * from "./child.ts";
