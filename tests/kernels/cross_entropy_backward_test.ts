import { crossEntropy, IGNORE_TARGET } from "../../src/train/kernels/cross_entropy.ts";
import { crossEntropyRef } from "../../ref/backward.ts";
import { assertClose, F32_TOL, GPU_TEST, randn, rng, testGpuF32 } from "../util.ts";

// Tolerance: F32_TOL on dLogits (softmax·scale − onehot·scale in f32); losses: atol 1e-5 +
// rtol 1e-5·|lse| scale — the row's log-sum-exp is an f32 sum of V exponentials.

Deno.test({
  name: "cross-entropy loss and dLogits vs f64 (odd V, ignored rows, in place)",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const [m, v] of [[1, 1], [1, 7], [5, 33], [70, 36], [3, 1001]]) {
      await t.step(`M=${m} V=${v}`, async () => {
        const logits = randn(m * v, 1 + m + v, 4);
        const r = rng(m + v);
        const targets = Array.from({ length: m }, () => Math.floor(r() * v));
        if (m > 2) targets[1] = -100; // ignored
        const counted = targets.filter((x) => x !== -100).length;
        const ref = crossEntropyRef(logits, targets, m, v, 1 / counted, -100);
        const lt = gpu.tensor([m, v], "f32", logits);
        const loss = gpu.tensor([1], "f32");
        const res = gpu.run((rec) => crossEntropy(rec, lt, targets, { loss }));
        if (res.counted !== counted) throw new Error("counted");
        assertClose(await res.dLogits.read(), ref.dLogits, F32_TOL, "dLogits");
        assertClose(await res.rowLoss.read(), ref.loss, { atol: 1e-5, rtol: 1e-5 }, "rowLoss");
        const total = ref.loss.reduce((a, b) => a + b, 0);
        assertClose(await loss.read(), [total], { atol: 1e-5, rtol: 1e-5 }, "mean loss");
        // In place, targets tensor, explicit scale.
        const u = Uint32Array.from(targets, (x) => (x === -100 ? IGNORE_TARGET : x));
        const ip = gpu.run((rec) =>
          crossEntropy(rec, lt, gpu.tensor([m], "u32", u), { inPlace: true, scale: 0.5 })
        );
        const ref2 = crossEntropyRef(logits, targets, m, v, 0.5, -100);
        if (ip.dLogits !== lt) throw new Error("in place must return the logits");
        assertClose(await lt.read(), ref2.dLogits, F32_TOL, "dLogits in place");
        assertClose(await ip.rowLoss.read(), ref2.loss, { atol: 1e-5, rtol: 1e-5 }, "loss");
      });
    }
  },
});

Deno.test({
  name: "cross-entropy: V = 151,936 rows, bad target gives NaN, host range check",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const [m, v] = [2, 151936];
    const logits = randn(m * v, 7, 8);
    const targets = [151935, 17];
    const ref = crossEntropyRef(logits, targets, m, v, 0.5, -100);
    const res = gpu.run((rec) => crossEntropy(rec, gpu.tensor([m, v], "f32", logits), targets));
    assertClose(await res.dLogits.read(), ref.dLogits, F32_TOL, "dLogits");
    assertClose(await res.rowLoss.read(), ref.loss, { atol: 1e-5, rtol: 1e-5 }, "loss");
    const bad = gpu.run((rec) =>
      crossEntropy(
        rec,
        gpu.tensor([1, 5], "f32", randn(5, 8)),
        gpu.tensor([1], "u32", new Uint32Array([9])),
        {
          scale: 1,
        },
      )
    );
    const [l] = await bad.rowLoss.read();
    const g = await bad.dLogits.read();
    if (!Number.isNaN(l) || !g.every(Number.isNaN)) throw new Error("a bad target must give NaN");
    let threw = false;
    try {
      gpu.run((rec) => crossEntropy(rec, gpu.tensor([1, 5], "f32"), [5]));
    } catch (e) {
      threw = (e as Error).message.includes("out of range");
    }
    if (!threw) throw new Error("host target out of range must throw");
  },
});
