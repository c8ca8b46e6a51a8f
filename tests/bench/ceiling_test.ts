/**
 * The ceilings benchmark's cases verify themselves: the read probe's partial sums must match the
 * f64 sums (both access patterns, f32 and f16 words), the copy must be exact.
 */
import { ok } from "node:assert";
import { ceilingCases } from "../../src/bench/ceiling_cases.ts";
import { GPU_TEST, testGpu } from "../util.ts";

Deno.test("ceiling cases: the 4 MiB read probe checks against f64 sums", GPU_TEST, async () => {
  const gpu = await testGpu();
  const cases = ceilingCases(gpu.caps.f16 ? ["f32", "f16"] : ["f32"]);
  const small = cases.filter((c) => c.kernel === "ceiling-read" && c.shape.mib === 4);
  ok(small.length > 0);
  for (const c of small) {
    const p = c.prepare(gpu);
    try {
      await p.check();
    } finally {
      p.dispose();
    }
  }
});

Deno.test("ceiling cases: every case counts its bytes or flops", () => {
  for (const c of ceilingCases(["f32", "f16"])) {
    if (c.kernel === "ceiling-matmul") ok(c.flops! > 0);
    else if (c.kernel === "ceiling-gemv") ok(c.bytes! >= 48 * 2 ** 20, c.label); // streaming
    else ok(c.bytes! >= Number(c.shape.mib) * 2 ** 20, c.label);
  }
});
