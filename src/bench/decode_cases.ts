/**
 * Benchmark cases of the decode path: the memory bandwidth a kernel sees on this device (a copy
 * kernel), the fused decode linear layers (`kernels/gemv.ts`) at the generated 20M model's
 * shapes (d 512, ffn 1376, 4 kv heads of 64, vocab 8192), once cache-resident (one weight, run
 * repeatedly) and once streaming (distinct weights totalling more than the last-level cache, as
 * a whole decode token does), and the fused RoPE + KV-cache write. All report GB/s of the minimum
 * traffic (weights, inputs and outputs once) and check against the f64 references first.
 *
 * @module
 */
import { gemvRef } from "../../ref/gemv.ts";
import { appendRef } from "../../ref/attention.ts";
import { invFreqRef, ropeRef } from "../../ref/rope.ts";
import { fromF16, toF16 } from "../gpu/f16.ts";
import type { Recorder } from "../gpu/recorder.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { scale } from "../kernels/elementwise.ts";
import { gemv, gemvSegments } from "../kernels/gemv.ts";
import { type Linear, packLinear } from "../kernels/matmul.ts";
import { ropeAppendKv, ropeTable } from "../kernels/rope.ts";
import type { BenchCase } from "./harness.ts";
import { benchData, expectClose } from "./check.ts";

/** A copy kernel (`scale` by 1: one f32 read and one write per element) over `mib` MiB. */
function copyCase(mib: number): BenchCase {
  const n = (mib * 1024 * 1024) / 4;
  return {
    kernel: "copy",
    label: `${mib} MiB f32 (scale by 1: read + write)`,
    shape: { n },
    bytes: 2 * n * 4,
    quick: true,
    prepare(gpu) {
      const host = benchData(n, 71, 1);
      const x = gpu.tensor([n], "f32", host);
      const y = gpu.tensor([n], "f32");
      return {
        record: (rec) => void scale(rec, x, 1, { out: y }),
        async check() {
          gpu.run((rec) => scale(rec, x, 1, { out: y }));
          const got = (await y.read()) as Float32Array;
          expectClose("copy", got.subarray(0, 4096), host.subarray(0, 4096), 0, 0);
          expectClose("copy tail", got.subarray(n - 4096), host.subarray(n - 4096), 0, 0);
        },
        dispose: () => destroyAll(x, y),
      };
    },
  };
}

interface GemvShape {
  name: string;
  k: number;
  n: number;
  layers: 1 | 2;
  norm?: boolean;
  swiglu?: boolean;
  accumulate?: boolean;
}

/** The 20M bench model's decode linear layers, as the forward fuses them. */
const GEMV_SHAPES: GemvShape[] = [
  { name: "norm+q", k: 512, n: 512, layers: 1, norm: true },
  { name: "norm+k/v", k: 512, n: 256, layers: 2, norm: true },
  { name: "o (+= h)", k: 512, n: 512, layers: 1, accumulate: true },
  { name: "norm+gate/up+SwiGLU", k: 512, n: 1376, layers: 2, norm: true, swiglu: true },
  { name: "down (+= h)", k: 1376, n: 512, layers: 1, accumulate: true },
  { name: "LM head", k: 512, n: 8192, layers: 1 },
];

/** Last-level cache of the test machine is 32 MiB: streaming cases cycle through ≥ 48 MiB. */
const STREAM_BYTES = 48 * 1024 * 1024;

function gemvCase(s: GemvShape, dtype: "f32" | "f16", streaming: boolean): BenchCase {
  const wBytes = dtype === "f16" ? 2 : 4;
  const perCall = s.layers * s.k * s.n * wBytes;
  const copies = streaming ? Math.ceil(STREAM_BYTES / perCall) : 1;
  const outs = s.swiglu ? 1 : s.layers;
  return {
    kernel: "gemv",
    label: `${s.name} K=${s.k} N=${s.n} ${dtype}${streaming ? ` ×${copies} distinct` : ""}`,
    shape: { k: s.k, n: s.n, layers: s.layers, weights: dtype, copies },
    bytes: copies * (perCall + s.k * 4 + outs * s.n * 4 * (s.accumulate ? 2 : 1)),
    quick: s.swiglu === true,
    prepare(gpu) {
      const xHost = benchData(s.k, 81, 1);
      const gHost = benchData(s.k, 82, 1);
      const wHost = Array.from({ length: s.layers }, (_, i) => benchData(s.k * s.n, 83 + i, 0.05));
      const x = gpu.tensor([1, s.k], "f32", xHost);
      const g = gpu.tensor([s.k], "f32", gHost);
      const sets: Linear[][] = Array.from(
        { length: copies },
        () => wHost.map((w) => packLinear(gpu, w, s.n, s.k, { dtype })),
      );
      const y = Array.from({ length: outs }, () => gpu.tensor([1, s.n], "f32"));
      const opts = {
        norm: s.norm ? { weight: g, eps: 1e-5 } : undefined,
        swiglu: s.swiglu,
        accumulate: s.accumulate,
      };
      const run = (rec: Recorder, set: Linear[]) => gemv(rec, x, set as [Linear], y, opts);
      return {
        record: (rec) => {
          for (const set of sets) run(rec, set);
        },
        async check() {
          for (const t of y) t.write(new Float32Array(s.n));
          gpu.run((rec) => run(rec, sets[0]));
          const ref = gemvRef(
            xHost,
            1,
            s.k,
            s.n,
            wHost.map((w) => ({ w: dtype === "f16" ? fromF16(toF16(w)) : w })),
            { norm: s.norm ? { g: gHost, eps: 1e-5 } : undefined, swiglu: s.swiglu },
          );
          for (let i = 0; i < outs; i++) {
            expectClose(`gemv ${s.name} output ${i}`, (await y[i].read()) as Float32Array, ref[i]);
          }
        },
        dispose: () => {
          destroyAll(x, g, ...y);
          for (const set of sets) for (const l of set) l.weight.destroy();
        },
      };
    },
  };
}

/** The forward's norm + q/k/v of one decode token in one dispatch (20M shapes: 512 → 512, 256, 256). */
function gemvSegmentsCase(dtype: "f32" | "f16"): BenchCase {
  const k = 512;
  const ns = [512, 256, 256];
  const wBytes = dtype === "f16" ? 2 : 4;
  const total = ns.reduce((a, b) => a + b, 0);
  return {
    kernel: "gemv",
    label: `norm+q/k/v (segments) K=${k} N=${ns.join("+")} ${dtype}`,
    shape: { k, n: ns.join("+"), weights: dtype },
    bytes: total * k * wBytes + 2 * k * 4 + total * 4,
    prepare(gpu) {
      const xHost = benchData(k, 84, 1);
      const gHost = benchData(k, 85, 1);
      const wHost = ns.map((n, i) => benchData(k * n, 86 + i, 0.05));
      const x = gpu.tensor([1, k], "f32", xHost);
      const g = gpu.tensor([k], "f32", gHost);
      const lins = wHost.map((w, i) => packLinear(gpu, w, ns[i], k, { dtype }));
      const y = ns.map((n) => gpu.tensor([1, n], "f32"));
      const norm = { weight: g, eps: 1e-5 };
      const run = (rec: Recorder) => gemvSegments(rec, x, lins, y, { norm });
      return {
        record: run,
        async check() {
          gpu.run(run);
          for (let i = 0; i < ns.length; i++) {
            const w = dtype === "f16" ? fromF16(toF16(wHost[i])) : wHost[i];
            const [ref] = gemvRef(xHost, 1, k, ns[i], [{ w }], { norm: { g: gHost, eps: 1e-5 } });
            expectClose(`gemvSegments output ${i}`, (await y[i].read()) as Float32Array, ref);
          }
        },
        dispose: () => {
          destroyAll(x, g, ...y);
          for (const l of lins) l.weight.destroy();
        },
      };
    },
  };
}

/** RoPE of q and k and the KV-cache write of one decode token (32 heads, 8 kv heads, hd 64). */
function ropeAppendCase(): BenchCase {
  const [heads, kvHeads, headDim, past, cap] = [32, 8, 64, 100, 128];
  const kvw = kvHeads * headDim;
  return {
    kernel: "ropeAppendKv",
    label: `decode token H=${heads} KVH=${kvHeads} hd=${headDim}`,
    shape: { heads, kvHeads, headDim, past },
    bytes: 2 * heads * headDim * 4 + 2 * 2 * kvw * 4,
    prepare(gpu) {
      const table = ropeTable(gpu, { headDim, theta: 10000, maxPositions: cap });
      const qHost = benchData(heads * headDim, 91, 1);
      const kHost = benchData(kvw, 92, 1);
      const vHost = benchData(kvw, 93, 1);
      const q = gpu.tensor([1, heads * headDim], "f32", qHost);
      const k = gpu.tensor([1, kvw], "f32", kHost);
      const v = gpu.tensor([1, kvw], "f32", vHost);
      const kc = gpu.tensor([1, cap, kvHeads, headDim], "f32");
      const vc = gpu.tensor([1, cap, kvHeads, headDim], "f32");
      const o = { batch: 1, tokens: 1, past, heads, kvHeads, headDim };
      return {
        // Timed executions keep rotating q in place: harmless for the timing.
        record: (rec) => ropeAppendKv(rec, q, k, v, kc, vc, table, o),
        async check() {
          q.write(qHost);
          gpu.run((rec) => ropeAppendKv(rec, q, k, v, kc, vc, table, o));
          const inv = invFreqRef(headDim, 10000);
          const pos = { dim: headDim, tokens: 1, batch: 1, past };
          expectClose(
            "q",
            (await q.read()) as Float32Array,
            ropeRef(qHost, inv, { ...pos, heads }),
          );
          const s = { batch: 1, tokens: 1, past, cap, width: kvw };
          const kRef = appendRef(
            new Float32Array(cap * kvw),
            ropeRef(kHost, inv, { ...pos, heads: kvHeads }),
            s,
          );
          expectClose("key cache", (await kc.read()) as Float32Array, kRef);
          const vRef = appendRef(new Float32Array(cap * kvw), vHost, s);
          expectClose("value cache", (await vc.read()) as Float32Array, vRef);
        },
        dispose: () => destroyAll(q, k, v, kc, vc, table.tensor),
      };
    },
  };
}

function destroyAll(...ts: Tensor[]): void {
  for (const t of ts) t.destroy();
}

/**
 * The decode-path cases (f16 variants when the device supports shader-f16).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { decodeCases } from "./decode_cases.ts"; // internal: src/bench/ has no subpath
 * import { runBench } from "./harness.ts";
 * const gpu = await getGpu();
 * const cases = decodeCases(gpu.caps.f16);
 * assert.equal(cases.some((c) => c.label.includes("f16")), gpu.caps.f16);
 * assert.equal(decodeCases(false).filter((c) => c.label.includes("f16")).length, 0);
 * const gemv = cases.filter((c) => c.kernel === "gemv" && c.label === "norm+q K=512 N=512 f32");
 * const [r] = await runBench(gpu, gemv, { reps: 2, targetMs: 5 });
 * assert.equal(r.check, "passed");
 * assert.ok(r.ms > 0 && r.gbps! > 0);
 * ```
 */
export function decodeCases(f16: boolean): BenchCase[] {
  const dtypes: ("f32" | "f16")[] = f16 ? ["f32", "f16"] : ["f32"];
  const cases = [copyCase(32), copyCase(4)];
  for (const dtype of dtypes) {
    for (const s of GEMV_SHAPES) cases.push(gemvCase(s, dtype, false));
    cases.push(gemvSegmentsCase(dtype));
    cases.push(gemvCase(GEMV_SHAPES[3], dtype, true), gemvCase(GEMV_SHAPES[5], dtype, true));
  }
  cases.push(ropeAppendCase());
  return cases;
}
