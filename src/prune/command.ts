/**
 * The `prune` command over SPRINT and the baselines, with one output / state / resume format:
 *
 * 1. Flags, paths and writability are checked, and `OUT.lock` is taken (O_EXCL), before the
 *    model is loaded: an existing `--out` is refused unless `--overwrite` (with `--resume`, a
 *    finished output of the same run is reported done); a leftover state is continued only with
 *    `--resume` and only when its fingerprint (model content, calibration text, latency table,
 *    dtype, adapter, every setting) is this run's — else the differing parts are named.
 * 2. Leftovers of an interrupted save (`.OUT.PID.partial/`, `.OUT.state.PID.partial`) are
 *    removed (the lock guarantees their writer is gone).
 * 3. After every step the state is written as one checksummed file, `OUT.state`, renamed into
 *    place; the final model directory is written under a temporary name and renamed; only then
 *    is the state removed. A kill at any point followed by `--resume` ends with the same pruning
 *    order and byte-identical files.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { ToolkitError } from "../errors.ts";
import {
  checkModelDir,
  checkOutputApart,
  checkOutputDirParent,
  checkReadableFile,
  exists,
} from "../cli/paths.ts";
import { getGpu } from "../gpu/device.ts";
import { readConfig } from "../model/config.ts";
import { type LlamaModel, loadModel } from "../model/model.ts";
import { linearLayout } from "../kernels/linear_layout.ts";
import { saveModel } from "../model/save.ts";
import { writeJsonAtomic } from "../report/json.ts";
import { calibrationFromFile } from "../sprint/calibration.ts";
import {
  cachedLatency,
  type LatencyTable,
  type LatencyWorkload,
  readLatencyTable,
} from "../sprint/latency.ts";
import { cachedLatencyLlamaCpp } from "../sprint/latency_llamacpp.ts";
import { fmtBytes, formatPlan } from "../plan/memory.ts";
import { planPrune } from "../plan/prune.ts";
import { type PruneLog, reportMarkdown, reportSvg, writePruneLog } from "../sprint/log.ts";
import { sprint, type SprintState } from "../sprint/sprint.ts";
import type { BaselineMethod, BaselineState } from "../baselines/common.ts";
import { runBaseline } from "../baselines/prune.ts";
import { crashPoint } from "./crash.ts";
import { decodeState, encodeState, type MethodState } from "./codec.ts";
import { defaultCalibrationSize, defaultLatencyWorkload } from "../sprint/defaults.ts";
import {
  type Fingerprint,
  fingerprintDiff,
  latencyComponent,
  modelHashes,
  sha256File,
} from "./fingerprint.ts";
import type { PruneArgs } from "./flags.ts";
import { OutputLock } from "./lock.ts";
import { checkNumSublayers, checkTargetSpeedup } from "./reach.ts";
import { readStateFile, writeStateFile } from "./state.ts";
import { formatSublayerCosts, sublayerCosts } from "../sprint/sublayer_cost.ts";

/** Paths of a prune's output, lock and state. */
export function prunePaths(outDir: string): { out: string; lock: string; state: string } {
  return { out: outDir, lock: `${outDir}.lock`, state: `${outDir}.state` };
}

/** Human names of fingerprint components for messages. */
const LABELS: Record<string, string> = {
  targetSpeedup: "--target-speedup",
  numSublayers: "--num-sublayers",
  metrics: "--metric",
  latencyAware: "--no-latency-aware",
  tuning: "--no-tuning",
  tuningRatio: "--tuning-ratio",
  damping: "--damping",
  candidates: "--candidates",
  checkpoints: "--checkpoints",
  batchSize: "--batch",
  speedupModel: "--speedup-model",
  nsamples: "--nsamples",
  seqLen: "--seq-len",
  seed: "--seed",
  sampling: "--calib-sampling",
  f32: "--f32",
};

function label(k: string): string {
  return LABELS[k] ?? k;
}

/** Removes leftovers of interrupted writes of this output (the lock is held: their writers died). */
async function removeLeftovers(outDir: string, log: (m: string) => void): Promise<void> {
  const parent = dirname(outDir);
  const base = basename(outDir);
  const patterns = [
    new RegExp(`^\\.${escape(base)}\\.\\d+\\.partial$`), // saveModel's temporary folder
    new RegExp(`^\\.${escape(base)}\\.state\\.\\d+\\.partial$`), // the state's temporary file
  ];
  for await (const e of Deno.readDir(parent)) {
    if (patterns.some((p) => p.test(e.name))) {
      await Deno.remove(join(parent, e.name), { recursive: true });
      log(`removed ${join(parent, e.name)} (left by an interrupted run)`);
    }
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The fingerprint of a finished output (its prune_log.json), or undefined when it has none. */
async function finishedFingerprint(outDir: string): Promise<Fingerprint | undefined> {
  try {
    const log = JSON.parse(await Deno.readTextFile(join(outDir, "prune_log.json")));
    const fp = log?.fingerprint;
    return typeof fp === "object" && fp !== null ? fp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs the prune command with parsed arguments.
 *
 * @example
 * ```ts
 * import { parsePruneArgs } from "./flags.ts";
 * import { pruneCommand } from "./command.ts";
 * // e.g. ["--model", "m", "--num-sublayers", "2"]; "--help" prints the flags and returns undefined
 * const args = parsePruneArgs(["--help"]);
 * if (args) await pruneCommand(args);
 * ```
 */
export async function pruneCommand(args: PruneArgs): Promise<void> {
  const t0 = performance.now();
  const f = args.flags;
  const log = (msg: string) => {
    if (!f.quiet) console.error(msg);
  };
  const { modelDir, outDir, method } = args;
  const paths = prunePaths(outDir);

  // ---- 1. Everything that can be checked without the model. ----
  await checkModelDir(modelDir, args.modelGiven);
  const config = await readConfig(modelDir);
  const maxPos = config.maxPositions;
  const defaults = defaultCalibrationSize(maxPos);
  const seqLen = f["seq-len"] ?? defaults.seqLen;
  if (seqLen > maxPos) {
    throw new ToolkitError(`--seq-len ${seqLen} exceeds the model's ${maxPos} positions`);
  }
  const nsamples = f.nsamples ?? defaults.nsamples;
  const batch = f.batch ?? Math.min(4, nsamples);
  await checkReadableFile(args.calibFile, "--calib");
  if (args.numSublayers !== undefined) {
    checkNumSublayers(method, config.numLayers, args.numSublayers);
  }
  let latencyFromFile: LatencyTable | undefined;
  if (f["latency-table"] !== undefined) {
    await checkReadableFile(f["latency-table"], "--latency-table");
    latencyFromFile = await readLatencyTable(f["latency-table"]);
    const bad = latencyFromFile.probeBlocks?.find((b) => b >= config.numLayers);
    if (bad !== undefined) {
      throw new ToolkitError(
        `${f["latency-table"]}: field probeBlocks names block ${bad}, but the model has ` +
          `${config.numLayers} (config.json field num_hidden_layers)`,
      );
    }
  }
  // Latency is used for choices (latency-aware SPRINT) and for a speedup target.
  const latencyUsed = args.targetSpeedup !== undefined ||
    (method === "sprint" && !f["no-latency-aware"]);
  let workload: LatencyWorkload | undefined;
  if (!latencyFromFile && latencyUsed) {
    const dw = defaultLatencyWorkload(maxPos);
    const mode = f["latency-mode"];
    workload = {
      mode,
      promptLength: f["latency-prompt"] ?? dw.promptLength,
      generationLength: mode === "prefill" ? 0 : f["latency-gen"] ?? dw.generationLength,
      batch: f["latency-batch"],
      iterations: f["latency-iters"] ?? (f["latency-engine"] === "llamacpp" ? 60 : 5),
    };
    if (workload.promptLength + workload.generationLength > maxPos) {
      throw new ToolkitError(
        `latency workload ${workload.promptLength}+${workload.generationLength} tokens exceeds the model's ${maxPos} positions`,
      );
    }
  }
  const speedupModel = f["speedup-model"];
  if (latencyFromFile && args.targetSpeedup !== undefined) {
    checkTargetSpeedup(method, config.numLayers, latencyFromFile, speedupModel, args.targetSpeedup);
  }
  const settings: Record<string, unknown> = method === "sprint"
    ? {
      targetSpeedup: args.targetSpeedup,
      numSublayers: args.numSublayers,
      metrics: f.metric,
      latencyAware: !f["no-latency-aware"],
      tuning: !f["no-tuning"],
      tuningRatio: f["tuning-ratio"],
      damping: f.damping,
      candidates: f.candidates,
      checkpoints: f.checkpoints,
      batchSize: batch,
      speedupModel,
    }
    : {
      targetSpeedup: args.targetSpeedup,
      numSublayers: args.numSublayers,
      speedupModel,
      lossSequences: nsamples,
      batchSize: batch,
      ...(method === "sleb" ? { earlyBarrier: 1, latterBarrier: 1 } : {}),
      criterion: method === "shortgpt"
        ? "block influence (1 − mean token cosine of block input/output), one-shot"
        : "calibration mean NLL with the candidate removed, greedy",
      unit: method === "blockpruner" ? "sublayer" : "block",
    };

  await checkOutputDirParent(outDir, "--out");
  await checkOutputApart(outDir, "--out", [
    ["--model", modelDir],
    ["--calib", args.calibFile],
    ...(f["latency-table"] ? [["--latency-table", f["latency-table"]] as [string, string]] : []),
  ]);
  // The memory plan is decided by config + flags (and the adapter): a budget or host memory it
  // cannot meet is refused here, before the lock, the load or any search.
  const gpu = await getGpu();
  const memPlan = planPrune(gpu, config, {
    method,
    dtype: f.f32 ? "f32" : gpu.weightDType,
    nsamples,
    seqLen,
    batch,
    checkpoints: f.checkpoints,
    tuning: !f["no-tuning"],
    lossSequences: method === "sprint" ? undefined : nsamples,
    deviceMemory: f["device-memory"],
    offload: f.offload,
  });
  const lock = await OutputLock.acquire(paths.lock, `--out ${outDir}`);
  await lock.guard(async () => {
    crashPoint("locked");
    await removeLeftovers(outDir, log);
    const outExists = await exists(outDir);
    const stateExists = await exists(paths.state);
    if (outExists && !f.overwrite && !f.resume) {
      throw new ToolkitError(`--out ${outDir}: output exists (use --overwrite to replace it)`);
    }
    if (stateExists && !(await Deno.lstat(paths.state)).isFile) {
      throw new ToolkitError(
        `${paths.state}: is not a state file this toolkit writes (a folder or special file); ` +
          "move it away — it was left untouched",
      );
    }
    if (stateExists && !f.resume && !f.overwrite) {
      throw new ToolkitError(
        `${paths.state}: an interrupted prune into --out ${outDir} left its state; pass --resume ` +
          "to continue it or --overwrite to start over",
      );
    }

    // ---- 2. The run fingerprint (content hashes; dtype and adapter once the model is loaded). ----
    const fingerprint: Fingerprint = {
      method,
      ...(await modelHashes(modelDir)),
      "calibration text": await sha256File(args.calibFile),
      f32: String(f.f32),
      nsamples: String(nsamples),
      seqLen: String(seqLen),
      seed: String(f.seed),
      sampling: f["calib-sampling"],
    };
    for (const [k, v] of Object.entries(settings)) fingerprint[k] = JSON.stringify(v ?? null);
    const preLoadKeys = Object.keys(fingerprint);
    if (latencyFromFile) fingerprint["latency table"] = latencyComponent(latencyFromFile);

    if (outExists && f.resume && !f.overwrite) {
      const done = await finishedFingerprint(outDir);
      const diff = done ? fingerprintDiff(done, fingerprint, Object.keys(fingerprint)) : ["all"];
      if (!done || diff.length > 0) {
        throw new ToolkitError(
          `--out ${outDir}: exists and is not the finished output of this run${
            done ? ` (differs: ${diff.map(label).join(", ")})` : ""
          }; --resume never replaces it (use --overwrite, or another --out)`,
        );
      }
      if (stateExists) await Deno.remove(paths.state);
      log(`${outDir}: this run already finished (same model, data and settings); nothing to do`);
      return;
    }

    let resumed: MethodState | undefined;
    if (f.resume && stateExists) {
      const file = await readStateFile(paths.state);
      const diff = fingerprintDiff(file.fingerprint, fingerprint, [
        ...preLoadKeys,
        ...(latencyFromFile ? ["latency table"] : []),
      ]);
      if (file.method !== method || diff.length > 0) {
        throw new ToolkitError(
          `--resume: ${paths.state} was written for a different run (differs: ${
            (file.method !== method ? ["method"] : []).concat(diff.filter((d) => d !== "method"))
              .map(label).join(", ")
          }); rerun with the same flags, or with --overwrite to start over`,
        );
      }
      resumed = decodeState(paths.state, method === "sprint" ? "sprint" : "baseline", file, {
        numLayers: config.numLayers,
        hiddenSize: config.hiddenSize,
        intermediateSize: config.intermediateSize,
      });
      resumed.latency = { ...resumed.latency };
      Object.assign(fingerprint, {
        dtype: file.fingerprint.dtype,
        adapter: file.fingerprint.adapter,
        "latency table": file.fingerprint["latency table"],
      });
      log(`resuming after step ${file.step}`);
    } else if (f.resume) log("no saved state to resume; starting fresh");

    // ---- 3. Model, calibration, latency. ----
    log(formatPlan(memPlan));
    // The tiled layout: the decode GEMV's faster weight layout, so the latency table measures the
    // generation workload as deployed (`tasks/generate.ts` and `eval --speed` use it too); the
    // search only runs forwards and re-fits, which take either layout.
    const model = await loadModel(gpu, modelDir, {
      ...(f.f32 ? { dtype: "f32" as const } : {}),
      offload: memPlan.weights === "streamed",
      weightLayout: "tiled",
    });
    try {
      crashPoint("loaded");
      const now = { dtype: model.dtype, adapter: gpu.description };
      if (resumed) {
        const diff = fingerprintDiff(fingerprint, now, ["dtype", "adapter"]);
        if (diff.length > 0) {
          throw new ToolkitError(
            `--resume: ${paths.state} was written for a different run (differs: ${
              diff.join(", ")
            }: saved ${diff.map((d) => fingerprint[d]).join(", ")}, now ${
              diff.map((d) => now[d as keyof typeof now]).join(", ")
            }); rerun on the same device and dtype, or with --overwrite to start over`,
          );
        }
      }
      Object.assign(fingerprint, now);
      if (!model.tokenizer) {
        throw new ToolkitError(
          `${modelDir}: tokenizer.json is missing (needed for calibration text)`,
        );
      }
      const calib = await calibrationFromFile(args.calibFile, model.tokenizer, {
        nsamples,
        seqLen,
        seed: f.seed,
        sampling: f["calib-sampling"],
      });
      let latency: LatencyTable;
      if (latencyFromFile) latency = latencyFromFile;
      else if (resumed) latency = resumed.latency;
      else if (!workload) {
        latency = { attention: 1, mlp: 1, dense: 0, source: "unmeasured" };
        log(
          "latency: not measured (not used by this run: no speedup target and no latency-aware " +
            "importance); estimated speedups below count every sublayer as 1",
        );
      } else {
        log(
          `measuring sublayer latency in ${
            f["latency-engine"]
          } (${workload.mode}, prompt ${workload.promptLength}, gen ${workload.generationLength}, batch ${workload.batch}, ${workload.iterations} iterations)…`,
        );
        const c = model.config;
        // The weight layout is part of what is measured (tables measured on the rows layout by
        // earlier versions stay under their own key).
        const layout = linearLayout(model.head.parts[0].linear);
        const modelId = `${basename(modelDir)}:${
          JSON.stringify([c.numLayers, c.hiddenSize, c.intermediateSize, c.vocabSize, model.dtype])
        }${layout === "rows" ? "" : `:${layout}`}`;
        const cacheFile = join("out", "latency_cache.json");
        latency = f["latency-engine"] === "llamacpp"
          ? await cachedLatencyLlamaCpp(model, modelId, workload, cacheFile, {
            threads: f.threads ?? 1,
            dtype: "f32",
          })
          : await cachedLatency(model, modelId, workload, cacheFile, log);
      }
      crashPoint("latency");
      fingerprint["latency table"] = latencyComponent(latency);
      if (latency.source !== "unmeasured") {
        log(
          `latency (${latency.source}): attention ${latency.attention.toFixed(3)} ms, MLP ${
            latency.mlp.toFixed(3)
          } ms, dense ${latency.dense.toFixed(1)} ms`,
        );
        const costOf = latency.workload ?? workload;
        if (costOf) {
          const cost = sublayerCosts(config, costOf, model.dtype === "f16" ? 2 : 4);
          log(`latency per sublayer: ${formatSublayerCosts(latency, cost)}`);
        }
        const sum = config.numLayers * (latency.attention + latency.mlp);
        if (latency.dense < sum) {
          const msg = `dense ${latency.dense.toFixed(3)} ms < Σ sublayers ${
            sum.toFixed(3)
          } ms; the fixed cost is taken as 0 ("total" speedup model = "sublayers")`;
          // Reported even with --quiet, and kept in latency.json / prune_log.json.
          console.error(`latency: warning: ${msg}`);
          const warnings = latency.warnings ?? [];
          latency = {
            ...latency,
            fixedCost: latency.dense - sum,
            warnings: warnings.some((w) => w.includes("Σ")) ? warnings : [...warnings, msg],
          };
        }
      }
      if (args.targetSpeedup !== undefined) {
        checkTargetSpeedup(method, config.numLayers, latency, speedupModel, args.targetSpeedup);
      }

      // ---- 4. The search, with the state written after every step. ----
      const writeState = async (s: MethodState) => {
        crashPoint("step");
        const enc = encodeState(s);
        await writeStateFile(paths.state, { method, fingerprint, ...enc });
      };
      const protocol = {
        model: modelDir,
        dtype: model.dtype,
        adapter: gpu.description,
        deno: Deno.version.deno,
        calibration: { ...calib.protocol, nsamples, seqLen },
        date: new Date().toISOString(),
      };
      const encoder = new TextEncoder();
      const progress = (text: string) => {
        if (!f.quiet) Deno.stderr.writeSync(encoder.encode(`\r${text}   `));
      };
      const searchStart = performance.now();
      let memory: PruneLog["memory"];
      let result: {
        steps: PruneLog["steps"];
        mask: boolean[];
        pruned: number[];
        denseLoss?: number;
        state: SprintState;
        targetReached: boolean;
      };
      if (method === "sprint") {
        const r = await sprint(model, calib, {
          targetSpeedup: args.targetSpeedup,
          numSublayers: args.numSublayers,
          metrics: f.metric,
          latencyAware: !f["no-latency-aware"],
          tuning: !f["no-tuning"],
          tuningRatio: f["tuning-ratio"],
          damping: f.damping,
          candidates: f.candidates,
          checkpoints: f.checkpoints,
          batchSize: batch,
          speedupModel,
          latency,
          deviceMemory: f["device-memory"],
          resume: resumed?.kind === "sprint" ? resumed.state : undefined,
          onProgress: (p) => {
            crashPoint(p.stage === "stage2" ? "stage2" : "stage1");
            progress(`step ${p.step} ${p.stage} ${p.done}/${p.total}`);
          },
          onStep: async (s, state) => {
            log(
              `\nstep ${s.step}: pruned ${s.type} of block ${s.block} (sublayer ${s.sublayer}); estimated speedup ${
                s.estimatedSpeedup.toFixed(3)
              }; calibration loss ${s.calibrationLoss?.toFixed(4)}; ${
                s.seconds.total.toFixed(1)
              } s`,
            );
            await writeState({ kind: "sprint", state, latency });
          },
        });
        memory = r.memory;
        log(`measured peak device bytes: ${fmtBytes(r.memory.peakDeviceBytes)}`);
        const last = r.steps[r.steps.length - 1];
        result = {
          steps: r.steps,
          mask: r.mask,
          pruned: r.state.pruned,
          denseLoss: r.state.denseLoss,
          state: r.state,
          targetReached: args.targetSpeedup !== undefined
            ? (last?.estimatedSpeedup ?? 1) >= args.targetSpeedup
            : r.state.pruned.length >= (args.numSublayers ?? 0),
        };
      } else {
        gpu.memory.resetPeak();
        const r = await runBaseline(method as BaselineMethod, model, calib, {
          perWindowLoss: memPlan.placement === "streamed",
          targetSpeedup: args.targetSpeedup,
          numSublayers: args.numSublayers,
          speedupModel,
          latency,
          batchSize: batch,
          resume: resumed?.kind === "baseline" ? resumed.state : undefined,
          onProgress: (p) => {
            crashPoint("search");
            progress(`step ${p.step} search ${p.done}/${p.total}`);
          },
          onStep: async (s, state: BaselineState) => {
            if (state.denseLoss !== undefined && !Number.isFinite(state.denseLoss)) {
              throw new ToolkitError(
                `calibration loss of the dense model is ${state.denseLoss}; the weights or activations are not finite — the run stops, no model is written`,
              );
            }
            if (!Number.isFinite(s.score)) {
              throw new ToolkitError(
                `step ${s.step}: ${s.criterion} of sublayer ${s.sublayer} (${s.type} of block ${s.block}) is ${s.score}; the weights or activations are not finite — the run stops, no model is written`,
              );
            }
            if (s.calibrationLoss !== undefined && !Number.isFinite(s.calibrationLoss)) {
              throw new ToolkitError(
                `step ${s.step}: calibration loss after removing sublayer ${s.sublayer} (${s.type} of block ${s.block}) is ${s.calibrationLoss}; the run stops, no model is written`,
              );
            }
            log(
              `\nstep ${s.step}: removed ${
                s.type === "block" ? `block ${s.block}` : `${s.type} of block ${s.block}`
              } (sublayers ${s.sublayers.join(", ")}); ${s.criterion} ${s.score.toFixed(4)}; ` +
                `estimated speedup ${s.estimatedSpeedup.toFixed(3)}; calibration loss ${
                  s.calibrationLoss?.toFixed(4)
                }; ${s.seconds.total.toFixed(1)} s`,
            );
            await writeState({ kind: "baseline", state, latency });
          },
        });
        memory = { plan: memPlan, peakDeviceBytes: gpu.memory.peak };
        log(`\nmeasured peak device bytes: ${fmtBytes(gpu.memory.peak)}`);
        const steps = r.steps as unknown as PruneLog["steps"];
        result = {
          steps,
          mask: r.mask,
          pruned: r.state.pruned,
          denseLoss: r.state.denseLoss,
          state: {
            pruned: r.state.pruned,
            applied: [],
            cache: [],
            steps,
            denseLoss: r.state.denseLoss,
          },
          targetReached: r.targetReached,
        };
      }
      const wallSeconds = (performance.now() - searchStart) / 1e3;
      const last = result.steps[result.steps.length - 1];
      if (!result.targetReached) {
        log(
          `\nwarning: ${method} stopped before the target (estimated speedup ${
            (last?.estimatedSpeedup ?? 1).toFixed(3)
          }, ${result.pruned.length} sublayers removed)`,
        );
      }

      // ---- 5. The output, written under a temporary name and renamed into place. ----
      const baseLog: Omit<PruneLog, "applied"> = {
        format: "sprint-wgpu prune log v1",
        method,
        settings: {
          ...settings,
          ...(method === "sprint" ? {} : { targetReached: result.targetReached }),
        },
        protocol,
        latency,
        dense: { calibrationLoss: result.denseLoss },
        steps: result.steps,
        final: {
          mask: result.mask,
          pruned: result.pruned,
          estimatedSpeedup: last?.estimatedSpeedup ?? 1,
        },
        wallSeconds,
        fingerprint,
        memory,
      };
      await saveModel(model, outDir, {
        mask: result.mask,
        overwrite: f.overwrite,
        extraConfig: {
          pruned_by: method === "sprint" ? "sprint-wgpu" : `sprint-wgpu ${method}`,
          pruned_sublayers: result.pruned,
        },
        extraFiles: async (dir) => {
          const full = await writePruneLog(dir, baseLog, result.state);
          await Deno.writeTextFile(join(dir, "report.md"), reportMarkdown(full));
          await Deno.writeTextFile(join(dir, "report.svg"), reportSvg(full));
          await writeJsonAtomic(join(dir, "latency.json"), latency);
          crashPoint("save");
        },
      });
      crashPoint("saved");
      await Deno.remove(paths.state).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
      log(
        `\n${method}: pruned ${result.pruned.length} sublayers [${
          result.pruned.join(", ")
        }], estimated speedup ${baseLog.final.estimatedSpeedup.toFixed(3)}; search ${
          wallSeconds.toFixed(1)
        } s, total ${((performance.now() - t0) / 1e3).toFixed(1)} s → ${outDir}`,
      );
    } finally {
      destroyModel(model);
    }
  });
}

/** Refuses an `--out` that is, or contains, one of the run's inputs (it would be replaced). */
function destroyModel(model: LlamaModel): void {
  model.destroy();
}
