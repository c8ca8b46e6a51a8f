/**
 * The WebGPU engine in a Deno child process (`webgpu_server.ts`), behind the engine interface:
 * its lavapipe thread count is set with `LP_NUM_THREADS` at spawn, so our forward and llama.cpp
 * can be timed at the same thread count in one run (`src/bench/vs_llamacpp.ts`).
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import { JsonLineChild } from "./child.ts";
import {
  checkScoreRequest,
  type EngineDescription,
  type EngineTimeOptions,
  type EngineTimings,
  type InferenceEngine,
  type ScoreRequest,
  type ScoreResult,
} from "./engine.ts";

/** Options of {@link WebGpuChildEngine.load}. */
export interface WebGpuChildOptions {
  /** Weight storage (default: f16 when the device has shader-f16). */
  dtype?: "f32" | "f16";
  /** lavapipe/llvmpipe threads (`LP_NUM_THREADS`; default: inherited / automatic). */
  threads?: number;
  /** Sublayer mask. */
  mask?: readonly boolean[];
}

/**
 * The WebGPU forward in a child process (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WebGpuChildEngine } from "@sprint-wgpu/toolkit/engines";
 * import { DEFAULT_MODEL_DIR } from "@sprint-wgpu/toolkit/model";
 * const eng = await WebGpuChildEngine.load(DEFAULT_MODEL_DIR, { threads: 1, dtype: "f32" });
 * const t = await eng.time({ promptTokens: 16, newTokens: 4, warmup: 0, reps: 2 });
 * assert.ok(t.decodeMs.length === 2 && t.decodeMs.every((ms) => ms > 0));
 * await eng.dispose();
 * ```
 */
export class WebGpuChildEngine implements InferenceEngine {
  readonly description: EngineDescription;
  readonly vocabSize: number;
  readonly contextLength: number;
  #child: JsonLineChild;

  private constructor(
    child: JsonLineChild,
    info: { description: EngineDescription; vocabSize: number; contextLength: number },
  ) {
    this.#child = child;
    this.description = info.description;
    this.vocabSize = info.vocabSize;
    this.contextLength = info.contextLength;
  }

  /** Spawns the child and loads the model directory `dir`. */
  static async load(dir: string, options: WebGpuChildOptions = {}): Promise<WebGpuChildEngine> {
    const env: Record<string, string> = {};
    if (options.threads !== undefined) {
      if (!Number.isInteger(options.threads) || options.threads < 1) {
        throw new ToolkitError(`--threads must be a positive integer, got ${options.threads}`);
      }
      env.LP_NUM_THREADS = String(options.threads);
    }
    const server = new URL("./webgpu_server.ts", import.meta.url).href;
    const child = new JsonLineChild(Deno.execPath(), ["run", "--allow-all", server], {
      label: "webgpu",
      env,
    });
    try {
      const info = await child.request<
        { description: EngineDescription; vocabSize: number; contextLength: number }
      >("load", { dir, dtype: options.dtype, mask: options.mask });
      return new WebGpuChildEngine(child, info);
    } catch (e) {
      await child.close();
      throw e;
    }
  }

  async score(requests: readonly ScoreRequest[]): Promise<ScoreResult[]> {
    requests.forEach((r, i) => checkScoreRequest(r, i, this.vocabSize, this.contextLength));
    const res = await this.#child.request<{ logProbs: (number | null)[]; argmax: number[] }[]>(
      "score",
      { requests },
    );
    return res.map((r) => ({
      logProbs: Float64Array.from(r.logProbs, (x) => x === null ? -Infinity : x),
      argmax: Uint8Array.from(r.argmax),
    }));
  }

  generate(prompt: readonly number[], maxNewTokens: number, stopAtEos = true): Promise<number[]> {
    return this.#child.request("generate", { prompt, maxNewTokens, stopAtEos });
  }

  async time(options: EngineTimeOptions): Promise<EngineTimings> {
    const r = await this.#child.request<{ prefillMs: number[]; decodeMs: number[] }>("time", {
      promptTokens: options.promptTokens,
      newTokens: options.newTokens,
      warmup: options.warmup ?? 1,
      reps: options.reps ?? 3,
    });
    return {
      ...r,
      promptTokens: options.promptTokens,
      newTokens: options.newTokens,
      engine: this.description,
    };
  }

  async dispose(): Promise<void> {
    await this.#child.close();
  }
}
