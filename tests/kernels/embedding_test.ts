import { embedding } from "../../src/kernels/embedding.ts";
import { embeddingRef } from "../../ref/embedding.ts";
import {
  assertClose,
  assertThrows,
  GPU_TEST,
  randn,
  rng,
  roundF16,
  testGpu,
  testGpuF32,
} from "../util.ts";

function randomIds(m: number, v: number, seed: number): Uint32Array<ArrayBuffer> {
  const r = rng(seed);
  return Uint32Array.from({ length: m }, () => Math.floor(r() * v));
}

// [M ids, V rows, D width]: single ids / rows / columns, widths not multiples of 4 or 256,
// more ids than a workgroup has invocations, repeated ids.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 5, 3],
  [3, 7, 7],
  [33, 10, 257],
  [4, 50, 1000],
  [300, 17, 33],
];

Deno.test({
  name: "embedding f32 table, odd shapes (tensor and host ids)",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const [m, v, d] of SHAPES) {
      await t.step(`M=${m} V=${v} D=${d}`, async () => {
        const table = randn(v * d, 1 + d, 1);
        const ids = randomIds(m, v, 2 + m);
        ids[m - 1] = v - 1; // last row of the table
        const tt = gpu.tensor([v, d], "f32", table);
        const [a, b] = gpu.run((rec) => [
          embedding(rec, gpu.tensor([m], "u32", ids), tt),
          embedding(rec, Array.from(ids), tt),
        ]);
        const ref = embeddingRef(ids, table, v, d);
        assertClose(await a.read(), ref, { atol: 0, rtol: 0 }, "tensor ids");
        assertClose(await b.read(), ref, { atol: 0, rtol: 0 }, "host ids");
      });
    }
  },
});

Deno.test({
  name: "embedding f16 table (exact f16 → f32 widening)",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpu();
    if (!gpu.caps.f16) {
      await t.step({ name: "skipped: adapter has no shader-f16", ignore: true, fn() {} });
      return;
    }
    for (const [m, v, d] of [[1, 1, 1], [5, 9, 7], [40, 13, 1001]]) {
      await t.step(`M=${m} V=${v} D=${d}`, async () => {
        const table = randn(v * d, 5 + d, 2);
        const ids = randomIds(m, v, 6 + m);
        const y = gpu.run((rec) =>
          embedding(rec, gpu.tensor([m], "u32", ids), gpu.tensor([v, d], "f16", table))
        );
        const ref = embeddingRef(ids, roundF16(table), v, d);
        assertClose(await y.read(), ref, { atol: 0, rtol: 0 }, "f16 table");
      });
    }
  },
});

Deno.test({
  name: "embedding: out-of-range ids in a tensor give zero rows; host ids throw",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const [v, d] = [6, 5];
    const table = randn(v * d, 9, 1);
    const tt = gpu.tensor([v, d], "f32", table);
    const ids = new Uint32Array([0, 6, 5, 0xffffffff, 1000, 2]);
    const out = gpu.tensor([ids.length, d], "f32", new Float32Array(ids.length * d).fill(7));
    gpu.run((rec) => embedding(rec, gpu.tensor([ids.length], "u32", ids), tt, { out }));
    assertClose(await out.read(), embeddingRef(ids, table, v, d), { atol: 0, rtol: 0 }, "oob");
    gpu.run((rec) => {
      assertThrows(() => embedding(rec, [0, 6], tt), "ids[1] = 6 is out of range [0, 6)");
      assertThrows(() => embedding(rec, [-1], tt), "out of range");
      assertThrows(() => embedding(rec, [1.5], tt), "out of range");
      assertThrows(() => embedding(rec, gpu.tensor([2], "i32"), tt), "ids must be u32");
      assertThrows(() => embedding(rec, [1], gpu.tensor([6], "f32")), "table must be [V, D]");
      assertThrows(
        () => embedding(rec, [1, 2], tt, { out: gpu.tensor([2, 4], "f32") }),
        "out must be",
      );
    });
    await gpu.sync();
  },
});
