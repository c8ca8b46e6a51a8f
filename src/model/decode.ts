/**
 * The toolkit's one greedy decode loop (used by `generate()`, SPRINT's latency measurement and
 * `measureSpeed`): a prefill of the prompt into a KV cache, then one-token steps whose argmax is
 * written on the GPU straight into the next step's input ids. Several steps are recorded per
 * submission, so the ≈11 ms submit→read round trip of a CPU adapter is paid once per batch of
 * steps instead of once per token; after each submission the batch's ids are read back (a real
 * decoder needs them, e.g. to stop at EOS).
 *
 * @module
 */
import type { Tensor } from "../gpu/tensor.ts";
import { argmax } from "../kernels/softmax.ts";
import { type KvCache, recordForward } from "./forward.ts";
import type { LlamaModel } from "./model.ts";

/** Greedy steps per submission unless a caller says otherwise. */
export const DEFAULT_STEPS_PER_SUBMIT = 32;

/**
 * Records the prefill of `ids` (`[B·T]` u32, T = `tokens`) into `cache` and writes each
 * sequence's greedy next token (argmax of its last logits) into `next` (`[B]` u32). Returns the
 * last logits `[B, V]` (`logits` when given).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import {
 *   DEFAULT_MODEL_DIR, KvCache, loadModel, recordGreedyPrefill,
 * } from "@sprint-wgpu/toolkit/model";
 * const gpu = await getGpu();
 * const model = await loadModel(gpu, DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const prompt = model.tokenizer!.encode("Once upon a time");
 * const cache = new KvCache(model, 1, prompt.length + 8);
 * const ids = gpu.tensor([prompt.length], "u32", new Uint32Array(prompt));
 * const next = gpu.tensor([1], "u32");
 * const logits = gpu.run((rec) =>
 *   recordGreedyPrefill(rec, model, ids, next, { batch: 1, tokens: prompt.length, cache })
 * );
 * const last = await logits.read();
 * assert.equal((await next.read())[0], last.indexOf(Math.max(...last))); // the argmax, on the GPU
 * for (const t of [ids, next, logits, cache]) t.destroy();
 * model.destroy();
 * ```
 */
export function recordGreedyPrefill(
  rec: Parameters<typeof recordForward>[0],
  model: LlamaModel,
  ids: Tensor,
  next: Tensor,
  options: {
    batch: number;
    tokens: number;
    cache: KvCache;
    mask?: readonly boolean[];
    logits?: Tensor;
  },
): Tensor {
  const logits = recordForward(rec, model, ids, {
    batch: options.batch,
    tokens: options.tokens,
    cache: options.cache,
    mask: options.mask,
    output: "last",
    out: options.logits,
  });
  argmax(rec, logits, { out: next });
  return logits;
}

/** Options for {@link greedyDecode}. */
export interface GreedyDecodeOptions {
  /** Sequences B decoded together (the cache's batch). */
  batch: number;
  /** The KV cache holding the prompt (advanced by one position per step). */
  cache: KvCache;
  /** Decode steps to run at most. */
  steps: number;
  /** Sublayer mask (default: every sublayer with weights). */
  mask?: readonly boolean[];
  /** Steps recorded per submission (default {@link DEFAULT_STEPS_PER_SUBMIT}). */
  stepsPerSubmit?: number;
  /**
   * Receives each submission's new ids (`[steps·B]`, step-major) after it completes; returning
   * `false` stops the loop.
   */
  onTokens?: (ids: Uint32Array) => boolean | void;
}

/**
 * Runs up to `steps` greedy decode steps from the ids in `first` (`[B]` u32, e.g. written by
 * {@link recordGreedyPrefill}; it may be recorded but not yet submitted). Returns the number of
 * steps whose ids were delivered. When `onTokens` stops the loop, the batch already in flight
 * has advanced the cache as well (its ids are dropped).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import {
 *   DEFAULT_MODEL_DIR, greedyDecode, KvCache, loadModel, recordGreedyPrefill,
 * } from "@sprint-wgpu/toolkit/model";
 * const gpu = await getGpu();
 * const model = await loadModel(gpu, DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const prompt = model.tokenizer!.encode("Once upon a time");
 * const cache = new KvCache(model, 1, prompt.length + 12);
 * const ids = gpu.tensor([prompt.length], "u32", new Uint32Array(prompt));
 * const next = gpu.tensor([1], "u32");
 * const prefill = { batch: 1, tokens: prompt.length, cache };
 * gpu.run((rec) => recordGreedyPrefill(rec, model, ids, next, prefill));
 * const tokens: number[] = [];
 * const steps = await greedyDecode(model, next, {
 *   batch: 1, cache, steps: 12, stepsPerSubmit: 4,
 *   onTokens: (ids) => { tokens.push(...ids); return tokens.length < 8; }, // stop after 2 batches
 * });
 * assert.deepEqual([steps, tokens.length], [8, 8]);
 * for (const t of [ids, next, cache]) t.destroy();
 * model.destroy();
 * ```
 */
export async function greedyDecode(
  model: LlamaModel,
  first: Tensor,
  options: GreedyDecodeOptions,
): Promise<number> {
  const gpu = model.gpu;
  const b = options.batch;
  const per = Math.max(1, options.stepsPerSubmit ?? DEFAULT_STEPS_PER_SUBMIT);
  if (first.dtype !== "u32" || first.size !== b) {
    throw new Error(`greedyDecode: first must be u32 [${b}], got ${first.dtype} [${first.shape}]`);
  }
  // ring[i] feeds step i of a submission and ring[i + 1] receives its argmax; ring[0] is refilled
  // from the previous submission's last step.
  const ring = Array.from({ length: per + 1 }, () => gpu.tensor([b], "u32"));
  const logits = gpu.tensor([b, model.config.vocabSize], "f32");
  const out = gpu.tensor([per * b], "u32");
  const fwd = { batch: b, tokens: 1, cache: options.cache, mask: options.mask };
  let recorded = 0; // steps submitted
  let done = 0; // steps whose ids were handed to onTokens
  // One submission stays in flight: the next batch is recorded and submitted (its input ids are
  // already on the GPU) before the previous batch's ids are read back, so the host's recording
  // overlaps the device's work.
  let pending: { ids: Promise<unknown>; steps: number } | undefined;
  try {
    while (recorded < options.steps || pending) {
      let next: typeof pending;
      if (recorded < options.steps) {
        const steps = Math.min(per, options.steps - recorded);
        const rec = gpu.recorder();
        if (recorded === 0) rec.copy(first, ring[0], 4 * b);
        for (let i = 0; i < steps; i++) {
          recordForward(rec, model, ring[i], { ...fwd, output: "last", out: logits });
          argmax(rec, logits, { out: ring[i + 1] });
        }
        for (let i = 0; i < steps; i++) rec.copy(ring[i + 1], out, 4 * b, 0, 4 * b * i);
        rec.copy(ring[steps], ring[0], 4 * b);
        rec.submit();
        next = { ids: out.read(), steps }; // the copy out of `out` is queued before later batches
        recorded += steps;
      }
      if (pending) {
        const got = (await pending.ids as Uint32Array).subarray(0, pending.steps * b);
        done += pending.steps;
        if (options.onTokens?.(got) === false) {
          if (next) await next.ids; // let the batch in flight finish before its buffers go
          break;
        }
      }
      pending = next;
    }
    return done;
  } finally {
    for (const t of [...ring, logits, out]) t.destroy();
  }
}
