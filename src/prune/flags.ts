/**
 * The flags of `deno task prune`: one table (parsed by src/cli), resolved into {@link PruneArgs}.
 * Everything that can be checked without the model is checked here, before any loading.
 *
 * @module
 */
import { basename, join } from "node:path";
import { defineCommand, type FlagValues, parseFlags } from "../cli/flags.ts";
import { ToolkitError } from "../errors.ts";
import { DEFAULT_MODEL_DIR } from "../model/default.ts";
import { parseMetrics } from "../sprint/sensitivity.ts";
import { BASELINE_METHODS } from "../baselines/common.ts";

/** Every method `prune --method` runs. */
export const PRUNE_METHODS = ["sprint", ...BASELINE_METHODS] as const;

const RUN = "Run";
const CALIB = "Calibration";
const SEARCH = "SPRINT search";
const LAT = "Latency table";

/** `deno task prune`: flags, help and exclusions. */
export const PRUNE_COMMAND = defineCommand({
  name: "prune",
  summary: "Prune sublayers with SPRINT (or a baseline) and write the pruned model directory.",
  description:
    "Writes OUT/ (config.json with per-block no_op, model.safetensors, prune_log.json,\n" +
    "tuned_rows.safetensors, latency.json, report.md, report.svg). While it runs, OUT.lock guards\n" +
    "the output and OUT.state holds the resumable state (one file, checksummed, replaced after\n" +
    "every step); --resume continues it only when model, data, latency table, dtype and settings\n" +
    "are the same. An existing OUT is never replaced without --overwrite.",
  flags: [
    {
      name: "method",
      type: "choice",
      choices: PRUNE_METHODS,
      default: "sprint",
      group: RUN,
      help: "pruning method",
    },
    {
      name: "model",
      type: "path",
      valueName: "DIR",
      group: RUN,
      help: "Hugging Face model directory",
      defaultText: "the embedded default model",
    },
    {
      name: "out",
      type: "path",
      valueName: "DIR",
      group: RUN,
      help: "output model directory",
      defaultText: "out/<model>-<method>",
    },
    {
      name: "target-speedup",
      type: "float",
      min: 1,
      group: RUN,
      help: "stop once the estimated speedup reaches X",
      defaultText: "1.25 unless --num-sublayers",
    },
    {
      name: "num-sublayers",
      type: "int",
      min: 1,
      group: RUN,
      help: "or stop after removing N sublayers",
    },
    { name: "resume", type: "bool", group: RUN, help: "continue this run's interrupted state" },
    {
      name: "overwrite",
      type: "bool",
      group: RUN,
      help: "replace an existing --out (and a leftover state)",
    },
    { name: "f32", type: "bool", group: RUN, help: "keep weights in f32 on the GPU" },
    { name: "quiet", type: "bool", group: RUN, help: "no progress output" },
    {
      name: "calib",
      type: "path",
      valueName: "FILE",
      group: CALIB,
      help: "calibration text",
      defaultText: "<model>/calibration.txt",
    },
    {
      name: "nsamples",
      type: "int",
      min: 1,
      group: CALIB,
      help: "calibration windows",
      defaultText: "32768 tokens / seq-len, 8..128",
    },
    {
      name: "seq-len",
      type: "int",
      min: 2,
      group: CALIB,
      help: "tokens per window",
      defaultText: "min(2048, context)",
    },
    {
      name: "batch",
      type: "int",
      min: 1,
      group: CALIB,
      help: "windows per GPU batch",
      defaultText: "min(4, nsamples)",
    },
    { name: "seed", type: "int", min: 0, default: 0, group: CALIB, help: "sampling seed" },
    {
      name: "calib-sampling",
      type: "choice",
      choices: ["random", "sequential"],
      default: "random",
      group: CALIB,
      help: "window offsets",
    },
    {
      name: "metric",
      type: "string",
      valueName: "M",
      default: "l2_sentence",
      group: SEARCH,
      help: "sensitivity metric(s), comma-separated",
    },
    {
      name: "candidates",
      type: "int",
      min: 1,
      default: 5,
      group: SEARCH,
      help: "stage-1 candidates re-scored in stage 2",
    },
    {
      name: "checkpoints",
      type: "int",
      min: 0,
      default: 8,
      group: SEARCH,
      help: "activation checkpoints",
    },
    {
      name: "tuning-ratio",
      type: "float",
      min: 0,
      minExclusive: true,
      max: 1,
      default: 1,
      group: SEARCH,
      help: "fraction of down_proj rows re-fitted",
    },
    {
      name: "damping",
      type: "float",
      min: 0,
      default: 0,
      group: SEARCH,
      help: "Tikhonov damping of the least squares",
    },
    {
      name: "no-latency-aware",
      type: "bool",
      group: SEARCH,
      help: "importance without latency (sprint only)",
    },
    { name: "no-tuning", type: "bool", group: SEARCH, help: "no stage 2 (sprint only)" },
    {
      name: "speedup-model",
      type: "choice",
      choices: ["total", "sublayers"],
      default: "total",
      group: SEARCH,
      help: "speedup estimate with or without the fixed cost",
    },
    {
      name: "latency-table",
      type: "path",
      valueName: "FILE",
      group: LAT,
      help: "use this latency table instead of measuring",
    },
    {
      name: "latency-mode",
      type: "choice",
      choices: ["generation", "prefill"],
      default: "generation",
      group: LAT,
      help: "workload measured",
    },
    {
      name: "latency-prompt",
      type: "int",
      min: 1,
      group: LAT,
      help: "prompt tokens",
      defaultText: "min(1024, context/2)",
    },
    {
      name: "latency-gen",
      type: "int",
      min: 1,
      group: LAT,
      help: "generated tokens",
      defaultText: "min(512, context/4)",
    },
    { name: "latency-batch", type: "int", min: 1, default: 1, group: LAT, help: "sequences" },
    {
      name: "latency-iters",
      type: "int",
      min: 1,
      group: LAT,
      defaultText: "5 (webgpu), 60 (llamacpp)",
      help: "timed rounds (more are added when a round is too noisy)",
    },
    {
      name: "device-memory",
      type: "bytes",
      min: 1,
      defaultText: "from the adapter where known, else unbounded",
      help:
        "device bytes the prune may use (e.g. 8GiB): activations, checkpoints and (then) the blocks' weights that do not fit stay in host memory and are streamed, same results",
    },
    {
      name: "offload",
      type: "bool",
      help:
        "keep the blocks' weights in host memory and upload each block as the forward reaches it (same results; chosen by itself when the weights do not fit --device-memory)",
    },
    {
      name: "latency-engine",
      type: "choice",
      choices: ["webgpu", "llamacpp"],
      default: "webgpu",
      group: LAT,
      help: "engine the sublayer latency is measured in (llamacpp: GGUF exports, node-llama-cpp)",
    },
    {
      name: "threads",
      type: "int",
      min: 1,
      max: 256,
      group: LAT,
      defaultText: "1",
      help: "llama.cpp threads for --latency-engine llamacpp",
    },
  ],
  exclusive: [
    ["target-speedup", "num-sublayers"],
    ["resume", "overwrite"],
    ["latency-table", "latency-mode"],
    [
      "latency-table",
      "latency-prompt",
    ],
    ["latency-table", "latency-gen"],
    ["latency-table", "latency-batch"],
    ["latency-table", "latency-engine"],
    ["latency-table", "threads"],
    [
      "latency-table",
      "latency-iters",
    ],
  ],
});

/** Raw values of {@link PRUNE_COMMAND}. */
export type PruneFlagValues = FlagValues<typeof PRUNE_COMMAND.flags>;

/** The prune command's resolved arguments (model-dependent defaults resolved later). */
export interface PruneArgs {
  /** Every flag's value (defaults filled in). */
  flags: PruneFlagValues;
  /** The method to run. */
  method: typeof PRUNE_METHODS[number];
  /** Model directory (the default model when --model is not given). */
  modelDir: string;
  /** Whether --model was given. */
  modelGiven: boolean;
  /** Output directory. */
  outDir: string;
  /** Calibration text file. */
  calibFile: string;
  /** Target speedup (1.25 when neither it nor --num-sublayers is given). */
  targetSpeedup?: number;
  /** Sublayers to remove. */
  numSublayers?: number;
}

/**
 * Parses the prune flags (undefined: `--help` was printed). Every flag-only check happens here.
 *
 * @example
 * ```ts
 * import { parsePruneArgs } from "./flags.ts";
 * const a = parsePruneArgs(["--model", "m", "--num-sublayers", "2"]);
 * if (a?.outDir !== "out/m-sprint") throw new Error(a?.outDir);
 * ```
 */
export function parsePruneArgs(argv: readonly string[]): PruneArgs | undefined {
  const r = parseFlags(PRUNE_COMMAND, argv);
  if (r.help !== undefined) {
    console.log(r.help);
    return undefined;
  }
  const f = r.values;
  const method = f.method;
  if (method !== "sprint" && (f["no-tuning"] || f["no-latency-aware"])) {
    throw new ToolkitError("--no-tuning and --no-latency-aware apply to --method sprint only");
  }
  if (f.threads !== undefined && f["latency-engine"] !== "llamacpp") {
    throw new ToolkitError("--threads applies to --latency-engine llamacpp only");
  }
  if (f["latency-engine"] === "llamacpp" && f["latency-batch"] !== 1) {
    throw new ToolkitError("--latency-batch: --latency-engine llamacpp measures batch 1 only");
  }
  if (f["latency-mode"] === "prefill" && f["latency-gen"] !== undefined) {
    throw new ToolkitError("--latency-gen applies to --latency-mode generation only");
  }
  try {
    parseMetrics(f.metric);
  } catch (e) {
    throw new ToolkitError(`--metric: ${(e as Error).message}`);
  }
  const modelDir = f.model ?? DEFAULT_MODEL_DIR;
  const name = basename(modelDir.replace(/\/+$/, "")) || "model";
  return {
    flags: f,
    method,
    modelDir,
    modelGiven: f.model !== undefined,
    outDir: (f.out ?? join("out", `${name}-${method}`)).replace(/\/+$/, "") || "/",
    calibFile: f.calib ?? join(modelDir, "calibration.txt"),
    targetSpeedup: f["target-speedup"] ?? (f["num-sublayers"] === undefined ? 1.25 : undefined),
    numSublayers: f["num-sublayers"],
  };
}
