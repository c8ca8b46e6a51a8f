/**
 * Loop-cap canary. Mesa 22.3's llvmpipe/lavapipe silently stops every shader invocation after
 * 65,535 loop iterations in total. This file (a) checks that the project's per-invocation budget
 * ({@link MAX_LOOP_ITERATIONS_PER_INVOCATION}) runs completely on this back end, (b) records
 * whether the back end truncates longer loops (logged, not failed: the cap is known), and (c) runs
 * every reduction kernel at production size against its f64 reference, so a kernel whose
 * invocations loop too long fails here instead of silently dropping data.
 */
import {
  countLoopIterations,
  MAX_LOOP_ITERATIONS_PER_INVOCATION,
  MESA_LOOP_CAP,
} from "../../src/kernels/canary.ts";
import { rmsnorm } from "../../src/kernels/rmsnorm.ts";
import { argmax, logSoftmax, nll } from "../../src/kernels/softmax.ts";
import { sum, sumRows, sumSquares, sumSquaresRows } from "../../src/kernels/reduce.ts";
import { rmsnormRef } from "../../ref/rmsnorm.ts";
import { argmaxRef, logSoftmaxRef, nllRef } from "../../ref/softmax.ts";
import { sumRef, sumRowsRef, sumSquaresRowsRef, totalErrorBound } from "../../ref/reduce.ts";
import { assertClose, GPU_TEST, randn, testGpu, testGpuF32 } from "../util.ts";

Deno.test({
  name: "loop cap: the per-invocation budget runs to completion",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpu();
    const n = MAX_LOOP_ITERATIONS_PER_INVOCATION;
    const ran = await countLoopIterations(gpu, n);
    if (ran !== n) {
      throw new Error(`a ${n}-iteration loop ran ${ran} iterations on ${gpu.description}`);
    }
  },
});

Deno.test({
  name: "loop cap: record whether the back end truncates long loops",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpu();
    const single = await countLoopIterations(gpu, 70_000);
    const nested = await countLoopIterations(gpu, 1000, 100);
    console.log(`  back end: ${gpu.description}`);
    console.log(`  one loop of 70,000 iterations ran ${single}`);
    console.log(`  1,000 × 100 nested loops ran ${nested} inner iterations (of 100,000)`);
    if (single === 70_000 && nested === 100_000) {
      console.log("  no truncation: this back end has no per-invocation loop cap");
    } else if (single === MESA_LOOP_CAP) {
      console.log(
        `  truncated at ${MESA_LOOP_CAP}: the known Mesa llvmpipe cap (the budget of ` +
          `${MAX_LOOP_ITERATIONS_PER_INVOCATION} keeps every kernel clear of it)`,
      );
    } else {
      throw new Error(
        `unexpected loop behaviour: 70,000 iterations ran ${single}; every kernel's budget ` +
          `assumes either no cap or Mesa's ${MESA_LOOP_CAP}`,
      );
    }
  },
});

Deno.test({
  name: "loop cap: row softmax family at V = 151,936 (vec4) and 151,935 (scalar)",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const v of [151_936, 151_935]) {
      await t.step(`V=${v}`, async () => {
        const m = 2;
        const x = randn(m * v, v, 8);
        x[v - 1] = 9; // row 0: the maximum is the very last column
        x[v + 1000] = x[v + v - 2] = 9; // row 1: a tie, the lowest index must win
        const targets = new Uint32Array([v - 1, v - 3]);
        const xt = gpu.tensor([m, v], "f32", x);
        const [lp, loss, ids] = gpu.run((rec) => [
          logSoftmax(rec, xt),
          nll(rec, xt, gpu.tensor([m], "u32", targets)),
          argmax(rec, xt),
        ]);
        assertClose(await lp.read(), logSoftmaxRef(x, m, v), undefined, "logSoftmax");
        assertClose(await loss.read(), nllRef(x, targets, m, v), undefined, "nll");
        const got = Array.from(await ids.read());
        const want = Array.from(argmaxRef(x, m, v));
        if (got.join() !== want.join()) throw new Error(`argmax ${got} vs ${want}`);
      });
    }
  },
});

Deno.test({
  name: "loop cap: rmsnorm at D = 16384 / 16383 and row sums at D = 151,936 / 151,935",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const d of [16384, 16383]) {
      await t.step(`rmsnorm D=${d}`, async () => {
        const m = 3;
        const x = randn(m * d, d, 3);
        x[m * d - 1] = 100; // the last column must reach the sum of squares
        const w = randn(d, 3, 1);
        const y = gpu.run((rec) =>
          rmsnorm(rec, gpu.tensor([m, d], "f32", x), gpu.tensor([d], "f32", w), 1e-5)
        );
        assertClose(await y.read(), rmsnormRef(x, w, m, d, 1e-5), undefined, "rmsnorm");
      });
    }
    for (const d of [151_936, 151_935]) {
      await t.step(`sumRows / sumSquaresRows D=${d}`, async () => {
        const m = 2;
        const r = randn(m * d, d + 4, 1).map((v) => v + 0.25);
        const rt = gpu.tensor([m, d], "f32", r);
        const [s, ss] = gpu.run((rec) => [sumRows(rec, rt), sumSquaresRows(rec, rt)]);
        assertClose(await s.read(), sumRowsRef(r, m, d), undefined, "sumRows");
        assertClose(await ss.read(), sumSquaresRowsRef(r, m, d), undefined, "sumSquaresRows");
      });
    }
  },
});

Deno.test({
  name: "loop cap: sum and sumSquares of 2^24 (vec4) and 2^24 − 1 (scalar) elements",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    const x = randn(1 << 24, 5, 1).map((v) => v + 0.1);
    for (const n of [1 << 24, (1 << 24) - 1]) {
      await t.step(`n=${n}`, async () => {
        const xs = x.subarray(0, n);
        const xt = gpu.tensor([n], "f32", xs);
        const [s, ss] = gpu.run((rec) => [sum(rec, xt), sumSquares(rec, xt)]);
        // Each term passes through at most (16 + 3) + 8 + (1 + 3) + 8 (+1 for squaring) rounded
        // f32 operations with vec4 reads, 64 + 8 + 4 + 8 (+1) with scalar reads
        // (totalErrorBound), so |gpu − Σ| ≤ γ_L·Σ|term| ≤ 5.1e-6·Σ|term|. Truncated invocations
        // would drop whole blocks of terms: errors of order Σ|term| / 1000 or more.
        for (const [label, got, sq] of [["sum", s, false], ["sumSquares", ss, true]] as const) {
          const ref = sumRef(xs, sq);
          const value = (await got.read())[0];
          const bound = totalErrorBound(n, sq) * ref.sumAbs;
          if (!(Math.abs(value - ref.sum) <= bound)) {
            throw new Error(`${label}: gpu ${value} vs f64 ${ref.sum} (bound ${bound})`);
          }
        }
        xt.destroy();
      });
    }
  },
});

Deno.test({
  name: "loop cap: kernels refuse sizes over the budget instead of truncating",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    // One row of 8,388,609 columns (odd, so read as scalars): 32,769 strided iterations each.
    const d = 256 * MAX_LOOP_ITERATIONS_PER_INVOCATION + 1;
    const x = gpu.tensor([1, d], "f32");
    let message = "";
    try {
      gpu.run((rec) => sumRows(rec, x));
    } catch (e) {
      message = (e as Error).message;
    }
    if (!message.includes("over the budget")) {
      throw new Error(`sumRows over the budget should throw, got "${message}"`);
    }
    x.destroy();
  },
});
