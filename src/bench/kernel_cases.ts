/**
 * Benchmark cases for the non-matmul kernels of a Llama block (RMSNorm, SwiGLU, residual add,
 * embedding, the softmax family, reductions, RoPE, attention) at shapes typical of small LLMs.
 *
 * Every case reports `bytes`, the minimum traffic of one execution (each input read once, each
 * output written once; re-reads by multi-pass kernels are not counted), so GB/s compares with
 * the device's memory speed. Attention also reports `flops` (see {@link attentionFlops}); the
 * others are memory-bound and report none. Checks compare a few sampled rows with the f64
 * references of ref/ at the tolerance of the kernel's tests.
 *
 * @module
 */
import { attentionRef } from "../../ref/attention.ts";
import { addRef, swigluRef } from "../../ref/elementwise.ts";
import { embeddingRef } from "../../ref/embedding.ts";
import { sumRef, sumSquaresRowsRef, totalErrorBound } from "../../ref/reduce.ts";
import { rmsnormRef } from "../../ref/rmsnorm.ts";
import { invFreqRef, ropeRef } from "../../ref/rope.ts";
import { argmaxRef, logSoftmaxRef, nllRef } from "../../ref/softmax.ts";
import type { Gpu } from "../gpu/device.ts";
import { fromF16, toF16 } from "../gpu/f16.ts";
import type { Recorder } from "../gpu/recorder.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { attention } from "../kernels/attention.ts";
import { decodeCases } from "./decode_cases.ts";
import { addInto, swiglu } from "../kernels/elementwise.ts";
import { embedding } from "../kernels/embedding.ts";
import { sum, sumSquaresRows } from "../kernels/reduce.ts";
import { rmsnorm } from "../kernels/rmsnorm.ts";
import { rope, ropeTable } from "../kernels/rope.ts";
import { argmax, logSoftmax, nll } from "../kernels/softmax.ts";
import type { BenchCase } from "./harness.ts";
import { benchData, expectClose, sampleRows } from "./check.ts";

/** Rows compared with the reference per case. */
const SAMPLES = 6;
/** Exact comparison (gathers, index results). */
const EXACT = [0, 0] as const;

/** Row `r` of a row-major `[?, w]` array. */
function row<T extends Float32Array | Float64Array | Uint32Array>(a: T, r: number, w: number): T {
  return a.subarray(r * w, (r + 1) * w) as T;
}

function destroyAll(...ts: Tensor[]): void {
  for (const t of ts) t.destroy();
}

/** Deterministic, well-spread token ids / targets in [0, v). */
function spreadIds(n: number, v: number, seed: number): Uint32Array<ArrayBuffer> {
  return Uint32Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729) % v);
}

/**
 * Multiply-adds of causal attention, counted as 2 flops each: q·k and p·v for every (query,
 * key ≤ query's position, head), i.e. `4·B·H·hd·Σ_{t<T}(past + t + 1)` =
 * `4·B·H·hd·(T·past + T(T+1)/2)`. For prefill (past = 0) that is ≈ `4·T·T/2·H·hd`; for decode
 * (T = 1) `4·B·H·hd·(past + 1)`. Softmax exponentials are not counted.
 */
export function attentionFlops(
  batch: number,
  tokens: number,
  past: number,
  heads: number,
  headDim: number,
): number {
  return 4 * batch * heads * headDim * (tokens * past + (tokens * (tokens + 1)) / 2);
}

function rmsnormCase(m: number, d: number, wt: "f32" | "f16", quick: boolean): BenchCase {
  const wBytes = wt === "f16" ? 2 : 4;
  return {
    kernel: "rmsnorm",
    label: `[${m}, ${d}] weight ${wt}`,
    shape: { m, d, weights: wt },
    bytes: 2 * m * d * 4 + d * wBytes,
    quick,
    prepare(gpu) {
      const eps = 1e-5;
      const xHost = benchData(m * d, 11, 2);
      const wHost = benchData(d, 12, 1);
      const wRef = wt === "f16" ? fromF16(toF16(wHost)) : wHost;
      const x = gpu.tensor([m, d], "f32", xHost);
      const w = wt === "f16" ? gpu.tensor([d], "f16", toF16(wHost)) : gpu.tensor([d], "f32", wHost);
      const y = gpu.tensor([m, d], "f32");
      return {
        record: (rec) => void rmsnorm(rec, x, w, eps, { out: y }),
        async check() {
          gpu.run((rec) => rmsnorm(rec, x, w, eps, { out: y }));
          const got = (await y.read()) as Float32Array;
          for (const r of sampleRows(m, SAMPLES)) {
            const ref = rmsnormRef(row(xHost, r, d), wRef, 1, d, eps);
            expectClose(`rmsnorm row ${r}`, row(got, r, d), ref);
          }
        },
        dispose: () => destroyAll(x, w, y),
      };
    },
  };
}

function swigluCase(m: number, f: number, quick: boolean): BenchCase {
  return {
    kernel: "swiglu",
    label: `[${m}, ${f}]`,
    shape: { m, f },
    bytes: 3 * m * f * 4,
    quick,
    prepare(gpu) {
      const gHost = benchData(m * f, 21, 6);
      const uHost = benchData(m * f, 22, 1);
      const g = gpu.tensor([m, f], "f32", gHost);
      const u = gpu.tensor([m, f], "f32", uHost);
      const y = gpu.tensor([m, f], "f32");
      return {
        record: (rec) => void swiglu(rec, g, u, { out: y }),
        async check() {
          gpu.run((rec) => swiglu(rec, g, u, { out: y }));
          const got = (await y.read()) as Float32Array;
          for (const r of sampleRows(m, SAMPLES)) {
            const ref = swigluRef(row(gHost, r, f), row(uHost, r, f));
            expectClose(`swiglu row ${r}`, row(got, r, f), ref);
          }
        },
        dispose: () => destroyAll(g, u, y),
      };
    },
  };
}

function addIntoCase(m: number, d: number): BenchCase {
  return {
    kernel: "addInto",
    label: `[${m}, ${d}] (acc += b)`,
    shape: { m, d },
    bytes: 3 * m * d * 4,
    prepare(gpu) {
      const aHost = benchData(m * d, 31, 1);
      const bHost = benchData(m * d, 32, 1);
      const acc = gpu.tensor([m, d], "f32", aHost);
      const b = gpu.tensor([m, d], "f32", bHost);
      return {
        // Timed executions keep accumulating into acc: harmless for the timing.
        record: (rec) => void addInto(rec, acc, b),
        async check() {
          gpu.run((rec) => addInto(rec, acc, b));
          const got = (await acc.read()) as Float32Array;
          for (const r of sampleRows(m, SAMPLES)) {
            const ref = addRef(row(aHost, r, d), row(bHost, r, d));
            expectClose(`addInto row ${r}`, row(got, r, d), ref);
          }
        },
        dispose: () => destroyAll(acc, b),
      };
    },
  };
}

/** Vocabulary of the embedding case: 32000, or fewer rows when the table exceeds a binding. */
function embeddingRows(gpu: Gpu, d: number, wBytes: number): number {
  return Math.min(32000, Math.floor(gpu.caps.maxStorageBindingSize / (d * wBytes)));
}

function embeddingCase(gpu: Gpu, m: number, d: number, wt: "f32" | "f16"): BenchCase {
  const wBytes = wt === "f16" ? 2 : 4;
  const v = embeddingRows(gpu, d, wBytes);
  return {
    kernel: "embedding",
    label: `${m} ids from [${v}, ${d}] ${wt}`,
    shape: { m, v, d, weights: wt },
    bytes: m * 4 + m * d * wBytes + m * d * 4,
    prepare(gpu) {
      const tHost = benchData(v * d, 41, 1);
      const bits = wt === "f16" ? toF16(tHost) : undefined;
      const table = bits ? gpu.tensor([v, d], "f16", bits) : gpu.tensor([v, d], "f32", tHost);
      const idsHost = spreadIds(m, v, 3);
      const ids = gpu.tensor([m], "u32", idsHost);
      const y = gpu.tensor([m, d], "f32");
      return {
        record: (rec) => void embedding(rec, ids, table, { out: y }),
        async check() {
          gpu.run((rec) => embedding(rec, ids, table, { out: y }));
          const got = (await y.read()) as Float32Array;
          const refTable = bits ? fromF16(bits) : tHost;
          for (const r of sampleRows(m, SAMPLES)) {
            const ref = embeddingRef([idsHost[r]], refTable, v, d);
            expectClose(`embedding row ${r} (id ${idsHost[r]})`, row(got, r, d), ref, ...EXACT);
          }
        },
        dispose: () => destroyAll(table, ids, y),
      };
    },
  };
}

type SoftmaxKind = "logSoftmax" | "nll" | "argmax";

function softmaxCase(kind: SoftmaxKind, m: number, v: number, quick: boolean): BenchCase {
  const out = kind === "logSoftmax" ? m * v * 4 : m * 4;
  return {
    kernel: kind,
    label: `[${m}, ${v}]`,
    shape: { m, v },
    bytes: m * v * 4 + (kind === "nll" ? m * 4 : 0) + out,
    quick,
    prepare(gpu) {
      const xHost = benchData(m * v, 51 + v, 10);
      const tHost = spreadIds(m, v, 5);
      const x = gpu.tensor([m, v], "f32", xHost);
      const targets = gpu.tensor([m], "u32", tHost);
      const y = kind === "logSoftmax"
        ? gpu.tensor([m, v], "f32")
        : gpu.tensor([m], kind === "argmax" ? "u32" : "f32");
      const run = (rec: Recorder): void => {
        if (kind === "logSoftmax") logSoftmax(rec, x, { out: y });
        else if (kind === "nll") nll(rec, x, targets, { out: y });
        else argmax(rec, x, { out: y });
      };
      return {
        record: run,
        async check() {
          gpu.run(run);
          const got = await y.read();
          for (const r of sampleRows(m, SAMPLES)) {
            const xr = row(xHost, r, v);
            if (kind === "logSoftmax") {
              expectClose(
                `logSoftmax row ${r}`,
                row(got as Float32Array, r, v),
                logSoftmaxRef(xr, 1, v),
              );
            } else if (kind === "nll") {
              expectClose(`nll row ${r}`, [got[r]], nllRef(xr, [tHost[r]], 1, v));
            } else {
              expectClose(`argmax row ${r}`, [got[r]], argmaxRef(xr, 1, v), ...EXACT);
            }
          }
        },
        dispose: () => destroyAll(x, targets, y),
      };
    },
  };
}

function sumSquaresRowsCase(m: number, d: number): BenchCase {
  return {
    kernel: "sumSquaresRows",
    label: `[${m}, ${d}]`,
    shape: { m, d },
    bytes: m * d * 4 + m * 4,
    prepare(gpu) {
      const xHost = benchData(m * d, 61, 3);
      const x = gpu.tensor([m, d], "f32", xHost);
      const y = gpu.tensor([m], "f32");
      return {
        record: (rec) => void sumSquaresRows(rec, x, { out: y }),
        async check() {
          gpu.run((rec) => sumSquaresRows(rec, x, { out: y }));
          const got = (await y.read()) as Float32Array;
          for (const r of sampleRows(m, SAMPLES)) {
            const ref = sumSquaresRowsRef(row(xHost, r, d), 1, d);
            expectClose(`sumSquaresRows row ${r}`, [got[r]], ref);
          }
        },
        dispose: () => destroyAll(x, y),
      };
    },
  };
}

function sumCase(n: number): BenchCase {
  return {
    kernel: "sum",
    label: `${n} elements`,
    shape: { n },
    bytes: n * 4 + 4,
    prepare(gpu) {
      const xHost = benchData(n, 71, 1);
      const x = gpu.tensor([n], "f32", xHost);
      const y = gpu.tensor([1], "f32");
      return {
        record: (rec) => void sum(rec, x, { out: y }),
        async check() {
          gpu.run((rec) => sum(rec, x, { out: y }));
          const got = (await y.read())[0];
          // The reduce tests' tolerance: the tree's worst-case bound, relative to Σ|x|.
          const ref = sumRef(xHost);
          const bound = totalErrorBound(n, false) * ref.sumAbs;
          if (!(Math.abs(got - ref.sum) <= bound)) {
            throw new Error(
              `sum: output check failed: gpu ${got} vs reference ${ref.sum} (bound ${bound})`,
            );
          }
        },
        dispose: () => destroyAll(x, y),
      };
    },
  };
}

function ropeCase(tokens: number, heads: number, headDim: number): BenchCase {
  const width = heads * headDim;
  return {
    kernel: "rope",
    label: `q [${tokens}, ${heads}·${headDim}] in place`,
    shape: { tokens, heads, headDim },
    // x read and written; the table's cos/sin (hd values) read once per position.
    bytes: 2 * tokens * width * 4 + tokens * headDim * 4,
    prepare(gpu) {
      const theta = 10000;
      const xHost = benchData(tokens * width, 81, 1);
      const x = gpu.tensor([tokens, width], "f32", xHost);
      const table = ropeTable(gpu, { headDim, theta, maxPositions: tokens });
      const opts = { heads, headDim, tokensPerSeq: tokens, batch: 1, past: 0 };
      return {
        // In place: timed executions keep rotating x (by norm-preserving rotations).
        record: (rec) => void rope(rec, x, table, opts),
        async check() {
          gpu.run((rec) => rope(rec, x, table, opts));
          const got = (await x.read()) as Float32Array;
          const inv = invFreqRef(headDim, theta);
          for (const r of sampleRows(tokens, SAMPLES)) {
            const o = { heads, dim: headDim, tokens: 1, batch: 1, past: r };
            expectClose(`rope row ${r}`, row(got, r, width), ropeRef(row(xHost, r, width), inv, o));
          }
        },
        dispose: () => destroyAll(x, table.tensor),
      };
    },
  };
}

interface AttnShape {
  batch: number;
  tokens: number;
  past: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

function attentionCase(s: AttnShape, quick: boolean): BenchCase {
  const { batch, tokens, past, heads, kvHeads, headDim } = s;
  const cap = past + tokens;
  const rows = batch * tokens;
  const width = heads * headDim;
  const kvSize = batch * cap * kvHeads * headDim;
  const phase = tokens === 1 ? `decode B=${batch} past=${past}` : `prefill B=${batch} T=${tokens}`;
  return {
    kernel: "attention",
    label: `${phase} H=${heads} KVH=${kvHeads} hd=${headDim}`,
    shape: { ...s },
    flops: attentionFlops(batch, tokens, past, heads, headDim),
    // q read, o written, the keys and values of positions 0 … past+T−1 read once.
    bytes: 2 * rows * width * 4 + 2 * kvSize * 4,
    quick,
    prepare(gpu) {
      const qHost = benchData(rows * width, 91, 1);
      const kHost = benchData(kvSize, 92, 1);
      const vHost = benchData(kvSize, 93, 1);
      const q = gpu.tensor([rows, width], "f32", qHost);
      // The caches already hold the new tokens' keys and values (appendKv is not timed).
      const k = gpu.tensor([batch, cap, kvHeads, headDim], "f32", kHost);
      const v = gpu.tensor([batch, cap, kvHeads, headDim], "f32", vHost);
      const o = gpu.tensor([rows, width], "f32");
      const opts = { ...s, out: o };
      return {
        record: (rec) => void attention(rec, q, k, v, opts),
        async check() {
          gpu.run((rec) => attention(rec, q, k, v, opts));
          const got = (await o.read()) as Float32Array;
          const sampled = sampleRows(rows, Math.min(SAMPLES, 4));
          const ref = attentionRef(qHost, kHost, vHost, { ...s, cap }, sampled);
          for (const r of sampled) {
            expectClose(`attention row ${r}`, row(got, r, width), row(ref, r, width));
          }
        },
        dispose: () => destroyAll(q, k, v, o),
      };
    },
  };
}

/**
 * Non-matmul kernel cases (f16-weight variants when the device supports shader-f16).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { runBench } from "./harness.ts"; // internal: src/bench/ has no subpath
 * import { kernelCases } from "./kernel_cases.ts";
 * const gpu = await getGpu();
 * const cases = kernelCases(gpu);
 * const norm = cases.filter((c) => c.kernel === "rmsnorm" && c.label === "[512, 2048] weight f32");
 * assert.equal(norm.length, 1);
 * const [r] = await runBench(gpu, norm, { reps: 2, targetMs: 5 }); // checked against f64, timed
 * assert.equal(r.check, "passed");
 * assert.deepEqual([r.m, r.d], [512, 2048]);
 * assert.ok(r.ms > 0 && r.gbps! > 0);
 * ```
 */
export function kernelCases(gpu: Gpu): BenchCase[] {
  const f16 = gpu.caps.f16;
  const attn = { heads: 32, kvHeads: 8, headDim: 64 };
  return [
    rmsnormCase(512, 2048, "f32", true),
    ...(f16 ? [rmsnormCase(512, 2048, "f16", false)] : []),
    swigluCase(512, 5632, false),
    addIntoCase(512, 2048),
    embeddingCase(gpu, 512, 2048, "f32"),
    ...(f16 ? [embeddingCase(gpu, 512, 2048, "f16")] : []),
    softmaxCase("logSoftmax", 128, 32000, true),
    softmaxCase("logSoftmax", 8, 151936, false),
    softmaxCase("nll", 128, 32000, false),
    softmaxCase("nll", 8, 151936, false),
    softmaxCase("argmax", 8, 151936, false),
    sumSquaresRowsCase(512, 2048),
    sumCase(2 ** 22),
    ropeCase(512, 32, 64),
    attentionCase({ batch: 1, tokens: 512, past: 0, ...attn }, true),
    attentionCase({ batch: 1, tokens: 1, past: 2047, ...attn }, true),
    attentionCase({ batch: 4, tokens: 1, past: 2047, ...attn }, false),
    ...decodeCases(f16),
  ];
}
