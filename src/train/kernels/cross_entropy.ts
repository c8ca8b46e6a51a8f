/**
 * Fused cross-entropy (log-softmax + NLL) with its backward, over logits `[M, V]`
 * (shaders/backward/cross_entropy.wgsl): per-row losses `scale·(logsumexp − x_target)` and
 * `dLogits = scale·(softmax − onehot(target))` in one kernel (one workgroup per row, three strided
 * passes: vocabularies of 151,936 stay far inside llvmpipe's loop budget), optionally in place
 * over the logits. With the default `scale` = 1/(counted tokens), the sum of the row losses is the
 * mean loss and `dLogits` its gradient. Rows whose target is the ignore value contribute nothing
 * (zero loss, zero gradient row).
 *
 * When the LM head runs in row chunks (the logits of a whole batch do not fit one storage
 * binding), call this once per chunk with the same explicit `scale` (1 / counted tokens of the
 * whole batch) and sum the chunks' losses.
 *
 * @module
 */
import { linearGrid, Params, type Recorder } from "../../gpu/recorder.ts";
import { loadShader } from "../../gpu/shader.ts";
import { Tensor } from "../../gpu/tensor.ts";
import { assertLoopBudget } from "../../kernels/canary.ts";
import { sum } from "../../kernels/reduce.ts";
import { checkDistinct, checkF32 } from "./common.ts";

const SRC = await loadShader("backward/cross_entropy.wgsl");

/** Invocations per workgroup (one workgroup per row). */
const WG = 256;
const NAN_BITS = 0x7fc00000;
/** The target value (in a u32 targets tensor) of rows that do not count. */
export const IGNORE_TARGET = 0xffffffff;

/** Options for {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /**
   * Scale of the losses and gradients. Host targets: default 1/(number of counted targets), so
   * that the losses sum to the mean. Required with a targets tensor.
   */
  scale?: number;
  /**
   * In host targets, the value marking a row that does not count (default −100, PyTorch's
   * `ignore_index`); {@link IGNORE_TARGET} is accepted too. In a targets tensor the ignore value
   * is always {@link IGNORE_TARGET}.
   */
  ignoreIndex?: number;
  /** Write the gradient over the logits (no `[M, V]` allocation). */
  inPlace?: boolean;
  /** Gradient output `[M, V]` f32 (not in place; allocated when absent). */
  dLogits?: Tensor;
  /** Per-row losses `[M]` f32 (allocated when absent). */
  rowLoss?: Tensor;
  /** Also record the total (the sum of the row losses: the mean loss) into this `[1]` f32. */
  loss?: Tensor;
}

/** What {@link crossEntropy} returns. */
export interface CrossEntropyResult {
  /** `[M, V]`: the gradient (the logits tensor itself with `inPlace`). */
  dLogits: Tensor;
  /** `[M]`: `scale·nll` per row, 0 for ignored rows. */
  rowLoss: Tensor;
  /** `[1]`: Σ rowLoss, when `loss` was given. */
  loss?: Tensor;
  /** The scale used. */
  scale: number;
  /** Counted rows (host targets only; −1 for a targets tensor). */
  counted: number;
}

/**
 * Records the fused cross-entropy loss and gradient for f32 logits `[..., V]` and one target per
 * row (host array or u32 tensor). A host target outside [0, V) that is not the ignore value
 * throws; in a tensor it yields NaN loss and gradient for its row.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { crossEntropy } from "@sprint-wgpu/toolkit/train";
 * const gpu = await getGpu();
 * const logits = gpu.tensor([1, 2], "f32", new Float32Array([0, 0]));
 * const loss = gpu.tensor([1], "f32");
 * const { dLogits } = gpu.run((rec) => crossEntropy(rec, logits, [0], { inPlace: true, loss }));
 * assert.ok(Math.abs((await loss.read())[0] - Math.LN2) < 1e-6);
 * assert.deepEqual([...await dLogits.read()], [-0.5, 0.5]); // softmax − one-hot
 * ```
 */
export function crossEntropy(
  rec: Recorder,
  logits: Tensor,
  targets: Tensor | ArrayLike<number>,
  options: CrossEntropyOptions = {},
): CrossEntropyResult {
  const fn = "crossEntropy";
  if (logits.dtype !== "f32" || logits.shape.length < 1) {
    throw new Error(`${fn}: logits must be f32 [..., V]`);
  }
  const v = logits.shape[logits.shape.length - 1];
  if (v === 0) throw new Error(`${fn}: logits have no columns (V = 0)`);
  const m = logits.size / v;
  const vec4 = v % 4 === 0;
  const cols = vec4 ? v / 4 : v;
  assertLoopBudget(fn, 3 * Math.ceil(cols / WG) + 4 + 2 * Math.log2(WG), `V = ${v}`);
  let t: Tensor;
  let scale = options.scale;
  let counted = -1;
  if (targets instanceof Tensor) {
    if (targets.dtype !== "u32" || targets.size !== m) {
      throw new Error(`${fn}: targets must be u32 [${m}], got ${targets.dtype} [${targets.shape}]`);
    }
    if (scale === undefined) throw new Error(`${fn}: a targets tensor needs an explicit scale`);
    t = targets;
  } else {
    if (targets.length !== m) throw new Error(`${fn}: ${targets.length} targets for ${m} rows`);
    const ignore = options.ignoreIndex ?? -100;
    const u = new Uint32Array(m);
    counted = 0;
    for (let i = 0; i < m; i++) {
      const x = targets[i];
      if (x === ignore || x === IGNORE_TARGET) u[i] = IGNORE_TARGET;
      else if (Number.isInteger(x) && x >= 0 && x < v) {
        u[i] = x;
        counted++;
      } else throw new Error(`${fn}: targets[${i}] = ${x} is out of range [0, ${v})`);
    }
    scale ??= counted > 0 ? 1 / counted : 0;
    t = rec.gpu.tensor([m], "u32", u);
  }
  if (!Number.isFinite(scale)) throw new Error(`${fn}: invalid scale ${scale}`);
  let dLogits = logits;
  if (options.inPlace) {
    if (options.dLogits) throw new Error(`${fn}: inPlace takes no dLogits`);
  } else {
    dLogits = options.dLogits ?? rec.gpu.tensor(logits.shape, "f32");
    checkF32(fn, "dLogits", dLogits, logits.size, `[${logits.shape}]`);
  }
  const rowShape = logits.shape.length > 1 ? logits.shape.slice(0, -1) : [1];
  const rowLoss = options.rowLoss ?? rec.gpu.tensor(rowShape, "f32");
  checkF32(fn, "rowLoss", rowLoss, m, `[${rowShape}]`);
  checkDistinct(fn, {
    logits,
    targets: t,
    rowLoss,
    dLogits: options.inPlace ? undefined : dLogits,
    loss: options.loss,
  });
  if (options.loss) checkF32(fn, "loss", options.loss, 1, "[1]");
  if (m > 0) {
    const pipe = rec.gpu.pipeline(SRC, { WG, VEC4: vec4, INPLACE: !!options.inPlace });
    const params = new Params().u32(m).u32(v).u32(cols).u32(IGNORE_TARGET).f32(scale).u32(NAN_BITS);
    const buffers = options.inPlace ? [logits, t, rowLoss] : [logits, t, rowLoss, dLogits];
    rec.dispatch(pipe, buffers, linearGrid(m), params);
  }
  if (options.loss) sum(rec, rowLoss, { out: options.loss });
  return { dLogits, rowLoss, loss: options.loss, scale, counted };
}
