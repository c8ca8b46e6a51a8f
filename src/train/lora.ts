/**
 * LoRA fine-tuning: low-rank adapters on the linear layers that are present (a pruned model's
 * removed sublayers get none), trained with the toolkit's training loop while the model's own
 * weights stay frozen, then merged into the weights (`W += (alpha/rank)·B·A`).
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import { readTensors } from "../gpu/tensor.ts";
import { type Linear, packLinear, unpackWeightHost } from "../kernels/matmul.ts";
import { linearLayout, packLinearAs, unpackLinearHost } from "../kernels/linear_layout.ts";
import type { LoraAdapter } from "../model/forward.ts";
import type { LlamaModel } from "../model/model.ts";
import { seededRandom } from "../util/random.ts";
import { train, type TrainOptions, type TrainResult } from "./trainer.ts";

/** Layer names LoRA can target. */
export const LORA_TARGETS = ["q", "k", "v", "o", "gate", "up", "down"] as const;
/** A LoRA target layer name. */
export type LoraTarget = typeof LORA_TARGETS[number];

/** Options of {@link createLora}. */
export interface LoraOptions {
  /** Rank r (default 8). */
  rank?: number;
  /** Scale numerator: the update is (alpha / rank)·B·A (default 16). */
  alpha?: number;
  /** Layers to adapt (default all seven). */
  targets?: readonly string[];
  /** Seed of the random initialisation of A (default 0). */
  seed?: number;
}

function layerOf(model: LlamaModel, b: number, name: LoraTarget): Linear | undefined {
  const blk = model.blocks[b];
  switch (name) {
    case "q":
    case "k":
    case "v":
    case "o":
      return blk.attention?.[name];
    default:
      return blk.mlp?.[name];
  }
}

/**
 * Creates adapters (A ~ U(−1/√in, 1/√in) seeded, B = 0, f32) on every present target layer.
 * Throws a one-line ToolkitError for unknown targets or a rank larger than a layer allows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { createLora } from "@sprint-wgpu/toolkit/train";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const lora = createLora(model, { rank: 8, alpha: 16, targets: ["q", "v"] });
 * assert.equal(lora.size, 2 * model.config.numLayers); // "<block>.q" and "<block>.v"
 * model.destroy();
 * ```
 */
export function createLora(model: LlamaModel, options: LoraOptions = {}): Map<string, LoraAdapter> {
  const rank = options.rank ?? 8;
  const alpha = options.alpha ?? 16;
  const targets = options.targets ?? LORA_TARGETS;
  for (const t of targets) {
    if (!(LORA_TARGETS as readonly string[]).includes(t)) {
      throw new ToolkitError(
        `--targets: unknown layer ${JSON.stringify(t)} (known: ${LORA_TARGETS.join(", ")})`,
      );
    }
  }
  if (!Number.isInteger(rank) || rank < 1) {
    throw new ToolkitError(`--rank: expected a positive integer, got ${rank}`);
  }
  if (!(alpha > 0)) throw new ToolkitError(`--alpha: expected a positive number, got ${alpha}`);
  const rand = seededRandom(options.seed ?? 0);
  const out = new Map<string, LoraAdapter>();
  model.blocks.forEach((_, b) => {
    for (const t of targets as readonly LoraTarget[]) {
      const layer = layerOf(model, b, t);
      if (!layer) continue;
      const maxRank = Math.min(layer.inFeatures, layer.outFeatures);
      if (rank > maxRank) {
        throw new ToolkitError(`--rank: ${rank} exceeds ${t}_proj's smaller dimension ${maxRank}`);
      }
      const bound = 1 / Math.sqrt(layer.inFeatures);
      const a = Float32Array.from(
        { length: rank * layer.inFeatures },
        () => (rand() * 2 - 1) * bound,
      );
      out.set(`${b}.${t}`, {
        a: packLinear(model.gpu, a, rank, layer.inFeatures, { dtype: "f32" }),
        b: packLinear(
          model.gpu,
          new Float32Array(layer.outFeatures * rank),
          layer.outFeatures,
          rank,
          { dtype: "f32" },
        ),
        scale: alpha / rank,
      });
    }
  });
  if (out.size === 0) {
    throw new ToolkitError(
      `--targets ${targets.join(",")}: no layer to adapt, the model${
        model.sourceDir ? ` in ${model.sourceDir}` : ""
      } has none of these sublayers (all of them are removed)`,
    );
  }
  return out;
}

/**
 * Writes `W += scale·B·A` into each adapted layer (re-packed in the model's dtype) and frees
 * the adapters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { currentDownWeight } from "@sprint-wgpu/toolkit/sprint";
 * import { createLora, mergeLora, train } from "@sprint-wgpu/toolkit/train";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const ids = model.tokenizer!.encode(await Deno.readTextFile(`${DEFAULT_MODEL_DIR}/calibration.txt`));
 * const before = await currentDownWeight(model, 0);
 * const lora = createLora(model, { rank: 4, targets: ["down"] });
 * const opts = { steps: 1, batch: 2, seqLen: 32, lr: 1e-3, evalWindows: 1, lora };
 * await train(model, ids.slice(0, 2000), ids.slice(2000, 2400), opts);
 * await mergeLora(model, lora); // W += (alpha/rank)·B·A
 * assert.notDeepEqual(await currentDownWeight(model, 0), before);
 * model.destroy();
 * ```
 */
export async function mergeLora(
  model: LlamaModel,
  lora: ReadonlyMap<string, LoraAdapter>,
): Promise<void> {
  for (const [key, ad] of lora) {
    const [bs, name] = key.split(".");
    const b = Number(bs);
    const layer = layerOf(model, b, name as LoraTarget)!;
    const [wp, ap, bp, bias] = await readTensors(model.gpu, [
      layer.weight,
      ad.a.weight,
      ad.b.weight,
      ...(layer.bias ? [layer.bias] : []),
    ]);
    const n = layer.outFeatures;
    const k = layer.inFeatures;
    const r = ad.a.outFeatures;
    const w = unpackLinearHost(layer, wp);
    const A = unpackWeightHost(ap, r, k);
    const B = unpackWeightHost(bp, n, r);
    for (let o = 0; o < n; o++) {
      for (let j = 0; j < r; j++) {
        const f = ad.scale * B[o * r + j];
        if (f === 0) continue;
        for (let i = 0; i < k; i++) w[o * k + i] += f * A[j * k + i];
      }
    }
    const merged = packLinearAs(model.gpu, linearLayout(layer), w, n, k, {
      dtype: model.dtype,
      bias: bias ? bias.slice(0, n) : undefined,
    });
    const blk = model.blocks[b];
    if (name === "q" || name === "k" || name === "v" || name === "o") blk.attention![name] = merged;
    else blk.mlp![name as "gate" | "up" | "down"] = merged;
    await model.gpu.sync();
    layer.weight.destroy();
    layer.bias?.destroy();
    for (const t of [ad.a.weight, ad.b.weight]) t.destroy();
  }
}

/**
 * LoRA-tunes `model` on token ids and merges the adapters into its weights. The prune task can
 * call this as a healing step after pruning.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { loraFineTune } from "@sprint-wgpu/toolkit/train";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const ids = model.tokenizer!.encode(await Deno.readTextFile(`${DEFAULT_MODEL_DIR}/calibration.txt`));
 * const r = await loraFineTune(model, ids.slice(0, 2000), ids.slice(2000, 2400), { rank: 4 }, {
 *   steps: 2, batch: 2, seqLen: 32, lr: 1e-3, evalWindows: 1,
 * }); // merged into the weights: save with saveModel(model, dir)
 * assert.equal(r.adapters, 7 * model.config.numLayers);
 * model.destroy();
 * ```
 */
export async function loraFineTune(
  model: LlamaModel,
  trainTokens: ArrayLike<number>,
  valTokens: ArrayLike<number>,
  lora: LoraOptions,
  training: Omit<TrainOptions, "lora">,
): Promise<TrainResult & { adapters: number }> {
  const adapters = createLora(model, lora);
  const r = await train(model, trainTokens, valTokens, {
    weightDecay: 0,
    ...training,
    lora: adapters,
  });
  await mergeLora(model, adapters);
  return { ...r, adapters: adapters.size };
}
