import { swigluBackward } from "../../src/train/kernels/swiglu_backward.ts";
import { swigluBackwardRef } from "../../ref/backward.ts";
import { assertClose, F32_TOL, GPU_TEST, randn, testGpuF32 } from "../util.ts";

// Tolerance: F32_TOL; a handful of f32 operations per element (exp, one division).

Deno.test({
  name: "swiglu backward vs f64 (odd sizes, large |gate|, in place)",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const [m, f] of [[1, 1], [3, 7], [5, 36], [70, 33]]) {
      await t.step(`M=${m} F=${f}`, async () => {
        const n = m * f;
        const gate = randn(n, 1 + n, 6);
        gate[0] = 80; // σ → 1 exactly
        if (n > 1) gate[1] = -90; // σ → 0 without overflow
        const up = randn(n, 2 + n, 2);
        const dOut = randn(n, 3 + n, 1);
        const ref = swigluBackwardRef(gate, up, dOut);
        const g = gpu.tensor([m, f], "f32", gate);
        const u = gpu.tensor([m, f], "f32", up);
        const d = gpu.tensor([m, f], "f32", dOut);
        const out = gpu.run((rec) => swigluBackward(rec, g, u, d));
        assertClose(await out.dGate.read(), ref.dGate, F32_TOL, "dGate");
        assertClose(await out.dUp.read(), ref.dUp, F32_TOL, "dUp");
        const same = gpu.run((rec) => swigluBackward(rec, g, u, d, { inPlace: true }));
        if (same.dGate !== g || same.dUp !== u) throw new Error("in place must return gate, up");
        assertClose(await g.read(), ref.dGate, F32_TOL, "dGate in place");
        assertClose(await u.read(), ref.dUp, F32_TOL, "dUp in place");
      });
    }
  },
});
