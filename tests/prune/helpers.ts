/** Helpers of the prune command tests: a tiny generated model, and `deno run tasks/prune.ts`. */
import { join } from "node:path";
import { writeTinyEvalModel } from "../eval/helpers.ts";

const root = new URL("../../", import.meta.url).pathname;

/** A fixed latency table (no measurement: deterministic and fast). */
export const LATENCY = { attention: 1, mlp: 1.6, dense: 12 };

/** Writes a 3-block model with tokenizer and calibration text, and a latency table, into `dir`. */
export async function writePruneFixture(dir: string): Promise<{ model: string; latency: string }> {
  const model = join(dir, "model");
  await writeTinyEvalModel(model, { num_hidden_layers: 3 }, 7);
  const words = ["the", "cat", "is", "hot", "a", "dog", "sat", "on", "mat", "yes", "no"];
  let x = 12345;
  const text: string[] = [];
  for (let i = 0; i < 1500; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    text.push(words[x % words.length]);
  }
  await Deno.writeTextFile(join(model, "calibration.txt"), text.join(" ") + ".\n");
  const latency = join(dir, "latency.json");
  await Deno.writeTextFile(latency, JSON.stringify(LATENCY));
  return { model, latency };
}

/** The result of one prune process. */
export interface PruneRun {
  code: number;
  signal: Deno.Signal | null;
  stderr: string;
  stdout: string;
}

/** Small, fast prune settings for the fixture. */
export function smallFlags(model: string, latency: string, out: string): string[] {
  return [
    "--model",
    model,
    "--out",
    out,
    "--latency-table",
    latency,
    "--nsamples",
    "4",
    "--seq-len",
    "16",
    "--batch",
    "2",
    "--quiet",
  ];
}

/** Spawns `deno run -A tasks/prune.ts …args` in `cwd` (SPRINT_TEST_CRASH_AT=`crashAt` if given). */
export function spawnPrune(
  args: string[],
  opts: { cwd: string; crashAt?: string },
): Deno.ChildProcess {
  const env: Record<string, string> = {};
  if (opts.crashAt) env.SPRINT_TEST_CRASH_AT = opts.crashAt;
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      `--config=${join(root, "deno.json")}`,
      join(root, "tasks/prune.ts"),
      ...args,
    ],
    cwd: opts.cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Runs a prune process to its end. */
export async function runPrune(
  args: string[],
  opts: { cwd: string; crashAt?: string },
): Promise<PruneRun> {
  const out = await spawnPrune(args, opts).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** The single `error: …` line of a failed run (asserting exit 2 and no stack trace). */
export function errorLine(r: PruneRun): string {
  if (r.code !== 2) throw new Error(`expected exit 2, got ${r.code} (${r.signal}): ${r.stderr}`);
  if (r.stderr.includes("    at ")) throw new Error(`stack trace: ${r.stderr}`);
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("error: "));
  if (lines.length !== 1) throw new Error(`expected one error line: ${r.stderr}`);
  return lines[0];
}

/** Names in `dir` (sorted). */
export async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

/** What a finished output must reproduce: the model bytes and the pruning order. */
export async function outcome(out: string): Promise<{ model: Uint8Array; pruned: number[] }> {
  const log = JSON.parse(await Deno.readTextFile(join(out, "prune_log.json")));
  return { model: await Deno.readFile(join(out, "model.safetensors")), pruned: log.final.pruned };
}
