/**
 * The toolkit's own WebGPU forward as an {@link InferenceEngine}: scoring through the batched
 * scorer of `src/eval/loglikelihood.ts` (one accumulator per scored row, so every row's
 * log-probability and argmax come back), greedy generation through `generate()`, and timed
 * prefill/decode with the same loop as `measureSpeed` but both phases on the wall clock
 * (prefill up to reading back the first token), so the figures compare with llama.cpp's.
 *
 * Threads: lavapipe/llvmpipe reads `LP_NUM_THREADS` when the process starts; the description
 * reports it ("auto" when unset). To time at a given thread count run the engine in a process
 * started with that variable (the side-by-side bench does, `src/bench/vs_llamacpp.ts`).
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import { argmax } from "../kernels/softmax.ts";
import { KvCache, recordForward } from "../model/forward.ts";
import { generate } from "../model/generate.ts";
import type { LlamaModel } from "../model/model.ts";
import { planGroup, scoreGroups, type ScoreOptions, type ScoreSeq } from "../eval/loglikelihood.ts";
import {
  checkScoreRequest,
  type EngineDescription,
  type EngineTimeOptions,
  type EngineTimings,
  type InferenceEngine,
  type ScoreRequest,
  type ScoreResult,
  syntheticPrompt,
} from "./engine.ts";

/** The toolkit version written into engine descriptions. */
export const TOOLKIT_VERSION = "0.1.0";

/** Options of {@link WebGpuEngine}. */
export interface WebGpuEngineOptions extends Pick<ScoreOptions, "batchTokens" | "maxBatch"> {
  /** Sublayer mask (default: every sublayer with weights). */
  mask?: readonly boolean[];
  /** Name of the model in the description (default: the model's source directory). */
  modelName?: string;
}

/**
 * The WebGPU forward behind the engine interface (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { WebGpuEngine } from "@sprint-wgpu/toolkit/engines";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const eng = new WebGpuEngine(model);
 * const [r] = await eng.score([{ input: [0, 403, 407], positions: [0, 1, 2], targets: [403, 407, 261] }]);
 * assert.equal(r.logProbs.length, 3);
 * await eng.dispose();
 * model.destroy();
 * ```
 */
export class WebGpuEngine implements InferenceEngine {
  readonly description: EngineDescription;
  readonly vocabSize: number;
  readonly contextLength: number;
  /** The model (not owned: {@link dispose} does not free it unless `ownsModel`). */
  readonly model: LlamaModel;
  #options: WebGpuEngineOptions;
  #owns: boolean;

  /** Wraps a loaded model (`ownsModel`: `dispose` destroys it). */
  constructor(model: LlamaModel, options: WebGpuEngineOptions = {}, ownsModel = false) {
    this.model = model;
    this.#options = options;
    this.#owns = ownsModel;
    this.vocabSize = model.config.vocabSize;
    this.contextLength = Math.min(model.config.maxPositions, model.rope.maxPositions);
    const lp = Deno.env.get("LP_NUM_THREADS");
    this.description = {
      engine: "webgpu",
      version: `sprint-wgpu ${TOOLKIT_VERSION} (WGSL forward)`,
      build: model.gpu.description,
      threads: lp && /^\d+$/.test(lp) ? Number(lp) : "auto",
      dtype: model.dtype,
      kvCache: "f32",
      flashAttention: false,
      model: options.modelName ?? model.sourceDir ?? "(in memory)",
      runtime: `deno ${Deno.version.deno}`,
    };
  }

  async score(requests: readonly ScoreRequest[]): Promise<ScoreResult[]> {
    requests.forEach((r, i) => checkScoreRequest(r, i, this.vocabSize, this.contextLength));
    let rows = 0;
    const groups = requests.map((r) => {
      const scored = r.positions.map((pos, j) => ({ id: rows + j, pos, target: r.targets[j] }));
      rows += scored.length;
      return planGroup([{ input: r.input, scored } satisfies ScoreSeq]);
    });
    const res = await scoreGroups(this.model, groups, rows, {
      mask: this.#options.mask,
      batchTokens: this.#options.batchTokens,
      maxBatch: this.#options.maxBatch,
      sharePrefixes: false,
    });
    let at = 0;
    return requests.map((r) => {
      const n = r.positions.length;
      const logProbs = new Float64Array(n);
      const hit = new Uint8Array(n);
      for (let j = 0; j < n; j++, at++) {
        logProbs[j] = -res.nll[at];
        hit[j] = res.greedy[at];
      }
      return { logProbs, argmax: hit };
    });
  }

  async generate(
    prompt: readonly number[],
    maxNewTokens: number,
    stopAtEos = true,
  ): Promise<number[]> {
    if (prompt.length + maxNewTokens > this.contextLength) {
      throw new ToolkitError(
        `generate: ${prompt.length} + ${maxNewTokens} tokens exceed the context of ${this.contextLength}`,
      );
    }
    const r = await generate(this.model, prompt, {
      maxNewTokens,
      stopAtEos,
      mask: this.#options.mask,
    });
    return r.tokens;
  }

  async time(options: EngineTimeOptions): Promise<EngineTimings> {
    const { promptTokens, newTokens } = options;
    const warmup = options.warmup ?? 1;
    const reps = options.reps ?? 3;
    if (promptTokens + newTokens + 1 > this.contextLength) {
      throw new ToolkitError(
        `speed: prompt ${promptTokens} + ${newTokens} new tokens exceed the context of ${this.contextLength}`,
      );
    }
    const model = this.model;
    const gpu = model.gpu;
    const mask = this.#options.mask;
    const V = model.config.vocabSize;
    const per = 8;
    const cache = new KvCache(model, 1, promptTokens + newTokens + 1, mask);
    const ids = gpu.tensor(
      [promptTokens],
      "u32",
      new Uint32Array(syntheticPrompt(promptTokens, V)),
    );
    const logits = gpu.tensor([1, V], "f32");
    const ring = Array.from({ length: per + 1 }, () => gpu.tensor([1], "u32"));
    const prefillMs: number[] = [];
    const decodeMs: number[] = [];
    try {
      for (let rep = 0; rep < warmup + reps; rep++) {
        const t0 = performance.now();
        const pre = gpu.recorder();
        cache.length = 0;
        recordForward(pre, model, ids, {
          batch: 1,
          tokens: promptTokens,
          cache,
          mask,
          output: "last",
          out: logits,
        });
        argmax(pre, logits, { out: ring[0] });
        pre.submit();
        await ring[0].read();
        const t1 = performance.now();
        let made = 0;
        while (made < newTokens) {
          const steps = Math.min(per, newTokens - made);
          const rec = gpu.recorder();
          for (let i = 0; i < steps; i++) {
            recordForward(rec, model, ring[i], {
              batch: 1,
              tokens: 1,
              cache,
              mask,
              output: "last",
              out: logits,
            });
            argmax(rec, logits, { out: ring[i + 1] });
          }
          rec.copy(ring[steps], ring[0], 4);
          rec.submit();
          await ring[0].read(); // tokens come back every 8 steps, as in generate()
          made += steps;
        }
        const t2 = performance.now();
        if (rep >= warmup) {
          prefillMs.push(t1 - t0);
          decodeMs.push(t2 - t1);
        }
      }
    } finally {
      cache.destroy();
      ids.destroy();
      logits.destroy();
      for (const t of ring) t.destroy();
    }
    return { prefillMs, decodeMs, promptTokens, newTokens, engine: this.description };
  }

  dispose(): Promise<void> {
    if (this.#owns) this.model.destroy();
    return Promise.resolve();
  }
}
