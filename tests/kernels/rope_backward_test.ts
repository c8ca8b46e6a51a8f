import { rope, ropeTable } from "../../src/kernels/rope.ts";
import { ropeBackward } from "../../src/train/kernels/rope_backward.ts";
import { ropeBackwardRef } from "../../ref/backward.ts";
import { assertClose, F32_TOL, GPU_TEST, randn, testGpuF32 } from "../util.ts";

// Tolerance: F32_TOL; each output is two products with the f32-rounded table (≈ 6e-8 relative
// from the table, the rest f32 rounding).

const CASES = [
  { batch: 1, tokens: 1, heads: 1, headDim: 2, past: 0 },
  { batch: 2, tokens: 7, heads: 3, headDim: 6, past: 0 },
  { batch: 1, tokens: 70, heads: 2, headDim: 8, past: 5 },
  { batch: 3, tokens: 5, heads: 4, headDim: 64, past: 0 },
];

Deno.test({
  name: "rope backward vs f64 (negative-angle rotation), and forward∘backward = identity",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const c of CASES) {
      await t.step(
        `B=${c.batch} T=${c.tokens} heads=${c.heads} hd=${c.headDim} past=${c.past}`,
        async () => {
          const table = ropeTable(gpu, { headDim: c.headDim, theta: 10000, maxPositions: 128 });
          const n = c.batch * c.tokens * c.heads * c.headDim;
          const g = randn(n, 1 + n, 1);
          const gt = gpu.tensor([c.batch * c.tokens, c.heads * c.headDim], "f32", g);
          const rt = gpu.tensor([c.batch * c.tokens, c.heads * c.headDim], "f32", g);
          const opts = { ...c, tokensPerSeq: c.tokens };
          gpu.run((rec) => {
            ropeBackward(rec, gt, table, opts);
            ropeBackward(rec, rt, table, opts);
            rope(rec, rt, table, opts); // rotations are orthogonal: R·Rᵀ = I
          });
          assertClose(await gt.read(), ropeBackwardRef(g, c, table.invFreq), F32_TOL, "dx");
          assertClose(await rt.read(), g, F32_TOL, "round trip");
        },
      );
    }
  },
});
