/**
 * Benchmark cases for the linear-layer matmul at shapes typical of small LLMs.
 *
 * @module
 */
import { linearRef } from "../../ref/matmul.ts";
import { fromF16, toF16 } from "../gpu/f16.ts";
import { matmul, packLinear } from "../kernels/matmul.ts";
import type { BenchCase } from "./harness.ts";
import { benchData, expectClose, sampleRows } from "./check.ts";

/** [M, K, N]: tokens × in × out. 512×1536 is a small model's MLP up-projection. */
const SHAPES: [number, number, number][] = [
  [512, 512, 1536],
  [512, 1536, 512],
  [128, 256, 256],
  [128, 2048, 2048],
  [512, 1024, 1024],
  [512, 2048, 2048],
  [1, 512, 1536],
  [1, 2048, 2048],
  [1, 2048, 8192],
];

/** Matmul cases for the given weight types. */
export function matmulCases(dtypes: readonly ("f32" | "f16")[]): BenchCase[] {
  const cases: BenchCase[] = [];
  for (const dtype of dtypes) {
    for (const [m, k, n] of SHAPES) {
      const wBytes = dtype === "f16" ? 2 : 4;
      cases.push({
        kernel: "matmul",
        label: `M=${m} K=${k} N=${n} weights ${dtype}`,
        shape: { m, k, n, weights: dtype },
        flops: 2 * m * k * n,
        bytes: m * k * 4 + k * n * wBytes + m * n * 4,
        quick: (m === 512 && k === 512 && n === 1536) || (m === 1 && k === 2048 && n === 2048),
        prepare(gpu) {
          const xHost = benchData(m * k, 1, 1);
          const wHost = benchData(n * k, 2, 0.05);
          const x = gpu.tensor([m, k], "f32", xHost);
          const lin = packLinear(gpu, wHost, n, k, { dtype });
          const y = gpu.tensor([m, n], "f32");
          return {
            record: (rec) => void matmul(rec, x, lin, { out: y }),
            async check() {
              gpu.run((rec) => matmul(rec, x, lin, { out: y }));
              const got = await y.read();
              const wRef = dtype === "f16" ? fromF16(toF16(wHost)) : wHost;
              for (const r of sampleRows(m, 6)) {
                const ref = linearRef(xHost.subarray(r * k, (r + 1) * k), wRef, 1, k, n);
                expectClose(`matmul row ${r}`, got.subarray(r * n, (r + 1) * n), ref);
              }
            },
            dispose() {
              x.destroy();
              lin.weight.destroy();
              y.destroy();
            },
          };
        },
      });
    }
  }
  return cases;
}
