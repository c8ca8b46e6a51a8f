/**
 * Mean next-token negative log-likelihood of token windows under a sublayer mask — the
 * "calibration loss" SPRINT logs per step and the perplexity criterion of the SLEB and
 * BlockPruner baselines (`exp(meanNll)`). The LM head runs in row chunks so the logits of one
 * chunk fit a storage binding; everything is recorded into one submission with one readback.
 *
 * @module
 */
import { embedding } from "../kernels/embedding.ts";
import { headLogits } from "../kernels/head.ts";
import { rmsnorm } from "../kernels/rmsnorm.ts";
import { nll } from "../kernels/softmax.ts";
import { readTensors, type Tensor } from "../gpu/tensor.ts";
import { type ForwardHooks, runSublayers } from "./forward.ts";
import type { LlamaModel } from "./model.ts";

/**
 * Mean NLL over every position but the first of each window (`ids` holds `count` windows of
 * `seqLen` tokens back to back), with sublayers masked by `mask`. `perWindow` submits and reads
 * back window by window, so only one window's logits are on the device (same result).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel, meanNll } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const ids = model.tokenizer!.encode("Once upon a time there was a little girl who liked to play.");
 * const loss = await meanNll(model, ids, 1, 12, model.alive); // one window of 12 tokens
 * assert.ok(loss > 0 && loss < Math.log(model.config.vocabSize)); // better than uniform
 * model.destroy();
 * ```
 */
export async function meanNll(
  model: LlamaModel,
  ids: ArrayLike<number>,
  count: number,
  seqLen: number,
  mask: readonly boolean[] = model.alive,
  hooks?: ForwardHooks,
  options: { perWindow?: boolean } = {},
): Promise<number> {
  const gpu = model.gpu;
  const c = model.config;
  const T = seqLen;
  const V = c.vocabSize;
  const rowsPerChunk = Math.max(
    1,
    Math.min(T, Math.floor(gpu.caps.maxStorageBindingSize / (4 * V))),
  );
  const h = gpu.tensor([T, c.hiddenSize], "f32");
  const hn = gpu.tensor([T, c.hiddenSize], "f32");
  const nlls: Tensor[] = [];
  const temps: Tensor[] = [h, hn];
  let rec = gpu.recorder();
  // perWindow (a memory budget): each window's logits are freed before the next is recorded.
  const values: Iterable<number>[] = [];
  for (let i = 0; i < count; i++) {
    const win = Array.from({ length: T }, (_, j) => ids[i * T + j]);
    embedding(rec, win, model.embedTable, { out: h });
    runSublayers(rec, model, h, 0, 2 * c.numLayers, { batch: 1, tokens: T, mask, hooks });
    rmsnorm(rec, h, model.finalNorm, c.rmsNormEps, { out: hn });
    for (let r0 = 0; r0 < T - 1; r0 += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, T - 1 - r0);
      const part = gpu.tensor([rows, c.hiddenSize], "f32");
      rec.copy(hn, part, rows * c.hiddenSize * 4, r0 * c.hiddenSize * 4, 0);
      const logits = headLogits(rec, part, model.head, { workspace: model.workspace });
      nlls.push(nll(rec, logits, win.slice(r0 + 1, r0 + 1 + rows)));
      temps.push(part, logits);
    }
    if (options.perWindow && i < count - 1) {
      rec.submit();
      values.push(...await readTensors(gpu, nlls));
      for (const t of [...temps.splice(2), ...nlls.splice(0)]) t.destroy();
      rec = gpu.recorder();
    }
  }
  rec.submit();
  values.push(...await readTensors(gpu, nlls));
  let sum = 0;
  let cnt = 0;
  for (const v of values) {
    for (const x of v) {
      sum += x;
      cnt++;
    }
  }
  for (const t of [...temps, ...nlls]) t.destroy();
  return sum / cnt;
}
