import { adamwStep, gradNormClip } from "../../src/train/kernels/adamw.ts";
import { adamwRef, clipRef } from "../../ref/adamw.ts";
import { assertClose, GPU_TEST, randn, testGpuF32 } from "../util.ts";

// Tolerance: parameters after 3 steps within 1e-6 + 1e-5·|ref| of the f64 PyTorch-semantics
// reference (each step moves a parameter by ≈ lr = 1e-2 computed in f32, with f32 m/v);
// moments within 1e-7 + 1e-5·|ref|. The clip norm: f32 tree sums, rtol 1e-5.

const HYPER = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

Deno.test({
  name: "adamw: 3 steps vs f64 PyTorch AdamW (odd sizes, grad scale, zero padding stays zero)",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const n of [1, 7, 36, 1001]) {
      await t.step(`n=${n}`, async () => {
        const p0 = randn(n, 1 + n, 1);
        if (n > 4) p0[n - 1] = 0; // a padding element: param, grad, moments all zero
        const param = gpu.tensor([n], "f32", p0);
        const grad = gpu.tensor([n], "f32");
        const m = gpu.tensor([n], "f32");
        const v = gpu.tensor([n], "f32");
        const rp = Float64Array.from(p0);
        const rm = new Float64Array(n);
        const rv = new Float64Array(n);
        for (let step = 1; step <= 3; step++) {
          const g = randn(n, 10 * step + n, 2);
          if (n > 4) g[n - 1] = 0;
          grad.write(g);
          gpu.run((rec) =>
            adamwStep(rec, { param, grad, m, v }, { ...HYPER, step, gradScale: 0.5 })
          );
          adamwRef(rp, g, rm, rv, { ...HYPER, step, gradScale: 0.5 });
        }
        assertClose(await param.read(), rp, { atol: 1e-6, rtol: 1e-5 }, "param");
        assertClose(await m.read(), rm, { atol: 1e-7, rtol: 1e-5 }, "m");
        assertClose(await v.read(), rv, { atol: 1e-7, rtol: 1e-5 }, "v");
        if (n > 4 && (await param.read())[n - 1] !== 0) throw new Error("padding moved");
      });
    }
  },
});

Deno.test({
  name: "global grad-norm clipping on the GPU, applied inside AdamW",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const sizes = [5, 36, 1, 3000, 257];
    const grads = sizes.map((n, i) => randn(n, 100 + i, 1));
    const gts = grads.map((g) => gpu.tensor([g.length], "f32", g));
    for (const maxNorm of [1.0, 1e4]) {
      const ref = clipRef(grads, maxNorm, 0.5);
      const n = sizes[3];
      const p0 = randn(n, 7, 1);
      const st = {
        param: gpu.tensor([n], "f32", p0),
        grad: gts[3],
        m: gpu.tensor([n], "f32"),
        v: gpu.tensor([n], "f32"),
      };
      const clip = gpu.run((rec) => {
        const c = gradNormClip(rec, gts, maxNorm, { gradScale: 0.5 });
        adamwStep(rec, st, { ...HYPER, step: 1, gradScale: 0.5, clip: c });
        return c;
      });
      const [norm, factor] = await clip.read();
      assertClose([norm], [ref.norm], { atol: 0, rtol: 1e-5 }, "norm");
      assertClose([factor], [ref.factor], { atol: 0, rtol: 1e-5 }, "factor");
      if (maxNorm === 1.0 && !(factor < 0.1)) throw new Error("expected clipping");
      if (maxNorm === 1e4 && factor !== 1) throw new Error("expected no clipping");
      const rp = Float64Array.from(p0);
      adamwRef(rp, grads[3], new Float64Array(n), new Float64Array(n), {
        ...HYPER,
        step: 1,
        gradScale: 0.5 * ref.factor,
      });
      assertClose(await st.param.read(), rp, { atol: 1e-6, rtol: 1e-5 }, "clipped step");
    }
  },
});
