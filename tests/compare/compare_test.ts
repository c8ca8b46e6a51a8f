import { deepStrictEqual as assertEquals, match, ok } from "node:assert";
import { join } from "node:path";
import { parseCompareArgs } from "../../src/cli/compare.ts";
import { logMatches, runCompare, splitText } from "../../src/compare/run.ts";
import { ToolkitError } from "../../src/errors.ts";
import { writeTinyEvalModel } from "../eval/helpers.ts";
import { GPU_TEST, rng, testGpuF32 } from "../util.ts";

const WORDS = ["the", "cat", "is", "a", "yes", "no", "hat", "sat", "on", "it", "Answer:", "The"];

function text(seed: number, paragraphs: number): string {
  const r = rng(seed);
  const paras: string[] = [];
  for (let p = 0; p < paragraphs; p++) {
    const words = Array.from({ length: 30 }, () => WORDS[Math.floor(r() * WORDS.length)]);
    paras.push(words.join(" ") + ".");
  }
  return paras.join("\n\n") + "\n";
}

Deno.test("splitText cuts at the paragraph break after the fraction; both sides non-empty", () => {
  assertEquals(splitText("aa\n\nbb\n\ncc", 0.5), { first: "aa\n\nbb\n\n", second: "cc", cut: 8 });
  assertEquals(splitText("aaaa\nbb\ncc", 0.3).first, "aaaa\n");
  let err: unknown;
  try {
    splitText("abc\n\n", 0.5);
  } catch (e) {
    err = e;
  }
  ok(err instanceof ToolkitError);
});

Deno.test("logMatches: a cell reuses only the prune of its own method, ablation and speedup", () => {
  const sprint = {
    method: "sprint",
    settings: { targetSpeedup: 1.2, latencyAware: true, tuning: true },
  };
  const noLat = {
    method: "sprint",
    settings: { targetSpeedup: 1.2, latencyAware: false, tuning: true },
  };
  const sleb = { method: "sleb", settings: { targetSpeedup: 1.2 } };
  ok(logMatches(sprint, "sprint", 1.2));
  ok(!logMatches(sprint, "sprint", 1.3));
  ok(!logMatches(sprint, "sprint-no-latency", 1.2));
  ok(logMatches(noLat, "sprint-no-latency", 1.2));
  ok(!logMatches(noLat, "sprint", 1.2));
  ok(logMatches(sleb, "sleb", 1.2));
  ok(!logMatches(sleb, "shortgpt", 1.2));
});

Deno.test("parseCompareArgs: defaults, lists and one-line errors", () => {
  const a = parseCompareArgs(["--model", "m"]);
  assertEquals(a.speedups, [1.1, 1.2, 1.3]);
  assertEquals(a.methods, ["sprint", "sleb", "shortgpt", "blockpruner"]);
  assertEquals(a.out, join("out", "compare-m"));
  const b = parseCompareArgs(["--methods", "sprint,sprint-no-tuning", "--speedups", "1.5"]);
  assertEquals(b.methods, ["sprint", "sprint-no-tuning"]);
  assertEquals(b.speedups, [1.5]);
  for (
    const [argv, re] of [
      [["--methods", "magic"], /"magic" is not one of sprint, sleb/],
      [["--speedups", "0.9"], /--speedups item: expected a number > 1, got 0.9/],
      [["--tasks", "wikitext2"], /not a zero-shot task/],
      [["--bogus"], /bogus/],
    ] as const
  ) {
    let err: unknown;
    try {
      parseCompareArgs([...argv]);
    } catch (e) {
      err = e;
    }
    ok(err instanceof ToolkitError, `${argv}`);
    match((err as Error).message, re);
  }
});

Deno.test({
  name:
    "compare: 2 methods × 1 speedup on a tiny model writes the table, JSON, plot and prune outputs; a rerun skips finished cells",
  ...GPU_TEST,
  async fn() {
    const root = await Deno.makeTempDir();
    try {
      const modelDir = join(root, "model");
      await writeTinyEvalModel(modelDir, { num_hidden_layers: 4 }, 5);
      const calib = join(root, "text.txt");
      await Deno.writeTextFile(calib, text(9, 24));
      const latency = join(root, "latency.json");
      await Deno.writeTextFile(
        latency,
        JSON.stringify({
          attention: 1,
          mlp: 1.5,
          dense: 10.5,
          workload: { mode: "prefill", promptLength: 16, generationLength: 0, batch: 1 },
        }),
      );
      const out = join(root, "cmp");
      const argv = [
        "--model",
        modelDir,
        "--methods",
        "sprint,sleb",
        "--speedups",
        "1.2",
        "--calib",
        calib,
        "--nsamples",
        "4",
        "--seq-len",
        "16",
        "--latency-table",
        latency,
        "--ppl-seq-len",
        "32",
        "--ppl-windows",
        "3",
        "--speed-runs",
        "2",
        "--f32",
        "--out",
        out,
        "--quiet",
      ];
      const gpu = await testGpuF32();
      const doc = await runCompare(parseCompareArgs(argv), gpu);
      assertEquals(doc.failed, {});
      assertEquals(doc.cells.map((c) => c.cell), ["sprint-1.2", "sleb-1.2"]);
      for (const f of ["compare.md", "compare.json", "compare.svg", "latency.json"]) {
        ok((await Deno.stat(join(out, f))).isFile, f);
      }
      const md = await Deno.readTextFile(join(out, "compare.md"));
      match(md, /\| sprint \| 1\.2 \|/);
      match(md, /\| sleb \| 1\.2 \|/);
      match(md, /Pruning time/);
      const svg = await Deno.readTextFile(join(out, "compare.svg"));
      match(svg, /^<svg/);
      match(svg, /Held-out quality vs measured speedup/);
      for (const c of doc.cells) {
        ok(Number.isFinite(c.heldout.ppl) && c.heldout.tokens === 3 * 31, `${c.cell} ppl`);
        ok(c.prune.estimatedSpeedup >= 1.2 && c.prune.targetReached, `${c.cell} target`);
        ok(c.speed.speedup > 0 && c.speed.denseMs.length === 2 && c.speed.prunedMs.length === 2);
        const dir = join(out, "cells", c.cell);
        for (const f of ["config.json", "model.safetensors", "prune_log.json", "report.md"]) {
          ok((await Deno.stat(join(dir, f))).isFile, `${c.cell}/${f}`);
        }
      }
      // The block method removed both sublayers of one block, and the saved config says so.
      const sleb = doc.cells[1];
      assertEquals(sleb.prune.method, "sleb");
      assertEquals(sleb.prune.pruned.length, 2);
      const b = sleb.prune.pruned[0] >> 1;
      const cfg = JSON.parse(
        await Deno.readTextFile(join(out, "cells", "sleb-1.2", "config.json")),
      );
      ok(cfg.block_configs[b].attention.no_op && cfg.block_configs[b].ffn.no_op);
      match(await Deno.readTextFile(join(out, "cells", "sleb-1.2", "report.md")), /\| block \|/);

      // Rerun: both cells are finished and skipped (no prune, no re-evaluation).
      const stamp = async (p: string) => (await Deno.stat(p)).mtime?.getTime();
      const files = doc.cells.flatMap((c) => [
        join(out, "cells", c.cell, "result.json"),
        join(out, "cells", c.cell, "prune_log.json"),
      ]);
      const before = await Promise.all(files.map(stamp));
      const again = await runCompare(parseCompareArgs(argv), gpu);
      assertEquals(await Promise.all(files.map(stamp)), before);
      assertEquals(again.cells.map((c) => c.heldout), doc.cells.map((c) => c.heldout));

      // Interrupted after the prune, before the evaluation: only the evaluation is redone.
      await Deno.remove(join(out, "cells", "sleb-1.2", "result.json"));
      const third = await runCompare(parseCompareArgs(argv), gpu);
      assertEquals(await stamp(files[3]), before[3]); // sleb's prune_log.json untouched
      assertEquals(third.cells[1].heldout, doc.cells[1].heldout);
      assertEquals(third.cells[1].prune.processSeconds, null);

      // Different settings in the same --out are refused.
      let err: unknown;
      try {
        await runCompare(parseCompareArgs([...argv, "--seed", "1"]), gpu);
      } catch (e) {
        err = e;
      }
      ok(err instanceof ToolkitError);
      match((err as Error).message, /different settings \(seed\)/);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
