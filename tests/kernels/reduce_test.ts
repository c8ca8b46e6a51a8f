import { sum, sumRows, sumSquares, sumSquaresRows } from "../../src/kernels/reduce.ts";
import { sumRef, sumRowsRef, sumSquaresRowsRef, totalErrorBound } from "../../ref/reduce.ts";
import { assertClose, assertThrows, GPU_TEST, randn, testGpuF32 } from "../util.ts";

/** Checks a GPU total against the f64 reference within {@link totalErrorBound}. */
function assertSum(gpu: number, x: Float32Array, squares: boolean, label: string): void {
  const ref = sumRef(x, squares);
  const bound = totalErrorBound(x.length, squares) * ref.sumAbs;
  const err = Math.abs(gpu - ref.sum);
  if (!(err <= bound)) {
    throw new Error(
      `${label}: gpu ${gpu} vs f64 ${ref.sum}: error ${err} > bound ${bound} (Σ|x| ${ref.sumAbs})`,
    );
  }
}

// [M, D]: single rows and columns, widths not multiples of 4 or 256, more rows than a
// workgroup has invocations.
const SHAPES: [number, number][] = [
  [1, 1],
  [1, 3],
  [2, 7],
  [3, 33],
  [2, 257],
  [5, 1000],
  [1, 1001],
  [300, 3],
  [1, 4],
];

Deno.test({
  name: "sumRows and sumSquaresRows, odd shapes",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const [m, d] of SHAPES) {
      await t.step(`M=${m} D=${d}`, async () => {
        const x = randn(m * d, 1 + m + d, 3);
        const xt = gpu.tensor([m, d], "f32", x);
        const [s, ss] = gpu.run((rec) => [sumRows(rec, xt), sumSquaresRows(rec, xt)]);
        assertClose(await s.read(), sumRowsRef(x, m, d), undefined, "sumRows");
        assertClose(await ss.read(), sumSquaresRowsRef(x, m, d), undefined, "sumSquaresRows");
      });
    }
  },
});

Deno.test({
  name: "row sums: 3-D input, given out, zero-width rows",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const x = randn(2 * 3 * 70, 5, 1);
    const out = gpu.tensor([2, 3], "f32", new Float32Array(6).fill(9));
    gpu.run((rec) => sumRows(rec, gpu.tensor([2, 3, 70], "f32", x), { out }));
    assertClose(await out.read(), sumRowsRef(x, 6, 70), undefined, "3-D");
    gpu.run((rec) => sumSquaresRows(rec, gpu.tensor([6, 0], "f32"), { out }));
    assertClose(await out.read(), new Float64Array(6), { atol: 0, rtol: 0 }, "D = 0");
  },
});

Deno.test({
  name: "sum and sumSquares of whole tensors (one and two stages), error within the tree bound",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    // 2048 is the largest single-stage size; multiples of 4 take the vec4 path.
    for (const n of [1, 4, 7, 1001, 1004, 2048, 2049, 65536, 65537, 1_000_003, 1_000_004]) {
      await t.step(`n=${n}`, async () => {
        const x = randn(n, 7 + n, 2);
        const xt = gpu.tensor([n], "f32", x);
        const [s, ss] = gpu.run((rec) => [sum(rec, xt), sumSquares(rec, xt)]);
        assertSum((await s.read())[0], x, false, `sum n=${n}`);
        assertSum((await ss.read())[0], x, true, `sumSquares n=${n}`);
      });
    }
  },
});

Deno.test({
  name: "sum of 3·10^7 positive values (a sequential f32 sum would be far off)",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const n = 30_000_001;
    const x = randn(n, 99, 0.5).map((v) => v + 0.5); // uniform [0, 1): Σ ≈ 1.5·10^7
    const xt = gpu.tensor([n], "f32", x);
    // Two sums recorded back to back share the scratch buffer of partial sums.
    const [s, ss] = gpu.run((rec) => [sum(rec, xt), sumSquares(rec, xt)]);
    const got = (await s.read())[0];
    assertSum(got, x, false, "sum 3e7");
    assertSum((await ss.read())[0], x, true, "sumSquares 3e7");
    const ref = sumRef(x).sum;
    console.log(
      `  sum of 3e7: gpu ${got}, f64 ${ref}, relative error ${Math.abs(got - ref) / ref}`,
    );
    xt.destroy();
  },
});

Deno.test({
  name: "reductions reject bad dtypes and outputs",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const x = gpu.tensor([2, 3], "f32");
    gpu.run((rec) => {
      assertThrows(() => sum(rec, gpu.tensor([4], "u32")), "x must be f32");
      assertThrows(() => sumRows(rec, x, { out: gpu.tensor([3], "f32") }), "out must be");
      assertThrows(() => sum(rec, x, { out: gpu.tensor([2], "f32") }), "out must be");
      assertThrows(() => sumSquaresRows(rec, gpu.tensor([2, 3], "f16")), "x must be f32");
    });
    await gpu.sync();
    const empty = await gpu.run((rec) => sum(rec, gpu.tensor([0], "f32"))).read();
    assertClose(empty, [0], { atol: 0, rtol: 0 }, "empty sum");
  },
});
