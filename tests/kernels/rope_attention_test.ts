import { ropeAttentionDecode } from "../../src/kernels/attention.ts";
import { ropeTable } from "../../src/kernels/rope.ts";
import { appendRef, attentionRef } from "../../ref/attention.ts";
import { invFreqRef, ropeRef } from "../../ref/rope.ts";
import { assertClose, assertThrows, GPU_TEST, randn, testGpu } from "../util.ts";

// The fused decode step (RoPE of q and the new key, cache write, attention) against the f64
// references composed: ropeRef on q and k, appendRef into the caches, attentionRef. Tolerance:
// the F32_TOL default of assertClose. The cache outside position `past` must be unchanged.

interface Case {
  batch: number;
  past: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  cap: number;
  qScale?: number;
}

const CASES: Case[] = [
  { batch: 1, past: 0, heads: 8, kvHeads: 4, headDim: 8, cap: 3 }, // empty cache: only the new key
  { batch: 3, past: 37, heads: 6, kvHeads: 3, headDim: 8, cap: 41 },
  { batch: 2, past: 5, heads: 4, kvHeads: 1, headDim: 24, cap: 9, qScale: 3 },
  { batch: 1, past: 130, heads: 8, kvHeads: 4, headDim: 64, cap: 131 },
  { batch: 2, past: 19, heads: 2, kvHeads: 2, headDim: 128, cap: 33 },
];

for (const c of CASES) {
  Deno.test({
    name:
      `ropeAttentionDecode hd${c.headDim} H${c.heads}/KVH${c.kvHeads} B${c.batch} past${c.past}`,
    ...GPU_TEST,
    async fn() {
      const gpu = await testGpu();
      const table = ropeTable(gpu, { headDim: c.headDim, theta: 10000, maxPositions: c.cap });
      const kvw = c.kvHeads * c.headDim;
      const qw = c.heads * c.headDim;
      const q = randn(c.batch * qw, 1 + c.headDim, c.qScale ?? 1);
      const k = randn(c.batch * kvw, 2 + c.past, 1);
      const v = randn(c.batch * kvw, 3 + c.batch, 1);
      const kc0 = randn(c.batch * c.cap * kvw, 4, 1);
      const vc0 = randn(c.batch * c.cap * kvw, 5, 1);
      const qt = gpu.tensor([c.batch, qw], "f32", q);
      const kt = gpu.tensor([c.batch, kvw], "f32", k);
      const vt = gpu.tensor([c.batch, kvw], "f32", v);
      const shape = [c.batch, c.cap, c.kvHeads, c.headDim];
      const kc = gpu.tensor(shape, "f32", kc0);
      const vc = gpu.tensor(shape, "f32", vc0);
      const opts = { ...c, tokens: 1 };
      const o = gpu.run((rec) => ropeAttentionDecode(rec, qt, kt, vt, kc, vc, table, opts));
      const invFreq = invFreqRef(c.headDim, 10000);
      const pos = { dim: c.headDim, tokens: 1, batch: c.batch, past: c.past };
      const s = { batch: c.batch, tokens: 1, past: c.past, cap: c.cap, width: kvw };
      const kRef = appendRef(kc0, ropeRef(k, invFreq, { ...pos, heads: c.kvHeads }), s);
      const vRef = appendRef(vc0, v, s);
      const qRef = ropeRef(q, invFreq, { ...pos, heads: c.heads });
      const oRef = attentionRef(qRef, kRef, vRef, { ...opts, cap: c.cap });
      assertClose(await o.read(), oRef, undefined, "attention output");
      assertClose(await kc.read(), kRef, undefined, "key cache");
      assertClose(await vc.read(), vRef, { atol: 0, rtol: 0 }, "value cache");
      assertClose(await qt.read(), q, { atol: 0, rtol: 0 }, "queries untouched");
    },
  });
}

Deno.test({
  name: "ropeAttentionDecode rejects what it does not fuse",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpu();
    const table = ropeTable(gpu, { headDim: 12, theta: 10000, maxPositions: 8 });
    const q = gpu.tensor([1, 24], "f32");
    const k = gpu.tensor([1, 12], "f32");
    const kc = gpu.tensor([1, 8, 1, 12], "f32");
    const vc = gpu.tensor([1, 8, 1, 12], "f32");
    const o = { batch: 1, tokens: 1, past: 2, heads: 2, kvHeads: 1, headDim: 12 };
    gpu.run((rec) => {
      assertThrows(() => ropeAttentionDecode(rec, q, k, k, kc, vc, table, o), "multiple of 8");
      assertThrows(
        () => ropeAttentionDecode(rec, q, k, k, kc, vc, table, { ...o, tokens: 2 }),
        "one token",
      );
    });
    await gpu.sync();
  },
});
