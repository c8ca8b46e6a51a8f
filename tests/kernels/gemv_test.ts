import { gemv, gemvSegments, packLinearTiled } from "../../src/kernels/gemv.ts";
import { packLinear } from "../../src/kernels/matmul.ts";
import { gemvRef } from "../../ref/gemv.ts";
import { assertClose, assertThrows, GPU_TEST, randn, roundF16, testGpu } from "../util.ts";

// Odd shapes: N not a multiple of the 16 columns per invocation or of 128 per workgroup, K a
// multiple of 4 only, 1–4 rows; every fusion, f32 and f16 weights.
const SHAPES: [number, number, number][] = [[1, 4, 1], [2, 12, 37], [3, 68, 130], [4, 260, 19]];
const MODES = [
  { name: "plain", layers: 1 },
  { name: "norm", layers: 1, norm: true },
  { name: "norm+bias+accumulate", layers: 1, norm: true, bias: true, accumulate: true },
  { name: "dual+norm", layers: 2, norm: true },
  { name: "dual+bias", layers: 2, bias: true },
  { name: "swiglu+norm", layers: 2, norm: true, swiglu: true },
] as const;

for (const layout of ["packed", "tiled"] as const) {
  for (const dtype of ["f32", "f16"] as const) {
    for (const [m, k, n] of SHAPES) {
      Deno.test({
        name: `gemv ${layout} ${dtype} weights M=${m} K=${k} N=${n}: ${
          MODES.map((x) => x.name).join(", ")
        }`,
        ...GPU_TEST,
        async fn(t) {
          const gpu = await testGpu();
          if (dtype === "f16" && !gpu.caps.f16) {
            await t.step({ name: "skipped: adapter has no shader-f16", ignore: true, fn() {} });
            return;
          }
          const x = randn(m * k, 1 + m, 1);
          const g = randn(k, 5 + k, 1);
          const xt = gpu.tensor([m, k], "f32", x);
          const gt = gpu.tensor([k], "f32", g);
          for (const mode of MODES) {
            const host = Array.from({ length: mode.layers }, (_, i) => ({
              w: randn(n * k, 2 + 10 * i + n, 0.5),
              bias: "bias" in mode ? randn(n, 3 + i + k, 0.5) : undefined,
            }));
            // Reference on the f16-rounded weights: the kernel adds only f32 rounding.
            const refLayers = host.map((l) =>
              dtype === "f16" ? { w: roundF16(l.w), bias: l.bias && roundF16(l.bias) } : l
            );
            const lins = host.map((l) =>
              layout === "tiled"
                ? packLinearTiled(gpu, l.w, n, k, dtype, l.bias)
                : packLinear(gpu, l.w, n, k, { bias: l.bias, dtype })
            );
            const swiglu = "swiglu" in mode;
            const prev = randn(m * n, 4, 1);
            const outs = Array.from(
              { length: swiglu ? 1 : mode.layers },
              () => gpu.tensor([m, n], "f32", prev),
            );
            const norm = "norm" in mode ? { weight: gt, eps: 1e-5 } : undefined;
            const accumulate = "accumulate" in mode;
            gpu.run((rec) =>
              gemv(rec, xt, lins as [typeof lins[0]], outs, { norm, swiglu, accumulate })
            );
            const refs = gemvRef(x, m, k, n, refLayers, {
              norm: norm && { g, eps: 1e-5 },
              swiglu,
            });
            for (let i = 0; i < outs.length; i++) {
              const ref = accumulate ? refs[i].map((v, j) => v + prev[j]) : refs[i];
              assertClose(await outs[i].read(), ref, undefined, `${mode.name} output ${i}`);
            }
          }
        },
      });
    }
  }
}

Deno.test({
  name: "gemv rejects bad shapes",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpu();
    const lin = packLinear(gpu, randn(8 * 12, 1), 8, 12);
    const other = packLinear(gpu, randn(9 * 12, 1), 9, 12);
    const x = gpu.tensor([1, 12], "f32");
    const y = gpu.tensor([1, 8], "f32");
    gpu.run((rec) => {
      assertThrows(() => gemv(rec, gpu.tensor([5, 12], "f32"), [lin], [y]), "at most 4 rows");
      assertThrows(() => gemv(rec, x, [lin, other], [y, y]), "same shape");
      const tiled = packLinearTiled(
        gpu,
        randn(8 * 12, 1),
        8,
        12,
        lin.weight.dtype as "f32" | "f16",
      );
      assertThrows(() => gemv(rec, x, [lin, tiled], [y, y]), "same layout");
      assertThrows(() => gemv(rec, x, [lin], [y], { swiglu: true }), "two layers");
      assertThrows(() => gemv(rec, x, [lin], [gpu.tensor([1, 9], "f32")]), "out must be");
      assertThrows(
        () => gemv(rec, gpu.tensor([1, 6], "f32"), [packLinear(gpu, randn(48, 2), 8, 6)], [y]),
        "multiple of 4",
      );
    });
    await gpu.sync();
  },
});

// Segments: q/k/v-like widths (N_0 ≠ N_1 = N_2, and three different), odd N, 1–4 rows.
const SEGMENT_SHAPES: [number, number, number[]][] = [
  [1, 4, [1, 3]],
  [2, 12, [37, 9, 9]],
  [3, 68, [130, 19, 200]],
  [4, 260, [64, 32, 32]],
];

for (const layout of ["packed", "tiled"] as const) {
  for (const dtype of ["f32", "f16"] as const) {
    for (const [m, k, ns] of SEGMENT_SHAPES) {
      Deno.test({
        name: `gemvSegments ${layout} ${dtype} weights M=${m} K=${k} N=${ns}: plain, norm`,
        ...GPU_TEST,
        async fn(t) {
          const gpu = await testGpu();
          if (dtype === "f16" && !gpu.caps.f16) {
            await t.step({ name: "skipped: adapter has no shader-f16", ignore: true, fn() {} });
            return;
          }
          const x = randn(m * k, 7 + m, 1);
          const g = randn(k, 9 + k, 1);
          const xt = gpu.tensor([m, k], "f32", x);
          const gt = gpu.tensor([k], "f32", g);
          const host = ns.map((n, i) => randn(n * k, 20 + i + n, 0.5));
          const lins = host.map((w, i) =>
            layout === "tiled"
              ? packLinearTiled(gpu, w, ns[i], k, dtype)
              : packLinear(gpu, w, ns[i], k, { dtype })
          );
          for (const withNorm of [false, true]) {
            const outs = ns.map((n) => gpu.tensor([m, n], "f32", randn(m * n, 4, 1)));
            const norm = withNorm ? { weight: gt, eps: 1e-5 } : undefined;
            gpu.run((rec) => gemvSegments(rec, xt, lins, outs, { norm }));
            for (let i = 0; i < ns.length; i++) {
              const w = dtype === "f16" ? roundF16(host[i]) : host[i];
              const [ref] = gemvRef(x, m, k, ns[i], [{ w }], { norm: norm && { g, eps: 1e-5 } });
              assertClose(await outs[i].read(), ref, undefined, `norm ${withNorm} segment ${i}`);
            }
          }
        },
      });
    }
  }
}

Deno.test({
  name: "gemvSegments rejects bad layers",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpu();
    const a = packLinear(gpu, randn(8 * 12, 1), 8, 12);
    const b = packLinear(gpu, randn(4 * 12, 2), 4, 12, { bias: randn(4, 3) });
    const c = packLinear(gpu, randn(4 * 16, 2), 4, 16);
    const x = gpu.tensor([1, 12], "f32");
    const y8 = gpu.tensor([1, 8], "f32");
    const y4 = gpu.tensor([1, 4], "f32");
    gpu.run((rec) => {
      assertThrows(() => gemvSegments(rec, x, [a], [y8]), "2 or 3 layers");
      assertThrows(() => gemvSegments(rec, x, [a, b], [y8, y4]), "bias");
      assertThrows(() => gemvSegments(rec, x, [a, c], [y8, y4]), "share K");
      assertThrows(() => gemvSegments(rec, x, [a, a], [y8, y8]), "distinct");
      assertThrows(() => gemvSegments(rec, x, [a, a], [y8, y4]), "out 1 must be");
    });
    await gpu.sync();
  },
});
