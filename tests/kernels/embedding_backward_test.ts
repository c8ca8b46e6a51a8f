import {
  buildEmbeddingCsr,
  embeddingBackward,
  planEmbeddingBackward,
} from "../../src/train/kernels/embedding_backward.ts";
import { embeddingBackwardRef } from "../../ref/backward.ts";
import { assertClose, assertThrows, F32_TOL, GPU_TEST, randn, rng, testGpuF32 } from "../util.ts";

// Tolerance: F32_TOL; each element sums the rows of one id in f32 (≤ 300 terms here).

Deno.test({
  name: "embedding backward: CSR gather-sum vs f64 (repeats, multi-round segments, accumulate)",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    const cases: { m: number; v: number; d: number; seg?: number; label: string }[] = [
      { m: 1, v: 1, d: 1, label: "single" },
      { m: 7, v: 5, d: 3, label: "repeats, d=3" },
      { m: 70, v: 11, d: 36, label: "many repeats, vec4" },
      { m: 300, v: 4, d: 5, seg: 16, label: "segments of 16 rows: several rounds" },
      { m: 33, v: 1000, d: 8, label: "sparse vocabulary" },
    ];
    for (const c of cases) {
      await t.step(c.label, async () => {
        const r = rng(c.m * 31 + c.v);
        const ids = Array.from({ length: c.m }, () => Math.floor(r() * c.v));
        if (c.m > 3) ids[2] = ids[0]; // at least one repeat
        const dH = randn(c.m * c.d, 3 + c.m, 1);
        const prev = randn(c.v * c.d, 4 + c.v, 1);
        const dT = gpu.tensor([c.v, c.d], "f32", prev);
        const dT0 = gpu.tensor([c.v, c.d], "f32", prev);
        const dht = gpu.tensor([c.m, c.d], "f32", dH);
        const plan = planEmbeddingBackward(gpu, ids, c.v, { segmentRows: c.seg });
        if (c.seg && plan.rounds.length < 2) throw new Error("expected several rounds");
        gpu.run((rec) => {
          embeddingBackward(rec, plan, dht, dT, { accumulate: true });
          embeddingBackward(rec, ids, dht, dT0, { segmentRows: c.seg }); // overwrites
        });
        const ref = embeddingBackwardRef(ids, dH, c.v, c.d);
        assertClose(await dT.read(), ref.map((x, i) => x + prev[i]), F32_TOL, "accumulate");
        assertClose(await dT0.read(), ref, F32_TOL, "overwrite");
      });
    }
  },
});

Deno.test({
  name: "embedding backward CSR layout and errors",
  ...GPU_TEST,
  async fn() {
    const { words, rounds, distinct } = buildEmbeddingCsr([3, 1, 3, 3, 0], 4, 2);
    // rows grouped by id (stable), then segments (id, start, end) by round.
    const want = [4, 1, 0, 2, 3, 0, 0, 1, 1, 1, 2, 3, 2, 4, 3, 4, 5];
    if (words.join() !== want.join()) throw new Error(`CSR words ${words.join()}`);
    if (distinct !== 3 || rounds.length !== 2 || rounds[1].count !== 1) {
      throw new Error(`rounds ${JSON.stringify(rounds)}`);
    }
    const gpu = await testGpuF32();
    gpu.run((rec) => {
      assertThrows(
        () => embeddingBackward(rec, [0, 4], gpu.tensor([2, 3], "f32"), gpu.tensor([4, 3], "f32")),
        "out of range",
      );
      assertThrows(
        () => embeddingBackward(rec, [0, 1], gpu.tensor([3, 3], "f32"), gpu.tensor([4, 3], "f32")),
        "dH must be",
      );
    });
    await gpu.sync();
  },
});
