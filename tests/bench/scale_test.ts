/**
 * The scale benchmark on a tiny configuration: it runs every method, checks them, and its JSON
 * carries the fields docs/scale.md and the GPU script read; the projection follows its stated
 * rule; the cost model's stage-1 count equals an enumeration of SPRINT's windows; `--scale-*`
 * flags without `--scale` are refused.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchScale, formatScale } from "../../src/bench/scale.ts";
import { parameterCount, scaleConfigJson, sprintStepCost } from "../../src/bench/scale_cost.ts";
import { parseConfig } from "../../src/model/config.ts";
import { tuneIndex } from "../../src/sprint/rules.ts";
import { writeJsonAtomic } from "../../src/report/json.ts";
import { GPU_TEST, testGpuF32 } from "../util.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

Deno.test({
  name: "bench --scale (tiny): all methods run and are checked; JSON fields; projection rule",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const r = await benchScale(gpu, {
      depths: [4],
      hidden: 32,
      vocab: 64,
      nsamples: 4,
      seqLen: 16,
      numSublayers: 2,
      steps: 1,
      checkSteps: 2,
      llama1b: "plan",
    });
    const dir = await Deno.makeTempDir();
    try {
      const file = join(dir, "scale.json");
      await writeJsonAtomic(file, r);
      const j = JSON.parse(await Deno.readTextFile(file));
      assertEquals(j.format, "sprint-wgpu scale bench v1");
      for (const k of ["adapter", "deno", "calibration"]) ok(k in j.protocol, k);
      ok(typeof j.projectionRule === "string" && j.projectionRule.length > 0);
      assertEquals(j.entries.length, 1);
      const e = j.entries[0];
      assertEquals([e.depth, e.hidden, e.vocab], [4, 32, 64]);
      assertEquals(e.methods.map((m: { method: string }) => m.method), [
        "sprint",
        "blockpruner",
        "sleb",
        "shortgpt",
      ]);
      for (const m of e.methods) {
        ok(m.searchSeconds > 0 && m.measuredSeconds > 0, m.method);
        ok(m.peakDeviceBytes > 0 && m.peakHostBytes > 0, m.method);
        ok(m.syncs.total > 0 && m.syncs.perStep > 0, m.method);
        ok(m.checks.length > 0, m.method);
        ok(m.pruned.length >= 1, m.method);
      }
      const [sp, bp, sleb] = e.methods;
      assertEquals(sp.measured, true);
      assertEquals(sp.pruned.length, 2);
      assertEquals(sp.steps, { total: 2, measured: 2 });
      ok(sp.checks.some((c: string) => c.includes("uninstrumented rerun")), sp.checks.join());
      ok(sp.plan.deviceBytes >= sp.peakDeviceBytes, "plan bounds the measured peak");
      const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
      ok(sp.syncs.setup >= 1, "the dense loss is a sync before step 1");
      assertEquals(sp.syncs.total, sp.syncs.setup + sum(sp.syncs.measuredPerStep));
      assertEquals(sp.syncs.perStep, sum(sp.syncs.measuredPerStep) / 2);
      ok(sp.cost.firstStepFlops > 0 && sp.cost.gflops > 0);
      // BlockPruner: 1 of 2 steps measured (8 then 7 candidates), the second projected.
      assertEquals(bp.measured, false);
      assertEquals(bp.steps, { total: 2, measured: 1 });
      assertEquals(bp.candidatesPerStep, [8, 7]);
      const want = bp.measuredSeconds + 7 * (bp.stepSeconds[0] / 8);
      ok(Math.abs(bp.searchSeconds - want) < 1e-9 * want, `${bp.searchSeconds} vs ${want}`);
      // SLEB: candidate blocks 1..2; one block = 2 sublayers reaches the limit in one step.
      assertEquals(sleb.steps, { total: 1, measured: 1 });
      assertEquals(sleb.measured, true);
      for (const k of ["blockpruner", "sleb", "shortgpt"]) {
        ok(e.ratios[k].ratio > 0, k);
      }
      assertEquals(e.ratios.blockpruner.measured, false);
      assertEquals(j.planOnly[0].plans.length, 2);
      ok(j.planOnly[0].plans[0].plan.deviceBytes > 1e9, "1B plan at 128 × 2048 is GBs");
      ok(j.transfer.uploadGBps > 0 && j.transfer.downloadGBps > 0);
      const text = formatScale(r);
      ok(text.includes("PROJECTED") && text.includes("search time ÷ SPRINT's"), text);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("scale cost model: stage 1 = an enumeration of SPRINT's first-step windows", () => {
  const c = parseConfig(scaleConfigJson(5, 64, 100));
  const T = 16;
  const cost = sprintStepCost(c, { nsamples: 3, seqLen: T });
  const n = 2 * c.numLayers;
  const pruned = new Array<boolean>(n).fill(false);
  let a = 0;
  let m = 0;
  const count = (lo: number, hi: number) => {
    for (let x = lo; x <= hi; x++) x % 2 === 0 ? a++ : m++;
  };
  for (let s = 0; s < n; s++) {
    const t = tuneIndex(s, pruned, "mlp");
    count(s, t); // reference window
    count(s + 1, t); // pruned window
    count(s, s); // advance
  }
  const want = 3 * T * (a * cost.perToken.attention + m * cost.perToken.mlp);
  assertEquals(cost.stage1, want);
  const d = 64;
  const F = c.intermediateSize;
  assertEquals(cost.gram, 5 * (2 * 3 * T * F * F + 2 * 3 * T * F * d));
  ok(parameterCount(c) > 5 * (3 * d * F));
});

Deno.test("bench: --scale-* flags need --scale; --scale excludes --vs", async () => {
  for (
    const [args, re] of [
      [["--scale-steps", "2"], /--scale-\* flags need --scale/],
      [["--scale", "--vs", "llamacpp"], /--vs|--scale/],
    ] as const
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", join(ROOT, "tasks", "bench.ts"), ...args],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr).trim();
    assertEquals(out.code, 2, err);
    ok(re.test(err) && !err.includes("\n"), err);
  }
});
