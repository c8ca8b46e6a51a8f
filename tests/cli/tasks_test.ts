/** Every task parses through src/cli: a bad flag is one line with exit 2, --help exits 0. */
import { deepStrictEqual as assertEquals, match, ok } from "node:assert";
import { join } from "node:path";
import { writeTinyEvalModel } from "../eval/helpers.ts";

const root = new URL("../../", import.meta.url).pathname;
const CLI = { sanitizeResources: false, sanitizeOps: false } as const;

async function task(file: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", join(root, "tasks", file), ...args],
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function oneLine(r: { code: number; stderr: string }, re: RegExp): void {
  assertEquals(r.code, 2, r.stderr);
  ok(!r.stderr.includes("    at "), `no stack trace: ${r.stderr}`);
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("error: "));
  assertEquals(lines.length, 1, r.stderr);
  match(lines[0], re);
}

const TASKS = [
  ["prune.ts", "prune"],
  ["eval.ts", "eval"],
  ["compare.ts", "compare"],
  ["generate.ts", "generate"],
  ["tune.ts", "tune"],
  ["bench.ts", "bench"],
  ["pretrain.ts", "pretrain"],
  ["corpus.ts", "corpus"],
] as const;

Deno.test({
  name: "tasks: an unknown flag or a positional is one line, exit 2; --help prints the table",
  ...CLI,
  async fn() {
    await Promise.all(TASKS.map(async ([file, name]) => {
      oneLine(
        await task(file, "--reps=x", "--seeed", "1"),
        /^error: (unknown flag --(reps|seeed)|--reps: expected an integer)/,
      );
      const help = await task(file, "--help");
      assertEquals(help.code, 0, help.stderr);
      ok(
        help.stdout.startsWith(
          name === "corpus"
            ? "deno run --allow-all tasks/corpus.ts [flags]"
            : `deno task ${name} [flags]`,
        ),
        help.stdout,
      );
    }));
    oneLine(await task("prune.ts", "positional"), /^error: unexpected argument "positional"/);
    oneLine(await task("bench.ts", "--only", "gpu"), /^error: --only: "gpu" is not one of/);
    oneLine(await task("generate.ts", "--top-p", "0"), /^error: --top-p: expected a number > 0/);
    oneLine(await task("tune.ts", "--out", "x"), /^error: --model DIR is required/);
  },
});

Deno.test({
  name: "generate past the context and tune onto an existing --out are refused before any work",
  ...CLI,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const model = join(dir, "m");
      await writeTinyEvalModel(model);
      await Deno.writeTextFile(join(model, "calibration.txt"), "the cat is hot. ".repeat(200));
      oneLine(
        await task("generate.ts", "--model", model, "--max-new-tokens", "500", "--prompt", "the"),
        /^error: --max-new-tokens 500: the prompt's \d+ tokens plus the new ones exceed the model's 64 positions .*the largest allowed value is \d+$/,
      );
      const out = join(dir, "mine");
      await Deno.mkdir(out);
      oneLine(
        await task("tune.ts", "--model", model, "--out", out),
        /^error: --out .*mine: output exists \(use --overwrite/,
      );
      assertEquals([...Deno.readDirSync(out)].length, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
