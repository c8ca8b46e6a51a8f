/**
 * Flags of `deno task compare` (see tasks/compare.ts for the synopsis).
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ToolkitError } from "../errors.ts";
import { DEFAULT_MODEL_DIR } from "../model/default.ts";
import { isZeroShotTask, knownTaskNames } from "../eval/tasks.ts";

/** Methods `compare` knows: SPRINT, its two ablations, and the baselines. */
export const COMPARE_METHODS = [
  "sprint",
  "sleb",
  "shortgpt",
  "blockpruner",
  "sprint-no-latency",
  "sprint-no-tuning",
] as const;

/** A compare method name. */
export type CompareMethod = typeof COMPARE_METHODS[number];

/** The prune flags that select a method (ablations are SPRINT with one idea switched off). */
export function methodFlags(method: CompareMethod): string[] {
  if (method === "sprint-no-latency") return ["--method", "sprint", "--no-latency-aware"];
  if (method === "sprint-no-tuning") return ["--method", "sprint", "--no-tuning"];
  return ["--method", method];
}

/** Parsed command line. */
export interface CompareArgs {
  modelDir: string;
  modelGiven: boolean;
  speedups: number[];
  methods: CompareMethod[];
  /** Zero-shot tasks (empty: none). */
  tasks: string[];
  dataDir: string;
  /** Zero-shot documents per task (first N). */
  limit?: number;
  out: string;
  /** Calibration text (default: the model directory's calibration.txt). */
  calib: string;
  /** Held-out text; absent: the calibration file is split (see {@link CompareArgs.calibFraction}). */
  heldout?: string;
  /** Fraction of the calibration file (by characters, cut at a paragraph break) used for calibration. */
  calibFraction: number;
  nsamples?: number;
  seqLen?: number;
  seed: number;
  speedupModel: "total" | "sublayers";
  latencyTable?: string;
  latencyMode: "generation" | "prefill";
  latencyPrompt?: number;
  latencyGen?: number;
  latencyIters: number;
  /** Held-out perplexity window length (default: the model's context, at most 2048). */
  pplSeqLen?: number;
  /** Held-out perplexity: the first N windows only. */
  pplWindows?: number;
  /** Timed dense/pruned pairs per cell (run alternately, after one warm-up each). */
  speedRuns: number;
  f32: boolean;
  quiet: boolean;
}

function int(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isInteger(x) || x < min) {
    throw new ToolkitError(`--${flag}: expected an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  }
  return x;
}

function list(v: string): string[] {
  return v.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Parses `deno task compare` arguments. */
export function parseCompareArgs(argv: string[]): CompareArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: "string" },
        speedups: { type: "string", default: "1.1,1.2,1.3" },
        methods: { type: "string", default: "sprint,sleb,shortgpt,blockpruner" },
        tasks: { type: "string", default: "" },
        data: { type: "string", default: "../shared/data" },
        limit: { type: "string" },
        out: { type: "string" },
        calib: { type: "string" },
        heldout: { type: "string" },
        "calib-fraction": { type: "string", default: "0.5" },
        nsamples: { type: "string" },
        "seq-len": { type: "string" },
        seed: { type: "string", default: "0" },
        "speedup-model": { type: "string", default: "total" },
        "latency-table": { type: "string" },
        "latency-mode": { type: "string", default: "generation" },
        "latency-prompt": { type: "string" },
        "latency-gen": { type: "string" },
        "latency-iters": { type: "string", default: "5" },
        "ppl-seq-len": { type: "string" },
        "ppl-windows": { type: "string" },
        "speed-runs": { type: "string", default: "10" },
        f32: { type: "boolean", default: false },
        quiet: { type: "boolean", default: false },
      },
    }));
  } catch (e) {
    throw new ToolkitError((e as Error).message.split("\n")[0]);
  }
  const modelDir = values.model ?? DEFAULT_MODEL_DIR;
  const speedups = list(values.speedups).map((s) => {
    const x = Number(s);
    if (!Number.isFinite(x) || x <= 1) {
      throw new ToolkitError(`--speedups: expected numbers > 1, got ${JSON.stringify(s)}`);
    }
    return x;
  });
  if (speedups.length === 0) throw new ToolkitError("--speedups: give at least one speedup");
  const methods = list(values.methods).map((m) => {
    if (!(COMPARE_METHODS as readonly string[]).includes(m)) {
      throw new ToolkitError(
        `--methods: unknown method ${JSON.stringify(m)}; known: ${COMPARE_METHODS.join(", ")}`,
      );
    }
    return m as CompareMethod;
  });
  if (methods.length === 0) throw new ToolkitError("--methods: give at least one method");
  const tasks = list(values.tasks);
  for (const t of tasks) {
    if (!isZeroShotTask(t)) {
      throw new ToolkitError(
        `--tasks: ${JSON.stringify(t)} is not a zero-shot task (held-out perplexity is always ` +
          `reported); known: ${knownTaskNames().filter(isZeroShotTask).join(", ")}`,
      );
    }
  }
  const fraction = Number(values["calib-fraction"]);
  if (!(fraction > 0 && fraction < 1)) {
    throw new ToolkitError(
      `--calib-fraction: expected a number in (0, 1), got ${values["calib-fraction"]}`,
    );
  }
  const speedupModel = values["speedup-model"];
  if (speedupModel !== "total" && speedupModel !== "sublayers") {
    throw new ToolkitError(`--speedup-model: expected total or sublayers, got ${speedupModel}`);
  }
  const latencyMode = values["latency-mode"];
  if (latencyMode !== "generation" && latencyMode !== "prefill") {
    throw new ToolkitError(`--latency-mode: expected generation or prefill, got ${latencyMode}`);
  }
  const name = modelDir.replace(/\/+$/, "").split("/").pop() || "model";
  return {
    modelDir,
    modelGiven: values.model !== undefined,
    speedups: [...new Set(speedups)],
    methods: [...new Set(methods)],
    tasks,
    dataDir: values.data,
    limit: int("limit", values.limit, 1),
    out: values.out ?? join("out", `compare-${name}`),
    calib: values.calib ?? join(modelDir, "calibration.txt"),
    heldout: values.heldout,
    calibFraction: fraction,
    nsamples: int("nsamples", values.nsamples, 1),
    seqLen: int("seq-len", values["seq-len"], 2),
    seed: int("seed", values.seed, 0)!,
    speedupModel,
    latencyTable: values["latency-table"],
    latencyMode,
    latencyPrompt: int("latency-prompt", values["latency-prompt"], 1),
    latencyGen: int("latency-gen", values["latency-gen"], 1),
    latencyIters: int("latency-iters", values["latency-iters"], 1)!,
    pplSeqLen: int("ppl-seq-len", values["ppl-seq-len"], 2),
    pplWindows: int("ppl-windows", values["ppl-windows"], 1),
    speedRuns: int("speed-runs", values["speed-runs"], 1)!,
    f32: values.f32,
    quiet: values.quiet,
  };
}
