/**
 * Ceilings of this device as a WebGPU kernel sees them, for comparing the decode GEMV and the
 * matmul with what the back end allows (issue 14): read-only bandwidth (a kernel that reads a
 * large buffer once and sums it, f32 and f16 words, two access patterns), copy bandwidth (read +
 * write) and the matmul's GFLOP/s at prefill shapes. The streaming sizes exceed the 32 MiB
 * last-level cache of the test machine; one small read case shows the cache-resident rate. Every
 * case is checked before it is timed (the read kernel's per-invocation partial sums against f64
 * sums of the same words). Select them with `deno task bench --only kernels --filter ceiling`.
 *
 * @module
 */
import { fromF16, toF16 } from "../gpu/f16.ts";
import { Params, type Recorder } from "../gpu/recorder.ts";
import { loadShader } from "../gpu/shader.ts";
import { assertLoopBudget } from "../kernels/canary.ts";
import { scale } from "../kernels/elementwise.ts";
import { gemv, packLinearTiled } from "../kernels/gemv.ts";
import { type Linear, matmul, packLinear } from "../kernels/matmul.ts";
import { linearRef } from "../../ref/matmul.ts";
import { gemvRef } from "../../ref/gemv.ts";
import type { BenchCase } from "./harness.ts";
import { benchData, expectClose } from "./check.ts";
import { matmulCases } from "./matmul_cases.ts";

const READ_SRC = await loadShader("read_bandwidth.wgsl");
/** Workgroup size of the read probe. */
const WG = 64;
/** Invocations of the read probe for large buffers (256 workgroups). */
const THREADS = 16384;

/**
 * Read-only bandwidth: sums `mib` MiB of f32 or f16 words once (`chunk`: each invocation its own
 * contiguous run; else grid-stride). Bytes = the buffer + 4 per invocation (the partials).
 */
function readCase(mib: number, dtype: "f32" | "f16", chunk: boolean, quick: boolean): BenchCase {
  const words = (mib * 1024 * 1024) / 4; // u32 words
  const n4 = words / 4;
  const threads = Math.min(THREADS, n4);
  const iters = n4 / threads;
  if (!Number.isInteger(iters)) throw new Error(`read ceiling: ${mib} MiB is not a whole split`);
  assertLoopBudget("read ceiling", iters + 1, `${mib} MiB over ${threads} invocations`);
  return {
    kernel: "ceiling-read",
    label: `${mib} MiB ${dtype} ${chunk ? "contiguous/lane" : "grid-stride"} (sum, read once)`,
    shape: { mib, dtype, pattern: chunk ? "chunk" : "grid-stride", threads },
    bytes: words * 4 + threads * 4,
    quick,
    prepare(gpu) {
      let bits: Uint32Array<ArrayBuffer>;
      let values: Float32Array<ArrayBuffer>;
      if (dtype === "f16") {
        const h = toF16(benchData(2 * words, 81, 1));
        bits = new Uint32Array(h.buffer);
        values = fromF16(h); // value of half j is in u32 word j >> 1
      } else {
        values = benchData(words, 82, 1);
        bits = new Uint32Array(values.buffer);
      }
      const x = gpu.tensor([words], "u32", bits);
      const out = gpu.tensor([threads], "f32");
      const pipe = gpu.pipeline(READ_SRC, { WG, F16: dtype === "f16", CHUNK: chunk });
      const run = (rec: Recorder) =>
        rec.dispatch(pipe, [x, out], [threads / WG], new Params().u32(iters).u32(threads));
      return {
        record: run,
        async check() {
          gpu.run(run);
          const got = (await out.read()) as Float32Array;
          const per = dtype === "f16" ? 8 : 4; // values per vec4<u32>
          const ref = new Float64Array(threads);
          for (let w4 = 0; w4 < n4; w4++) {
            const t = chunk ? Math.floor(w4 / iters) : w4 % threads;
            let s = 0;
            for (let j = 0; j < per; j++) s += values[w4 * per + j];
            ref[t] += s;
          }
          expectClose(`read ceiling ${dtype}`, got, ref, 1e-3, 1e-4);
        },
        dispose() {
          x.destroy();
          out.destroy();
        },
      };
    },
  };
}

/** Copy bandwidth: `scale` by 1 over `mib` MiB of f32 (one read and one write per element). */
function copyCase(mib: number): BenchCase {
  const n = (mib * 1024 * 1024) / 4;
  return {
    kernel: "ceiling-copy",
    label: `${mib} MiB f32 (read + write)`,
    shape: { mib },
    bytes: 2 * n * 4,
    quick: true,
    prepare(gpu) {
      const host = benchData(n, 83, 1);
      const x = gpu.tensor([n], "f32", host);
      const y = gpu.tensor([n], "f32");
      return {
        record: (rec) => void scale(rec, x, 1, { out: y }),
        async check() {
          gpu.run((rec) => scale(rec, x, 1, { out: y }));
          expectClose("copy ceiling", (await y.read()) as Float32Array, host, 0, 0);
        },
        dispose() {
          x.destroy();
          y.destroy();
        },
      };
    },
  };
}

/** Streaming cases cycle through ≥ 48 MiB of distinct weights (the LLC is 32 MiB). */
const STREAM_BYTES = 48 * 1024 * 1024;

/**
 * The decode GEMV at a 20M-model shape, streaming distinct weights, in the packed `[KP, NP]`
 * layout the model uses today or the tiled layout of `packLinearTiled`: how far each is from the
 * read ceiling. `swiglu`: norm + gate/up + SwiGLU (two weights), else one plain weight.
 */
function gemvLayoutCase(
  k: number,
  n: number,
  swiglu: boolean,
  dtype: "f32" | "f16",
  tiled: boolean,
): BenchCase {
  const layers = swiglu ? 2 : 1;
  const wBytes = dtype === "f16" ? 2 : 4;
  const perCall = layers * k * n * wBytes;
  const copies = Math.ceil(STREAM_BYTES / perCall);
  return {
    kernel: "ceiling-gemv",
    label: `${swiglu ? "norm+gate/up+SwiGLU" : "plain"} K=${k} N=${n} ${dtype} ${
      tiled ? "tiled" : "packed"
    } ×${copies}`,
    shape: { k, n, layers, weights: dtype, layout: tiled ? "tiled" : "packed", copies },
    bytes: copies * (perCall + k * 4 + n * 4),
    quick: true,
    prepare(gpu) {
      const xHost = benchData(k, 91, 1);
      const gHost = benchData(k, 92, 1);
      const wHost = Array.from({ length: layers }, (_, i) => benchData(k * n, 93 + i, 0.05));
      const x = gpu.tensor([1, k], "f32", xHost);
      const g = gpu.tensor([k], "f32", gHost);
      const pack = (w: Float32Array) =>
        tiled ? packLinearTiled(gpu, w, n, k, dtype) : packLinear(gpu, w, n, k, { dtype });
      const sets: Linear[][] = Array.from({ length: copies }, () => wHost.map(pack));
      const y = gpu.tensor([1, n], "f32");
      const opts = swiglu ? { norm: { weight: g, eps: 1e-5 }, swiglu: true } : {};
      const run = (rec: Recorder, set: Linear[]) =>
        gemv(rec, x, set as [Linear] | [Linear, Linear], [y], opts);
      return {
        record: (rec) => {
          for (const set of sets) run(rec, set);
        },
        async check() {
          for (const set of [sets[0], sets[copies - 1]]) {
            y.write(new Float32Array(n));
            gpu.run((rec) => run(rec, set));
            const ref = gemvRef(
              xHost,
              1,
              k,
              n,
              wHost.map((w) => ({ w: dtype === "f16" ? fromF16(toF16(w)) : w })),
              { norm: swiglu ? { g: gHost, eps: 1e-5 } : undefined, swiglu },
            );
            expectClose(
              `gemv ${tiled ? "tiled" : "packed"}`,
              (await y.read()) as Float32Array,
              ref[0],
            );
          }
        },
        dispose() {
          x.destroy();
          g.destroy();
          y.destroy();
          for (const set of sets) for (const l of set) l.weight.destroy();
        },
      };
    },
  };
}

/** The matmul at `[m, k, n]` with weights in the tiled layout of `packLinearTiled`. */
function matmulTiledCase(m: number, k: number, n: number, dtype: "f32" | "f16"): BenchCase {
  const wBytes = dtype === "f16" ? 2 : 4;
  return {
    kernel: "ceiling-matmul",
    label: `M=${m} K=${k} N=${n} weights ${dtype} tiled`,
    shape: { m, k, n, weights: dtype, layout: "tiled" },
    flops: 2 * m * k * n,
    bytes: m * k * 4 + k * n * wBytes + m * n * 4,
    quick: true,
    prepare(gpu) {
      const xHost = benchData(m * k, 1, 1);
      const wHost = benchData(n * k, 2, 0.05);
      const x = gpu.tensor([m, k], "f32", xHost);
      const lin = packLinearTiled(gpu, wHost, n, k, dtype);
      const y = gpu.tensor([m, n], "f32");
      return {
        record: (rec) => void matmul(rec, x, lin, { out: y }),
        async check() {
          gpu.run((rec) => matmul(rec, x, lin, { out: y }));
          const got = (await y.read()) as Float32Array;
          const wRef = dtype === "f16" ? fromF16(toF16(wHost)) : wHost;
          for (const r of [0, m - 1]) {
            const ref = linearRef(xHost.subarray(r * k, (r + 1) * k), wRef, 1, k, n);
            expectClose(`matmul tiled row ${r}`, got.subarray(r * n, (r + 1) * n), ref);
          }
        },
        dispose() {
          x.destroy();
          lin.weight.destroy();
          y.destroy();
        },
      };
    },
  };
}

/**
 * The ceiling cases: read-only (96 MiB f32 and f16, both patterns; 4 MiB f16 cache-resident),
 * copy (96 MiB) and the matmul at a prefill shape of the 20M model's size (M 512, K 512, N 1536)
 * with f16 weights where the device has them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ceilingCases } from "./ceiling_cases.ts";
 * const cases = ceilingCases(["f32"]);
 * assert.ok(cases.every((c) => c.kernel.startsWith("ceiling-")));
 * assert.ok(cases.some((c) => c.kernel === "ceiling-read" && c.bytes! > 96 * 2 ** 20));
 * ```
 */
export function ceilingCases(dtypes: readonly ("f32" | "f16")[]): BenchCase[] {
  const mm = matmulCases(dtypes.includes("f16") ? ["f16"] : ["f32"])
    .filter((c) => c.shape.m === 512 && c.shape.k === 512 && c.shape.n === 1536)
    .map((c) => ({ ...c, kernel: "ceiling-matmul" }));
  return [
    readCase(96, "f32", false, true),
    readCase(96, "f32", true, false),
    readCase(96, "f16", false, true),
    readCase(96, "f16", true, false),
    readCase(4, "f32", true, false),
    readCase(4, "f16", false, false),
    copyCase(96),
    ...mm,
    matmulTiledCase(512, 512, 1536, dtypes.includes("f16") ? "f16" : "f32"),
    ...dtypes.flatMap((d) =>
      [true, false].flatMap((tiled) => [
        gemvLayoutCase(512, 1376, true, d, tiled),
        gemvLayoutCase(512, 8192, false, d, tiled),
      ])
    ),
    // The decode block's narrow products (o_proj 512 → 512, down_proj 1376 → 512), tiled f16 or
    // f32: 32 invocations of 16 columns each, so per-dispatch cost weighs more.
    ...[[512, 512], [1376, 512]].map(([k, n]) =>
      gemvLayoutCase(k, n, false, dtypes.includes("f16") ? "f16" : "f32", true)
    ),
  ];
}
