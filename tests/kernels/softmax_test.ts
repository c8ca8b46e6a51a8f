import { argmax, logSoftmax, nll } from "../../src/kernels/softmax.ts";
import { argmaxRef, logSoftmaxRef, nllRef } from "../../ref/softmax.ts";
import { assertClose, assertThrows, GPU_TEST, randn, rng, testGpuF32 } from "../util.ts";

function assertEqualIds(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string) {
  if (actual.length !== expected.length) throw new Error(`${label}: length mismatch`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      throw new Error(`${label}: row ${i}: gpu ${actual[i]} vs ref ${expected[i]}`);
    }
  }
}

function randomTargets(m: number, v: number, seed: number): Uint32Array<ArrayBuffer> {
  const r = rng(seed);
  return Uint32Array.from({ length: m }, () => Math.floor(r() * v));
}

// [M, V]: single columns and rows, widths not multiples of 4 or 256, more rows than a workgroup
// has invocations.
const SHAPES: [number, number][] = [
  [1, 1],
  [1, 3],
  [2, 7],
  [3, 33],
  [2, 257],
  [5, 1000],
  [1, 1001],
  [300, 3],
  [1, 4],
  [3, 1000],
  [130, 12],
];

Deno.test({
  name: "logSoftmax, nll and argmax, odd shapes",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const [m, v] of SHAPES) {
      await t.step(`M=${m} V=${v}`, async () => {
        const x = randn(m * v, 1 + m + v, 10);
        // Plant a tie for the maximum in every row with v ≥ 3: the lowest index must win.
        for (let r = 0; r < m && v >= 3; r++) {
          const hi = r * v + v - 1;
          const lo = r * v + Math.floor(v / 3);
          x[lo] = x[hi] = 11;
        }
        const targets = randomTargets(m, v, 3 + v);
        const xt = gpu.tensor([m, v], "f32", x);
        const ids = gpu.tensor([m], "u32", new Uint32Array(m).fill(77));
        const [lp, loss] = gpu.run((rec) => [
          logSoftmax(rec, xt),
          nll(rec, xt, gpu.tensor([m], "u32", targets)),
          argmax(rec, xt, { out: ids }),
        ]);
        assertClose(await lp.read(), logSoftmaxRef(x, m, v), undefined, "logSoftmax");
        assertClose(await loss.read(), nllRef(x, targets, m, v), undefined, "nll");
        assertEqualIds(await ids.read(), argmaxRef(x, m, v), "argmax");
      });
    }
  },
});

Deno.test({
  name: "logSoftmax in place; large offsets; masked (−inf) logits; host targets",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    for (const [m, v] of [[3, 517], [3, 516]]) {
      const x = randn(m * v, 41, 5);
      for (let j = 0; j < v; j++) x[v + j] += 3e4; // row 1: logsumexp far from 0
      for (let j = 0; j < v; j += 3) x[2 * v + j] = -Infinity; // row 2: masked entries
      const targets = [5, 7, 1];
      const xt = gpu.tensor([m, v], "f32", x);
      const loss = gpu.run((rec) => nll(rec, xt, targets));
      const ids = gpu.run((rec) => argmax(rec, xt));
      gpu.run((rec) => logSoftmax(rec, xt, { out: xt }));
      const lp = await xt.read();
      const ref = logSoftmaxRef(x, m, v);
      for (let i = 0; i < m * v; i++) {
        if (ref[i] === -Infinity) {
          if (lp[i] !== -Infinity) throw new Error(`masked logit ${i} gave ${lp[i]}`);
          lp[i] = 0;
          ref[i] = 0;
        }
      }
      assertClose(lp, ref, undefined, "in place");
      assertClose(await loss.read(), nllRef(x, targets, m, v), undefined, "nll host targets");
      assertEqualIds(await ids.read(), argmaxRef(x, m, v), "argmax");
    }
  },
});

Deno.test({
  name: "nll: a target ≥ V in a tensor gives NaN; bad host targets and shapes throw",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const [m, v] = [3, 10];
    const x = randn(m * v, 51, 2);
    const xt = gpu.tensor([m, v], "f32", x);
    const loss = await gpu.run((rec) =>
      nll(rec, xt, gpu.tensor([m], "u32", new Uint32Array([2, 10, 0xffffff9c])))
    ).read();
    assertClose([loss[0]], nllRef(x, [2], 1, v), undefined, "in-range row");
    if (!Number.isNaN(loss[1]) || !Number.isNaN(loss[2])) {
      throw new Error(`out-of-range targets should give NaN, got ${loss}`);
    }
    gpu.run((rec) => {
      assertThrows(() => nll(rec, xt, [1, 2, 10]), "targets[2] = 10 is out of range [0, 10)");
      assertThrows(() => nll(rec, xt, [1, 2]), "2 targets given for 3 rows");
      assertThrows(() => nll(rec, xt, gpu.tensor([3], "i32")), "targets must be u32");
      assertThrows(() => nll(rec, xt, [1, 2, 3], { out: gpu.tensor([2], "f32") }), "out must be");
      assertThrows(() => logSoftmax(rec, gpu.tensor([2, 3], "u32")), "logits must be f32");
      assertThrows(() => argmax(rec, gpu.tensor([2, 0], "f32")), "no columns");
      assertThrows(() => logSoftmax(rec, xt, { out: gpu.tensor([3, 9], "f32") }), "out must be");
      assertThrows(() => argmax(rec, xt, { out: gpu.tensor([3], "f32") }), "out must be u32");
    });
    await gpu.sync();
  },
});
