import { columnSumSquares, GRAM_CHUNK_ROWS, gramAccumulate } from "../../src/kernels/gram.ts";
import { columnSumSquaresRef, gramRef } from "../../ref/gram.ts";
import { assertClose, assertThrows, GPU_TEST, randn, rng, testGpuF32 } from "../util.ts";

/**
 * f32 sums of M products: |gpu − f64| ≤ REL·Σ_m|x·y| + 1e-6. The kernel adds ≤ 16,384 terms in
 * sequence per dispatch (≈ 1e-7·√terms relative for random signs; the worst seen is ≈ 1.5e-6
 * at M = 1000), so 1e-5 leaves a margin without hiding a dropped or doubled token, which moves an
 * element by ≈ Σ|x·y|/M ≥ 2.5e-5·Σ|x·y| at these M.
 */
const REL = 1e-5;

function assertGram(
  got: ArrayLike<number>,
  ref: { g: Float64Array; abs: Float64Array },
  label: string,
  times = 1,
  base?: ArrayLike<number>,
): void {
  for (let i = 0; i < ref.g.length; i++) {
    const want = times * ref.g[i] + (base ? base[i] : 0);
    const bound = REL * times * ref.abs[i] + 1e-6 + (base ? 1e-6 * Math.abs(base[i]) : 0);
    const err = Math.abs(got[i] - want);
    if (!(err <= bound)) {
      throw new Error(
        `${label}: element ${i}: gpu ${got[i]} vs f64 ${want} (error ${err} > ${bound})`,
      );
    }
  }
}

/** Small integers in [−2, 2]: products and sums of up to 2^22 of them are exact in f32. */
function smallInts(n: number, seed: number): Float32Array<ArrayBuffer> {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => Math.floor(r() * 5) - 2);
}

// [M, F, N, y is x]: F and N of 1, not multiples of 4 (scalar loads) and multiples of 4 (vec4
// loads), partial 16 × 16 blocks, M not a multiple of the 4-row unrolling.
const CASES: [number, number, number, boolean][] = [
  [1, 1, 1, false],
  [1, 1, 1, true],
  [7, 5, 3, false],
  [7, 5, 5, true],
  [1000, 33, 65, false],
  [1000, 33, 64, false],
  [1000, 33, 33, true],
  [7, 172, 1, false],
  [1000, 172, 65, false],
  [1000, 172, 64, false],
  [1000, 172, 172, true],
];

Deno.test({
  name: "gramAccumulate vs f64, odd shapes, x = y and x ≠ y",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const [m, f, n, same] of CASES) {
      await t.step(`M=${m} F=${f} N=${n}${same ? " y=x" : ""}`, async () => {
        const x = randn(m * f, 1 + m + f, 1);
        const y = same ? x : randn(m * n, 2 + n, 2);
        const xt = gpu.tensor([m, f], "f32", x);
        const yt = same ? xt : gpu.tensor([m, n], "f32", y);
        const g = gpu.tensor([f, n], "f32");
        gpu.run((rec) => gramAccumulate(rec, xt, yt, g));
        const got = await g.read();
        assertGram(got, gramRef(x, y, m, f, n), "gram");
        if (same) {
          for (let i = 0; i < f; i++) {
            for (let j = 0; j < i; j++) {
              if (got[i * f + j] !== got[j * f + i]) throw new Error(`not symmetric at ${i}, ${j}`);
            }
          }
        }
        for (const tt of [xt, yt, g]) tt.destroy();
      });
    }
  },
});

Deno.test({
  name: "gramAccumulate accumulates: twice into a non-zero g, several batches in one recording",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const [m, f, n] = [300, 33, 64];
    const x = randn(m * f, 5);
    const y = randn(m * n, 6);
    const g0 = randn(f * n, 7, 10);
    const xt = gpu.tensor([m, f], "f32", x);
    const yt = gpu.tensor([m, n], "f32", y);
    const g = gpu.tensor([f, n], "f32", g0);
    gpu.run((rec) => {
      gramAccumulate(rec, xt, yt, g);
      gramAccumulate(rec, xt, yt, g);
    });
    assertGram(await g.read(), gramRef(x, y, m, f, n), "g0 + 2·xᵀy", 2, g0);
    // The `rows` option: only the first 123 tokens of the batch buffers.
    const h = gpu.tensor([f, n], "f32");
    gpu.run((rec) => gramAccumulate(rec, xt, yt, h, { rows: 123 }));
    assertGram(await h.read(), gramRef(x, y, 123, f, n), "rows = 123");
    const empty = gpu.tensor([f, n], "f32");
    gpu.run((rec) => gramAccumulate(rec, xt, yt, empty, { rows: 0 }));
    assertClose(await empty.read(), new Float32Array(f * n), { atol: 0, rtol: 0 }, "rows = 0");
    for (const tt of [xt, yt, g, h, empty]) tt.destroy();
  },
});

Deno.test({
  name: "gramAccumulate over M = 40000 (three chunks of ≤ 16384 rows) is exact on small integers",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const m = 40000;
    const f = 33;
    const n = 3;
    if (m <= GRAM_CHUNK_ROWS) throw new Error("test must span several chunks");
    const x = smallInts(m * f, 11);
    const z = smallInts(m * n, 12);
    const xt = gpu.tensor([m, f], "f32", x);
    const zt = gpu.tensor([m, n], "f32", z);
    const g = gpu.tensor([f, f], "f32");
    const h = gpu.tensor([f, n], "f32");
    const h2 = gpu.tensor([f, n], "f32");
    gpu.run((rec) => {
      gramAccumulate(rec, xt, xt, g);
      gramAccumulate(rec, xt, zt, h);
      gramAccumulate(rec, xt, zt, h2, { chunkRows: 7001 }); // 6 chunks, the last partial
    });
    const exact = { atol: 0, rtol: 0 };
    assertClose(await g.read(), gramRef(x, x, m, f, f).g, exact, "G");
    const hr = gramRef(x, z, m, f, n).g;
    assertClose(await h.read(), hr, exact, "H");
    assertClose(await h2.read(), hr, exact, "H, chunkRows 7001");
    for (const tt of [xt, zt, g, h, h2]) tt.destroy();
  },
});

Deno.test({
  name: "columnSumSquares vs f64 and the diagonal of the Gram matrix",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const [m, f] of [[1, 1], [7, 5], [1000, 33], [1000, 172]]) {
      await t.step(`M=${m} F=${f}`, async () => {
        const x = randn(m * f, 20 + f, 2);
        const xt = gpu.tensor([m, f], "f32", x);
        const prev = randn(f, 21, 5).map(Math.abs);
        const acc = gpu.tensor([f], "f32", prev);
        const over = gpu.tensor([f], "f32", prev);
        const g = gpu.tensor([f, f], "f32");
        const fresh = gpu.run((rec) => {
          columnSumSquares(rec, xt, acc);
          columnSumSquares(rec, xt, over, { accumulate: false });
          gramAccumulate(rec, xt, xt, g);
          return columnSumSquares(rec, xt);
        });
        const ref = columnSumSquaresRef(x, m, f);
        const tol = { atol: 1e-6, rtol: 1e-5 };
        assertClose(await fresh.read(), ref, tol, "allocated");
        assertClose(await over.read(), ref, tol, "accumulate: false");
        assertClose(await acc.read(), ref.map((v, i) => v + prev[i]), tol, "accumulate");
        const gd = await g.read();
        assertClose(Array.from({ length: f }, (_, i) => gd[i * f + i]), ref, tol, "diag(G)");
        for (const tt of [xt, acc, over, g, fresh]) tt.destroy();
      });
    }
    await t.step("M=40000 F=8 (chunks), exact on small integers, rows option", async () => {
      const [m, f] = [40000, 8];
      const x = smallInts(m * f, 30);
      const xt = gpu.tensor([m, f], "f32", x);
      const all = gpu.run((rec) => columnSumSquares(rec, xt));
      const part = gpu.run((rec) => columnSumSquares(rec, xt, undefined, { rows: 20001 }));
      assertClose(await all.read(), columnSumSquaresRef(x, m, f), { atol: 0, rtol: 0 }, "all");
      assertClose(
        await part.read(),
        columnSumSquaresRef(x, 20001, f),
        { atol: 0, rtol: 0 },
        "rows",
      );
      for (const tt of [xt, all, part]) tt.destroy();
    });
  },
});

Deno.test({
  name: "gramAccumulate / columnSumSquares reject bad shapes, aliasing and over-budget chunks",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const x = gpu.tensor([10, 4], "f32");
    const y = gpu.tensor([9, 3], "f32");
    const g = gpu.tensor([4, 3], "f32");
    const rec = gpu.recorder();
    assertThrows(() => gramAccumulate(rec, x, y, g), "x has 10 rows but y has 9");
    assertThrows(() => gramAccumulate(rec, x, x, g), "g must be [4, 4]");
    assertThrows(() => gramAccumulate(rec, x, x, x.reshape([4, 10])), "g must be [4, 4]");
    const gx = gpu.tensor([4, 4], "f32");
    assertThrows(() => gramAccumulate(rec, gx, gx, gx), "must not share a buffer");
    assertThrows(() => gramAccumulate(rec, x, x, gx, { rows: 11 }), "rows must be an integer");
    assertThrows(() => gramAccumulate(rec, x, x, gx, { chunkRows: 40000 }), "loop iterations");
    assertThrows(() => gramAccumulate(rec, gpu.tensor([10, 4], "u32"), x, gx), "2-D f32");
    assertThrows(() => columnSumSquares(rec, x, gpu.tensor([3], "f32")), "out must be f32 [4]");
    rec.submit();
    await gpu.sync();
  },
});
