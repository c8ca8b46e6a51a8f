import {
  rope,
  ropeAppendKv,
  ropeInvFreq,
  type RopeScaling,
  ropeTable,
} from "../../src/kernels/rope.ts";
import { appendRef } from "../../ref/attention.ts";
import { invFreqRef, ropeRef, type RopeScalingRef } from "../../ref/rope.ts";
import { assertClose, GPU_TEST, randn, testGpu } from "../util.ts";

// Tolerance: the F32_TOL default of assertClose, |gpu − ref| ≤ 1e-5 + 1e-4·|ref|, against the f64
// reference at every position (up to 8191 here). The f32 table holds cos/sin rounded from f64, so
// the kernel's error is a few f32 ulps of |x| whatever the position; computing the angle
// pos·inv_freq in f32 instead would be off by up to ~5e-4 rad at position 8000.

const LLAMA31: RopeScaling = {
  type: "llama3",
  factor: 8,
  lowFreqFactor: 1,
  highFreqFactor: 4,
  originalMaxPositionEmbeddings: 8192,
};
const LLAMA31_REF: RopeScalingRef = {
  rope_type: "llama3",
  factor: 8,
  low_freq_factor: 1,
  high_freq_factor: 4,
  original_max_position_embeddings: 8192,
};

function refScaling(s?: RopeScaling): RopeScalingRef | undefined {
  if (!s) return undefined;
  if (s.type === "linear") return { rope_type: "linear", factor: s.factor };
  return LLAMA31_REF;
}

Deno.test("ropeInvFreq matches the independent f64 reference (default, linear, llama3)", () => {
  const tol = { atol: 0, rtol: 1e-13 };
  assertClose(ropeInvFreq({ headDim: 64, theta: 10000 }), invFreqRef(64, 10000), tol, "default");
  assertClose(
    ropeInvFreq({ headDim: 12, theta: 10000, scaling: { type: "linear", factor: 4 } }),
    invFreqRef(12, 10000, { rope_type: "linear", factor: 4 }),
    tol,
    "linear",
  );
  const l3 = ropeInvFreq({ headDim: 128, theta: 500000, scaling: LLAMA31 });
  assertClose(l3, invFreqRef(128, 500000, LLAMA31_REF), tol, "llama3");
  // All three regimes occur at hd 128: kept (high freq), divided by 8 (low freq), smoothed.
  const plain = invFreqRef(128, 500000);
  let kept = 0, divided = 0, smoothed = 0;
  for (let i = 0; i < 64; i++) {
    if (l3[i] === plain[i]) kept++;
    else if (Math.abs(l3[i] - plain[i] / 8) < 1e-20) divided++;
    else smoothed++;
  }
  if (kept === 0 || divided === 0 || smoothed === 0) {
    throw new Error(`llama3 regimes not all exercised: ${kept}/${divided}/${smoothed}`);
  }
});

interface Case {
  name: string;
  headDim: number;
  theta: number;
  scaling?: RopeScaling;
  heads: number;
  batch: number;
  tokens: number;
  past: number;
  maxPositions: number;
}

const CASES: Case[] = [
  // hd 8: vec4 path (hd/2 = 4); T = 1 with past = 0.
  {
    name: "default hd8 T1 past0",
    headDim: 8,
    theta: 10000,
    heads: 3,
    batch: 1,
    tokens: 1,
    past: 0,
    maxPositions: 16,
  },
  // hd 12: scalar path (hd/2 = 6); batch 3, heads 6.
  {
    name: "default hd12 B3 T5 past11",
    headDim: 12,
    theta: 10000,
    heads: 6,
    batch: 3,
    tokens: 5,
    past: 11,
    maxPositions: 16,
  },
  // Llama 3.1 scaling at the end of an 8192 table (decode-like T = 1 and a short chunk).
  {
    name: "llama3 hd128 T1 past8191",
    headDim: 128,
    theta: 500000,
    scaling: LLAMA31,
    heads: 4,
    batch: 1,
    tokens: 1,
    past: 8191,
    maxPositions: 8192,
  },
  {
    name: "llama3 hd128 B2 T12 past7980",
    headDim: 128,
    theta: 500000,
    scaling: LLAMA31,
    heads: 3,
    batch: 2,
    tokens: 12,
    past: 7980,
    maxPositions: 8192,
  },
  // Prefill longer than a workgroup.
  {
    name: "llama3 hd64 T300 past0",
    headDim: 64,
    theta: 500000,
    scaling: LLAMA31,
    heads: 2,
    batch: 1,
    tokens: 300,
    past: 0,
    maxPositions: 8192,
  },
  {
    name: "linear×4 hd64 B2 T3 past100",
    headDim: 64,
    theta: 10000,
    scaling: { type: "linear", factor: 4 },
    heads: 5,
    batch: 2,
    tokens: 3,
    past: 100,
    maxPositions: 128,
  },
];

for (const c of CASES) {
  Deno.test({
    name: `rope ${c.name}`,
    ...GPU_TEST,
    async fn() {
      const gpu = await testGpu();
      const table = ropeTable(gpu, c);
      const width = c.heads * c.headDim;
      const rows = c.batch * c.tokens;
      const x = randn(rows * width, 100 + c.headDim + c.past, 2);
      const xt = gpu.tensor([rows, width], "f32", x);
      const y = gpu.run((rec) =>
        rope(rec, xt, table, {
          heads: c.heads,
          headDim: c.headDim,
          tokensPerSeq: c.tokens,
          batch: c.batch,
          past: c.past,
        })
      );
      if (y !== xt) throw new Error("rope must return its input (in place)");
      const ref = ropeRef(x, invFreqRef(c.headDim, c.theta, refScaling(c.scaling)), {
        heads: c.heads,
        dim: c.headDim,
        tokens: c.tokens,
        batch: c.batch,
        past: c.past,
      });
      assertClose(await xt.read(), ref, undefined, c.name);
      table.tensor.destroy();
      xt.destroy();
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
  name: "rope rejects positions beyond the table and mismatched shapes",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpu();
    const table = ropeTable(gpu, { headDim: 8, theta: 10000, maxPositions: 10 });
    const x = gpu.tensor([3, 16], "f32");
    const opts = { heads: 2, headDim: 8, tokensPerSeq: 3, batch: 1, past: 8 };
    assertThrows(() => gpu.run((rec) => rope(rec, x, table, opts)), "exceed");
    assertThrows(
      () => gpu.run((rec) => rope(rec, x, table, { ...opts, past: 0, heads: 3 })),
      "values",
    );
    gpu.run((rec) => rope(rec, x, table, { ...opts, past: 7 })); // last position 9: fits
    await gpu.sync();
  },
});

// Fused RoPE + KV-cache write: odd head dims (hd/2 not a multiple of 4), GQA ratios, B > 1,
// a prompt (T > 1) and decode steps (T = 1) into a partly filled cache.
const KV_CASES = [
  { headDim: 8, heads: 4, kvHeads: 2, batch: 1, tokens: 1, past: 9, cap: 11 },
  { headDim: 6, heads: 3, kvHeads: 1, batch: 2, tokens: 5, past: 3, cap: 9 },
  { headDim: 64, heads: 8, kvHeads: 4, batch: 2, tokens: 1, past: 40, cap: 48 },
  { headDim: 12, heads: 2, kvHeads: 2, batch: 3, tokens: 7, past: 0, cap: 7 },
];

for (const c of KV_CASES) {
  Deno.test({
    name:
      `ropeAppendKv hd${c.headDim} H${c.heads}/KVH${c.kvHeads} B${c.batch} T${c.tokens} past${c.past}`,
    ...GPU_TEST,
    async fn() {
      const gpu = await testGpu();
      const table = ropeTable(gpu, { headDim: c.headDim, theta: 10000, maxPositions: c.cap });
      const rows = c.batch * c.tokens;
      const kvw = c.kvHeads * c.headDim;
      const q = randn(rows * c.heads * c.headDim, 1 + c.headDim, 1);
      const k = randn(rows * kvw, 2 + c.past, 1);
      const v = randn(rows * kvw, 3 + c.tokens, 1);
      const cacheSize = c.batch * c.cap * kvw;
      const kc0 = randn(cacheSize, 4, 1);
      const vc0 = randn(cacheSize, 5, 1);
      const qt = gpu.tensor([rows, c.heads * c.headDim], "f32", q);
      const kt = gpu.tensor([rows, kvw], "f32", k);
      const vt = gpu.tensor([rows, kvw], "f32", v);
      const shape = [c.batch, c.cap, c.kvHeads, c.headDim];
      const kc = gpu.tensor(shape, "f32", kc0);
      const vc = gpu.tensor(shape, "f32", vc0);
      gpu.run((rec) => ropeAppendKv(rec, qt, kt, vt, kc, vc, table, c));
      const invFreq = invFreqRef(c.headDim, 10000);
      const pos = { dim: c.headDim, tokens: c.tokens, batch: c.batch, past: c.past };
      const s = { batch: c.batch, tokens: c.tokens, past: c.past, cap: c.cap, width: kvw };
      assertClose(await qt.read(), ropeRef(q, invFreq, { ...pos, heads: c.heads }), undefined, "q");
      const kRef = appendRef(kc0, ropeRef(k, invFreq, { ...pos, heads: c.kvHeads }), s);
      assertClose(await kc.read(), kRef, undefined, "key cache");
      assertClose(await vc.read(), appendRef(vc0, v, s), undefined, "value cache");
      assertClose(await kt.read(), k, undefined, "new keys untouched");
    },
  });
}
