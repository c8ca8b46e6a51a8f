/**
 * The generated malformed-input corpus (tests/inputs/corpus.ts): every case through the library
 * is a one-line ToolkitError naming its file and field (controls load), and a representative case
 * of each class through `deno run tasks/prune.ts` / `tasks/eval.ts` exits 2 with exactly one
 * stderr line, no stack trace and nothing written.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { GPU_TEST } from "../util.ts";
import { buildCorpus } from "./corpus.ts";
import { checkCli, checkLib } from "./check.ts";

const root = await Deno.makeTempDir({ prefix: "sprint-inputs-" });
const { cases } = await buildCorpus(root);
addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

Deno.test({
  name: "malformed-input corpus: each case is a one-line ToolkitError naming file and field",
  ...GPU_TEST,
  async fn() {
    assert(cases.length >= 60, `${cases.length} cases`);
    const failures: string[] = [];
    for (const c of cases) {
      const why = await checkLib(c);
      if (why) failures.push(`[${c.cls}] ${c.name}: ${why}`);
    }
    assertEquals(failures, []);
  },
});

const CLI_SUBSET = [
  "duplicated tensor name",
  "model.safetensors is a folder",
  "NaN weight",
  "max_position_embeddings 1e12",
  "symlink out of the folder",
  "../../../etc/passwd",
  "added token id beyond vocab_size",
  "NUL bytes (binary)",
  "attention null",
  "empty piqa.jsonl",
];

Deno.test({
  name: "malformed-input corpus through the CLI: exit 2, one stderr line, no output left",
  ...GPU_TEST,
  async fn() {
    const picked = CLI_SUBSET.map((name) => {
      const c = cases.find((x) => x.name === name);
      if (!c) throw new Error(`no case ${name}`);
      return c;
    });
    const failures: string[] = [];
    // One at a time: checkCli compares the folder before and after its run, so a concurrent
    // run's lock or partial output would look like a leftover of this one.
    for (const c of picked) {
      const r = await checkCli(c, root);
      if (r) failures.push(`[${c.cls}] ${c.name}: ${r}`);
    }
    assertEquals(failures, []);
  },
});
