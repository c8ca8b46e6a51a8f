import { packedShape, packLinear, unpackWeightHost } from "../../src/kernels/matmul.ts";
import { GRAM_CHUNK_ROWS } from "../../src/kernels/gram.ts";
import {
  linearBackward,
  linearBackwardBias,
  linearBackwardInput,
  linearBackwardWeight,
  linearGradTensors,
  NT_CHUNK_COLUMNS,
} from "../../src/train/kernels/linear_backward.ts";
import { linearBackwardRef } from "../../ref/backward.ts";
import {
  assertClose,
  assertThrows,
  F32_TOL,
  GPU_TEST,
  randn,
  roundF16,
  testGpu,
  testGpuF32,
} from "../util.ts";

// Tolerance: F32_TOL (|gpu − ref| ≤ 1e-5 + 1e-4·|ref|) against the f64 gradients: every element
// is an f32 dot product of ≤ 257 terms of O(1) values.

// [M, K, N]: single rows/columns, K and N not multiples of 4 or of the 16-column padding,
// M not a multiple of the 16/8/4-row blocks. K and N are never multiples of 4 here: each
// combination of vec4 paths of the reused gram.wgsl TN kernel (dW) costs ≈ 10 s of llvmpipe
// compile on a cold shader cache, and its vec4 paths are covered by tests/kernels/gram_test.ts
// (and by the composite block_backward_test.ts). VEC_SHAPES (N % 4 == 0) check the vec4 paths of
// this module's own kernels, dX and db.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 5],
  [3, 5, 17],
  [5, 33, 31],
  [37, 70, 257],
  [70, 130, 37],
];
const VEC_SHAPES: [number, number, number][] = [
  [1, 9, 4],
  [19, 65, 48],
  [70, 130, 36],
];

/** The packed gradient's padding must be exactly zero. */
function assertPaddingZero(dwp: ArrayLike<number>, n: number, k: number, label: string): void {
  const { kp, np } = packedShape(n, k);
  for (let r = 0; r < kp; r++) {
    for (let c = 0; c < np; c++) {
      if ((r >= k || c >= n) && dwp[r * np + c] !== 0) {
        throw new Error(`${label}: padding [${r}, ${c}] = ${dwp[r * np + c]}`);
      }
    }
  }
}

Deno.test({
  name: "linear backward dX, dW, db vs f64 (odd shapes, accumulate)",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const [m, k, n] of SHAPES) {
      await t.step(`M=${m} K=${k} N=${n}`, async () => {
        const x = randn(m * k, 1 + m + k, 1);
        const w = randn(n * k, 2 + n, 0.5);
        const b = randn(n, 3 + k, 0.5);
        const dy = randn(m * n, 4 + n, 1);
        const prev = randn(m * k, 5 + m, 1);
        const lin = packLinear(gpu, w, n, k, { bias: b, dtype: "f32" });
        const xt = gpu.tensor([m, k], "f32", x);
        const dyt = gpu.tensor([m, n], "f32", dy);
        const grad = linearGradTensors(gpu, lin);
        const dxAcc = gpu.tensor([m, k], "f32", prev);
        const dx = gpu.run((rec) => {
          linearBackwardInput(rec, dyt, lin, { out: dxAcc, accumulate: true });
          return linearBackward(rec, xt, dyt, lin, grad);
        })!;
        const ref = linearBackwardRef(x, w, dy, m, k, n);
        assertClose(await dx.read(), ref.dx, F32_TOL, "dX");
        assertClose(await dxAcc.read(), ref.dx.map((v, i) => v + prev[i]), F32_TOL, "dX acc");
        const dwp = await grad.weight.read();
        assertPaddingZero(dwp, n, k, "dW");
        assertClose(unpackWeightHost(dwp, n, k), ref.dw, F32_TOL, "dW");
        const db = await grad.bias!.read();
        assertClose(db.subarray(0, n), ref.db, F32_TOL, "db");
        for (let i = n; i < db.length; i++) if (db[i] !== 0) throw new Error("db padding");
        // A second pass accumulating the parameter gradients doubles them.
        gpu.run((rec) =>
          linearBackward(rec, xt, dyt, lin, grad, { dx: false, accumulateGrad: true })
        );
        assertClose(unpackWeightHost(await grad.weight.read(), n, k), ref.dw.map((v) => 2 * v));
        assertClose((await grad.bias!.read()).subarray(0, n), ref.db.map((v) => 2 * v));
      });
    }
  },
});

Deno.test({
  name: "linear backward dX, db with vec4 rows of dY (N % 4 == 0)",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const [m, k, n] of VEC_SHAPES) {
      await t.step(`M=${m} K=${k} N=${n}`, async () => {
        const w = randn(n * k, 12 + n, 0.5);
        const dy = randn(m * n, 14 + n, 1);
        const lin = packLinear(gpu, w, n, k, { bias: randn(n, 13, 1), dtype: "f32" });
        const dyt = gpu.tensor([m, n], "f32", dy);
        const grad = linearGradTensors(gpu, lin);
        const dx = gpu.run((rec) => {
          linearBackwardBias(rec, dyt, grad.bias!);
          return linearBackwardInput(rec, dyt, lin);
        });
        const ref = linearBackwardRef(new Float32Array(m * k), w, dy, m, k, n);
        assertClose(await dx.read(), ref.dx, F32_TOL, "dX");
        assertClose((await grad.bias!.read()).subarray(0, n), ref.db, F32_TOL, "db");
      });
    }
  },
});

Deno.test({
  name: "linear backward dX with f16 weights (f32 math)",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpu();
    if (!gpu.caps.f16) {
      await t.step({ name: "skipped: adapter has no shader-f16", ignore: true, fn() {} });
      return;
    }
    const [m, k, n] = [9, 70, 45];
    const x = randn(m * k, 31, 1);
    const w = randn(n * k, 32, 0.5);
    const dy = randn(m * n, 33, 1);
    const lin = packLinear(gpu, w, n, k, { dtype: "f16" });
    const dx = gpu.run((rec) => linearBackwardInput(rec, gpu.tensor([m, n], "f32", dy), lin));
    const ref = linearBackwardRef(x, roundF16(w), dy, m, k, n);
    assertClose(await dx.read(), ref.dx, F32_TOL, "dX f16 weights vs rounded ref");
  },
});

Deno.test({
  name: "linear backward splits N (dX) and M (dW, db) into dispatches (loop budget)",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    // N just over one NT chunk: dX takes two accumulating dispatches. K and M small.
    const [m, k, n] = [2, 3, NT_CHUNK_COLUMNS + 5];
    const w = randn(n * k, 41, 0.05);
    const dy = randn(m * n, 42, 0.05);
    const lin = packLinear(gpu, w, n, k, { dtype: "f32" });
    const dyt = gpu.tensor([m, n], "f32", dy);
    const db = gpu.tensor([n], "f32");
    const dx = gpu.run((rec) => {
      linearBackwardBias(rec, dyt, db);
      return linearBackwardInput(rec, dyt, lin);
    });
    const ref = linearBackwardRef(new Float32Array(m * k), w, dy, m, k, n);
    // 120k-term f32 dot products of terms ≈ 1e-3 with random signs: error ≈ 1e-7·√n·|term|·…
    assertClose(await dx.read(), ref.dx, { atol: 1e-5, rtol: 1e-3 }, "dX two chunks");
    assertClose(await db.read(), ref.db, F32_TOL, "db");

    // M just over one row chunk: dW and db take two accumulating dispatches.
    const [m2, k2, n2] = [GRAM_CHUNK_ROWS + 7, 3, 5];
    const x2 = randn(m2 * k2, 43, 1);
    const dy2 = randn(m2 * n2, 44, 1);
    const lin2 = packLinear(gpu, randn(n2 * k2, 45, 1), n2, k2, {
      dtype: "f32",
      bias: [1, 2, 3, 4, 5],
    });
    const grad2 = linearGradTensors(gpu, lin2);
    gpu.run((rec) =>
      linearBackward(
        rec,
        gpu.tensor([m2, k2], "f32", x2),
        gpu.tensor([m2, n2], "f32", dy2),
        lin2,
        grad2,
        { dx: false },
      )
    );
    const ref2 = linearBackwardRef(x2, new Float32Array(n2 * k2), dy2, m2, k2, n2);
    // 16k-term f32 sums of O(1) terms with random signs (≈ √M·1e-7·max ≈ 1e-5 absolute).
    const tol = { atol: 1e-3, rtol: 1e-4 };
    assertClose(unpackWeightHost(await grad2.weight.read(), n2, k2), ref2.dw, tol, "dW two chunks");
    assertClose((await grad2.bias!.read()).subarray(0, n2), ref2.db, tol, "db two chunks");
  },
});

Deno.test({
  name: "linear backward rejects bad shapes",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const lin = packLinear(gpu, new Float32Array(15), 3, 5, { dtype: "f32" });
    const dy = gpu.tensor([2, 3], "f32");
    const x = gpu.tensor([2, 5], "f32");
    gpu.run((rec) => {
      assertThrows(() => linearBackwardInput(rec, gpu.tensor([2, 4], "f32"), lin), "columns");
      assertThrows(
        () => linearBackwardInput(rec, dy, lin, { out: gpu.tensor([2, 4], "f32") }),
        "out must be",
      );
      assertThrows(() => linearBackwardInput(rec, dy, lin, { accumulate: true }), "needs out");
      assertThrows(
        () => linearBackwardWeight(rec, x, dy, gpu.tensor([5, 3], "f32"), lin),
        "dW must be",
      );
      assertThrows(
        () =>
          linearBackwardWeight(
            rec,
            gpu.tensor([3, 5], "f32"),
            dy,
            linearGradTensors(gpu, lin).weight,
            lin,
          ),
        "rows",
      );
    });
    await gpu.sync();
  },
});
