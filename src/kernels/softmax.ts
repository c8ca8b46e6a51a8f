/**
 * Row-wise softmax family over logits `[M, V]` (one row per token): log-probabilities, per-token
 * negative log-likelihood (for perplexity) and argmax (greedy decoding). One workgroup per row
 * with a strided pass and workgroup-memory reductions, so vocabularies of 150k+ entries stay far
 * below llvmpipe's per-invocation loop cap.
 *
 * @module
 */
import { linearGrid, Params, type Recorder } from "../gpu/recorder.ts";
import { loadShader } from "../gpu/shader.ts";
import { Tensor } from "../gpu/tensor.ts";
import { assertLoopBudget } from "./canary.ts";
import { checkHostIds } from "./embedding.ts";

const SRC = await loadShader("softmax.wgsl");

/** Invocations per workgroup (one workgroup per row). */
const WG = 256;
const NAN_BITS = 0x7fc00000;

/** Options for {@link logSoftmax} and {@link nll}. */
export interface SoftmaxOptions {
  /** Output (allocated when absent); for `logSoftmax` it may be the logits (in place). */
  out?: Tensor;
}

/** Layout of logits `[..., V]`, validated, for a kernel with `passes` strided passes per row. */
interface Rows {
  /** Rows. */
  m: number;
  /** Columns. */
  v: number;
  /** Rows are read as vec4s (V % 4 == 0). */
  vec4: boolean;
  /** The kernel's parameters. */
  params: Params;
}

function rowsOf(name: string, logits: Tensor, passes: number): Rows {
  if (logits.dtype !== "f32") throw new Error(`${name}: logits must be f32, got ${logits.dtype}`);
  if (logits.shape.length < 1) throw new Error(`${name}: logits must be [M, V]`);
  const v = logits.shape[logits.shape.length - 1];
  if (v === 0) throw new Error(`${name}: logits have no columns (V = 0)`);
  const vec4 = v % 4 === 0;
  const cols = vec4 ? v / 4 : v;
  assertLoopBudget(name, passes * Math.ceil(cols / WG) + passes + 2 * Math.log2(WG), `V = ${v}`);
  const m = logits.size / v;
  return { m, v, vec4, params: new Params().u32(m).u32(v).u32(cols).u32(NAN_BITS) };
}

/** Shape of a per-row result: the logits' leading dimensions (`[1]` for a single 1-D row). */
function rowShape(logits: Tensor): number[] {
  return logits.shape.length > 1 ? logits.shape.slice(0, -1) : [1];
}

/**
 * Records `out = log_softmax(logits)` along the last dimension for f32 logits `[..., V]`:
 * `(x_j − max) − log Σ_k exp(x_k − max)` in f32. `out` may be `logits` (in place). Returns `out`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { logSoftmax } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const logits = gpu.tensor([1, 3], "f32", new Float32Array([1, 2, 3]));
 * const lp = await gpu.run((rec) => logSoftmax(rec, logits)).read();
 * assert.ok([-2.4076, -1.4076, -0.4076].every((v, i) => Math.abs(lp[i] - v) < 1e-4));
 * ```
 */
export function logSoftmax(rec: Recorder, logits: Tensor, options: SoftmaxOptions = {}): Tensor {
  const { m, vec4, params } = rowsOf("logSoftmax", logits, 3);
  const out = options.out ?? rec.gpu.tensor(logits.shape, "f32");
  if (out.dtype !== "f32" || out.size !== logits.size) {
    throw new Error(
      `logSoftmax: out must be f32 [${logits.shape}], got ${out.dtype} [${out.shape}]`,
    );
  }
  if (m === 0) return out;
  const inPlace = out.buffer === logits.buffer;
  const pipe = rec.gpu.pipeline(SRC, { WG, VEC4: vec4, LOGSOFTMAX: true, INPLACE: inPlace });
  rec.dispatch(pipe, inPlace ? [logits] : [logits, out], linearGrid(m), params);
  return out;
}

/**
 * Records the per-token negative log-likelihood `out[r] = −log softmax(logits[r])[targets[r]]`,
 * computed as `logsumexp(logits[r]) − logits[r, target]` with a max-subtracted logsumexp in f32,
 * for logits `[..., V]` and `targets` u32 with one entry per row (a tensor, or a host array that
 * is validated: a target outside [0, V) throws). A target ≥ V in a GPU tensor gives NaN.
 * Returns `out`, f32 with the logits' leading shape (`[M]` for `[M, V]`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { nll } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const logits = gpu.tensor([2, 3], "f32", new Float32Array([1, 2, 3, 0, 0, 0]));
 * const loss = await gpu.run((rec) => nll(rec, logits, [2, 0])).read();
 * assert.ok([0.4076, 1.0986].every((v, i) => Math.abs(loss[i] - v) < 1e-4));
 * ```
 */
export function nll(
  rec: Recorder,
  logits: Tensor,
  targets: Tensor | ArrayLike<number>,
  options: SoftmaxOptions = {},
): Tensor {
  const { m, v, vec4, params } = rowsOf("nll", logits, 2);
  let t: Tensor;
  if (targets instanceof Tensor) {
    if (targets.dtype !== "u32" || targets.size !== m) {
      throw new Error(
        `nll: targets must be u32 with ${m} entries, got ${targets.dtype} [${targets.shape}]`,
      );
    }
    t = targets;
  } else {
    if (targets.length !== m) {
      throw new Error(`nll: ${targets.length} targets given for ${m} rows of logits`);
    }
    t = rec.gpu.tensor([m], "u32", checkHostIds("nll", "targets", targets, v));
  }
  const shape = rowShape(logits);
  const out = options.out ?? rec.gpu.tensor(shape, "f32");
  if (out.dtype !== "f32" || out.size !== m) {
    throw new Error(`nll: out must be f32 [${shape}], got ${out.dtype} [${out.shape}]`);
  }
  if (out.buffer === logits.buffer || out.buffer === t.buffer) {
    throw new Error("nll: out must not be the logits or the targets");
  }
  if (m === 0) return out;
  const pipe = rec.gpu.pipeline(SRC, { WG, VEC4: vec4, NLL: true });
  rec.dispatch(pipe, [logits, t, out], linearGrid(m), params);
  return out;
}

/** Options for {@link argmax}. */
export interface ArgmaxOptions {
  /** Output u32 with one entry per row (allocated with the logits' leading shape when absent). */
  out?: Tensor;
}

/**
 * Records the index of the largest logit of each row (the lowest index among equal maxima) for
 * f32 logits `[..., V]`: greedy decoding. NaN logits give an unspecified index. Returns `out`,
 * u32 with one entry per row (allocated with the logits' leading shape, `[M]` for `[M, V]`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { argmax } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const logits = gpu.tensor([2, 3], "f32", new Float32Array([1, 5, 5, 0, -1, 0]));
 * const next = gpu.run((rec) => argmax(rec, logits));
 * assert.deepEqual([...await next.read()], [1, 0]); // ties: the first
 * ```
 */
export function argmax(rec: Recorder, logits: Tensor, options: ArgmaxOptions = {}): Tensor {
  const { m, vec4, params } = rowsOf("argmax", logits, 1);
  const shape = rowShape(logits);
  const out = options.out ?? rec.gpu.tensor(shape, "u32");
  if (out.dtype !== "u32" || out.size !== m) {
    throw new Error(`argmax: out must be u32 [${shape}], got ${out.dtype} [${out.shape}]`);
  }
  if (m === 0) return out;
  const pipe = rec.gpu.pipeline(SRC, { WG, VEC4: vec4, ARGMAX: true });
  rec.dispatch(pipe, [logits, out], linearGrid(m), params);
  return out;
}
