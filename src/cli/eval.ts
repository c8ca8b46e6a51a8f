/**
 * `deno task eval [--model DIR] [--tasks LIST] [--data DIR] [--limit N] [--seq-len T]
 * [--stride S] [--speed] [--baseline DIR] [--json FILE] [--samples FILE] [--bos]
 * [--dtype auto|f32|f16] [--batch-tokens N] [--prompt-tokens N] [--new-tokens N]
 * [--speed-batch N] [--reps N] [--quiet]`
 *
 * - `--model DIR`: the model to evaluate (default: the embedded default model,
 *   `data/models/default`).
 * - `--tasks LIST`: comma-separated: piqa, arc_easy, arc_challenge, boolq, hellaswag, winogrande,
 *   openbookqa, lambada (zero-shot, lm-eval v0.4.1 semantics); wikitext2, tinystories, heldout,
 *   text:PATH (perplexity). Default: `heldout` (the model directory's `heldout.txt`) and speed.
 * - `--data DIR`: a directory laid out like `../shared/data` (`bench/*`, `corpus/*`); default
 *   `../shared/data`.
 * - `--limit N`: the first N documents of each zero-shot task, the first N windows of each
 *   perplexity text.
 * - `--seq-len T` / `--stride S`: perplexity windows (default: the model's context, at most
 *   2048; stride = seq len, i.e. non-overlapping).
 * - `--speed`: prefill / decode tokens per second (`--prompt-tokens`, `--new-tokens`,
 *   `--speed-batch`, `--reps`); on by default when `--tasks` is not given.
 * - `--baseline DIR`: also evaluate the dense original and print both side by side, with the
 *   measured speedup when `--speed` is on.
 * - `--json FILE`: every number with its protocol; `--samples FILE`: per-document JSONL.
 * - `--bos`: add BOS to zero-shot requests (newer lm-eval for Llama; v0.4.1 adds none).
 * - `--dtype`: weight storage; `auto` (default) follows config.json's `torch_dtype` (float32 →
 *   f32, else f16 when the device has shader-f16).
 *
 * Bad input (unknown task, malformed data line, missing data directory or model, a `--seq-len`
 * longer than the model's context) ends with a one-line error and exit code 2.
 *
 * @module
 */
import { join } from "node:path";
import { defineCommand, parseValues, showHelp } from "./flags.ts";
import { checkModelDir, checkOutputApart, checkOutputFile } from "./paths.ts";
import { ToolkitError } from "../errors.ts";
import { getGpu, type Gpu } from "../gpu/device.ts";
import { fmtBytes, formatPlan, type MemoryPlan } from "../plan/memory.ts";
import { planEval } from "../plan/prune.ts";
import { readConfig } from "../model/config.ts";
import { DEFAULT_MODEL_DIR } from "../model/default.ts";
import { expectedTensors, type LlamaModel, loadModel } from "../model/model.ts";
import { readPlainText, readWikitext2 } from "../data/corpus.ts";
import { writeJsonAtomic } from "../report/json.ts";
import { Progress } from "../report/progress.ts";
import { headlineMean } from "../eval/accuracy.ts";
import { perplexity, type PerplexityResult } from "../eval/perplexity.ts";
import { measureSpeed, type SpeedResult, type Speedup, speedup } from "../eval/speed.ts";
import { isZeroShotTask, parseTaskList, perplexitySource, TASKS } from "../eval/tasks.ts";
import { checkDataDir, zeroShot, type ZeroShotResult } from "../eval/zeroshot.ts";
import { LlamaCppEngine } from "../engines/llamacpp.ts";
import { enginePerplexity, engineZeroShot } from "../engines/eval.ts";

/** Perplexity figures of one text as written to JSON. */
export interface PerplexityTaskResult {
  task: string;
  ppl: number;
  meanNll: number;
  tokens: number;
  windows: number;
  protocol: Record<string, unknown>;
}

/** Everything measured for one model. */
export interface ModelReport {
  model: { dir: string; params: number; sublayers: string; dtype: "f32" | "f16"; context: number };
  tasks: Record<string, ZeroShotResult | PerplexityTaskResult>;
  mean: { value: number; over: string[]; rule: string };
  speed?: SpeedResult;
  /** The memory plan followed and the peak device bytes allocated during the evaluation. */
  memory?: { plan: MemoryPlan; peakDeviceBytes: number };
}

/** Parsed command line. */
export interface EvalArgs {
  modelDir: string;
  modelGiven: boolean;
  tasks: string[];
  dataDir: string;
  limit?: number;
  seqLen?: number;
  stride?: number;
  speed: boolean;
  baseline?: string;
  json?: string;
  samples?: string;
  bos: boolean;
  dtype: "auto" | "f32" | "f16";
  batchTokens: number;
  promptTokens?: number;
  newTokens: number;
  speedBatch: number;
  reps: number;
  quiet: boolean;
  /** Engine the perplexity and zero-shot tasks run in. */
  engine: "webgpu" | "llamacpp";
  /** llama.cpp threads. */
  threads: number;
  /** `--device-memory` bytes (undefined: from the adapter where known). */
  deviceMemory?: number;
  /** `--offload`: stream the blocks' weights. */
  offload: boolean;
  /** KV-cache bytes of shared-prefix batches (set from the memory plan; default 1 GiB). */
  kvCacheBytes?: number;
}

const EVAL_GROUP_SPEED = "Speed";
const EVAL_GROUP_PPL = "Perplexity and zero-shot";

/** `deno task eval`: the flag table (see the module doc for what each does). */
export const EVAL_COMMAND = defineCommand({
  name: "eval",
  summary: "Perplexity, zero-shot accuracy and measured speed of a model (and its dense baseline).",
  flags: [
    {
      name: "model",
      type: "path",
      valueName: "DIR",
      help: "model directory",
      defaultText: "the embedded default model",
    },
    {
      name: "tasks",
      type: "string",
      valueName: "LIST",
      group: EVAL_GROUP_PPL,
      help: "comma-separated tasks (piqa, …, wikitext2, tinystories, heldout, text:PATH)",
      defaultText: "heldout + speed",
    },
    {
      name: "data",
      type: "path",
      valueName: "DIR",
      group: EVAL_GROUP_PPL,
      help: "data directory laid out like ../shared/data",
      defaultText: "../shared/data",
    },
    {
      name: "limit",
      type: "int",
      min: 1,
      group: EVAL_GROUP_PPL,
      help: "first N documents / windows per task",
    },
    {
      name: "seq-len",
      type: "int",
      min: 2,
      group: EVAL_GROUP_PPL,
      help: "perplexity window",
      defaultText: "min(context, 2048)",
    },
    {
      name: "stride",
      type: "int",
      min: 1,
      group: EVAL_GROUP_PPL,
      help: "perplexity stride",
      defaultText: "seq-len",
    },
    {
      name: "bos",
      type: "bool",
      group: EVAL_GROUP_PPL,
      help: "add BOS to zero-shot requests",
    },
    {
      name: "batch-tokens",
      type: "int",
      min: 1,
      default: 2048,
      group: EVAL_GROUP_PPL,
      help: "tokens per zero-shot batch",
    },
    { name: "speed", type: "bool", group: EVAL_GROUP_SPEED, help: "measure tokens per second" },
    {
      name: "prompt-tokens",
      type: "int",
      min: 1,
      group: EVAL_GROUP_SPEED,
      help: "speed prompt length",
    },
    {
      name: "new-tokens",
      type: "int",
      min: 1,
      default: 32,
      group: EVAL_GROUP_SPEED,
      help: "speed tokens generated",
    },
    {
      name: "speed-batch",
      type: "int",
      min: 1,
      default: 1,
      group: EVAL_GROUP_SPEED,
      help: "speed sequences",
    },
    { name: "reps", type: "int", min: 1, default: 5, group: EVAL_GROUP_SPEED, help: "speed runs" },
    {
      name: "baseline",
      type: "path",
      valueName: "DIR",
      help: "also evaluate this dense model, side by side",
    },
    { name: "json", type: "path", valueName: "FILE", help: "write every number with its protocol" },
    { name: "samples", type: "path", valueName: "FILE", help: "per-document JSONL" },
    {
      name: "dtype",
      type: "choice",
      choices: ["auto", "f32", "f16"],
      default: "auto",
      help: "weight storage",
    },
    {
      name: "device-memory",
      type: "bytes",
      min: 1,
      valueName: "BYTES",
      defaultText: "from the adapter where known, else unbounded",
      help:
        "device bytes the evaluation may use (e.g. 8GiB): fewer rows per forward, then the blocks' weights streamed; same results",
    },
    {
      name: "offload",
      type: "bool",
      help: "keep the blocks' weights in host memory, upload each block as the forward reaches it",
    },
    { name: "quiet", type: "bool", help: "no progress output" },
    {
      name: "engine",
      type: "choice",
      choices: ["webgpu", "llamacpp"],
      default: "webgpu",
      help: "run perplexity and zero-shot in this engine (llamacpp: a GGUF export, node child)",
    },
    {
      name: "threads",
      type: "int",
      min: 1,
      max: 256,
      defaultText: "1",
      help: "llama.cpp threads (--engine llamacpp)",
    },
  ],
});

/** Parses `deno task eval` arguments (see the module doc). */
export function parseEvalArgs(args: string[]): EvalArgs {
  const values = parseValues(EVAL_COMMAND, args);
  const tasksGiven = values.tasks !== undefined;
  const seqLen = values["seq-len"];
  const stride = values.stride;
  if (stride !== undefined && seqLen !== undefined && stride > seqLen) {
    throw new ToolkitError(`--stride ${stride} is larger than --seq-len ${seqLen}`);
  }
  const llama = values.engine === "llamacpp";
  if (values.threads !== undefined && !llama) {
    throw new ToolkitError("--threads applies to --engine llamacpp only");
  }
  if (llama && values.speed) {
    throw new ToolkitError(
      "--speed with --engine llamacpp: use deno task bench --vs llamacpp (or engineSpeed() in mod.ts)",
    );
  }
  return {
    engine: values.engine,
    threads: values.threads ?? 1,
    modelDir: values.model ?? DEFAULT_MODEL_DIR,
    modelGiven: values.model !== undefined,
    tasks: tasksGiven ? parseTaskList(values.tasks!) : ["heldout"],
    dataDir: values.data ?? "../shared/data",
    limit: values.limit,
    seqLen,
    stride,
    speed: values.speed || (!tasksGiven && !llama),
    baseline: values.baseline,
    json: values.json,
    samples: values.samples,
    bos: values.bos,
    dtype: values.dtype,
    batchTokens: values["batch-tokens"],
    promptTokens: values["prompt-tokens"],
    newTokens: values["new-tokens"],
    speedBatch: values["speed-batch"],
    reps: values.reps,
    quiet: values.quiet,
    deviceMemory: values["device-memory"],
    offload: values.offload,
  };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** Checks that every task's input exists before any model runs. */
export async function checkTaskInputs(args: EvalArgs, modelDirs: string[]): Promise<void> {
  if (args.speed) {
    // Fail before any long perplexity pass when the speed workload cannot fit the context.
    for (const d of modelDirs) {
      const context = (await readConfig(d)).maxPositions;
      const prompt = args.promptTokens ?? Math.min(128, context - args.newTokens);
      if (prompt < 1 || prompt + args.newTokens > context) {
        throw new ToolkitError(
          `--prompt-tokens ${prompt} + --new-tokens ${args.newTokens} exceed ${d}'s context of ${context} positions`,
        );
      }
    }
  }
  const needsData = args.tasks.some((t) =>
    isZeroShotTask(t) || t === "wikitext2" || t === "tinystories"
  );
  if (needsData) await checkDataDir(args.dataDir);
  for (const t of args.tasks) {
    const paths = isZeroShotTask(t)
      ? [join(args.dataDir, TASKS[t].file)]
      : modelDirs.map((d) => perplexitySource(t, args.dataDir, d).path);
    for (const p of new Set(paths)) {
      if (!await isFile(p)) {
        const hint = t === "heldout"
          ? " (the model directory has no heldout.txt; choose --tasks)"
          : "";
        throw new ToolkitError(`task ${t}: ${p} not found${hint}`);
      }
    }
  }
}

/** Weight dtype for `--dtype auto`: config.json's torch_dtype (float32 → f32, else f16 if possible). */
export function autoDtype(gpu: Gpu, torchDtype: unknown): "f32" | "f16" {
  if (torchDtype === "float32" || !gpu.caps.f16) return "f32";
  return "f16";
}

async function load(
  gpu: Gpu,
  dir: string,
  args: EvalArgs,
): Promise<{ model: LlamaModel; plan: MemoryPlan }> {
  const cfg = await readConfig(dir);
  const dtype = args.dtype === "auto" ? autoDtype(gpu, cfg.raw.torch_dtype) : args.dtype;
  if (dtype === "f16" && !gpu.caps.f16) {
    throw new ToolkitError("--dtype f16: this device has no shader-f16");
  }
  const zeroShot = args.tasks.some((t) => isZeroShotTask(t));
  const plan = planEval(gpu, cfg, {
    dtype,
    seqLen: args.seqLen ?? Math.min(cfg.maxPositions, 2048),
    batchTokens: args.batchTokens,
    kvCacheBytes: zeroShot ? 1024 ** 3 : undefined,
    deviceMemory: args.deviceMemory,
    offload: args.offload,
  }); // refuses (one line) before the load when the budget or host memory cannot hold it
  if (!args.quiet) console.error(`${dir}: ${formatPlan(plan)}`);
  const model = await loadModel(gpu, dir, {
    dtype,
    offload: plan.weights === "streamed",
    weightLayout: "tiled",
  });
  if (!model.tokenizer) {
    throw new ToolkitError(`${dir}: tokenizer.json is missing (needed to encode the tasks)`);
  }
  const context = Math.min(model.config.maxPositions, model.rope.maxPositions);
  if (args.seqLen !== undefined && args.seqLen > context) {
    model.destroy();
    throw new ToolkitError(
      `--seq-len ${args.seqLen} is longer than the context of ${dir} (${context} positions)`,
    );
  }
  return { model, plan };
}

function paramCount(model: LlamaModel): number {
  let n = 0;
  for (const shape of expectedTensors(model.config).values()) n += shape.reduce((a, b) => a * b, 1);
  return n;
}

const textCache = new Map<string, string>();

async function readCorpus(
  name: string,
  dataDir: string,
  modelDir: string,
): Promise<{ text: string; path: string; format: string }> {
  const src = perplexitySource(name, dataDir, modelDir);
  let text = textCache.get(src.path + "|" + src.format);
  if (text === undefined) {
    text = src.format === "wikitext2"
      ? await readWikitext2(src.path)
      : await readPlainText(src.path);
    textCache.set(src.path + "|" + src.format, text);
  }
  return {
    text,
    path: src.path,
    format: src.format === "wikitext2"
      ? 'WikiText-2 test: HF rows (lines, blank = "") joined with "\\n\\n"'
      : "plain text: the file as one string",
  };
}

/** Evaluates one model on every task (and speed); `role` labels progress and samples. */
export async function evaluateModel(
  model: LlamaModel,
  dir: string,
  args: EvalArgs,
  role: string,
  samplesOut?: string[],
): Promise<ModelReport> {
  const gpu = model.gpu;
  const env = { dtype: model.dtype, adapter: gpu.description, deno: Deno.version.deno };
  const tasks: ModelReport["tasks"] = {};
  const tag = role === "model" ? "" : `${role} `;
  const llama = args.engine === "llamacpp"
    ? await LlamaCppEngine.fromModelDir(dir, { dtype: "f32", threads: args.threads })
    : undefined;
  try {
    if (llama) Object.assign(env, { engine: llama.description });
    for (const name of args.tasks) {
      const start = performance.now();
      if (isZeroShotTask(name)) {
        let bar: Progress | undefined;
        const r = llama
          ? await engineZeroShot(llama, model.tokenizer!, [name], {
            dataDir: args.dataDir,
            limit: args.limit,
            bos: args.bos,
            samples: samplesOut !== undefined,
          })
          : await zeroShot(model, [name], {
            dataDir: args.dataDir,
            limit: args.limit,
            bos: args.bos,
            batchTokens: args.batchTokens,
            kvCacheBytes: args.kvCacheBytes,
            samples: samplesOut !== undefined,
            onProgress: (done, total) => {
              bar ??= new Progress(`${tag}${name}`, total, "requests", {
                quiet: args.quiet,
                start,
              });
              bar.update(done);
            },
          });
        bar?.done();
        const res = r[name];
        if (samplesOut && res.samples) {
          for (const s of res.samples) {
            samplesOut.push(JSON.stringify({ model: role, task: name, ...s }));
          }
          delete res.samples;
        }
        res.protocol = { ...res.protocol, ...env } as typeof res.protocol;
        tasks[name] = res;
      } else {
        const { text, path, format } = await readCorpus(name, args.dataDir, dir);
        let bar: Progress | undefined;
        const r: PerplexityResult = llama
          ? await enginePerplexity(llama, model.tokenizer, text, {
            seqLen: args.seqLen,
            stride: args.stride,
            limit: args.limit,
          })
          : await perplexity(model, text, {
            seqLen: args.seqLen,
            stride: args.stride,
            limit: args.limit,
            batchTokens: args.batchTokens,
            onProgress: (done, total) => {
              bar ??= new Progress(`${tag}${name}`, total, "windows", { quiet: args.quiet, start });
              bar.update(done);
            },
          });
        bar?.done();
        tasks[name] = {
          task: name,
          ppl: r.ppl,
          meanNll: r.meanNll,
          tokens: r.tokens,
          windows: r.windows,
          protocol: {
            task: name,
            file: path,
            format,
            protocol: "SparseGPT/SPRINT: tokenize once, non-overlapping windows (or strided), " +
              "every position but each window's first scored from its window prefix, exp(mean NLL)",
            seqLen: r.seqLen,
            stride: r.stride,
            bos: r.addSpecialTokens
              ? "tokenizer default special tokens (one BOS at the text start for Llama)"
              : "none",
            windowLimit: args.limit ?? null,
            textTokens: r.textTokens,
            unusedTokens: r.unusedTokens,
            ...env,
          },
        };
      }
    }
  } finally {
    await llama?.dispose();
  }
  const accTasks: Record<string, { acc?: number; acc_norm?: number }> = {};
  for (const [k, v] of Object.entries(tasks)) if ("acc" in v) accTasks[k] = v;
  const mean = {
    ...headlineMean(accTasks),
    rule: "mean over tasks of acc_norm where reported, else acc",
  };
  let speed: SpeedResult | undefined;
  if (args.speed) {
    if (!args.quiet) console.error(`${tag}speed: measuring prefill and decode…`);
    speed = await measureSpeed(model, {
      promptTokens: args.promptTokens,
      newTokens: args.newTokens,
      batch: args.speedBatch,
      reps: args.reps,
    });
  }
  return {
    model: {
      dir,
      params: paramCount(model),
      sublayers: `${model.alive.filter((x) => x).length}/${model.numSublayers}`,
      dtype: model.dtype,
      context: Math.min(model.config.maxPositions, model.rope.maxPositions),
    },
    tasks,
    mean,
    speed,
  };
}

function fmt(x: number | undefined, digits = 4): string {
  if (x === undefined) return "";
  if (!Number.isFinite(x)) return String(x);
  return x.toFixed(digits);
}

/** Rows of the result table: [task, metric, value per model…]. */
export function tableRows(reports: ModelReport[], up?: Speedup): string[][] {
  const rows: string[][] = [];
  const names = Object.keys(reports[0].tasks);
  for (const name of names) {
    const rs = reports.map((r) => r.tasks[name]);
    const first = rs[0];
    if ("ppl" in first && !("acc" in first)) {
      const p = first as PerplexityTaskResult;
      rows.push([
        name,
        `ppl (${p.tokens} tok, ${p.windows}×${p.protocol.seqLen})`,
        ...rs.map((r) => fmt(r.ppl, 3)),
      ]);
      continue;
    }
    const z = rs as ZeroShotResult[];
    rows.push([name, `acc (n=${z[0].n})`, ...z.map((r) => `${fmt(r.acc)} ± ${fmt(r.acc_stderr)}`)]);
    if (z[0].acc_norm !== undefined) {
      rows.push([
        name,
        "acc_norm",
        ...z.map((r) => `${fmt(r.acc_norm)} ± ${fmt(r.acc_norm_stderr)}`),
      ]);
    }
    if (z[0].ppl !== undefined) rows.push([name, "ppl", ...z.map((r) => fmt(r.ppl, 3))]);
  }
  if (reports[0].mean.over.length > 0) {
    rows.push(["mean", "acc_norm else acc", ...reports.map((r) => fmt(r.mean.value))]);
  }
  if (reports[0].speed) {
    const s = reports.map((r) => r.speed!);
    const p = s[0].protocol;
    const rate = (x: SpeedResult["prefill"]) =>
      `${x.tokensPerSecond.toFixed(1)} [${x.tokensPerSecondP10.toFixed(1)}, ${
        x.tokensPerSecondP90.toFixed(1)
      }]`;
    rows.push([
      `prefill ${p.batch}×${p.promptTokens}`,
      `tok/s (${p.prefillClock})`,
      ...s.map((x) => rate(x.prefill)),
    ]);
    rows.push([
      `decode ${p.batch}×${p.newTokens}`,
      "tok/s (wall-clock)",
      ...s.map((x) => rate(x.decode)),
    ]);
  }
  if (up) {
    rows.push(["speedup", "prefill", "", `${up.prefill.toFixed(3)}×`]);
    rows.push(["speedup", "decode", "", `${up.decode.toFixed(3)}×`]);
  }
  return rows;
}

/** Formats rows as an aligned text table with a header. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (c ?? "").padEnd(widths[i])).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/**
 * Runs `deno task eval` with `argv`: evaluates, prints the table to stdout, writes JSON and
 * samples when asked. Returns the JSON document.
 */
export async function runEval(argv: string[]): Promise<Record<string, unknown>> {
  if (showHelp(EVAL_COMMAND, argv)) return {};
  const args = parseEvalArgs(argv);
  await checkModelDir(args.modelDir, args.modelGiven);
  if (args.json !== undefined) await checkOutputFile(args.json, "--json");
  if (args.samples !== undefined) await checkOutputFile(args.samples, "--samples");
  if (args.baseline !== undefined) await checkModelDir(args.baseline, true, "--baseline");
  const evalInputs: [string, string][] = [["--model", args.modelDir]];
  if (args.baseline !== undefined) evalInputs.push(["--baseline", args.baseline]);
  if (args.json !== undefined) await checkOutputApart(args.json, "--json", evalInputs);
  if (args.samples !== undefined) await checkOutputApart(args.samples, "--samples", evalInputs);
  await checkTaskInputs(args, [args.modelDir, ...(args.baseline ? [args.baseline] : [])]);
  const gpu = await getGpu();
  const samples: string[] | undefined = args.samples ? [] : undefined;
  const reports: ModelReport[] = [];
  const roles: [string, string][] = args.baseline
    ? [["dense", args.baseline], ["pruned", args.modelDir]]
    : [["model", args.modelDir]];
  for (const [role, dir] of roles) {
    const { model, plan } = await load(gpu, dir, args);
    try {
      gpu.memory.resetPeak();
      const planned = { ...args, ...plan.eval }; // rows per forward and KV cache that fit
      const report = await evaluateModel(model, dir, planned, role, samples);
      report.memory = { plan, peakDeviceBytes: gpu.memory.peak };
      if (!args.quiet) {
        console.error(`${dir}: measured peak device bytes ${fmtBytes(gpu.memory.peak)}`);
      }
      reports.push(report);
    } finally {
      model.destroy();
    }
  }
  const up = args.baseline && args.speed
    ? speedup(reports[0].speed!, reports[1].speed!)
    : undefined;
  const header = args.baseline
    ? ["task", "metric", "dense", "pruned"]
    : ["task", "metric", "value"];
  const title = args.baseline
    ? `dense ${args.baseline} (${
      reports[0].model.sublayers
    } sublayers) vs pruned ${args.modelDir} (${reports[1].model.sublayers})`
    : `${args.modelDir} (${reports[0].model.sublayers} sublayers, ${
      reports[0].model.params
    } params)`;
  const where = args.engine === "llamacpp"
    ? `engine llama.cpp (node-llama-cpp 3.21.1, f32 GGUF export, ${args.threads} thread(s), F32 KV cache, flash attention off)`
    : `weights ${reports[0].model.dtype} | ${gpu.description}`;
  console.log(`${title} | ${where} | deno ${Deno.version.deno}`);
  console.log(formatTable(header, tableRows(reports, up)));
  const protocol = {
    tool: "sprint-wgpu deno task eval",
    argv,
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    adapter: gpu.description,
    f16: gpu.caps.f16,
    timestamps: gpu.caps.timestamps,
    dtype: reports[0].model.dtype,
    zeroShot: 'lm-evaluation-harness v0.4.1 semantics, target delimiter " ", no BOS unless --bos',
    bos: args.bos,
    limit: args.limit ?? null,
    seqLen: args.seqLen ?? null,
    stride: args.stride ?? null,
    batchTokens: args.batchTokens,
    meanRule: "mean over tasks of acc_norm where reported, else acc",
  };
  const main = reports[reports.length - 1];
  const doc: Record<string, unknown> = {
    protocol,
    model: main.model,
    memory: main.memory,
    tasks: main.tasks,
    mean: main.mean,
  };
  if (main.speed) doc.speed = main.speed;
  if (args.baseline) doc.baseline = reports[0];
  if (up) doc.speedup = up;
  if (args.json) {
    await writeJsonAtomic(args.json, doc);
    if (!args.quiet) console.error(`wrote ${args.json}`);
  }
  if (args.samples && samples) {
    await Deno.writeTextFile(args.samples, samples.join("\n") + (samples.length ? "\n" : ""));
    if (!args.quiet) console.error(`wrote ${args.samples}`);
  }
  return doc;
}
