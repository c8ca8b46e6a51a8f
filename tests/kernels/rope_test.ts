import { rope, ropeInvFreq, type RopeScaling, ropeTable } from "../../src/kernels/rope.ts";
import { invFreqRef, ropeRef, type RopeScalingRef } from "../ref/rope.ts";
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
