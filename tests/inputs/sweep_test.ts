/**
 * A representative subset of the hostile sweep (tests/inputs/sweep_cases.ts; the full sweep is
 * `deno run -A tests/inputs/sweep.ts`): the first cases of every class, each a real
 * `deno run tasks/<task>.ts` subprocess, two at a time. Model cases use the real stories260K
 * checkpoint from ../shared/data and are skipped (with a message) where it is absent.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert";
import { GPU_TEST } from "../util.ts";
import { buildSweep, runCase, type SweepCase } from "./sweep_cases.ts";

const root = await Deno.makeTempDir({ prefix: "sprint-sweep-test-" });
addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const all = await buildSweep(root);

/** Up to `n` cases of each class, spread over the class (first, then evenly). */
function pick(cases: SweepCase[], perClass: (cls: string) => number): SweepCase[] {
  const byClass = new Map<string, SweepCase[]>();
  for (const c of cases) byClass.set(c.cls, [...(byClass.get(c.cls) ?? []), c]);
  const out: SweepCase[] = [];
  for (const [cls, list] of byClass) {
    const n = Math.min(perClass(cls), list.length);
    for (let i = 0; i < n; i++) out.push(list[Math.floor((i * list.length) / n)]);
  }
  return out;
}

Deno.test({
  name: "hostile sweep subset: clean exit-2 one-liners naming file/field, or clean success",
  ...GPU_TEST,
  async fn() {
    const classes = new Set(all.map((c) => c.cls));
    if (!classes.has("safetensors")) {
      console.log("../shared/data absent: only the flag and path cases of the sweep run");
    }
    ok(all.length >= 250 || !classes.has("safetensors"), `${all.length} cases`);
    const subset = pick(
      all,
      (cls) => cls === "flags" ? 10 : cls === "state/resume" ? 3 : cls === "controls" ? 2 : 4,
    );
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < subset.length) {
        const c = subset[next++];
        const why = await runCase(c);
        if (why) failures.push(`[${c.cls}] ${c.name}: ${why}`);
      }
    };
    await Promise.all([worker(), worker()]);
    assertEquals(failures, []);
  },
});
