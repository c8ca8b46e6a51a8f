/**
 * SPRINT's in-compression tuning (spec §6): after removing candidate sublayer `s`, the down_proj
 * of the next live MLP `t` is re-fitted by least squares so that the window `s … t` reproduces the
 * dense window's output, `min ‖X·Wᵀ − Z‖²` over the selected output rows, with `X` the down_proj
 * input of the pruned window and `Z = Y − R` (dense output minus the residual entering down_proj).
 * The normal equations `G·X = H` (`G = ΣXᵀX`, `H = ΣXᵀZ`) are accumulated and solved on the GPU.
 *
 * @module
 */
import type { Tensor } from "../gpu/tensor.ts";
import { fromF16, toF16 } from "../gpu/f16.ts";
import { sub } from "../kernels/elementwise.ts";
import type { Linear } from "../kernels/matmul.ts";
import { linearLayout, packLinearAs, unpackLinearHost } from "../kernels/linear_layout.ts";
import { readWeightValues, replaceOffloadedLinear } from "../model/residency.ts";
import { gramAccumulate } from "../kernels/gram.ts";
import { choleskySolve, decodeSolveStatus } from "../kernels/cholesky.ts";
import { type ForwardHooks, runSublayers, type SublayerContext } from "../model/forward.ts";
import type { LlamaModel } from "../model/model.ts";
import type { TunedRows } from "./state.ts";

/** A batch state: on the device, or in host memory when the run streams its activations. */
export type BatchState = Tensor | Float32Array<ArrayBuffer>;

/** What a re-fit reads from the run that asks for it. */
export interface RefitRun {
  /** The model being pruned. */
  readonly model: LlamaModel;
  /** Calibration batches. */
  readonly batchCount: number;
  /** Rows of one batch (sequences per batch × sequence length). */
  readonly batchRows: number;
  /** Fraction of down_proj rows re-fitted and the Tikhonov damping of the solve. */
  readonly opts: { readonly tuningRatio: number; readonly damping: number };
  /** Scratch stream `[batchRows, d]` the pruned window runs in. */
  readonly prunedOut: Tensor;
  /** The current sublayer mask (true = kept). */
  readonly alive: boolean[];
  /** The mask with sublayers `s … t` forced on (the dense reference window). */
  forcedOn(s: number, t: number): boolean[];
  /** The device tensor holding a batch state (uploaded into a slot when streamed). */
  batchState(h: BatchState): Tensor;
  /** The forward context of one batch under a mask. */
  ctx(mask: readonly boolean[], hooks?: ForwardHooks): SublayerContext;
}

/** The result of {@link refitDownProj}. */
export interface Refit {
  /** The re-fitted rows (the original ones kept when the solve fell back). */
  tuned: TunedRows;
  /** The re-packed down_proj with those rows, to score the candidate with. */
  linear: Linear;
  /** Dense window outputs per batch (resident runs; empty when streamed: recomputed). */
  Y: Tensor[];
}

/**
 * Least-squares re-fit of MLP `t`'s down_proj for candidate `s`, from the batch states entering
 * sublayer `s` (spec §6).
 */
export async function refitDownProj(
  run: RefitRun,
  s: number,
  t: number,
  states: BatchState[],
): Promise<Refit> {
  const model = run.model;
  const d = model.config.hiddenSize;
  const F = model.config.intermediateSize;
  const block = t >> 1;
  const eq = accumulateNormalEquations(run, s, t, states);
  const W = await currentDownWeight(model, block);
  const rows = run.opts.tuningRatio < 1
    ? selectRows(W, await eq.gram.read(), d, F, run.opts.tuningRatio)
    : Array.from({ length: d }, (_, i) => i);
  const { values, fellBack } = await solveRows(run, eq.gram, eq.rhs, rows);
  const newW = W.slice();
  if (!fellBack) rows.forEach((o, j) => newW.set(values.subarray(j * F, (j + 1) * F), o * F));
  const old = model.blocks[block].mlp!.down;
  const bias = old.bias
    ? (await readWeightValues(model, old.bias)).slice(0, old.outFeatures)
    : undefined;
  const linear = packLinearAs(model.gpu, linearLayout(old), newW, d, F, {
    dtype: model.dtype,
    bias,
  });
  eq.destroy();
  return { tuned: { sublayer: t, block, rows, values, fellBack }, linear, Y: eq.dense };
}

/** The normal equations of a re-fit and the dense outputs computed on the way. */
interface NormalEquations {
  /** `G = Σ XᵀX` `[F, F]`. */
  gram: Tensor;
  /** `H = Σ Xᵀ(Y − R)` `[F, d]`. */
  rhs: Tensor;
  /** Dense window outputs per batch (resident runs only). */
  dense: Tensor[];
  /** Frees the work tensors (not `dense`). */
  destroy(): void;
}

/** Runs the dense and the pruned window on every batch and accumulates `G` and `H`. */
function accumulateNormalEquations(
  run: RefitRun,
  s: number,
  t: number,
  states: BatchState[],
): NormalEquations {
  const gpu = run.model.gpu;
  const c = run.model.config;
  const F = c.intermediateSize;
  const d = c.hiddenSize;
  const m = run.batchRows;
  const block = t >> 1;
  const gram = gpu.tensor([F, F], "f32");
  const rhs = gpu.tensor([F, d], "f32");
  const downInput = gpu.tensor([m, F], "f32");
  const residual = gpu.tensor([m, d], "f32");
  const dense: Tensor[] = [];
  const forced = run.forcedOn(s, t);
  const alive = run.alive;
  // Streamed: one batch at a time through the device slot; the dense outputs are not kept
  // (stage 2 recomputes them batch by batch, the same kernels on the same inputs).
  const streamedY = states[0] instanceof Float32Array ? gpu.tensor([m, d], "f32") : undefined;
  let rec = gpu.recorder();
  for (let b = 0; b < run.batchCount; b++) {
    if (streamedY && b > 0) {
      rec.submit(); // before the slot is overwritten with the next batch
      rec = gpu.recorder();
    }
    const hb = run.batchState(states[b]);
    const y = streamedY ?? gpu.tensor([m, d], "f32");
    rec.copy(hb, y, hb.byteLength);
    runSublayers(rec, run.model, y, s, t + 1, run.ctx(forced));
    if (!streamedY) dense.push(y);
    rec.copy(hb, run.prunedOut, hb.byteLength);
    runSublayers(
      rec,
      run.model,
      run.prunedOut,
      s + 1,
      t + 1,
      run.ctx(alive, {
        captureDownInput: new Map([[block, downInput]]),
        captureResidual: new Map([[t, residual]]),
      }),
    );
    sub(rec, y, residual, { out: residual }); // Z = Y − R (into residual)
    gramAccumulate(rec, downInput, downInput, gram);
    gramAccumulate(rec, downInput, residual, rhs);
  }
  rec.submit();
  return {
    gram,
    rhs,
    dense,
    destroy() {
      for (const x of [gram, rhs, downInput, residual]) x.destroy();
      streamedY?.destroy();
    },
  };
}

/**
 * Channel selection (`out_channel`): keeps the `⌊d·ratio⌋` output rows with the largest
 * `σ_o = Σ_i |W_oi|·√G_ii` (ties at the threshold kept).
 */
function selectRows(
  W: Float32Array,
  g: ArrayLike<number>,
  d: number,
  F: number,
  ratio: number,
): number[] {
  const rows = Array.from({ length: d }, (_, i) => i);
  const q = Array.from({ length: F }, (_, i) => Math.sqrt(Math.max(0, g[i * F + i])));
  const sigma = rows.map((o) => {
    let acc = 0;
    for (let i = 0; i < F; i++) acc += Math.abs(W[o * F + i]) * q[i];
    return acc;
  });
  const keep = Math.floor(d * ratio);
  const threshold = [...sigma].sort((a, b) => b - a)[Math.max(0, keep - 1)];
  return rows.filter((o) => sigma[o] >= threshold);
}

/** Solves `G·X = H[:, rows]` (X = W_Sᵀ) and returns the rows `[|S|, F]` as the model stores them. */
async function solveRows(
  run: RefitRun,
  gram: Tensor,
  rhs: Tensor,
  rows: number[],
): Promise<{ values: Float32Array<ArrayBuffer>; fellBack: boolean }> {
  const gpu = run.model.gpu;
  const d = run.model.config.hiddenSize;
  const F = run.model.config.intermediateSize;
  let selected = rhs;
  if (rows.length < d) {
    const hh = await rhs.read();
    const sel = new Float32Array(F * rows.length);
    for (let i = 0; i < F; i++) {
      rows.forEach((o, j) => (sel[i * rows.length + j] = hh[i * d + o]));
    }
    selected = gpu.tensor([F, rows.length], "f32", sel);
  }
  const solved = gpu.run((r) => choleskySolve(r, gram, selected, { damping: run.opts.damping }));
  const [xs, status] = await Promise.all([solved.x.read(), solved.status.read()]);
  let values = new Float32Array(rows.length * F);
  let finite = true;
  for (let i = 0; i < F; i++) {
    for (let j = 0; j < rows.length; j++) {
      const v = xs[i * rows.length + j];
      if (!Number.isFinite(v)) finite = false;
      values[j * F + i] = v;
    }
  }
  // The official code casts the solution to the model's dtype; keep exactly what the GPU stores
  // so that cached, applied and replayed rows are bit-identical.
  if (run.model.dtype === "f16") values = fromF16(toF16(values));
  solved.x.destroy();
  solved.status.destroy();
  solved.workspace.destroy();
  if (selected !== rhs) selected.destroy();
  return { values, fellBack: !finite || decodeSolveStatus(status).failed };
}

/**
 * Writes rows into the model's down_proj of a block (re-packing the layer on the GPU).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { applyTunedRows, currentDownWeight } from "@sprint-wgpu/toolkit/sprint";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const F = model.config.intermediateSize;
 * const values = new Float32Array(F).fill(0.25); // new row 3 of block 0's down_proj
 * await applyTunedRows(model, { sublayer: 1, block: 0, rows: [3], values, fellBack: false });
 * const w = await currentDownWeight(model, 0);
 * assert.ok(w.subarray(3 * F, 4 * F).every((x) => x === 0.25)); // exact in f16 too
 * model.destroy();
 * ```
 */
export async function applyTunedRows(model: LlamaModel, tuned: TunedRows): Promise<void> {
  const mlp = model.blocks[tuned.block].mlp;
  if (!mlp) throw new Error(`block ${tuned.block} has no MLP to tune`);
  if (tuned.fellBack) return;
  const w = await currentDownWeight(model, tuned.block);
  const f = mlp.down.inFeatures;
  tuned.rows.forEach((r, i) => w.set(tuned.values.subarray(i * f, (i + 1) * f), r * f));
  const old = mlp.down;
  const bias = old.bias
    ? (await readWeightValues(model, old.bias)).slice(0, old.outFeatures)
    : undefined;
  if (replaceOffloadedLinear(model, tuned.block, "down", w, bias)) return; // --offload: host copy
  mlp.down = packLinearAs(model.gpu, linearLayout(old), w, old.outFeatures, old.inFeatures, {
    dtype: model.dtype,
    bias,
  });
  await model.gpu.sync();
  old.weight.destroy();
  old.bias?.destroy();
}

/**
 * The current down_proj of a block in HF layout `[d, F]` (f32 host copy).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { currentDownWeight } from "@sprint-wgpu/toolkit/sprint";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const w = await currentDownWeight(model, 0); // d·F values, row r at r·F
 * assert.equal(w.length, model.config.hiddenSize * model.config.intermediateSize);
 * model.destroy();
 * ```
 */
export async function currentDownWeight(
  model: LlamaModel,
  block: number,
): Promise<Float32Array<ArrayBuffer>> {
  const down = model.blocks[block].mlp!.down;
  return unpackLinearHost(down, await readWeightValues(model, down.weight));
}
