/**
 * `deno run -A tests/inputs/sweep.ts [--jobs N] [--filter TEXT] [--cheap]`: the hostile tester's
 * full sweep (tests/inputs/sweep_cases.ts) — every case as a `deno run tasks/<task>.ts`
 * subprocess, N at a time (default 2). Prints the table of classes × (cases, behaved) and every
 * failing case; exit code 1 when any case misbehaved. Needs `../shared/data` for the model cases
 * (without it only the flag and path cases run).
 *
 * @module
 */
import { buildSweep, runCase, type SweepCase } from "./sweep_cases.ts";

const argv = Deno.args;
const opt = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const jobs = Number(opt("--jobs") ?? 2);
const filter = opt("--filter");
const cheapOnly = argv.includes("--cheap");
const root = await Deno.makeTempDir({ prefix: "sprint-sweep-" });
try {
  let cases = await buildSweep(root);
  if (filter) cases = cases.filter((c) => `${c.cls} ${c.name}`.includes(filter));
  if (cheapOnly) cases = cases.filter((c) => !c.heavy);
  const t0 = performance.now();
  const results = new Map<SweepCase, string | null>();
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++];
      const r = await runCase(c);
      results.set(c, r);
      if (r) console.error(`MISBEHAVED [${c.cls}] ${c.name}: ${r.split("\n")[0].slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  const byClass = new Map<string, { total: number; ok: number }>();
  for (const c of cases) {
    const row = byClass.get(c.cls) ?? { total: 0, ok: 0 };
    byClass.set(c.cls, row);
    row.total++;
    if (!results.get(c)) row.ok++;
  }
  console.log("| class | cases | behaved |");
  console.log("|---|---|---|");
  let total = 0, ok = 0;
  for (const [cls, r] of byClass) {
    console.log(`| ${cls} | ${r.total} | ${r.ok} |`);
    total += r.total;
    ok += r.ok;
  }
  console.log(`| all | ${total} | ${ok} |`);
  console.log(`${((performance.now() - t0) / 1000).toFixed(0)} s, ${jobs} at a time`);
  for (const c of cases) {
    const r = results.get(c);
    if (r) console.log(`FAIL [${c.cls}] ${c.name}: ${r}`);
  }
  if (ok !== total) Deno.exitCode = 1;
} finally {
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
