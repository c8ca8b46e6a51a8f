/**
 * The LM head over a vocabulary split across storage bindings: the weight `[V, D]` is packed as
 * consecutive vocabulary chunks, each a {@link Linear} whose packed `[KP, NPc]` buffer fits the
 * device limits ({@link chunkBytesLimit}); the logits `[M, V]` are computed chunk by chunk with
 * the one matmul kernel and each chunk's `[M, Vc]` result is placed into its columns of the full
 * logits. Callers bound M so that `[M, V]` f32 fits one binding ({@link logitRowsPerBlock}).
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { chunkBytesLimit, rowsPerChunk } from "../gpu/chunked.ts";
import { linearGrid, Params, type Recorder } from "../gpu/recorder.ts";
import { loadShader } from "../gpu/shader.ts";
import { DTYPE_BYTES, type Tensor } from "../gpu/tensor.ts";
import type { Workspace } from "../gpu/workspace.ts";
import { ToolkitError } from "../errors.ts";
import { type Linear, matmul, packedShape } from "./matmul.ts";
import { packLinearAs, type WeightLayout } from "./linear_layout.ts";

const SRC = await loadShader("head_scatter.wgsl");
const WG = 256;
/** Output features per chunk are a multiple of this (the matmul's padding of N). */
const ALIGN = 16;

/** One vocabulary chunk of a {@link ChunkedLinear}: outputs `start … start + count − 1`. */
export interface HeadPart {
  /** First output feature (vocabulary entry). */
  readonly start: number;
  /** Output features in the chunk. */
  readonly count: number;
  /** The chunk as a packed linear layer (in → count). */
  readonly linear: Linear;
}

/** A bias-free linear layer whose outputs are split into chunks that each fit one binding. */
export interface ChunkedLinear {
  /** Input features K. */
  readonly inFeatures: number;
  /** Output features N (the vocabulary size for the LM head). */
  readonly outFeatures: number;
  /** The chunks, in output order. */
  readonly parts: readonly HeadPart[];
}

/** Options for {@link packChunkedLinear}. */
export interface ChunkedPackOptions {
  /** Storage type (default: the device's weight type). */
  dtype?: "f32" | "f16";
  /** Output features per chunk (default: as many as fit {@link chunkBytesLimit}); a multiple of 16. */
  outputsPerChunk?: number;
  /** Weight layout of every chunk (default `rows`; `tiled`: the decode GEMV's faster layout). */
  layout?: WeightLayout;
}

/**
 * Uploads an HF-layout weight `[out, in]` as a {@link ChunkedLinear}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { packChunkedLinear } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const head = packChunkedLinear(gpu, new Float32Array(40 * 4), 40, 4, { outputsPerChunk: 16 });
 * assert.deepEqual(head.parts.map((p) => p.count), [16, 16, 8]); // 128256 × 2048 f16: 4 chunks
 * ```
 */
export function packChunkedLinear(
  gpu: Gpu,
  w: Float32Array,
  outFeatures: number,
  inFeatures: number,
  options: ChunkedPackOptions = {},
): ChunkedLinear {
  const dtype = options.dtype ?? gpu.weightDType;
  const { kp } = packedShape(outFeatures, inFeatures);
  const per = options.outputsPerChunk ??
    rowsPerChunk(kp * DTYPE_BYTES[dtype], chunkBytesLimit(gpu), ALIGN);
  if (per % ALIGN !== 0 || per <= 0) {
    throw new Error(`packChunkedLinear: outputs per chunk must be a multiple of ${ALIGN}`);
  }
  if (w.length !== outFeatures * inFeatures) {
    throw new Error(`packChunkedLinear: ${w.length} values for [${outFeatures}, ${inFeatures}]`);
  }
  const parts: HeadPart[] = [];
  for (let start = 0; start < outFeatures; start += per) {
    const count = Math.min(per, outFeatures - start);
    const rows = w.subarray(start * inFeatures, (start + count) * inFeatures);
    const linear = packLinearAs(gpu, options.layout ?? "rows", rows, count, inFeatures, { dtype });
    parts.push({ start, count, linear });
  }
  return { inFeatures, outFeatures, parts };
}

/** A single packed layer seen as one chunk. */
export function chunkedOf(lin: Linear): ChunkedLinear {
  if (lin.bias) throw new Error("chunkedOf: the LM head has no bias");
  return {
    inFeatures: lin.inFeatures,
    outFeatures: lin.outFeatures,
    parts: [{ start: 0, count: lin.outFeatures, linear: lin }],
  };
}

/** Frees every chunk of `head`. */
export function destroyChunkedLinear(head: ChunkedLinear): void {
  for (const p of head.parts) p.linear.weight.destroy();
}

/**
 * Rows of `[rows, V]` f32 logits that fit one binding on `gpu` (at least 1), at most `cap`.
 * Throws a {@link ToolkitError} when not even one row of logits fits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { logitRowsPerBlock } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * assert.equal(logitRowsPerBlock(gpu, 4096, 512), 512); // 128256 × 512 would take two blocks
 * ```
 */
export function logitRowsPerBlock(gpu: Gpu, vocab: number, cap = Infinity): number {
  const limit = Math.min(gpu.caps.maxStorageBindingSize, gpu.caps.maxBufferSize);
  const rows = Math.floor(limit / (4 * vocab));
  if (rows < 1) {
    throw new ToolkitError(
      `one row of logits (${vocab} × f32) exceeds this device's storage binding limit of ${limit} bytes`,
    );
  }
  return Math.max(1, Math.min(cap, rows));
}

/** The `[m, count]` scratch of one head chunk: from the workspace when given, else fresh. */
function partScratch(
  gpu: Pick<Gpu, "tensor">,
  workspace: Workspace | undefined,
  m: number,
  count: number,
): Tensor {
  const make = () => gpu.tensor([m, count], "f32");
  return workspace ? workspace.entry("head", `${m}x${count}`, make) : make();
}

/** Options for {@link headLogits}. */
export interface HeadOptions {
  /** Output logits `[..., V]` f32 (allocated when absent). */
  out?: Tensor;
  /** Holds the per-chunk scratch across calls (a model's `workspace`; absent: per call). */
  workspace?: Workspace;
}

/**
 * Records `out = x·Wᵀ` for the LM head `head` (one chunk: the plain matmul; several: a matmul
 * per vocabulary chunk into a scratch `[M, Vc]` and a scatter into columns `start …` of `out`).
 * `x` is `[..., D]` f32; `out` `[..., V]` must fit one binding. Returns `out`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { headLogits, packChunkedLinear } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const w = new Float32Array(40 * 2).map((_, i) => i % 2); // every row [0, 1]
 * const head = packChunkedLinear(gpu, w, 40, 2, { dtype: "f32", outputsPerChunk: 16 });
 * const hn = gpu.tensor([1, 2], "f32", new Float32Array([3, 5]));
 * const logits = gpu.run((rec) => headLogits(rec, hn, head)); // 3 chunks scattered into 40 columns
 * assert.deepEqual([...await logits.read()], new Array(40).fill(5));
 * ```
 */
export function headLogits(
  rec: Recorder,
  x: Tensor,
  head: ChunkedLinear,
  options: HeadOptions = {},
): Tensor {
  if (head.parts.length === 1) return matmul(rec, x, head.parts[0].linear, { out: options.out });
  const k = head.inFeatures;
  const v = head.outFeatures;
  const xk = x.shape[x.shape.length - 1];
  if (x.dtype !== "f32" || xk !== k) {
    throw new Error(`headLogits: x must be f32 [..., ${k}], got ${x.dtype} [${x.shape}]`);
  }
  const m = x.size / k;
  const outShape = [...x.shape.slice(0, -1), v];
  const out = options.out ?? rec.gpu.tensor(outShape, "f32");
  if (out.dtype !== "f32" || out.size !== m * v) {
    throw new Error(`headLogits: out must be f32 [${outShape}], got ${out.dtype} [${out.shape}]`);
  }
  if (m === 0) return out;
  const pipe = rec.gpu.pipeline(SRC, { WG });
  for (const p of head.parts) {
    const part = partScratch(rec.gpu, options.workspace, m, p.count);
    matmul(rec, x.reshape([m, k]), p.linear, { out: part });
    const grid = linearGrid(Math.ceil((m * p.count) / WG), rec.gpu.caps.maxWorkgroupsPerDimension);
    rec.dispatch(pipe, [part, out], grid, new Params().u32(m).u32(p.count).u32(v).u32(p.start));
  }
  return out;
}
