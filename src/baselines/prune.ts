/**
 * `deno task prune --method sleb|shortgpt|blockpruner`: runs a baseline and writes the same
 * outputs as a SPRINT prune — the pruned model directory (per-block no_op config + safetensors,
 * written atomically), `prune_log.json` (method, settings, protocol, latency table, steps),
 * `tuned_rows.safetensors` (empty: baselines re-fit nothing), `latency.json`, `report.md` and
 * `report.svg`. A run with `--resume` continues from `<out>.state/baseline_state.json`, which is
 * written after every step (the searches are deterministic, so a resumed run ends identically).
 *
 * @module
 */
import { join } from "node:path";
import { ToolkitError } from "../errors.ts";
import type { LlamaModel } from "../model/model.ts";
import { saveModel } from "../model/save.ts";
import { writeJsonAtomic } from "../report/json.ts";
import type { Calibration } from "../sprint/calibration.ts";
import type { LatencyTable } from "../sprint/latency.ts";
import { type PruneLog, reportMarkdown, reportSvg, writePruneLog } from "../sprint/log.ts";
import type { SprintState } from "../sprint/sprint.ts";
import { blockpruner } from "./blockpruner.ts";
import {
  type BaselineMethod,
  type BaselineOptions,
  type BaselinePruneLog,
  type BaselineResult,
  type BaselineState,
} from "./common.ts";
import { shortgpt } from "./shortgpt.ts";
import { sleb } from "./sleb.ts";

/** Runs baseline `method` with `options`. */
export async function runBaseline(
  method: BaselineMethod,
  model: LlamaModel,
  calib: Calibration,
  options: BaselineOptions & { batchSize?: number },
): Promise<BaselineResult> {
  if (method === "sleb") return await sleb(model, calib, options);
  if (method === "shortgpt") return await shortgpt(model, calib, options);
  if (method === "blockpruner") return await blockpruner(model, calib, options);
  throw new Error(`unknown baseline ${method}`);
}

/** What {@link pruneWithBaseline} needs from the prune command. */
export interface BaselinePruneArgs {
  method: BaselineMethod;
  targetSpeedup?: number;
  numSublayers?: number;
  speedupModel: "sublayers" | "total";
  latency: LatencyTable;
  /** Calibration windows per GPU batch (ShortGPT's block-influence pass). */
  batchSize: number;
  outDir: string;
  /** Continue from `<outDir>.state` when it holds a state of the same settings. */
  resume: boolean;
  overwrite: boolean;
  /** Protocol fields of the log (model, dtype, adapter, deno, calibration, date). */
  protocol: Record<string, unknown> & { calibration: unknown };
  quiet?: boolean;
  log: (msg: string) => void;
}

const STATE_FILE = "baseline_state.json";

/** Runs a baseline on `model` and writes the prune outputs into `args.outDir`. */
export async function pruneWithBaseline(
  model: LlamaModel,
  calib: Calibration,
  args: BaselinePruneArgs,
): Promise<BaselinePruneLog> {
  const stateDir = `${args.outDir}.state`;
  const settings = {
    targetSpeedup: args.targetSpeedup ?? (args.numSublayers === undefined ? 1.25 : undefined),
    numSublayers: args.numSublayers,
    speedupModel: args.speedupModel,
    lossSequences: calib.nsamples,
    batchSize: args.batchSize,
    ...(args.method === "sleb" ? { earlyBarrier: 1, latterBarrier: 1 } : {}),
    criterion: args.method === "shortgpt"
      ? "block influence (1 − mean token cosine of block input/output), one-shot"
      : "calibration mean NLL with the candidate removed, greedy",
    unit: args.method === "blockpruner" ? "sublayer" : "block",
  };
  let resume: BaselineState | undefined;
  if (args.resume) {
    const path = join(stateDir, STATE_FILE);
    let saved:
      | { method: string; settings: unknown; calibration: unknown; state: BaselineState }
      | undefined;
    try {
      saved = JSON.parse(await Deno.readTextFile(path));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new ToolkitError(`${path}: cannot read the saved state (${(e as Error).message})`);
      }
      args.log("no saved state to resume; starting fresh");
    }
    if (saved) {
      if (
        saved.method !== args.method ||
        JSON.stringify(saved.settings) !== JSON.stringify(settings) ||
        JSON.stringify(saved.calibration) !== JSON.stringify(args.protocol.calibration)
      ) {
        throw new ToolkitError(
          `${path}: saved run has a different method, settings or calibration; rerun without --resume`,
        );
      }
      resume = saved.state;
      args.log(`resuming after step ${resume.steps.length}`);
    }
  }
  const encoder = new TextEncoder();
  const searchStart = performance.now();
  const result = await runBaseline(args.method, model, calib, {
    targetSpeedup: settings.targetSpeedup,
    numSublayers: args.numSublayers,
    speedupModel: args.speedupModel,
    latency: args.latency,
    batchSize: args.batchSize,
    resume,
    onProgress: (p) => {
      if (!args.quiet) {
        Deno.stderr.writeSync(encoder.encode(`\rstep ${p.step} search ${p.done}/${p.total}   `));
      }
    },
    onStep: async (s, state) => {
      args.log(
        `\nstep ${s.step}: removed ${
          s.type === "block" ? `block ${s.block}` : `${s.type} of block ${s.block}`
        } (sublayers ${s.sublayers.join(", ")}); ${s.criterion} ${s.score.toFixed(4)}; ` +
          `estimated speedup ${s.estimatedSpeedup.toFixed(3)}; calibration loss ${
            s.calibrationLoss?.toFixed(4)
          }; ${s.seconds.total.toFixed(1)} s`,
      );
      await Deno.mkdir(stateDir, { recursive: true });
      await writeJsonAtomic(join(stateDir, STATE_FILE), {
        method: args.method,
        settings,
        calibration: args.protocol.calibration,
        state,
      });
    },
  });
  const wallSeconds = (performance.now() - searchStart) / 1e3;
  const last = result.steps[result.steps.length - 1];
  if (!result.targetReached) {
    args.log(
      `\nwarning: ${args.method} ran out of candidate ${settings.unit}s before the target (estimated speedup ${
        (last?.estimatedSpeedup ?? 1).toFixed(3)
      })`,
    );
  }
  const log: BaselinePruneLog = {
    format: "sprint-wgpu prune log v1",
    method: args.method,
    settings: { ...settings, targetReached: result.targetReached },
    protocol: args.protocol,
    latency: args.latency,
    dense: { calibrationLoss: result.state.denseLoss },
    steps: result.steps,
    applied: [],
    final: {
      mask: result.mask,
      pruned: result.state.pruned,
      estimatedSpeedup: last?.estimatedSpeedup ?? 1,
    },
    wallSeconds,
  };
  // The steps are a superset of SPRINT's StepLog except for `type: "block"`, which the report
  // functions print as text; the state carries no re-fitted rows.
  const asPruneLog = log as unknown as PruneLog;
  const sprintState: SprintState = {
    pruned: result.state.pruned,
    applied: [],
    cache: [],
    steps: asPruneLog.steps,
    denseLoss: result.state.denseLoss,
  };
  await saveModel(model, args.outDir, {
    mask: result.mask,
    overwrite: args.overwrite || args.resume,
    extraConfig: { pruned_by: `sprint-wgpu ${args.method}`, pruned_sublayers: result.state.pruned },
    extraFiles: async (dir) => {
      const full = await writePruneLog(dir, asPruneLog, sprintState);
      await Deno.writeTextFile(join(dir, "report.md"), reportMarkdown(full));
      await Deno.writeTextFile(join(dir, "report.svg"), reportSvg(full));
      await writeJsonAtomic(join(dir, "latency.json"), args.latency);
    },
  });
  await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  return log;
}
