/**
 * The `prune` command: flags → model, calibration, latency table → {@link sprint} → outputs.
 * Kept out of tasks/prune.ts so the task stays a thin flag parser.
 *
 * @module
 */
import { basename, join } from "node:path";
import { ToolkitError } from "../errors.ts";
import { getGpu } from "../gpu/device.ts";
import { DEFAULT_MODEL_DIR } from "../model/default.ts";
import { loadModel } from "../model/model.ts";
import { saveModel } from "../model/save.ts";
import { writeJsonAtomic } from "../report/json.ts";
import { calibrationFromFile } from "./calibration.ts";
import {
  cachedLatency,
  type LatencyTable,
  type LatencyWorkload,
  readLatencyTable,
} from "./latency.ts";
import { loadState, reportMarkdown, reportSvg, saveState, writePruneLog } from "./log.ts";
import { sprint, type SprintOptions } from "./sprint.ts";
import { BASELINE_METHODS, isBaselineMethod } from "../baselines/common.ts";
import { pruneWithBaseline } from "../baselines/prune.ts";

/** Parsed flag values (strings as parseArgs gives them). */
export type PruneFlags = Record<string, string | boolean | undefined>;

function num(
  flags: PruneFlags,
  name: string,
  opts: { int?: boolean; min?: number; max?: number } = {},
): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const x = Number(v);
  if (
    typeof v !== "string" || v.trim() === "" || !Number.isFinite(x) ||
    (opts.int && !Number.isInteger(x)) ||
    (opts.min !== undefined && x < opts.min) || (opts.max !== undefined && x > opts.max)
  ) {
    const range = [
      opts.min !== undefined ? `≥ ${opts.min}` : "",
      opts.max !== undefined ? `≤ ${opts.max}` : "",
    ].filter(Boolean).join(", ");
    throw new ToolkitError(
      `--${name}: expected ${opts.int ? "an integer" : "a number"}${
        range ? ` ${range}` : ""
      }, got ${JSON.stringify(v)}`,
    );
  }
  return x;
}

/** Default calibration size scaled to the model: SPRINT's 128 × 2048 capped at 32k tokens. */
export function defaultCalibrationSize(maxPositions: number): { nsamples: number; seqLen: number } {
  const seqLen = Math.min(2048, maxPositions);
  const nsamples = Math.max(8, Math.min(128, Math.floor(32768 / seqLen)));
  return { nsamples, seqLen };
}

/** Default latency workload scaled to the model: SPRINT's prompt 1024 + 512 generated, capped by the context. */
export function defaultLatencyWorkload(maxPositions: number): LatencyWorkload {
  const promptLength = Math.min(1024, Math.floor(maxPositions / 2));
  return {
    mode: "generation",
    promptLength,
    generationLength: Math.min(512, Math.floor(maxPositions / 4)),
    batch: 1,
    iterations: 3,
  };
}

/** Runs the prune command. */
export async function pruneCommand(flags: PruneFlags): Promise<void> {
  const t0 = performance.now();
  const modelDir = (flags.model as string | undefined) ?? DEFAULT_MODEL_DIR;
  try {
    await Deno.stat(join(modelDir, "config.json"));
  } catch {
    throw new ToolkitError(
      flags.model
        ? `${modelDir}: no config.json (expected a Hugging Face model directory)`
        : `the embedded default model is missing (${modelDir}); pass --model DIR`,
    );
  }
  const method = (flags.method as string | undefined) ?? "sprint";
  if (method !== "sprint" && !isBaselineMethod(method)) {
    throw new ToolkitError(
      `--method: expected one of sprint, ${BASELINE_METHODS.join(", ")}; got ${
        JSON.stringify(method)
      }`,
    );
  }
  if (method !== "sprint" && (flags["no-tuning"] || flags["no-latency-aware"])) {
    throw new ToolkitError("--no-tuning and --no-latency-aware apply to --method sprint only");
  }
  const target = num(flags, "target-speedup", { min: 1 });
  const numSub = num(flags, "num-sublayers", { int: true, min: 1 });
  if (target !== undefined && numSub !== undefined) {
    throw new ToolkitError("give either --target-speedup or --num-sublayers, not both");
  }
  const speedupModel = flags["speedup-model"];
  if (speedupModel !== "total" && speedupModel !== "sublayers") {
    throw new ToolkitError(
      `--speedup-model: expected total or sublayers, got ${JSON.stringify(speedupModel)}`,
    );
  }
  const sampling = flags["calib-sampling"];
  if (sampling !== "random" && sampling !== "sequential") {
    throw new ToolkitError(
      `--calib-sampling: expected random or sequential, got ${JSON.stringify(sampling)}`,
    );
  }
  const mode = flags["latency-mode"];
  if (mode !== "generation" && mode !== "prefill") {
    throw new ToolkitError(
      `--latency-mode: expected generation or prefill, got ${JSON.stringify(mode)}`,
    );
  }

  const gpu = await getGpu();
  const model = await loadModel(gpu, modelDir, flags.f32 ? { dtype: "f32" } : {});
  const c = model.config;
  if (!model.tokenizer) {
    throw new ToolkitError(`${modelDir}: tokenizer.json is missing (needed for calibration text)`);
  }
  const defaults = defaultCalibrationSize(c.maxPositions);
  const seqLen = num(flags, "seq-len", { int: true, min: 2, max: c.maxPositions }) ??
    defaults.seqLen;
  const nsamples = num(flags, "nsamples", { int: true, min: 1 }) ?? defaults.nsamples;
  const batch = num(flags, "batch", { int: true, min: 1 }) ?? Math.min(4, nsamples);
  const calibFile = (flags.calib as string | undefined) ?? join(modelDir, "calibration.txt");
  const calib = await calibrationFromFile(calibFile, model.tokenizer, {
    nsamples,
    seqLen,
    seed: num(flags, "seed", { int: true, min: 0 }) ?? 0,
    sampling,
  });
  const outDir = (flags.out as string | undefined) ??
    join("out", `${basename(modelDir)}-${method}`);
  const stateDir = `${outDir}.state`;

  // Latency table: given, cached or measured.
  let latency: LatencyTable;
  if (flags["latency-table"]) latency = await readLatencyTable(flags["latency-table"] as string);
  else {
    const dw = defaultLatencyWorkload(c.maxPositions);
    const w: LatencyWorkload = {
      mode,
      promptLength: num(flags, "latency-prompt", { int: true, min: 1, max: c.maxPositions }) ??
        dw.promptLength,
      generationLength: mode === "prefill"
        ? 0
        : num(flags, "latency-gen", { int: true, min: 1 }) ?? dw.generationLength,
      batch: num(flags, "latency-batch", { int: true, min: 1 }) ?? 1,
      iterations: num(flags, "latency-iters", { int: true, min: 1 }) ?? 5,
    };
    if (w.promptLength + w.generationLength > c.maxPositions) {
      throw new ToolkitError(
        `latency workload ${w.promptLength}+${w.generationLength} tokens exceeds the model's ${c.maxPositions} positions`,
      );
    }
    log(
      flags,
      `measuring sublayer latency (${w.mode}, prompt ${w.promptLength}, gen ${w.generationLength}, batch ${w.batch}, ${w.iterations} iterations)…`,
    );
    latency = await cachedLatency(
      model,
      `${basename(modelDir)}:${
        JSON.stringify([c.numLayers, c.hiddenSize, c.intermediateSize, c.vocabSize, model.dtype])
      }`,
      w,
      join("out", "latency_cache.json"),
    );
  }
  log(
    flags,
    `latency (${latency.source}): attention ${latency.attention.toFixed(3)} ms, MLP ${
      latency.mlp.toFixed(3)
    } ms, dense ${latency.dense.toFixed(1)} ms`,
  );

  const settings = {
    targetSpeedup: target ?? (numSub === undefined ? 1.25 : undefined),
    numSublayers: numSub,
    metrics: flags.metric as string,
    latencyAware: !flags["no-latency-aware"],
    tuning: !flags["no-tuning"],
    tuningRatio: num(flags, "tuning-ratio", { min: 1e-6, max: 1 })!,
    damping: num(flags, "damping", { min: 0 })!,
    candidates: num(flags, "candidates", { int: true, min: 1 })!,
    checkpoints: num(flags, "checkpoints", { int: true, min: 0 })!,
    batchSize: batch,
    speedupModel: speedupModel as "total" | "sublayers",
  };
  const protocol = {
    model: modelDir,
    dtype: model.dtype,
    adapter: gpu.description,
    deno: Deno.version.deno,
    calibration: { ...calib.protocol, nsamples, seqLen },
    date: new Date().toISOString(),
  };
  if (isBaselineMethod(method)) {
    // Baselines (src/baselines): same calibration, latency table, stopping rule and outputs.
    await pruneWithBaseline(model, calib, {
      method,
      targetSpeedup: target,
      numSublayers: numSub,
      speedupModel: speedupModel as "total" | "sublayers",
      latency,
      batchSize: batch,
      outDir,
      resume: flags.resume === true,
      overwrite: flags.overwrite === true,
      protocol,
      quiet: flags.quiet === true,
      log: (msg) => log(flags, msg),
    });
    log(flags, `\n${method}: done in ${((performance.now() - t0) / 1e3).toFixed(1)} s → ${outDir}`);
    model.destroy();
    return;
  }
  let resume;
  if (flags.resume) {
    const saved = await loadState(stateDir);
    if (saved) {
      if (
        JSON.stringify(saved.meta.settings) !== JSON.stringify(settings) ||
        JSON.stringify(saved.meta.calibration) !== JSON.stringify(protocol.calibration)
      ) {
        throw new ToolkitError(
          `${stateDir}/state.json: saved run has different settings or calibration; rerun without --resume`,
        );
      }
      resume = saved.state;
      log(flags, `resuming after step ${resume.steps.length}`);
    } else log(flags, "no saved state to resume; starting fresh");
  }
  const options: SprintOptions = {
    ...settings,
    latency,
    resume,
    onProgress: (p) => {
      if (!flags.quiet) {
        Deno.stderr.writeSync(
          new TextEncoder().encode(`\rstep ${p.step} ${p.stage} ${p.done}/${p.total}   `),
        );
      }
    },
    onStep: async (s, state) => {
      log(
        flags,
        `\nstep ${s.step}: pruned ${s.type} of block ${s.block} (sublayer ${s.sublayer}); estimated speedup ${
          s.estimatedSpeedup.toFixed(3)
        }; calibration loss ${s.calibrationLoss?.toFixed(4)}; ${s.seconds.total.toFixed(1)} s`,
      );
      await saveState(stateDir, state, { settings, calibration: protocol.calibration });
    },
  };
  const searchStart = performance.now();
  const result = await sprint(model, calib, options);
  const wallSeconds = (performance.now() - searchStart) / 1e3;
  const pruned = result.state.pruned;
  const lastStep = result.steps[result.steps.length - 1];
  const baseLog = {
    format: "sprint-wgpu prune log v1" as const,
    method: "sprint",
    settings: { ...settings },
    protocol,
    latency,
    dense: { calibrationLoss: result.state.denseLoss },
    steps: result.steps,
    final: { mask: result.mask, pruned, estimatedSpeedup: lastStep?.estimatedSpeedup ?? 1 },
    wallSeconds,
  };
  await saveModel(model, outDir, {
    mask: result.mask,
    overwrite: flags.overwrite === true || flags.resume === true,
    extraConfig: { pruned_by: "sprint-wgpu", pruned_sublayers: pruned },
    extraFiles: async (dir) => {
      const full = await writePruneLog(dir, baseLog, result.state);
      await Deno.writeTextFile(join(dir, "report.md"), reportMarkdown(full));
      await Deno.writeTextFile(join(dir, "report.svg"), reportSvg(full));
      await writeJsonAtomic(join(dir, "latency.json"), latency);
    },
  });
  await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  log(
    flags,
    `\npruned ${pruned.length} sublayers [${pruned.join(", ")}], estimated speedup ${
      baseLog.final.estimatedSpeedup.toFixed(3)
    }; search ${wallSeconds.toFixed(1)} s, total ${
      ((performance.now() - t0) / 1e3).toFixed(1)
    } s → ${outDir}`,
  );
  model.destroy();
}

function log(flags: PruneFlags, msg: string): void {
  if (!flags.quiet) console.error(msg);
}
