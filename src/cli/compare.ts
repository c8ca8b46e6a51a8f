/**
 * Flags of `deno task compare` (see tasks/compare.ts for the synopsis).
 *
 * @module
 */
import { join } from "node:path";
import { defineCommand, parseValues } from "./flags.ts";
import { checkModelDir, checkReadableFile, checkWritableDir } from "./paths.ts";
import { COMPARE_METHODS, type CompareArgs, type CompareMethod } from "../compare/types.ts";
import { ToolkitError } from "../errors.ts";
import { DEFAULT_MODEL_DIR } from "../model/default.ts";
import { isZeroShotTask, knownTaskNames } from "../eval/tasks.ts";

/** `deno task compare`: the flag table. */
export const COMPARE_COMMAND = defineCommand({
  name: "compare",
  summary:
    "Prune with every method at every target speedup, evaluate each, write compare.md/json/svg.",
  flags: [
    {
      name: "model",
      type: "path",
      valueName: "DIR",
      help: "dense model directory",
      defaultText: "the embedded default model",
    },
    {
      name: "speedups",
      type: "list",
      items: "float",
      min: 1,
      minExclusive: true,
      default: [1.1, 1.2, 1.3],
      help: "target speedups",
    },
    {
      name: "methods",
      type: "list",
      choices: COMPARE_METHODS,
      default: ["sprint", "sleb", "shortgpt", "blockpruner"],
      help: "methods",
    },
    {
      name: "tasks",
      type: "list",
      default: [],
      help: "zero-shot tasks (held-out perplexity is always reported)",
    },
    {
      name: "data",
      type: "path",
      valueName: "DIR",
      default: "../shared/data",
      help: "zero-shot data directory",
    },
    { name: "limit", type: "int", min: 1, help: "first N documents per task" },
    {
      name: "out",
      type: "path",
      valueName: "DIR",
      help: "output folder",
      defaultText: "out/compare-<model>",
    },
    {
      name: "calib",
      type: "path",
      valueName: "FILE",
      help: "calibration text",
      defaultText: "<model>/calibration.txt",
    },
    {
      name: "heldout",
      type: "path",
      valueName: "FILE",
      help: "held-out text",
      defaultText: "the rest of --calib",
    },
    {
      name: "calib-fraction",
      type: "float",
      min: 0,
      max: 1,
      minExclusive: true,
      maxExclusive: true,
      default: 0.5,
      help: "share of --calib used for calibration",
    },
    { name: "nsamples", type: "int", min: 1, help: "calibration windows" },
    { name: "seq-len", type: "int", min: 2, help: "calibration window length" },
    { name: "seed", type: "int", min: 0, default: 0, help: "calibration seed" },
    {
      name: "speedup-model",
      type: "choice",
      choices: ["total", "sublayers"],
      default: "total",
      help: "speedup estimate",
    },
    { name: "latency-table", type: "path", valueName: "FILE", help: "latency table to use" },
    {
      name: "latency-mode",
      type: "choice",
      choices: ["generation", "prefill"],
      default: "generation",
      help: "latency workload",
    },
    { name: "latency-prompt", type: "int", min: 1, help: "latency prompt tokens" },
    { name: "latency-gen", type: "int", min: 1, help: "latency generated tokens" },
    { name: "latency-iters", type: "int", min: 1, default: 5, help: "latency rounds" },
    { name: "ppl-seq-len", type: "int", min: 2, help: "held-out perplexity window" },
    { name: "ppl-windows", type: "int", min: 1, help: "held-out perplexity: first N windows" },
    {
      name: "speed-runs",
      type: "int",
      min: 1,
      default: 10,
      help: "timed dense/pruned pairs per cell",
    },
    { name: "f32", type: "bool", help: "weights in f32" },
    { name: "quiet", type: "bool", help: "no progress output" },
  ],
});

/** Parses `deno task compare` arguments. */
export function parseCompareArgs(argv: string[]): CompareArgs {
  const values = parseValues(COMPARE_COMMAND, argv);
  const modelDir = values.model ?? DEFAULT_MODEL_DIR;
  const speedups = values.speedups;
  if (speedups.length === 0) throw new ToolkitError("--speedups: give at least one speedup");
  const methods = values.methods as CompareMethod[];
  if (methods.length === 0) throw new ToolkitError("--methods: give at least one method");
  const tasks = values.tasks;
  for (const t of tasks) {
    if (!isZeroShotTask(t)) {
      throw new ToolkitError(
        `--tasks: ${JSON.stringify(t)} is not a zero-shot task (held-out perplexity is always ` +
          `reported); known: ${knownTaskNames().filter(isZeroShotTask).join(", ")}`,
      );
    }
  }
  const name = modelDir.replace(/\/+$/, "").split("/").pop() || "model";
  return {
    modelDir,
    modelGiven: values.model !== undefined,
    speedups: [...new Set(speedups)],
    methods: [...new Set(methods)],
    tasks,
    dataDir: values.data,
    limit: values.limit,
    out: values.out ?? join("out", `compare-${name}`),
    calib: values.calib ?? join(modelDir, "calibration.txt"),
    heldout: values.heldout,
    calibFraction: values["calib-fraction"],
    nsamples: values.nsamples,
    seqLen: values["seq-len"],
    seed: values.seed,
    speedupModel: values["speedup-model"],
    latencyTable: values["latency-table"],
    latencyMode: values["latency-mode"],
    latencyPrompt: values["latency-prompt"],
    latencyGen: values["latency-gen"],
    latencyIters: values["latency-iters"],
    pplSeqLen: values["ppl-seq-len"],
    pplWindows: values["ppl-windows"],
    speedRuns: values["speed-runs"],
    f32: values.f32,
    quiet: values.quiet,
  };
}

/**
 * Checks every path of a compare run before anything is written or loaded (one-line errors).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkCompareInputs, parseCompareArgs } from "./compare.ts"; // internal: src/cli/
 * const out = await Deno.makeTempDir();
 * await checkCompareInputs(parseCompareArgs(["--out", out])); // the embedded model and its text
 * await assert.rejects(
 *   checkCompareInputs(parseCompareArgs(["--out", out, "--calib", `${out}/missing.txt`])),
 *   /--calib .*missing\.txt: file not found/,
 * );
 * assert.deepEqual([...Deno.readDirSync(out)], []); // nothing written: the probe file is gone
 * await Deno.remove(out);
 * ```
 */
export async function checkCompareInputs(args: CompareArgs): Promise<void> {
  await checkModelDir(args.modelDir, args.modelGiven);
  await checkReadableFile(args.calib, "--calib");
  if (args.heldout) await checkReadableFile(args.heldout, "--heldout");
  if (args.latencyTable) await checkReadableFile(args.latencyTable, "--latency-table");
  await checkWritableDir(args.out, "--out", true);
}
