import { rmsnormBackward } from "../../src/train/kernels/rmsnorm_backward.ts";
import { rmsnormBackwardRef } from "../../ref/backward.ts";
import { assertClose, F32_TOL, GPU_TEST, randn, roundF16, testGpu, testGpuF32 } from "../util.ts";

// Tolerance: F32_TOL (1e-5 + 1e-4·|ref|) for dx (two f32 row reductions of ≤ 1001 terms);
// dWeight sums M ≤ 300 rows of O(1) terms in f32 partials: F32_TOL too.

// [M, D]: single rows and columns, D not a multiple of 4 or of the 256-wide workgroup, M over
// one 128-row chunk of the weight gradient (several partials) and not a multiple of it.
const SHAPES: [number, number][] = [
  [1, 1],
  [1, 7],
  [3, 33],
  [2, 257],
  [5, 1001],
  [300, 3],
  [129, 64],
  [7, 1024],
];

Deno.test({
  name: "rmsnorm backward dx, dWeight vs f64 (odd shapes, accumulate)",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const [m, d] of SHAPES) {
      await t.step(`M=${m} D=${d}`, async () => {
        const x = randn(m * d, 1 + m + d, 2);
        const w = randn(d, 2 + d, 1.5);
        const dy = randn(m * d, 3 + m, 1);
        const prev = randn(m * d, 4 + d, 1);
        const prevW = randn(d, 5 + d, 1);
        const eps = 1e-5;
        const xt = gpu.tensor([m, d], "f32", x);
        const wt = gpu.tensor([d], "f32", w);
        const dyt = gpu.tensor([m, d], "f32", dy);
        const dwt = gpu.tensor([d], "f32", randn(d, 6, 9)); // overwritten
        const dxAcc = gpu.tensor([m, d], "f32", prev);
        const dwAcc = gpu.tensor([d], "f32", prevW);
        const dx = gpu.run((rec) => {
          rmsnormBackward(rec, xt, wt, dyt, eps, {
            dx: dxAcc,
            accumulate: true,
            dWeight: dwAcc,
            accumulateWeight: true,
          });
          return rmsnormBackward(rec, xt, wt, dyt, eps, { dWeight: dwt })!;
        });
        const ref = rmsnormBackwardRef(x, w, dy, m, d, eps);
        assertClose(await dx.read(), ref.dx, F32_TOL, "dx");
        assertClose(await dwt.read(), ref.dw, F32_TOL, "dWeight");
        assertClose(await dxAcc.read(), ref.dx.map((v, i) => v + prev[i]), F32_TOL, "dx acc");
        assertClose(await dwAcc.read(), ref.dw.map((v, i) => v + prevW[i]), F32_TOL, "dW acc");
      });
    }
  },
});

Deno.test({
  name: "rmsnorm backward: weight gradient only, f16 weight, 3-D input",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const [b, s, d] = [2, 70, 36];
    const x = randn(b * s * d, 11, 1);
    x.fill(0, 0, d); // an all-zero row: r = 1/sqrt(eps)
    const w = randn(d, 12, 1);
    const dy = randn(b * s * d, 13, 1);
    const dwt = gpu.tensor([d], "f32");
    const ret = gpu.run((rec) =>
      rmsnormBackward(
        rec,
        gpu.tensor([b, s, d], "f32", x),
        gpu.tensor([d], "f32", w),
        gpu.tensor([b, s, d], "f32", dy),
        0.5,
        { dx: false, dWeight: dwt },
      )
    );
    if (ret !== undefined) throw new Error("dx: false must return undefined");
    assertClose(await dwt.read(), rmsnormBackwardRef(x, w, dy, b * s, d, 0.5).dw, F32_TOL, "dw");

    const g16 = await testGpu();
    if (!g16.caps.f16) return;
    const [m, d2] = [5, 101];
    const x2 = randn(m * d2, 21, 1);
    const w2 = randn(d2, 22, 1);
    const dy2 = randn(m * d2, 23, 1);
    const dx = g16.run((rec) =>
      rmsnormBackward(
        rec,
        g16.tensor([m, d2], "f32", x2),
        g16.tensor([d2], "f16", w2),
        g16.tensor([m, d2], "f32", dy2),
        1e-6,
      )!
    );
    const ref = rmsnormBackwardRef(x2, roundF16(w2), dy2, m, d2, 1e-6);
    assertClose(await dx.read(), ref.dx, F32_TOL, "dx with f16 weight vs rounded ref");
  },
});
