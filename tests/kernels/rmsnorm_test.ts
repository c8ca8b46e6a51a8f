import { rmsnorm } from "../../src/kernels/rmsnorm.ts";
import { rmsnormRef } from "../../ref/rmsnorm.ts";
import {
  assertClose,
  assertThrows,
  GPU_TEST,
  randn,
  roundF16,
  testGpu,
  testGpuF32,
} from "../util.ts";

// D: single column, not multiples of 4 or of the 256-wide workgroup, several strided passes;
// M: single rows and more rows than a workgroup has invocations.

const SHAPES: [number, number][] = [
  [1, 1],
  [1, 7],
  [3, 33],
  [2, 257],
  [5, 1000],
  [4, 1001],
  [300, 3],
  [1, 4],
  [3, 1024],
];

Deno.test({
  name: "rmsnorm f32 weight, odd shapes",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const [m, d] of SHAPES) {
      await t.step(`M=${m} D=${d}`, async () => {
        const x = randn(m * d, 1 + m + d, 2);
        const w = randn(d, 2 + d, 1.5);
        const eps = 1e-5;
        const y = gpu.run((rec) =>
          rmsnorm(rec, gpu.tensor([m, d], "f32", x), gpu.tensor([d], "f32", w), eps)
        );
        assertClose(await y.read(), rmsnormRef(x, w, m, d, eps), undefined, `M=${m} D=${d}`);
      });
    }
  },
});

Deno.test({
  name: "rmsnorm in place, 3-D input, large eps, zero rows",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const d of [129, 132]) {
      await t.step(`D=${d}`, async () => {
        const [b, s] = [2, 3];
        const x = randn(b * s * d, 7 + d, 1);
        x.fill(0, 0, d); // an all-zero row: 0 / sqrt(eps) = 0
        const w = randn(d, 8 + d, 1);
        const xt = gpu.tensor([b, s, d], "f32", x);
        const wt = gpu.tensor([d], "f32", w);
        const y = gpu.run((rec) => rmsnorm(rec, xt, wt, 0.5, { out: xt }));
        if (y !== xt) throw new Error("in-place rmsnorm must return x");
        assertClose(await xt.read(), rmsnormRef(x, w, b * s, d, 0.5), undefined, "in place");
      });
    }
  },
});

Deno.test({
  name: "rmsnorm f16 weight (f32 math)",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpu();
    if (!gpu.caps.f16) {
      await t.step({ name: "skipped: adapter has no shader-f16", ignore: true, fn() {} });
      return;
    }
    for (const [m, d] of [[1, 1], [3, 7], [4, 1001], [1, 4], [2, 1000]]) {
      await t.step(`M=${m} D=${d}`, async () => {
        const x = randn(m * d, 21 + d, 1);
        const w = randn(d, 22 + d, 1);
        const y = gpu.run((rec) =>
          rmsnorm(rec, gpu.tensor([m, d], "f32", x), gpu.tensor([d], "f16", w), 1e-6)
        );
        const ref = rmsnormRef(x, roundF16(w), m, d, 1e-6);
        assertClose(await y.read(), ref, undefined, "f16 weight vs rounded ref");
      });
    }
  },
});

Deno.test({
  name: "rmsnorm rejects bad shapes and dtypes",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const x = gpu.tensor([2, 5], "f32");
    const w = gpu.tensor([5], "f32");
    gpu.run((rec) => {
      assertThrows(() => rmsnorm(rec, x, gpu.tensor([4], "f32"), 1e-5), "weight must be");
      assertThrows(() => rmsnorm(rec, gpu.tensor([2, 5], "u32"), w, 1e-5), "x must be f32");
      assertThrows(
        () => rmsnorm(rec, x, w, 1e-5, { out: gpu.tensor([2, 4], "f32") }),
        "out must be",
      );
      assertThrows(() => rmsnorm(rec, x, w, -1), "eps");
      assertThrows(() => rmsnorm(rec, x, w, 1e-5, { out: w }), "out must");
    });
    await gpu.sync();
  },
});
