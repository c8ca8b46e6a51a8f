import { matmul, packLinear, packWeightHost, unpackWeightHost } from "../../src/kernels/matmul.ts";
import { packLinearTiled } from "../../src/kernels/gemv.ts";
import { linearRef } from "../../ref/matmul.ts";
import { assertClose, GPU_TEST, randn, roundF16, testGpu, testGpuF32 } from "../util.ts";

// Odd shapes: M not a multiple of the 32/8/4-row blocks, N not a multiple of 16, K not of 4,
// single rows and columns.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 5],
  [3, 5, 17],
  [5, 33, 31],
  [37, 64, 48],
  [33, 130, 70],
  [70, 256, 100],
  [129, 96, 257],
];

for (const [m, k, n] of SHAPES) {
  Deno.test({
    name: `matmul f32 weights M=${m} K=${k} N=${n} (+bias, +accumulate)`,
    ...GPU_TEST,
    async fn() {
      const gpu = await testGpuF32();
      const x = randn(m * k, 1 + m, 1);
      const w = randn(n * k, 2 + n, 0.5);
      const b = randn(n, 3 + k, 0.5);
      const prev = randn(m * n, 4, 1);
      const xt = gpu.tensor([m, k], "f32", x);
      const plain = gpu.run((rec) => matmul(rec, xt, packLinear(gpu, w, n, k)));
      const withBias = packLinear(gpu, w, n, k, { bias: b });
      const acc = gpu.tensor([m, n], "f32", prev);
      gpu.run((rec) => matmul(rec, xt, withBias, { out: acc, accumulate: true }));
      const ref = linearRef(x, w, m, k, n);
      assertClose(await plain.read(), ref, undefined, "plain");
      const refAcc = linearRef(x, w, m, k, n, b).map((v, i) => v + prev[i]);
      assertClose(await acc.read(), refAcc, undefined, "bias+acc");
    },
  });
}

Deno.test({
  name: "matmul f16 weights (f32 accumulation) M=37 K=100 N=70",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpu();
    if (!gpu.caps.f16) {
      t.step({ name: "skipped: adapter has no shader-f16", ignore: true, fn() {} });
      return;
    }
    const [m, k, n] = [37, 100, 70];
    const x = randn(m * k, 11, 1);
    const w = randn(n * k, 12, 0.5);
    const b = randn(n, 13, 0.5);
    const y = gpu.run((rec) =>
      matmul(rec, gpu.tensor([m, k], "f32", x), packLinear(gpu, w, n, k, { bias: b, dtype: "f16" }))
    );
    // Reference on the f16-rounded weights: the kernel must add no error beyond f32 accumulation.
    const ref = linearRef(x, roundF16(w), m, k, n, roundF16(b));
    assertClose(await y.read(), ref, undefined, "f16 weights vs rounded ref");
  },
});

Deno.test("packWeightHost / unpackWeightHost round trip", () => {
  const w = randn(7 * 9, 5);
  const back = unpackWeightHost(packWeightHost(w, 7, 9), 7, 9);
  assertClose(back, w, { atol: 0, rtol: 0 });
});

// The tiled [NP/16, K, 16] layout of packLinearTiled (K a multiple of 4): odd M and N, bias,
// accumulate, f32 and f16 weights (the f16 reference uses the rounded weights).
for (const dtype of ["f32", "f16"] as const) {
  Deno.test({
    name: `matmul tiled ${dtype} weights: odd M and N (+bias, +accumulate)`,
    ...GPU_TEST,
    async fn(t) {
      const gpu = await testGpu();
      if (dtype === "f16" && !gpu.caps.f16) {
        await t.step({ name: "skipped: adapter has no shader-f16", ignore: true, fn() {} });
        return;
      }
      for (
        const [m, k, n] of [[1, 4, 1], [5, 32, 31], [37, 64, 48], [33, 132, 70], [129, 96, 257]]
      ) {
        const x = randn(m * k, 21 + m, 1);
        const w = randn(n * k, 22 + n, 0.5);
        const b = randn(n, 23 + k, 0.5);
        const prev = randn(m * n, 24, 1);
        const [wr, br] = dtype === "f16" ? [roundF16(w), roundF16(b)] : [w, b];
        const xt = gpu.tensor([m, k], "f32", x);
        const plain = gpu.run((rec) => matmul(rec, xt, packLinearTiled(gpu, w, n, k, dtype)));
        const acc = gpu.tensor([m, n], "f32", prev);
        const lin = packLinearTiled(gpu, w, n, k, dtype, b);
        gpu.run((rec) => matmul(rec, xt, lin, { out: acc, accumulate: true }));
        assertClose(await plain.read(), linearRef(x, wr, m, k, n), undefined, `${m}×${k}×${n}`);
        const refAcc = linearRef(x, wr, m, k, n, br).map((v, i) => v + prev[i]);
        assertClose(await acc.read(), refAcc, undefined, `${m}×${k}×${n} bias+acc`);
      }
    },
  });
}
