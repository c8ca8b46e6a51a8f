/**
 * Benchmark cases for the least-squares re-fit kernels: {@link gramAccumulate} (Gram matrix and
 * cross moments of a calibration batch) and {@link choleskySolve}, at the down_proj sizes of a
 * small Llama (F = 1376 MLP channels, a 4096-token batch; the solve also at half size).
 *
 * GFLOP/s: `2·M·F·N` for gramAccumulate (nominal: with y = x only the lower half of the blocks is
 * computed, so the work done is about half), `2·(F³/3 + 2·F²·N)` for choleskySolve
 * (factorisation plus forward and backward substitution). Each case checks its output against
 * an f64 reference first.
 *
 * @module
 */
import { gramRowRef } from "../../ref/gram.ts";
import { relativeResidual, solveHostF64 } from "../../ref/cholesky.ts";
import type { Gpu } from "../gpu/device.ts";
import type { Recorder } from "../gpu/recorder.ts";
import { readTensors, type Tensor } from "../gpu/tensor.ts";
import { gramAccumulate } from "../kernels/gram.ts";
import { choleskySolve, CholeskyWorkspace, decodeSolveStatus } from "../kernels/cholesky.ts";
import type { BenchCase } from "./harness.ts";
import { benchData, expectClose, sampleRows } from "./check.ts";

function destroyAll(...ts: Tensor[]): void {
  for (const t of ts) t.destroy();
}

function gramCase(m: number, f: number, n: number): BenchCase {
  const same = n === f;
  return {
    kernel: "gramAccumulate",
    label: `M=${m} F=${f} N=${n}${same ? " (y = x, Gram)" : ""}`,
    shape: { m, f, n, symmetric: same ? "yes" : "no" },
    flops: 2 * m * f * n,
    bytes: 4 * (m * f + (same ? 0 : m * n) + 2 * f * n),
    quick: same,
    prepare(gpu: Gpu) {
      const xHost = benchData(m * f, 41, 1);
      const yHost = same ? xHost : benchData(m * n, 42, 1);
      const x = gpu.tensor([m, f], "f32", xHost);
      const y = same ? x : gpu.tensor([m, n], "f32", yHost);
      const g = gpu.tensor([f, n], "f32");
      return {
        record: (rec) => void gramAccumulate(rec, x, y, g),
        async check() {
          gpu.run((rec) => {
            rec.encoder.clearBuffer(g.buffer);
            gramAccumulate(rec, x, y, g);
          });
          const got = await g.read();
          for (const i of sampleRows(f, 6)) {
            const ref = gramRowRef(xHost, yHost, m, f, n, i);
            const tol = ref.abs.map((a) => 1e-5 * a + 1e-6);
            for (let j = 0; j < n; j++) {
              const d = Math.abs(got[i * n + j] - ref.g[j]);
              if (!(d <= tol[j])) {
                throw new Error(
                  `gramAccumulate row ${i}: output check failed at ${j}: gpu ${
                    got[i * n + j]
                  } vs ` +
                    `reference ${ref.g[j]}`,
                );
              }
            }
          }
        },
        dispose() {
          destroyAll(x, g);
          if (!same) y.destroy();
        },
      };
    },
  };
}

function solveCase(f: number, n: number): BenchCase {
  return {
    kernel: "choleskySolve",
    label: `F=${f} N=${n}`,
    shape: { f, n },
    flops: 2 * (f ** 3 / 3 + 2 * f * f * n),
    quick: f < 1000,
    prepare(gpu: Gpu) {
      // A Gram matrix of 2F random tokens (κ ≈ 35): the solver's real input.
      const m = 2 * f;
      const x = gpu.tensor([m, f], "f32", benchData(m * f, 51, 1));
      const g = gpu.tensor([f, f], "f32");
      const h = gpu.tensor([f, n], "f32", benchData(f * n, 52, 1));
      gpu.run((rec) => gramAccumulate(rec, x, x, g));
      const ws = new CholeskyWorkspace(gpu, f, n);
      const out = gpu.tensor([f, n], "f32");
      const status = gpu.tensor([4], "u32");
      const solve = (rec: Recorder) =>
        void choleskySolve(rec, g, h, { workspace: ws, out, status });
      return {
        record: solve,
        async check() {
          gpu.run(solve);
          const [gHost, hHost, xGot, st] = await readTensors(gpu, [g, h, out, status]);
          const s = decodeSolveStatus(st);
          if (s.flags !== 0) throw new Error(`choleskySolve: status ${JSON.stringify(s)}`);
          const res = relativeResidual(gHost, xGot, hHost, f, n, s.shift);
          if (!(res <= 1e-4)) throw new Error(`choleskySolve: residual ${res} > 1e-4`);
          // f64 solution for a few right-hand sides (one f64 LU of G + shift·I).
          const cols = sampleRows(n, 3);
          const hs = new Float64Array(f * cols.length);
          for (let i = 0; i < f; i++) {
            cols.forEach((c, k) => (hs[i * cols.length + k] = hHost[i * n + c]));
          }
          const ref = solveHostF64(gHost, hs, f, cols.length, s.shift);
          let scale = 0;
          for (const v of ref) scale = Math.max(scale, Math.abs(v));
          cols.forEach((c, k) => {
            const got = Array.from({ length: f }, (_, i) => xGot[i * n + c]);
            const want = Array.from({ length: f }, (_, i) => ref[i * cols.length + k]);
            expectClose(`choleskySolve column ${c}`, got, want, 1e-3 * scale, 1e-3);
          });
        },
        dispose() {
          destroyAll(x, g, h, out, status);
          ws.destroy();
        },
      };
    },
  };
}

/**
 * The re-fit cases: gramAccumulate M=4096 F=1376 with N=1376 (y = x) and N=512, choleskySolve
 * F=1376 N=512 and F=688 N=256. Not registered in cases.ts; add `...solveCases()` there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { solveCases } from "./cholesky_cases.ts"; // internal: src/bench/ has no subpath
 * import { runBench } from "./harness.ts";
 * const cases = solveCases();
 * assert.deepEqual(cases.map((c) => c.kernel), [
 *   "gramAccumulate", "gramAccumulate", "choleskySolve", "choleskySolve",
 * ]);
 * const small = cases.filter((c) => c.shape.f === 688); // the quick F=688 N=256 solve
 * const [r] = await runBench(await getGpu(), small, { reps: 1, targetMs: 5 });
 * assert.equal(r.check, "passed"); // residual and f64 columns matched before timing
 * assert.ok(r.ms > 0 && r.gflops! > 0);
 * ```
 */
export function solveCases(): BenchCase[] {
  return [
    gramCase(4096, 1376, 1376),
    gramCase(4096, 1376, 512),
    solveCase(1376, 512),
    solveCase(688, 256),
  ];
}
