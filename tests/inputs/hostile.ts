/**
 * `deno run -A tests/inputs/hostile.ts [--lib-only]`: the hostile user. Builds the generated
 * corpus (tests/inputs/corpus.ts) in a temporary folder and tries every case through the library
 * and through the CLI task that reads that input (`tasks/prune.ts` or `tasks/eval.ts` as a
 * subprocess), then prints the counts by class: behaved (a one-line exit-2 error naming the file
 * and field, or a clean success for a control) vs. misbehaved, with the details of each failure.
 * Exit code 1 when any case misbehaved.
 *
 * @module
 */
import { buildCorpus } from "./corpus.ts";
import { checkCli, checkLib } from "./check.ts";

const libOnly = Deno.args.includes("--lib-only");
const root = await Deno.makeTempDir({ prefix: "sprint-hostile-" });
try {
  const { cases } = await buildCorpus(root);
  const byClass = new Map<string, { total: number; lib: number; cli: number }>();
  const bad: string[] = [];
  const t0 = performance.now();
  for (const c of cases) {
    const row = byClass.get(c.cls) ?? { total: 0, lib: 0, cli: 0 };
    byClass.set(c.cls, row);
    row.total++;
    const l = await checkLib(c);
    if (l) bad.push(`lib [${c.cls}] ${c.name}: ${l}`);
    else row.lib++;
    if (libOnly) continue;
    const r = await checkCli(c, root);
    if (r) bad.push(`cli [${c.cls}] ${c.name}: ${r}`);
    else row.cli++;
  }
  console.log("| class | cases | behaved (library) | behaved (CLI) |");
  console.log("|---|---|---|---|");
  let total = 0, lib = 0, cli = 0;
  for (const [cls, r] of byClass) {
    console.log(`| ${cls} | ${r.total} | ${r.lib} | ${libOnly ? "-" : r.cli} |`);
    total += r.total;
    lib += r.lib;
    cli += r.cli;
  }
  console.log(`| all | ${total} | ${lib} | ${libOnly ? "-" : cli} |`);
  console.log(`${((performance.now() - t0) / 1000).toFixed(1)} s`);
  for (const b of bad) console.log(b);
  if (bad.length) Deno.exitCode = 1;
} finally {
  await Deno.remove(root, { recursive: true });
}
