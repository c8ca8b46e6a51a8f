import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert";
import { measureSpeed, speedup } from "../../src/eval/speed.ts";
import { Progress } from "../../src/report/progress.ts";
import { parseConfig } from "../../src/model/config.ts";
import { modelFromHostWeights } from "../../src/model/model.ts";
import { randomWeights, tinyConfigJson } from "../fixtures.ts";
import { GPU_TEST, testGpuF32 } from "../util.ts";

Deno.test({
  name:
    "measureSpeed: prefill and decode tokens/s with spread; speedup of a masked model; workload checks",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const cfg = parseConfig(tinyConfigJson());
    const model = modelFromHostWeights(gpu, cfg, randomWeights(cfg), { dtype: "f32" });
    const opts = { promptTokens: 16, newTokens: 4, warmup: 1, reps: 2, stepsPerSubmit: 2 };
    const dense = await measureSpeed(model, opts);
    for (const r of [dense.prefill, dense.decode]) {
      ok(
        r.tokensPerSecond > 0 && r.tokensPerSecondP10 <= r.tokensPerSecond &&
          r.tokensPerSecond <= r.tokensPerSecondP90,
      );
      assertEquals(r.timing.reps, 2);
    }
    assertEquals([dense.prefill.tokens, dense.decode.tokens], [16, 4]);
    assertEquals(dense.protocol.decodeClock, "wall-clock");
    const mask = model.alive.map((_, i) => i !== 2 && i !== 3);
    const pruned = await measureSpeed(model, { ...opts, mask });
    assertEquals(pruned.protocol.sublayers, 4);
    const s = speedup(dense, pruned);
    ok(s.prefill > 0 && s.decode > 0 && s.sameWorkload);
    const batched = await measureSpeed(model, { ...opts, batch: 2 });
    assertEquals(batched.decode.tokens, 8);
    throws(() => speedup(dense, batched), /different workloads/);
    await rejects(
      measureSpeed(model, { promptTokens: 60, newTokens: 8 }),
      /exceed the model's context of 64/,
    );
    model.destroy();
  },
});

Deno.test("Progress: plain lines when not a terminal, a redrawn bar on a terminal", () => {
  const out: string[] = [];
  const p = new Progress("piqa", 10, "docs", {
    tty: false,
    interval: 0,
    write: (t) => out.push(t),
  });
  p.update(5);
  p.update(10);
  p.done();
  ok(out[0].startsWith("piqa [") && out[0].includes("5/10 docs") && out[0].endsWith("\n"));
  ok(out[out.length - 1].includes("10/10 docs"));
  const tty: string[] = [];
  const q = new Progress("x", 4, "", { tty: true, write: (t) => tty.push(t) });
  q.update(1);
  q.done();
  ok(tty[0].startsWith("\r\x1b[2Kx [") && tty[1].endsWith("\n"));
  const quiet: string[] = [];
  const z = new Progress("x", 4, "", { quiet: true, write: (t) => quiet.push(t) });
  z.update(2);
  z.done();
  assertEquals(quiet, []);
});
