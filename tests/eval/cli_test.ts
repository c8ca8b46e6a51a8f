/** `deno task eval` in a subprocess: bad input gives one-line errors with exit code 2; a full run writes JSON. */
import { deepStrictEqual as assertEquals, match, ok } from "node:assert";
import { join } from "node:path";
import { DEFAULT_MODEL_DIR } from "../../src/model/default.ts";
import { writeTinyData, writeTinyEvalModel } from "./helpers.ts";

const root = new URL("../../", import.meta.url).pathname;
const dir = await Deno.makeTempDir({ prefix: "eval-cli-" });
const modelDir = join(dir, "model");
const dataDir = join(dir, "data");
await writeTinyEvalModel(modelDir);
await writeTinyData(dataDir);
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

async function evalCli(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", join(root, "tasks/eval.ts"), ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function oneLineError(r: { code: number; stderr: string }, re: RegExp): void {
  assertEquals(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split("\n").filter((l) => !l.startsWith("\x1b") && l.trim() !== "");
  const err = lines.filter((l) => l.startsWith("error: "));
  assertEquals(err.length, 1, r.stderr);
  match(err[0], re);
  ok(!r.stderr.includes("    at "), `no stack trace: ${r.stderr}`);
}

const CLI = { sanitizeResources: false, sanitizeOps: false } as const;

Deno.test({
  name: "eval CLI: unknown task, missing data dir, missing model → one-line errors, exit 2",
  ...CLI,
  async fn() {
    oneLineError(
      await evalCli("--model", modelDir, "--tasks", "piqa,squad"),
      /^error: unknown task "squad"; known tasks: piqa, arc_easy, arc_challenge, boolq, hellaswag, winogrande, openbookqa, lambada, wikitext2, tinystories, heldout, text:PATH$/,
    );
    oneLineError(
      await evalCli("--model", modelDir, "--tasks", "piqa", "--data", join(dir, "nope")),
      /^error: --data .*nope: data directory not found/,
    );
    oneLineError(
      await evalCli("--model", join(dir, "absent"), "--tasks", "piqa"),
      /^error: --model .*absent: model directory not found$/,
    );
    oneLineError(
      await evalCli("--model", modelDir, "--limit", "0", "--tasks", "piqa"),
      /^error: --limit: expected an integer ≥ 1, got 0$/,
    );
    oneLineError(
      await evalCli("--modle", modelDir),
      /^error: unknown flag --modle \(did you mean --model\?\)/,
    );
    const hasDefault = await Deno.stat(DEFAULT_MODEL_DIR).then(() => true, () => false);
    if (!hasDefault) {
      oneLineError(
        await evalCli(),
        /^error: no --model given and the embedded default model .* is not there yet; pass --model DIR/,
      );
    }
  },
});

Deno.test({
  name:
    "eval CLI: malformed JSONL line and a --seq-len longer than the context → one-line errors, exit 2",
  ...CLI,
  async fn() {
    const bad = join(dir, "bad");
    await Deno.mkdir(join(bad, "bench"), { recursive: true });
    await Deno.writeTextFile(
      join(bad, "bench", "piqa.jsonl"),
      '{"choices":["a","b"],"gold":0,"query":"Question: x\\n"}\n{"choices": ["a", "b"], "gold": 0, "query": \n',
    );
    oneLineError(
      await evalCli("--model", modelDir, "--tasks", "piqa", "--data", bad, "--quiet"),
      /^error: .*bench\/piqa\.jsonl:2: not valid JSON/,
    );
    oneLineError(
      await evalCli(
        "--model",
        modelDir,
        "--tasks",
        "tinystories",
        "--data",
        dataDir,
        "--seq-len",
        "100",
      ),
      /^error: --seq-len 100 is longer than the context of .* \(64 positions\)$/,
    );
  },
});

Deno.test({
  name:
    "eval CLI: tasks + baseline + speed → side-by-side table and JSON with acc/acc_norm/ppl/speedup and protocols",
  ...CLI,
  async fn() {
    const json = join(dir, "out.json");
    const samples = join(dir, "samples.jsonl");
    const r = await evalCli(
      "--model",
      modelDir,
      "--baseline",
      modelDir,
      "--tasks",
      "piqa,winogrande,lambada,tinystories,wikitext2",
      "--data",
      dataDir,
      "--seq-len",
      "32",
      "--speed",
      "--reps",
      "1",
      "--prompt-tokens",
      "8",
      "--new-tokens",
      "2",
      "--json",
      json,
      "--samples",
      samples,
      "--quiet",
    );
    assertEquals(r.code, 0, r.stderr);
    match(r.stdout, /task\s+metric\s+dense\s+pruned/);
    match(r.stdout, /speedup\s+decode/);
    const doc = JSON.parse(await Deno.readTextFile(json));
    for (const k of ["acc", "acc_norm"]) ok(typeof doc.tasks.piqa[k] === "number", k);
    ok(typeof doc.tasks.winogrande.acc === "number" && doc.tasks.winogrande.acc_norm === undefined);
    ok(typeof doc.tasks.lambada.acc === "number" && doc.tasks.lambada.ppl > 0);
    ok(doc.tasks.tinystories.ppl > 1 && doc.tasks.wikitext2.ppl > 1);
    assertEquals(doc.tasks.tinystories.protocol.seqLen, 32);
    ok(doc.tasks.tinystories.tokens > 0 && doc.tasks.tinystories.windows > 0);
    for (const k of ["task", "split", "n", "prompt", "dtype", "adapter", "deno"]) {
      ok(k in doc.tasks.piqa.protocol, k);
    }
    assertEquals(doc.tasks.piqa.protocol.prompt, "Question: {goal}\\nAnswer:");
    ok(doc.speedup.prefill > 0 && doc.speedup.decode > 0);
    ok(doc.baseline.tasks.piqa.acc === doc.tasks.piqa.acc);
    ok(typeof doc.mean.value === "number" && doc.mean.over.includes("piqa"));
    ok(doc.protocol.deno && doc.protocol.adapter);
    const lines = (await Deno.readTextFile(samples)).trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(lines.filter((l) => l.model === "pruned" && l.task === "piqa").length, 2);
  },
});
