/**
 * ShortGPT (Men et al., 2024): one-shot Block Influence. For every block i,
 * `BI_i = 1 − mean over calibration tokens of cos(h_i,t, h_{i+1},t)`, where h_i is the residual
 * stream entering block i and h_{i+1} the stream leaving it (before the final norm), computed once
 * on the dense model; blocks are then removed in ascending BI order (no re-scoring) until the
 * stopping limit (see common.ts: a block adds both sublayers' latencies and is taken whole).
 *
 * The cosine is computed on the GPU with the SPRINT metric kernels (kernels/metric.ts): per-token
 * row statistics of (block input, block output) with norm `token` and the `cos` distance summed
 * into one score slot per block, so the whole calibration set needs one read-back of L numbers —
 * the hidden states themselves are never read back. The kernel's cos distance is the
 * cancellation-free form of 1 − cos, so blocks with BI ≈ 0 are still ranked accurately in f32.
 *
 * Differences from public code: the unofficial HF implementation takes `output_hidden_states`,
 * whose last entry is *after* the final norm, so its BI of the last block compares the block's
 * input with the normed output; here every block is compared on the raw residual stream (the
 * paper's definition). Public code sums over tokens instead of averaging (same ranking).
 *
 * @module
 */
import { embedding } from "../kernels/embedding.ts";
import { accumulateMetric, metricRowStats, metricStatsRows } from "../kernels/metric.ts";
import { runSublayers } from "../model/forward.ts";
import { meanNll } from "../model/loss.ts";
import type { LlamaModel } from "../model/model.ts";
import type { Calibration } from "../sprint/calibration.ts";
import {
  type BaselineOptions,
  type BaselineResult,
  type BaselineState,
  type BaselineStep,
  checkStart,
  limitReached,
  lossCount,
  orderByScore,
  scoresBySublayer,
  speedups,
} from "./common.ts";

/** Options of {@link shortgpt}. */
export interface ShortGptOptions extends BaselineOptions {
  /** Calibration windows per GPU batch for the block-influence pass (default 4). */
  batchSize?: number;
}

/**
 * Block Influence of every block of the dense `model` over the first `count` calibration windows
 * (mean over tokens of the cosine distance between each block's input and output residual
 * streams).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { blockInfluence } from "@sprint-wgpu/toolkit/baselines";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { calibrationFromFile } from "@sprint-wgpu/toolkit/sprint";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const text = `${DEFAULT_MODEL_DIR}/calibration.txt`;
 * const calib = await calibrationFromFile(text, model.tokenizer!, { nsamples: 2, seqLen: 16 });
 * const latency = { attention: 1, mlp: 2, dense: 30, source: "file" } as const; // or measureLatency
 * const bi = await blockInfluence(model, calib, calib.nsamples);
 * assert.equal(bi.length, model.config.numLayers); // 1 − cos(block input, block output)
 * model.destroy();
 * ```
 */
export async function blockInfluence(
  model: LlamaModel,
  calib: Calibration,
  count: number,
  batchSize = 4,
): Promise<number[]> {
  const gpu = model.gpu;
  const c = model.config;
  const L = c.numLayers;
  const T = calib.seqLen;
  const d = c.hiddenSize;
  const score = gpu.tensor([L], "f32");
  const temps = [score];
  for (let w0 = 0; w0 < count; w0 += batchSize) {
    const B = Math.min(batchSize, count - w0);
    const m = B * T;
    const h = gpu.tensor([m, d], "f32");
    const inp = gpu.tensor([m, d], "f32");
    const stats = gpu.tensor(
      [metricStatsRows({ batch: B, tokens: T, width: d, norm: "token" }), 6],
      "f32",
    );
    const ids = gpu.tensor([m], "u32", calib.ids.subarray(w0 * T, (w0 + B) * T));
    temps.push(h, inp, stats, ids);
    const rec = gpu.recorder();
    embedding(rec, ids, model.embedTable, { out: h });
    for (let b = 0; b < L; b++) {
      runSublayers(rec, model, h, 2 * b, 2 * b + 2, {
        batch: B,
        tokens: T,
        hooks: { captureResidual: new Map([[2 * b, inp]]) },
      });
      const st = metricRowStats(
        rec,
        inp,
        h,
        { batch: B, tokens: T, width: d, norm: "token" },
        stats,
      );
      accumulateMetric(rec, st, { distance: "cos" }, score, b);
    }
    rec.submit();
  }
  const sums = await score.read();
  for (const t of temps) t.destroy();
  return Array.from(sums, (x) => x / (count * T));
}

/**
 * Runs ShortGPT on `model` (not modified: removal is a mask; save with the returned mask).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { shortgpt } from "@sprint-wgpu/toolkit/baselines";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { calibrationFromFile } from "@sprint-wgpu/toolkit/sprint";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const text = `${DEFAULT_MODEL_DIR}/calibration.txt`;
 * const calib = await calibrationFromFile(text, model.tokenizer!, { nsamples: 2, seqLen: 16 });
 * const latency = { attention: 1, mlp: 2, dense: 30, source: "file" } as const; // or measureLatency
 * const { mask } = await shortgpt(model, calib, { targetSpeedup: 1.05, latency });
 * assert.equal(mask.filter((kept) => !kept).length, 2); // one whole block
 * model.destroy();
 * ```
 */
export async function shortgpt(
  model: LlamaModel,
  calib: Calibration,
  options: ShortGptOptions,
): Promise<BaselineResult> {
  checkStart(model, calib, "shortgpt");
  const n = model.numSublayers;
  const L = model.config.numLayers;
  const count = lossCount(calib, options);
  const speedupModel = options.speedupModel ?? "total";
  const alive = new Array<boolean>(n).fill(true);
  let state: BaselineState = { pruned: [], steps: [] };
  if (options.resume) {
    state = { ...options.resume, steps: [...options.resume.steps] };
    for (const s of state.pruned) alive[s] = false;
  } else {
    state.denseLoss = await meanNll(model, calib.ids, count, calib.seqLen, alive, undefined, {
      perWindow: options.perWindowLoss,
    });
  }
  const t0 = performance.now();
  const bi = await blockInfluence(model, calib, count, options.batchSize ?? 4);
  let searchSeconds = (performance.now() - t0) / 1e3;
  const blocks = Array.from({ length: L }, (_, b) => [2 * b, 2 * b + 1]);
  let targetReached = false;
  for (;;) {
    if (limitReached(options, alive, state.pruned.length)) {
      targetReached = true;
      break;
    }
    const live = alive.filter((a) => a).length;
    const idx = blocks.map((_, b) => b).filter((b) => alive[2 * b] && alive[2 * b + 1] && live > 2);
    if (idx.length === 0) break;
    const units = idx.map((b) => blocks[b]);
    const scores = idx.map((b) => bi[b]);
    const order = orderByScore(units, scores);
    const unit = order[0];
    const stepNo = state.steps.length + 1;
    const t1 = performance.now();
    for (const s of unit) alive[s] = false;
    state.pruned.push(...unit);
    const loss = await meanNll(model, calib.ids, count, calib.seqLen, alive, undefined, {
      perWindow: options.perWindowLoss,
    });
    const t2 = performance.now();
    const sp = speedups(options.latency, alive, speedupModel);
    const step: BaselineStep = {
      step: stepNo,
      sublayer: unit[0],
      sublayers: [...unit],
      type: "block",
      block: unit[0] >> 1,
      stage1: [scoresBySublayer(n, units, scores)],
      candidates: order.map((u) => u[0]),
      stage2: {},
      estimatedSpeedup: sp.used,
      estimatedSpeedupSublayers: sp.sublayers,
      estimatedSpeedupTotal: sp.total,
      calibrationLoss: loss,
      criterion: "block-influence",
      score: bi[unit[0] >> 1],
      seconds: {
        stage1: searchSeconds,
        stage2: 0,
        apply: (t2 - t1) / 1e3,
        total: searchSeconds + (t2 - t1) / 1e3,
      },
    };
    searchSeconds = 0; // the one-shot scoring is charged to the first step
    state.steps.push(step);
    options.onProgress?.({ step: stepNo, done: 1, total: 1 });
    await options.onStep?.(step, state);
  }
  return { steps: state.steps, mask: alive, state, targetReached };
}
