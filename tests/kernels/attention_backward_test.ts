import {
  attentionBackward,
  attentionForwardTrain,
  type TrainAttentionOptions,
} from "../../src/train/kernels/attention_backward.ts";
import { attentionBackwardRef, attentionForwardRef } from "../../ref/backward.ts";
import { assertClose, F32_TOL, GPU_TEST, randn, testGpuF32 } from "../util.ts";

// Tolerance against the f64 reference: F32_TOL (1e-5 + 1e-4·|ref|) for the output, the LSE and
// dQ, dK, dV alike. Measured worst errors are ≤ 0.06 of that bound at T ≤ 70 (e.g. dV at
// T = 70, hd = 64: 2.5e-6 absolute on values up to 3.7) and 0.33 of it at T = 1,024 with GQA 32
// (dV: 2.6e-5 on values up to 6.7; each dK/dV row sums 32,768 (query, head) terms). A wrong
// mask, head mapping or dropped term moves elements by ≥ 1e-2.

interface Case extends TrainAttentionOptions {
  label: string;
  /** Scale of the random q/k values (sharper softmax when larger). */
  qkScale?: number;
}

const CASES: Case[] = [
  { label: "T1 hd4 H1/KVH1", batch: 1, tokens: 1, heads: 1, kvHeads: 1, headDim: 4 },
  { label: "T7 hd8 H4/KVH2 B2", batch: 2, tokens: 7, heads: 4, kvHeads: 2, headDim: 8 },
  { label: "T7 hd12 H4/KVH1 (GQA 4)", batch: 1, tokens: 7, heads: 4, kvHeads: 1, headDim: 12 },
  { label: "T70 hd8 H3/KVH3 B2", batch: 2, tokens: 70, heads: 3, kvHeads: 3, headDim: 8 },
  {
    label: "T70 hd64 H4/KVH1 sharp",
    batch: 1,
    tokens: 70,
    heads: 4,
    kvHeads: 1,
    headDim: 64,
    qkScale: 1.5,
  },
  {
    label: "T33 hd16 H8/KVH2 scale 0.3",
    batch: 1,
    tokens: 33,
    heads: 8,
    kvHeads: 2,
    headDim: 16,
    scale: 0.3,
  },
  {
    // T·R = 32,768 queries per kv head: the dK/dV loop is split over lanes (loop budget).
    label: "T1024 hd4 H32/KVH1 (GQA 32, split dK/dV loop)",
    batch: 1,
    tokens: 1024,
    heads: 32,
    kvHeads: 1,
    headDim: 4,
  },
];

Deno.test({
  name: "attention forward-with-LSE and backward (dQ, dK, dV) vs f64",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const c of CASES) {
      await t.step(c.label, async () => {
        const rows = c.batch * c.tokens;
        const qw = c.heads * c.headDim;
        const kw = c.kvHeads * c.headDim;
        const s = c.qkScale ?? 1;
        const q = randn(rows * qw, 1 + rows + qw, s);
        const k = randn(rows * kw, 2 + rows + kw, s);
        const v = randn(rows * kw, 3 + rows, 1);
        const dO = randn(rows * qw, 4 + qw, 1);
        const qt = gpu.tensor([rows, qw], "f32", q);
        const kt = gpu.tensor([rows, kw], "f32", k);
        const vt = gpu.tensor([rows, kw], "f32", v);
        const dOt = gpu.tensor([rows, qw], "f32", dO);
        const t0 = performance.now();
        const res = gpu.run((rec) => {
          const f = attentionForwardTrain(rec, qt, kt, vt, c);
          const g = attentionBackward(rec, qt, kt, vt, f.out, f.lse, dOt, c);
          return { ...f, ...g };
        });
        await gpu.sync();
        const ms = performance.now() - t0;
        const fr = attentionForwardRef(q, k, v, c);
        assertClose(await res.out.read(), fr.o, F32_TOL, "out");
        assertClose(await res.lse.read(), fr.lse.map((x) => x * Math.LOG2E), F32_TOL, "lse");
        const br = attentionBackwardRef(q, k, v, dO, c);
        assertClose(await res.dq.read(), br.dq, F32_TOL, "dQ");
        assertClose(await res.dk.read(), br.dk, F32_TOL, "dK");
        assertClose(await res.dv.read(), br.dv, F32_TOL, "dV");
        if (ms > 2000) console.log(`  ${c.label}: ${ms.toFixed(0)} ms (incl. compiles)`);
      });
    }
  },
});

Deno.test({
  name: "attention backward rejects bad shapes and aliasing",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const shape = { batch: 1, tokens: 3, heads: 2, kvHeads: 1, headDim: 4 };
    const q = gpu.tensor([3, 8], "f32");
    const k = gpu.tensor([3, 4], "f32");
    const v = gpu.tensor([3, 4], "f32");
    const expect = (f: () => unknown, part: string) => {
      try {
        f();
      } catch (e) {
        if ((e as Error).message.includes(part)) return;
        throw e;
      }
      throw new Error(`expected an error containing "${part}"`);
    };
    gpu.run((rec) => {
      expect(() => attentionForwardTrain(rec, q, k, v, { ...shape, headDim: 6 }), "multiple of 4");
      expect(() => attentionForwardTrain(rec, q, k, v, { ...shape, kvHeads: 3 }), "divide");
      expect(() => attentionForwardTrain(rec, q, q, v, shape), "k must be");
      const { out, lse } = attentionForwardTrain(rec, q, k, v, shape);
      expect(() => attentionBackward(rec, q, k, v, out, lse, out, shape), "share a buffer");
    });
    await gpu.sync();
  },
});
