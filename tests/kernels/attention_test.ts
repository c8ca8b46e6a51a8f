import { appendKv, attention } from "../../src/kernels/attention.ts";
import { appendRef, attentionRef } from "../../ref/attention.ts";
import { assertClose, GPU_TEST, randn, testGpu } from "../util.ts";

// Tolerance: the F32_TOL default of assertClose, |gpu − ref| ≤ 1e-5 + 1e-4·|ref|, against the f64
// reference. The appended caches must match exactly.

interface Case {
  name: string;
  batch: number;
  tokens: number;
  past: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Scale of the random queries (larger: sharper softmax). */
  qScale?: number;
  /** Softmax scale passed to the kernel (default 1/√hd). */
  scale?: number;
  /** Check only these query rows against the (slow) reference. */
  rows?: number[];
}

/** Rows 0…k−1, every `step`-th row and the last k rows of `n`. */
function sampleRows(n: number, k: number, step: number): number[] {
  const s = new Set<number>();
  for (let i = 0; i < k; i++) s.add(i).add(n - 1 - i);
  for (let i = 0; i < n; i += step) s.add(i);
  return [...s].filter((r) => r >= 0 && r < n).sort((a, b) => a - b);
}

const CASES: Case[] = [
  { name: "T1 past0 hd8 H4/KVH4", batch: 1, tokens: 1, past: 0, heads: 4, kvHeads: 4, headDim: 8 },
  {
    name: "decode T1 past37 hd12 H6/KVH3 B3",
    batch: 3,
    tokens: 1,
    past: 37,
    heads: 6,
    kvHeads: 3,
    headDim: 12,
  },
  {
    name: "T5 past20 hd64 H8/KVH2 B3",
    batch: 3,
    tokens: 5,
    past: 20,
    heads: 8,
    kvHeads: 2,
    headDim: 64,
  },
  {
    name: "T300 past7 hd8 H6/KVH3",
    batch: 1,
    tokens: 300,
    past: 7,
    heads: 6,
    kvHeads: 3,
    headDim: 8,
    qScale: 3,
  },
  {
    name: "decode T1 past129 hd128 H8/KVH1 (GQA 8) B3",
    batch: 3,
    tokens: 1,
    past: 129,
    heads: 8,
    kvHeads: 1,
    headDim: 128,
  },
  {
    name: "T130 past0 hd12 H4/KVH1 B2",
    batch: 2,
    tokens: 130,
    past: 0,
    heads: 4,
    kvHeads: 1,
    headDim: 12,
  },
  {
    name: "T3 past200 hd256 H2/KVH1",
    batch: 1,
    tokens: 3,
    past: 200,
    heads: 2,
    kvHeads: 1,
    headDim: 256,
  },
  // Logits in the hundreds: overflows exp without max subtraction.
  {
    name: "sharp softmax scale=2 T17 past50 hd64 H2/KVH2",
    batch: 1,
    tokens: 17,
    past: 50,
    heads: 2,
    kvHeads: 2,
    headDim: 64,
    qScale: 4,
    scale: 2,
  },
  // Production sizes: a naive kernel (one invocation looping over all keys and dims) would run
  // 4096·32 iterations and be cut off at 65,535.
  {
    name: "production decode T1 past4095 hd128 H32/KVH8",
    batch: 1,
    tokens: 1,
    past: 4095,
    heads: 32,
    kvHeads: 8,
    headDim: 128,
  },
  {
    name: "production prefill T512 past0 hd64 H8/KVH2",
    batch: 1,
    tokens: 512,
    past: 0,
    heads: 8,
    kvHeads: 2,
    headDim: 64,
    rows: sampleRows(512, 8, 23),
  },
  // 70,000 keys: one lane per query tile would loop past the 65,535-iteration cap, so the kernel
  // must split the keys over more lanes.
  {
    name: "long context T40 past70000 hd8 H8/KVH1",
    batch: 1,
    tokens: 40,
    past: 70000,
    heads: 8,
    kvHeads: 1,
    headDim: 8,
    rows: [0, 17, 39],
  },
];

for (const c of CASES) {
  Deno.test({
    name: `attention ${c.name}`,
    ...GPU_TEST,
    async fn() {
      const gpu = await testGpu();
      const { batch, tokens, past, heads, kvHeads, headDim } = c;
      const cap = past + tokens + 5;
      const width = kvHeads * headDim;
      const rows = batch * tokens;
      const seed = 1000 * headDim + past + tokens;
      // Cached positions past+T … S_cap−1 hold huge values: reading them would show.
      const kInit = randn(batch * cap * width, seed, 1);
      const vInit = randn(batch * cap * width, seed + 1, 1);
      for (let b = 0; b < batch; b++) {
        const from = (b * cap + past + tokens) * width;
        kInit.fill(1e4, from, (b + 1) * cap * width);
        vInit.fill(1e4, from, (b + 1) * cap * width);
      }
      const kNew = randn(rows * width, seed + 2, 1);
      const vNew = randn(rows * width, seed + 3, 1);
      const q = randn(rows * heads * headDim, seed + 4, c.qScale ?? 1);
      const kCache = gpu.tensor([batch, cap, kvHeads, headDim], "f32", kInit);
      const vCache = gpu.tensor([batch, cap, kvHeads, headDim], "f32", vInit);
      const kt = gpu.tensor([rows, width], "f32", kNew);
      const vt = gpu.tensor([rows, width], "f32", vNew);
      const qt = gpu.tensor([rows, heads * headDim], "f32", q);
      const o = gpu.run((rec) => {
        appendKv(rec, kt, vt, kCache, vCache, { batch, tokens, past });
        return attention(rec, qt, kCache, vCache, {
          batch,
          tokens,
          past,
          heads,
          kvHeads,
          headDim,
          scale: c.scale,
        });
      });
      const out = await o.read();
      const shape = { batch, tokens, past, cap, width };
      const kRef = appendRef(kInit, kNew, shape);
      const vRef = appendRef(vInit, vNew, shape);
      assertClose(await kCache.read(), kRef, { atol: 0, rtol: 0 }, "k cache");
      assertClose(await vCache.read(), vRef, { atol: 0, rtol: 0 }, "v cache");
      const ref = attentionRef(q, kRef, vRef, { ...c, cap }, c.rows);
      if (c.rows) {
        const w = heads * headDim;
        const got: number[] = [];
        const want: number[] = [];
        for (const r of c.rows) {
          got.push(...out.subarray(r * w, (r + 1) * w));
          want.push(...ref.subarray(r * w, (r + 1) * w));
        }
        assertClose(got, want, undefined, c.name);
      } else assertClose(out, ref, undefined, c.name);
      for (const t of [kCache, vCache, kt, vt, qt, o]) t.destroy();
    },
  });
}

function assertThrows(fn: () => unknown, includes: string): void {
  try {
    fn();
  } catch (e) {
    if (!(e as Error).message.includes(includes)) {
      throw new Error(`expected an error containing "${includes}", got: ${(e as Error).message}`);
    }
    return;
  }
  throw new Error(`expected an error containing "${includes}"`);
}

Deno.test({
  name: "attention and appendKv reject bad shapes",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpu();
    const kc = gpu.tensor([1, 8, 2, 8], "f32");
    const vc = gpu.tensor([1, 8, 2, 8], "f32");
    const q = gpu.tensor([3, 32], "f32");
    const kv = gpu.tensor([3, 16], "f32");
    const opts = { batch: 1, tokens: 3, past: 5, heads: 4, kvHeads: 2, headDim: 8 };
    const rec = gpu.recorder();
    assertThrows(() => attention(rec, q, kc, vc, { ...opts, past: 6 }), "capacity");
    assertThrows(() => attention(rec, q, kc, vc, { ...opts, kvHeads: 3 }), "divide");
    assertThrows(() => attention(rec, q, kc, vc, { ...opts, heads: 2 }), "q must be");
    assertThrows(() => attention(rec, q, kc, vc, { ...opts, out: q }), "other than q");
    assertThrows(() => appendKv(rec, kv, kv, kc, vc, { batch: 1, tokens: 3, past: 6 }), "capacity");
    assertThrows(() => appendKv(rec, kv, kv, kc, kc, { batch: 1, tokens: 3, past: 0 }), "same");
    assertThrows(
      () => attention(rec, q, kc, vc, { ...opts, headDim: 6, heads: 4 }),
      "multiple of 4",
    );
    rec.submit();
    await gpu.sync();
  },
});
