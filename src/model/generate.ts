/**
 * Text generation with a KV cache: one prefill, then decode steps. Greedy decoding keeps the
 * whole loop on the GPU — each step's argmax is written straight into the next step's input ids —
 * and submits several steps at a time, so the ≈11 ms submit→read round trip of a CPU adapter is
 * paid once per batch of steps instead of once per token. Temperature / top-p sampling reads the
 * last logits back every step and samples on the host with a seeded generator.
 *
 * @module
 */
import type { Tensor } from "../gpu/tensor.ts";
import { greedyDecode, recordGreedyPrefill } from "./decode.ts";
import { KvCache, recordForward } from "./forward.ts";
import type { LlamaModel } from "./model.ts";
import { seededRandom } from "../util/random.ts";

/** Options for {@link generate}. */
export interface GenerateOptions {
  /** Tokens to generate at most. */
  maxNewTokens: number;
  /** 0 (default) = greedy; otherwise logits are divided by it before sampling. */
  temperature?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p (default 1). */
  topP?: number;
  /** Seed of the sampling generator (default 0). */
  seed?: number;
  /** Stop at the model's EOS token (default true). */
  stopAtEos?: boolean;
  /** Sublayer mask (default: every sublayer with weights). */
  mask?: readonly boolean[];
  /** Greedy decode steps recorded per submission (default `DEFAULT_STEPS_PER_SUBMIT`). */
  stepsPerSubmit?: number;
}

/** Generated tokens and timings. */
export interface GenerateResult {
  /** New tokens (without the prompt; EOS included when it stopped there). */
  tokens: number[];
  /** `eos` or `length`. */
  stopped: "eos" | "length";
  /** Prompt tokens run by the prefill. */
  prefillTokens: number;
  /** Prefill wall time (ms), up to reading back the first new token. */
  prefillMs: number;
  /** Tokens made by decode steps (all new tokens but the first). */
  decodeTokens: number;
  /** Decode wall time (ms), from the end of the prefill to the last token. */
  decodeMs: number;
  /** `prefillTokens` per second of `prefillMs`. */
  prefillTokensPerSecond: number;
  /** `decodeTokens` per second of `decodeMs` (0 when no decode step ran). */
  decodeTokensPerSecond: number;
}

/**
 * Samples a token from `logits` with temperature and top-p using `random`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sampleToken } from "@sprint-wgpu/toolkit/model";
 * import { seededRandom } from "@sprint-wgpu/toolkit/random";
 * const t = sampleToken(new Float32Array([0, 5, 1]), 1, 0.9, seededRandom(1)); // top-p 0.9
 * assert.equal(t, 1); // token 1 holds more than 90 % of the probability
 * ```
 */
export function sampleToken(
  logits: ArrayLike<number>,
  temperature: number,
  topP: number,
  random: () => number,
): number {
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i]);
  const probs = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += probs[i] = Math.exp((logits[i] - max) / temperature);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
  let kept = 0;
  let mass = 0;
  for (const i of order) {
    mass += probs[i] / sum;
    kept++;
    if (mass >= topP) break;
  }
  let r = random() * mass * sum;
  for (let j = 0; j < kept; j++) {
    r -= probs[order[j]];
    if (r <= 0) return order[j];
  }
  return order[kept - 1];
}

/**
 * Continues `prompt` (token ids, BOS included if wanted) by up to `maxNewTokens` tokens.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, generate, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const ids = model.tokenizer!.encode("Once upon a time");
 * const r = await generate(model, ids, { maxNewTokens: 8, stopAtEos: false });
 * assert.equal(r.tokens.length, 8);
 * console.log(model.tokenizer!.decode([...ids, ...r.tokens]), r.decodeTokensPerSecond);
 * model.destroy();
 * ```
 */
export async function generate(
  model: LlamaModel,
  prompt: readonly number[],
  options: GenerateOptions,
): Promise<GenerateResult> {
  const gpu = model.gpu;
  const n = options.maxNewTokens;
  if (prompt.length === 0) throw new Error("generate: the prompt needs at least one token");
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${n}`);
  }
  const temperature = options.temperature ?? 0;
  const topP = options.topP ?? 1;
  const eos = new Set(model.config.eosTokenIds);
  if (model.tokenizer?.eosId !== undefined) eos.add(model.tokenizer.eosId);
  const stopAtEos = options.stopAtEos ?? true;
  const random = seededRandom(options.seed ?? 0);
  const capacity = prompt.length + n;
  const cache = new KvCache(model, 1, capacity, options.mask);
  const tokens: number[] = [];
  const fwd = { batch: 1, cache, mask: options.mask, output: "last" as const };
  try {
    // Prefill.
    const t0 = performance.now();
    const ids = gpu.tensor([prompt.length], "u32", new Uint32Array(prompt));
    const nextIds = gpu.tensor([1], "u32");
    let lastLogits: Tensor | undefined;
    gpu.run((rec) => {
      const o = { batch: 1, tokens: prompt.length, cache, mask: options.mask };
      if (temperature > 0) lastLogits = recordForward(rec, model, ids, { ...o, output: "last" });
      else recordGreedyPrefill(rec, model, ids, nextIds, o);
    });
    const first = temperature > 0
      ? sampleToken(await lastLogits!.read(), temperature, topP, random)
      : (await nextIds.read())[0];
    const prefillMs = performance.now() - t0;
    ids.destroy();
    nextIds.destroy();
    lastLogits?.destroy();
    const t1 = performance.now();
    let stopped: "eos" | "length" = "length";
    if (n > 0) {
      tokens.push(first);
      if (stopAtEos && eos.has(first)) stopped = "eos";
    }
    if (temperature > 0) {
      const step = gpu.tensor([1], "u32");
      while (stopped === "length" && tokens.length < n) {
        step.write(new Uint32Array([tokens[tokens.length - 1]]));
        const logits = gpu.run((rec) => recordForward(rec, model, step, { ...fwd, tokens: 1 }));
        const tok = sampleToken(await logits.read(), temperature, topP, random);
        logits.destroy();
        tokens.push(tok);
        if (stopAtEos && eos.has(tok)) stopped = "eos";
      }
      step.destroy();
    } else if (stopped === "length" && tokens.length < n) {
      const last = gpu.tensor([1], "u32", new Uint32Array([first]));
      try {
        await greedyDecode(model, last, {
          batch: 1,
          cache,
          steps: n - tokens.length,
          mask: options.mask,
          stepsPerSubmit: options.stepsPerSubmit,
          onTokens: (ids) => {
            for (const id of ids) {
              tokens.push(id);
              if (stopAtEos && eos.has(id)) {
                stopped = "eos";
                return false;
              }
            }
          },
        });
      } finally {
        last.destroy();
      }
    }
    const decodeMs = performance.now() - t1;
    const decodeTokens = Math.max(0, tokens.length - 1);
    return {
      tokens,
      stopped,
      prefillTokens: prompt.length,
      prefillMs,
      decodeTokens,
      decodeMs,
      prefillTokensPerSecond: prompt.length / (prefillMs / 1e3),
      decodeTokensPerSecond: decodeTokens > 0 ? decodeTokens / (decodeMs / 1e3) : 0,
    };
  } finally {
    cache.destroy();
  }
}
