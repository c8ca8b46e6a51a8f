/**
 * `deno task compare`: every method × target speedup ("cell") is pruned with the prune command
 * and evaluated the same way, and the results are written as a table and plots.
 *
 * Protocol:
 * - **Data split.** Without `--heldout`, the calibration file is split once: its first
 *   `--calib-fraction` (default 50 %) of characters, cut at the next paragraph break, becomes
 *   `OUT/data/calib.txt` (every method samples its calibration windows from it, with the same
 *   seed, count and length), the rest `OUT/data/heldout.txt` (held-out perplexity). The two
 *   slices share no text.
 * - **Latency table.** Measured once on the dense model (or read from `--latency-table`), stored
 *   as `OUT/latency.json` and passed to every prune with `--latency-table`, so every method stops
 *   on the same speedup model.
 * - **Pruning.** Each cell runs `tasks/prune.ts` as a subprocess (exactly `deno task prune`)
 *   into `OUT/cells/<method>-<speedup>/` (log: `OUT/logs/<cell>.prune.log`); pruning time is the
 *   prune log's search wall time (`wallSeconds`), the process time is recorded too.
 * - **Evaluation** (src/eval, in this process, weights in one dtype for all models): held-out
 *   perplexity (`perplexity`, non-overlapping windows, BOS at the text start), zero-shot tasks
 *   (`zeroShot`) when `--tasks` is given, and measured speedup: the latency table's own workload
 *   (latency.ts `runWorkload`, the code that measured the table) run `--speed-runs` times on the
 *   dense and the pruned model alternately after a warm-up each; speedup = min ÷ min (see
 *   {@link workloadSpeedup}).
 * - **Resume.** A cell is finished when its `result.json` exists (written atomically after its
 *   evaluation); finished cells are skipped, a cell whose prune finished but whose evaluation did
 *   not is only evaluated. `OUT/settings.json` pins everything results depend on; a rerun with
 *   different settings is refused.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { median, quantile } from "../deps.ts";
import { ToolkitError } from "../errors.ts";
import { getGpu, type Gpu } from "../gpu/device.ts";
import { type LlamaModel, loadModel } from "../model/model.ts";
import { writeJsonAtomic } from "../report/json.ts";
import { perplexity } from "../eval/perplexity.ts";
import { zeroShot, type ZeroShotResult } from "../eval/zeroshot.ts";
import {
  type LatencyTable,
  type LatencyWorkload,
  measureLatency,
  readLatencyTable,
  runWorkload,
} from "../sprint/latency.ts";
import { defaultLatencyWorkload } from "../sprint/defaults.ts";
import {
  type CellPrune,
  type CellResult,
  type CompareArgs,
  type CompareDoc,
  type CompareMethod,
  type DenseResult,
  type HeldoutResult,
  type MeasuredSpeed,
  methodFlags,
} from "./types.ts";
import { compareMarkdown, compareSvg } from "./report.ts";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** Cell directory name. */
export function cellName(method: string, speedup: number): string {
  return `${method}-${speedup}`;
}

/**
 * Splits a text at the first paragraph break (else line break) at or after `fraction` of its
 * characters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitText } from "./run.ts"; // internal: src/compare/ has no package subpath
 * // Half of the 10 characters is offset 5; the next paragraph break ends at 8.
 * const { first, second, cut } = splitText("aa\n\nbb\n\ncc", 0.5);
 * assert.deepEqual([first, second, cut], ["aa\n\nbb\n\n", "cc", 8]);
 * assert.throws(() => splitText("aa\n\n", 0.5), /one side would be empty/);
 * ```
 */
export function splitText(text: string, fraction: number): {
  first: string;
  second: string;
  cut: number;
} {
  const at = Math.floor(text.length * fraction);
  let cut = text.indexOf("\n\n", at);
  if (cut >= 0) cut += 2;
  else {
    cut = text.indexOf("\n", at);
    cut = cut >= 0 ? cut + 1 : at;
  }
  const first = text.slice(0, cut);
  const second = text.slice(cut);
  if (first.trim() === "" || second.trim() === "") {
    throw new ToolkitError(
      `cannot split the calibration text at ${fraction}: one side would be empty (pass --heldout)`,
    );
  }
  return { first, second, cut };
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new ToolkitError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new ToolkitError(`${path}: cannot read the ${what} (${(e as Error).message})`);
  }
}

/**
 * Times the latency workload on the dense and the pruned model (one untimed warm-up each, then
 * `runs` pairs run alternately — dense, pruned, dense, … — so slow drifts hit both alike). The
 * headline is min ÷ min: on a shared machine other processes only ever add time, so the fastest
 * run is the best estimate of a model's own cost; the median ratio and the spread of the paired
 * ratios are kept too.
 */
export async function workloadSpeedup(
  dense: LlamaModel,
  pruned: LlamaModel,
  workload: LatencyWorkload,
  runs: number,
): Promise<MeasuredSpeed> {
  await runWorkload(dense, dense.alive, workload, 1);
  await runWorkload(pruned, pruned.alive, workload, 1);
  const denseMs: number[] = [];
  const prunedMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    denseMs.push(await runWorkload(dense, dense.alive, workload, 2 + i));
    prunedMs.push(await runWorkload(pruned, pruned.alive, workload, 2 + i));
  }
  const ratios = denseMs.map((d, i) => d / prunedMs[i]);
  return {
    speedup: Math.min(...denseMs) / Math.min(...prunedMs),
    medianSpeedup: median(denseMs)! / median(prunedMs)!,
    p10: quantile(ratios, 0.1)!,
    p90: quantile(ratios, 0.9)!,
    denseMs,
    prunedMs,
    workload,
  };
}

async function heldoutPerplexity(
  model: LlamaModel,
  ids: readonly number[],
  args: CompareArgs,
): Promise<HeldoutResult> {
  const r = await perplexity(model, { ids }, { seqLen: args.pplSeqLen, limit: args.pplWindows });
  return { ppl: r.ppl, meanNll: r.meanNll, tokens: r.tokens, windows: r.windows, seqLen: r.seqLen };
}

async function zeroShotAll(
  model: LlamaModel,
  args: CompareArgs,
): Promise<Record<string, ZeroShotResult>> {
  if (args.tasks.length === 0) return {};
  const r = await zeroShot(model, args.tasks, { dataDir: args.dataDir, limit: args.limit });
  for (const v of Object.values(r)) delete v.samples;
  return r;
}

/** The prune flags of a cell (what `deno task prune` is run with). */
export function pruneFlags(
  args: CompareArgs,
  method: CompareMethod,
  speedup: number,
  cellDir: string,
  calibFile: string,
  latencyFile: string,
): string[] {
  return [
    ...methodFlags(method),
    "--model",
    args.modelDir,
    "--out",
    cellDir,
    "--overwrite",
    "--target-speedup",
    String(speedup),
    "--calib",
    calibFile,
    "--seed",
    String(args.seed),
    "--speedup-model",
    args.speedupModel,
    "--latency-table",
    latencyFile,
    ...(args.nsamples !== undefined ? ["--nsamples", String(args.nsamples)] : []),
    ...(args.seqLen !== undefined ? ["--seq-len", String(args.seqLen)] : []),
    ...(args.f32 ? ["--f32"] : []),
  ];
}

/** Whether a prune log in a cell directory is the prune of (method, speedup). */
export function logMatches(
  log: { method: string; settings: Record<string, unknown> },
  method: CompareMethod,
  speedup: number,
): boolean {
  const st = log.settings;
  if (st.targetSpeedup !== speedup) return false;
  if (!method.startsWith("sprint")) return log.method === method;
  if (log.method !== "sprint") return false;
  const noLatency = st.latencyAware === false;
  const noTuning = st.tuning === false;
  if (method === "sprint-no-latency") return noLatency && !noTuning;
  if (method === "sprint-no-tuning") return noTuning && !noLatency;
  return !noLatency && !noTuning;
}

/** Runs `deno task prune` with `flags` as a subprocess, its output into `logFile`. */
async function runPrune(flags: string[], logFile: string): Promise<number> {
  const denoArgs = [
    "run",
    "--allow-all",
    `--config=${join(ROOT, "deno.json")}`,
    join(ROOT, "tasks", "prune.ts"),
    ...flags,
  ];
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: denoArgs,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t0) / 1e3;
  const dec = new TextDecoder();
  const text = dec.decode(out.stdout) + dec.decode(out.stderr);
  await Deno.writeTextFile(logFile, text);
  if (!out.success) {
    const lines = text.replace(/\r/g, "\n").split("\n").map((l) => l.trim()).filter(Boolean);
    const err = lines.find((l) => /error/i.test(l)) ?? lines[lines.length - 1] ?? "";
    // deno-lint-ignore no-control-regex
    throw new ToolkitError(`prune exited with ${out.code}: ${err.replace(/\x1b\[[0-9;]*m/g, "")}`);
  }
  return seconds;
}

interface PruneLogFile {
  method: string;
  settings: Record<string, unknown>;
  dense: { calibrationLoss?: number };
  steps: {
    estimatedSpeedup: number;
    estimatedSpeedupSublayers: number;
    estimatedSpeedupTotal: number;
    calibrationLoss?: number;
  }[];
  final: { pruned: number[]; estimatedSpeedup: number };
  wallSeconds: number;
}

function pruneSummary(
  log: PruneLogFile,
  target: number,
  processSeconds: number | null,
  command: string[],
): CellPrune {
  const last = log.steps[log.steps.length - 1];
  return {
    method: log.method,
    settings: log.settings,
    pruned: log.final.pruned,
    steps: log.steps.length,
    estimatedSpeedup: log.final.estimatedSpeedup,
    estimatedSpeedupSublayers: last?.estimatedSpeedupSublayers ?? 1,
    estimatedSpeedupTotal: last?.estimatedSpeedupTotal ?? 1,
    targetReached: (log.settings.targetReached as boolean | undefined) ??
      log.final.estimatedSpeedup >= target,
    denseCalibrationLoss: log.dense.calibrationLoss,
    finalCalibrationLoss: last?.calibrationLoss,
    wallSeconds: log.wallSeconds,
    processSeconds,
    command,
  };
}

async function latencyTable(
  args: CompareArgs,
  dense: LlamaModel,
  file: string,
  say: (m: string) => void,
): Promise<LatencyTable> {
  if (args.latencyTable) {
    const t = await readLatencyTable(args.latencyTable);
    const prev = await readJson<LatencyTable>(file);
    if (prev && (prev.attention !== t.attention || prev.mlp !== t.mlp || prev.dense !== t.dense)) {
      throw new ToolkitError(
        `${file} holds a different latency table than --latency-table ${args.latencyTable}; use another --out`,
      );
    }
    const copy = { ...t, source: "file" as const, suppliedFrom: args.latencyTable };
    await writeJsonAtomic(file, copy);
    return copy;
  }
  const prev = await readJson<LatencyTable>(file);
  if (prev) {
    say(`latency table: reusing ${file}`);
    return prev;
  }
  const c = dense.config;
  const dw = defaultLatencyWorkload(c.maxPositions);
  const w: LatencyWorkload = {
    mode: args.latencyMode,
    promptLength: args.latencyPrompt ??
      (args.latencyMode === "prefill" ? Math.min(c.maxPositions, 2048) : dw.promptLength),
    generationLength: args.latencyMode === "prefill" ? 0 : args.latencyGen ?? dw.generationLength,
    batch: 1,
    iterations: args.latencyIters,
  };
  if (w.promptLength + w.generationLength > c.maxPositions) {
    throw new ToolkitError(
      `latency workload ${w.promptLength}+${w.generationLength} tokens exceeds the model's ${c.maxPositions} positions`,
    );
  }
  say(
    `measuring the latency table once (${w.mode}, prompt ${w.promptLength}, gen ${w.generationLength}, ${w.iterations} iterations)…`,
  );
  let t: LatencyTable;
  try {
    t = await measureLatency(dense, w);
  } catch (e) {
    if (e instanceof ToolkitError) {
      throw new ToolkitError(
        `${e.message} (compare: try --latency-mode prefill, more --latency-iters, or --latency-table FILE)`,
      );
    }
    throw e;
  }
  const table = { ...t, model: args.modelDir };
  await writeJsonAtomic(file, table);
  return table;
}

/**
 * Runs the comparison (see the module doc) and returns the compare.json document.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR } from "@sprint-wgpu/toolkit/model";
 * import { parseCompareArgs } from "../cli/compare.ts"; // internal: no package subpath
 * import { runCompare } from "./run.ts";
 * const out = await Deno.makeTempDir();
 * const latency = `${out}/latency.json`; // a given latency table: nothing is measured
 * await Deno.writeTextFile(latency, JSON.stringify({
 *   attention: 1, mlp: 2, dense: 28,
 *   workload: { mode: "prefill", promptLength: 16, generationLength: 0, batch: 1 },
 * }));
 * const doc = await runCompare(parseCompareArgs([ // SLEB at 1.2× on the embedded model, tiny
 *   "--model", DEFAULT_MODEL_DIR, "--methods", "sleb", "--speedups", "1.2", "--nsamples", "2",
 *   "--seq-len", "16", "--latency-table", latency, "--ppl-seq-len", "32", "--ppl-windows", "2",
 *   "--speed-runs", "1", "--out", out, "--quiet",
 * ]));
 * assert.deepEqual(doc.failed, {});
 * const [cell] = doc.cells;
 * assert.equal(cell.cell, "sleb-1.2");
 * assert.ok(cell.prune.targetReached && cell.prune.estimatedSpeedup >= 1.2);
 * assert.equal(cell.heldout.tokens, 2 * 31); // 2 windows of 32 tokens, 31 predictions each
 * assert.ok(Number.isFinite(cell.heldout.ppl) && cell.heldout.ppl > 1);
 * assert.match(await Deno.readTextFile(`${out}/compare.md`), /\| sleb \| 1\.2 \|/);
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function runCompare(args: CompareArgs, gpuIn?: Gpu): Promise<CompareDoc> {
  const say = (m: string) => {
    if (!args.quiet) console.error(m);
  };
  const out = args.out;
  for (const d of [out, join(out, "data"), join(out, "cells"), join(out, "logs")]) {
    await Deno.mkdir(d, { recursive: true });
  }
  const data = await prepareData(args);
  const gpu = gpuIn ?? await getGpu();
  const dtype: "f32" | "f16" = args.f32 ? "f32" : gpu.weightDType;
  const dense = await loadModel(gpu, args.modelDir, { dtype });
  try {
    if (!dense.tokenizer) {
      throw new ToolkitError(`${args.modelDir}: tokenizer.json is missing`);
    }
    const latencyFile = join(out, "latency.json");
    const latency = await latencyTable(args, dense, latencyFile, say);
    const workload: LatencyWorkload = {
      ...(latency.workload ?? defaultLatencyWorkload(dense.config.maxPositions)),
      iterations: 1,
    };
    const heldIds = dense.tokenizer.encode(data.heldoutText);
    const settings = compareSettings(args, data.split, latency, dtype, workload);
    const fingerprint = JSON.stringify(settings);
    await pinSettings(out, fingerprint, settings);
    const denseRes = await denseFigures(args, dense, heldIds, fingerprint, say);
    const run: CellRun = {
      args,
      gpu,
      dtype,
      dense,
      heldIds,
      workload,
      fingerprint,
      calibFile: data.calibFile,
      latencyFile,
      say,
    };
    const protocol = compareProtocol(args, gpu, settings, heldIds.length);
    const results: CellResult[] = [];
    const failed: Record<string, string> = {};
    const write = async () => {
      const doc: CompareDoc = {
        format: "sprint-wgpu compare v1",
        protocol,
        latency,
        dense: denseRes,
        cells: results,
        failed,
      };
      await writeJsonAtomic(join(out, "compare.json"), doc);
      await Deno.writeTextFile(join(out, "compare.md"), compareMarkdown(doc));
      await Deno.writeTextFile(join(out, "compare.svg"), compareSvg(doc));
      return doc;
    };
    const total = args.methods.length * args.speedups.length;
    let index = 0;
    for (const speedup of args.speedups) {
      for (const method of args.methods) {
        index++;
        const tag = `[${index}/${total}] ${cellName(method, speedup)}`;
        try {
          results.push(await runCell(run, method, speedup, tag));
        } catch (e) {
          if (!(e instanceof ToolkitError)) throw e;
          failed[cellName(method, speedup)] = e.message;
          say(`${tag}: FAILED: ${e.message}`);
          await write();
          continue;
        }
        if (!run.skipped) await write();
      }
    }
    const doc = await write();
    say(`wrote ${join(out, "compare.md")}, compare.json, compare.svg`);
    return doc;
  } finally {
    dense.destroy();
  }
}

/** The calibration file every method samples from, the held-out text, and how they were split. */
async function prepareData(args: CompareArgs): Promise<{
  calibFile: string;
  heldoutText: string;
  split: Record<string, unknown>;
}> {
  const out = args.out;
  const calibText = await readText(args.calib, "calibration text");
  if (args.heldout) {
    return {
      calibFile: args.calib,
      heldoutText: await readText(args.heldout, "held-out text"),
      split: { calibration: args.calib, heldout: args.heldout, rule: "separate files (--heldout)" },
    };
  }
  const s = splitText(calibText, args.calibFraction);
  const calibFile = join(out, "data", "calib.txt");
  await Deno.writeTextFile(calibFile, s.first);
  await Deno.writeTextFile(join(out, "data", "heldout.txt"), s.second);
  return {
    calibFile,
    heldoutText: s.second,
    split: {
      source: args.calib,
      rule:
        `characters [0, ${s.cut}) of the file (the first ${args.calibFraction} cut at the next paragraph break) → calibration windows; [${s.cut}, ${calibText.length}) → held-out perplexity`,
      calibrationChars: s.cut,
      heldoutChars: calibText.length - s.cut,
    },
  };
}

/** Everything the results depend on (its JSON is the run's fingerprint). */
function compareSettings(
  args: CompareArgs,
  split: Record<string, unknown>,
  latency: LatencyTable,
  dtype: "f32" | "f16",
  workload: LatencyWorkload,
): Record<string, unknown> {
  return {
    model: resolve(args.modelDir),
    split,
    nsamples: args.nsamples ?? "prune default",
    seqLen: args.seqLen ?? "prune default",
    seed: args.seed,
    speedupModel: args.speedupModel,
    latency: { attention: latency.attention, mlp: latency.mlp, dense: latency.dense },
    dtype,
    pplSeqLen: args.pplSeqLen ?? "model context ≤ 2048",
    pplWindows: args.pplWindows ?? "all",
    tasks: args.tasks,
    limit: args.limit ?? "all",
    dataDir: args.tasks.length ? args.dataDir : null,
    speed: { runs: args.speedRuns, workload },
  };
}

/** Writes `settings.json`, refusing an `--out` that holds results made with other settings. */
async function pinSettings(
  out: string,
  fingerprint: string,
  settings: Record<string, unknown>,
): Promise<void> {
  const settingsFile = join(out, "settings.json");
  const prevSettings = await readJson<{ fingerprint: string }>(settingsFile);
  if (prevSettings && prevSettings.fingerprint !== fingerprint) {
    const prev = JSON.parse(prevSettings.fingerprint) as Record<string, unknown>;
    const diff = Object.keys(settings).filter((k) =>
      JSON.stringify(prev[k]) !== JSON.stringify(settings[k])
    );
    throw new ToolkitError(
      `${settingsFile}: ${out} holds results made with different settings (${
        diff.join(", ")
      }); use another --out`,
    );
  }
  await writeJsonAtomic(settingsFile, { fingerprint, settings });
}

/** The dense model's held-out perplexity and zero-shot results (reused when already written). */
async function denseFigures(
  args: CompareArgs,
  dense: LlamaModel,
  heldIds: number[],
  fingerprint: string,
  say: (m: string) => void,
): Promise<DenseResult> {
  const denseFile = join(args.out, "dense.json");
  let denseRes = await readJson<DenseResult>(denseFile);
  if (!denseRes || denseRes.fingerprint !== fingerprint) {
    say("dense: held-out perplexity" + (args.tasks.length ? " and zero-shot tasks…" : "…"));
    denseRes = {
      format: "sprint-wgpu compare dense v1",
      fingerprint,
      heldout: await heldoutPerplexity(dense, heldIds, args),
      zeroShot: await zeroShotAll(dense, args),
    };
    await writeJsonAtomic(denseFile, denseRes);
  }
  say(`dense: held-out ppl ${denseRes.heldout.ppl.toFixed(3)}`);
  return denseRes;
}

/** The protocol block of `compare.json`. */
function compareProtocol(
  args: CompareArgs,
  gpu: Gpu,
  settings: Record<string, unknown>,
  heldoutTokens: number,
): Record<string, unknown> {
  return {
    tool: "sprint-wgpu deno task compare",
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    adapter: gpu.description,
    settings,
    heldoutTokens,
    perplexity:
      "SparseGPT/SPRINT: held-out slice tokenized once (BOS at its start), non-overlapping windows, every position but each window's first scored, exp(mean NLL)",
    measuredSpeedup:
      `latency.ts runWorkload on the latency table's workload: one warm-up each, then ${args.speedRuns} dense/pruned pairs run alternately; speedup = min(dense ms) ÷ min(pruned ms) (other processes only add time); the median ratio and the 10th–90th percentile of the paired ratios are reported too`,
    estimatedSpeedup:
      `rules.ts estimatedSpeedup, model "${args.speedupModel}" (the stopping rule of every method)`,
    pruningTime:
      "prune_log.json wallSeconds: the search from the first calibration pass to the last step",
    zeroShot: args.tasks.length
      ? "src/eval zeroShot (lm-evaluation-harness v0.4.1 semantics)"
      : "none (no --tasks)",
  };
}

/** What every cell of a run shares. */
interface CellRun {
  args: CompareArgs;
  gpu: Gpu;
  dtype: "f32" | "f16";
  dense: LlamaModel;
  heldIds: number[];
  workload: LatencyWorkload;
  fingerprint: string;
  calibFile: string;
  latencyFile: string;
  say: (m: string) => void;
  /** Whether the last cell was finished earlier and skipped. */
  skipped?: boolean;
}

/** One cell: prune (unless pruned earlier) and evaluate (unless finished earlier). */
async function runCell(
  run: CellRun,
  method: CompareMethod,
  speedup: number,
  tag: string,
): Promise<CellResult> {
  const { args, say } = run;
  const cell = cellName(method, speedup);
  const cellDir = join(args.out, "cells", cell);
  const resultFile = join(cellDir, "result.json");
  const prev = await readJson<CellResult>(resultFile);
  run.skipped = false;
  if (prev && prev.fingerprint === run.fingerprint) {
    say(`${tag}: finished earlier, skipped`);
    run.skipped = true;
    return prev;
  }
  const t0 = performance.now();
  let log = await readJson<PruneLogFile>(join(cellDir, "prune_log.json"));
  let processSeconds: number | null = null;
  const flags = pruneFlags(args, method, speedup, cellDir, run.calibFile, run.latencyFile);
  if (log && logMatches(log, method, speedup)) {
    say(`${tag}: pruned earlier, evaluating…`);
  } else {
    say(`${tag}: pruning…`);
    processSeconds = await runPrune(flags, join(args.out, "logs", `${cell}.prune.log`));
    log = await readJson<PruneLogFile>(join(cellDir, "prune_log.json"));
    if (!log) throw new ToolkitError(`${cellDir}/prune_log.json missing after the prune`);
  }
  const t1 = performance.now();
  const pruned = await loadModel(run.gpu, cellDir, { dtype: run.dtype });
  let res: CellResult;
  try {
    const heldout = await heldoutPerplexity(pruned, run.heldIds, args);
    const zs = await zeroShotAll(pruned, args);
    const speed = await workloadSpeedup(run.dense, pruned, run.workload, args.speedRuns);
    res = {
      format: "sprint-wgpu compare cell v1",
      fingerprint: run.fingerprint,
      cell,
      method,
      targetSpeedup: speedup,
      prune: pruneSummary(log!, speedup, processSeconds, ["deno", "task", "prune", ...flags]),
      heldout,
      zeroShot: zs,
      speed,
      evalSeconds: (performance.now() - t1) / 1e3,
    };
  } finally {
    pruned.destroy();
  }
  await writeJsonAtomic(resultFile, res);
  say(
    `${tag}: removed [${res.prune.pruned.join(", ")}], est. ${
      res.prune.estimatedSpeedup.toFixed(3)
    }×, measured ${res.speed.speedup.toFixed(3)}×, held-out ppl ${
      res.heldout.ppl.toFixed(3)
    }, search ${res.prune.wallSeconds.toFixed(1)} s (${
      ((performance.now() - t0) / 1e3).toFixed(1)
    } s)`,
  );
  return res;
}
