/**
 * The generated malformed-input corpus (tests/inputs/corpus.ts): every case through the library
 * is a one-line ToolkitError naming its file and field (controls load), and a representative case
 * of each class through `deno run tasks/prune.ts` / `tasks/eval.ts` exits 2 with exactly one
 * stderr line, no stack trace and nothing written.
 */
import { deepStrictEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert";
import { join } from "node:path";
import { ToolkitError } from "../../src/errors.ts";
import { GPU_TEST } from "../util.ts";
import { buildCorpus, type InputCase } from "./corpus.ts";

const root = await Deno.makeTempDir({ prefix: "sprint-inputs-" });
const { cases } = await buildCorpus(root);
addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

/** Runs one case through the library: `null` when it behaved, else what went wrong. */
export async function checkLib(c: InputCase): Promise<string | null> {
  try {
    await c.lib();
  } catch (e) {
    if (!(e instanceof ToolkitError)) return `not a ToolkitError: ${(e as Error)?.stack ?? e}`;
    if (e.message.includes("\n")) return `message has several lines: ${e.message}`;
    if (!c.expect) return `control failed: ${e.message}`;
    if (!c.expect.test(e.message)) return `message ${JSON.stringify(e.message)} !~ ${c.expect}`;
    return null;
  }
  return c.expect ? "no error" : null;
}

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

/** Runs a case's CLI form; `null` when it exited 2 with one clean line and wrote nothing. */
export async function checkCli(c: InputCase, root: string): Promise<string | null> {
  const before = new Set([...Deno.readDirSync(root)].map((e) => e.name));
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(`../../tasks/${c.cli.task}.ts`, import.meta.url).pathname,
      ...c.cli.args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  const lines = stderr.split("\n").filter((l) => l.trim() !== "" && !isDriverNoise(l));
  const after = [...Deno.readDirSync(root)].map((e) => e.name).filter((n) => !before.has(n));
  if (!c.expect) return out.code === 0 ? null : `control exited ${out.code}: ${stderr}`;
  if (out.code !== 2) return `exit ${out.code}: ${stderr.slice(0, 2000)}`;
  if (lines.length !== 1) return `${lines.length} stderr lines: ${stderr}`;
  if (!lines[0].startsWith("error: ") || !c.expect.test(lines[0])) {
    return `stderr ${JSON.stringify(lines[0])} !~ ${c.expect}`;
  }
  if (stderr.includes("    at ")) return `stack trace: ${stderr}`;
  if (after.length) return `left behind: ${after.join(", ")}`;
  return null;
}

/** Lines the GPU driver itself prints (lavapipe's conformance warning), not the toolkit. */
function isDriverNoise(line: string): boolean {
  return /^WARNING: lavapipe is not a conformant vulkan implementation/.test(line) ||
    /^MESA: /.test(line);
}

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
    // Two at a time (CI has 2 cores); each writes into its own out-N path under root.
    for (let i = 0; i < picked.length; i += 2) {
      const res = await Promise.all(picked.slice(i, i + 2).map((c) => checkCli(c, root)));
      res.forEach((r, j) =>
        r && failures.push(`[${picked[i + j].cls}] ${picked[i + j].name}: ${r}`)
      );
    }
    assertEquals(failures, []);
  },
});
