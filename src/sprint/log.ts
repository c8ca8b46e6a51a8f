/**
 * The prune log (`prune_log.json` + `tuned_rows.safetensors`), the
 * report (`report.md`, `report.svg`) and the replay of a log's first m steps onto the dense model.
 *
 * @module
 */
import { join } from "node:path";
import { ToolkitError } from "../errors.ts";
import { writeJsonAtomic } from "../report/json.ts";
import { linePanel, svgDocument } from "../report/svg.ts";
import type { LlamaModel } from "../model/model.ts";
import { openSafetensors, writeSafetensors } from "../model/safetensors.ts";
import { applyTunedRows } from "./refit.ts";
import type { SprintState, StepLog, TunedRows } from "./state.ts";
import type { LatencyTable } from "./latency.ts";
import type { MemoryPlan } from "../plan/memory.ts";
import { formatSublayerCosts } from "./sublayer_cost.ts";

/** What `prune_log.json` holds. */
export interface PruneLog {
  /** Format tag of the file. */
  format: "sprint-wgpu prune log v1";
  /** Pruning method: `sprint` or a baseline's name. */
  method: string;
  /** The method's settings as run. */
  settings: Record<string, unknown>;
  /** Model, weight dtype, adapter, Deno version, calibration and date. */
  protocol: Record<string, unknown>;
  /** The latency table behind the speedup estimates. */
  latency: LatencyTable;
  /** The dense model's calibration loss (mean NLL). */
  dense: { calibrationLoss?: number };
  /** Every pruning step, in order. */
  steps: StepLog[];
  /** Re-fitted rows applied, in order; `tensor` names the values in tuned_rows.safetensors. */
  applied: {
    afterStep: number;
    sublayer: number;
    block: number;
    rows: number[];
    fellBack: boolean;
    tensor: string;
  }[];
  /** Final mask (true = kept), pruned sublayers in order and estimated speedup. */
  final: { mask: boolean[]; pruned: number[]; estimatedSpeedup: number };
  /** Wall seconds of the search. */
  wallSeconds: number;
  /** The run fingerprint (src/prune/fingerprint.ts): what a `--resume` must match. */
  fingerprint?: Record<string, string>;
  /** The memory plan followed and the peak device bytes allocated (`SprintResult.memory`). */
  memory?: { plan: MemoryPlan; peakDeviceBytes: number };
}

function tunedTensorName(i: number, t: TunedRows): string {
  return `applied.${i}.model.layers.${t.block}.mlp.down_proj.rows`;
}

/**
 * Writes `prune_log.json` and `tuned_rows.safetensors` into `dir`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PruneLog, writePruneLog } from "@sprint-wgpu/toolkit/sprint";
 * const log: Omit<PruneLog, "applied"> = { // one step: MLP sublayer 3 (block 1) pruned
 *   format: "sprint-wgpu prune log v1", method: "sprint", settings: {}, protocol: { model: "m" },
 *   latency: { attention: 1, mlp: 2, dense: 30, source: "file" }, dense: {}, wallSeconds: 1.1,
 *   steps: [{
 *     step: 1, sublayer: 3, type: "mlp", block: 1, stage1: [], candidates: [3], stage2: {},
 *     estimatedSpeedup: 1.07, estimatedSpeedupSublayers: 1.07, estimatedSpeedupTotal: 1.07,
 *     seconds: { stage1: 1, stage2: 0, apply: 0.1, total: 1.1 },
 *   }],
 *   final: { mask: [true, true, true, false], pruned: [3], estimatedSpeedup: 1.07 },
 * };
 * const state = { pruned: [3], applied: [], cache: [], steps: log.steps }; // SprintResult.state
 * const dir = await Deno.makeTempDir();
 * const full = await writePruneLog(dir, log, state); // prune_log.json + tuned_rows.safetensors
 * assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/prune_log.json`)), full);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writePruneLog(
  dir: string,
  log: Omit<PruneLog, "applied">,
  state: SprintState,
): Promise<PruneLog> {
  const applied = state.applied.map((t, i) => ({
    afterStep: t.step ?? -1,
    sublayer: t.sublayer,
    block: t.block,
    rows: t.rows,
    fellBack: t.fellBack,
    tensor: tunedTensorName(i, t),
  }));
  const full: PruneLog = { ...log, applied };
  await writeSafetensors(
    join(dir, "tuned_rows.safetensors"),
    state.applied.map((t, i) => ({
      name: tunedTensorName(i, t),
      shape: [t.rows.length, t.rows.length ? t.values.length / t.rows.length : 0],
      dtype: "F32" as const,
      data: t.values,
    })),
  );
  await writeJsonAtomic(join(dir, "prune_log.json"), full);
  return full;
}

/**
 * Reads a prune log directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PruneLog, readPruneLog, writePruneLog } from "@sprint-wgpu/toolkit/sprint";
 * const log: Omit<PruneLog, "applied"> = { // one step: MLP sublayer 3 (block 1) pruned
 *   format: "sprint-wgpu prune log v1", method: "sprint", settings: {}, protocol: { model: "m" },
 *   latency: { attention: 1, mlp: 2, dense: 30, source: "file" }, dense: {}, wallSeconds: 1.1,
 *   steps: [{
 *     step: 1, sublayer: 3, type: "mlp", block: 1, stage1: [], candidates: [3], stage2: {},
 *     estimatedSpeedup: 1.07, estimatedSpeedupSublayers: 1.07, estimatedSpeedupTotal: 1.07,
 *     seconds: { stage1: 1, stage2: 0, apply: 0.1, total: 1.1 },
 *   }],
 *   final: { mask: [true, true, true, false], pruned: [3], estimatedSpeedup: 1.07 },
 * };
 * const state = { pruned: [3], applied: [], cache: [], steps: log.steps }; // SprintResult.state
 * const dir = await Deno.makeTempDir();
 * await writePruneLog(dir, log, state);
 * const { log: back, tuned } = await readPruneLog(dir);
 * assert.deepEqual([back.final.pruned, tuned.length], [[3], 0]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readPruneLog(dir: string): Promise<{ log: PruneLog; tuned: TunedRows[] }> {
  const path = join(dir, "prune_log.json");
  let log: PruneLog;
  try {
    log = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new ToolkitError(`${path}: cannot read the prune log (${(e as Error).message})`);
  }
  if (log.format !== "sprint-wgpu prune log v1") {
    throw new ToolkitError(`${path}: field format is not "sprint-wgpu prune log v1"`);
  }
  const st = await openSafetensors(join(dir, "tuned_rows.safetensors"));
  const tuned: TunedRows[] = [];
  for (const a of log.applied) {
    tuned.push({
      sublayer: a.sublayer,
      block: a.block,
      rows: a.rows,
      values: a.rows.length ? await st.float32(a.tensor) : new Float32Array(0),
      fellBack: a.fellBack,
    });
  }
  return { log, tuned };
}

/**
 * Replays the first `m` steps of a log onto the dense `model` (re-fitted rows written in order)
 * and returns the sublayer mask after m prunings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { type PruneLog, replayLog, writePruneLog } from "@sprint-wgpu/toolkit/sprint";
 * const log: Omit<PruneLog, "applied"> = { // one step: MLP sublayer 3 (block 1) pruned
 *   format: "sprint-wgpu prune log v1", method: "sprint", settings: {}, protocol: { model: "m" },
 *   latency: { attention: 1, mlp: 2, dense: 30, source: "file" }, dense: {}, wallSeconds: 1.1,
 *   steps: [{
 *     step: 1, sublayer: 3, type: "mlp", block: 1, stage1: [], candidates: [3], stage2: {},
 *     estimatedSpeedup: 1.07, estimatedSpeedupSublayers: 1.07, estimatedSpeedupTotal: 1.07,
 *     seconds: { stage1: 1, stage2: 0, apply: 0.1, total: 1.1 },
 *   }],
 *   final: { mask: [true, true, true, false], pruned: [3], estimatedSpeedup: 1.07 },
 * };
 * const state = { pruned: [3], applied: [], cache: [], steps: log.steps }; // SprintResult.state
 * const dir = await Deno.makeTempDir();
 * await writePruneLog(dir, log, state);
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the dense 8-layer model
 * const mask = await replayLog(model, dir, 1); // the mask (and tuned rows) after step 1
 * assert.deepEqual(mask.map((kept, s) => kept ? -1 : s).filter((s) => s >= 0), [3]);
 * model.destroy();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function replayLog(model: LlamaModel, logDir: string, m: number): Promise<boolean[]> {
  const { log, tuned } = await readPruneLog(logDir);
  if (m < 0 || m > log.steps.length) {
    throw new ToolkitError(`replay: the log has ${log.steps.length} steps, asked for ${m}`);
  }
  const mask = model.alive.slice();
  for (let i = 0; i < log.applied.length; i++) {
    if (log.applied[i].afterStep <= m) await applyTunedRows(model, tuned[i]);
  }
  // Block methods (SLEB, ShortGPT) log both sublayers of a removed block in `sublayers`.
  for (const s of log.steps.slice(0, m) as (StepLog & { sublayers?: number[] })[]) {
    for (const x of s.sublayers ?? [s.sublayer]) mask[x] = false;
  }
  return mask;
}

/**
 * report.md: settings, latency table and the per-step table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PruneLog, reportMarkdown } from "@sprint-wgpu/toolkit/sprint";
 * const log: Omit<PruneLog, "applied"> = { // one step: MLP sublayer 3 (block 1) pruned
 *   format: "sprint-wgpu prune log v1", method: "sprint", settings: {}, protocol: { model: "m" },
 *   latency: { attention: 1, mlp: 2, dense: 30, source: "file" }, dense: {}, wallSeconds: 1.1,
 *   steps: [{
 *     step: 1, sublayer: 3, type: "mlp", block: 1, stage1: [], candidates: [3], stage2: {},
 *     estimatedSpeedup: 1.07, estimatedSpeedupSublayers: 1.07, estimatedSpeedupTotal: 1.07,
 *     seconds: { stage1: 1, stage2: 0, apply: 0.1, total: 1.1 },
 *   }],
 *   final: { mask: [true, true, true, false], pruned: [3], estimatedSpeedup: 1.07 },
 * };
 * const md = reportMarkdown({ ...log, applied: [] });
 * assert.ok(md.includes("Pruned (in order): 3 · estimated speedup 1.070"));
 * ```
 */
export function reportMarkdown(log: PruneLog): string {
  const lines: string[] = [];
  lines.push(`# ${log.method.toUpperCase()} pruning report`, "");
  lines.push(
    `Model: \`${log.protocol.model}\` · adapter: ${log.protocol.adapter} · Deno ${log.protocol.deno} · weights ${log.protocol.dtype}`,
    "",
  );
  lines.push(`Calibration: ${JSON.stringify(log.protocol.calibration)}`, "");
  const lt = log.latency;
  lines.push(
    `Latency (${lt.source}): attention ${lt.attention.toFixed(3)} ms, MLP ${
      lt.mlp.toFixed(3)
    } ms per sublayer, dense ${lt.dense.toFixed(1)} ms per workload ${
      JSON.stringify(lt.workload ?? {})
    }`,
    "",
  );
  for (const w of lt.warnings ?? []) lines.push(`Latency warning: ${w}`, "");
  if (lt.cost) lines.push(`Per sublayer: ${formatSublayerCosts(lt, lt.cost)}`, "");
  lines.push(`Settings: \`${JSON.stringify(log.settings)}\``, "");
  lines.push(
    "| step | sublayer | type | block | tuned | est. speedup | (sublayer model / with fixed cost) | calib. loss | time (s) |",
  );
  lines.push("|---:|---:|---|---:|---|---:|---|---:|---:|");
  lines.push(
    `| 0 | – | dense | – | – | 1.000 | 1.000 / 1.000 | ${
      log.dense.calibrationLoss?.toFixed(4) ?? "–"
    } | – |`,
  );
  for (const s of log.steps) {
    const tuned = s.tuned
      ? `MLP ${s.tuned.block} (${s.tuned.rows} rows${s.tuned.fellBack ? ", fell back" : ""})`
      : "–";
    lines.push(
      `| ${s.step} | ${s.sublayer} | ${s.type} | ${s.block} | ${tuned} | ${
        s.estimatedSpeedup.toFixed(3)
      } | ${s.estimatedSpeedupSublayers.toFixed(3)} / ${s.estimatedSpeedupTotal.toFixed(3)} | ${
        s.calibrationLoss?.toFixed(4) ?? "–"
      } | ${s.seconds.total.toFixed(1)} |`,
    );
  }
  lines.push(
    "",
    `Pruned (in order): ${log.final.pruned.join(", ")} · estimated speedup ${
      log.final.estimatedSpeedup.toFixed(3)
    } · search wall time ${log.wallSeconds.toFixed(1)} s`,
    "",
  );
  return lines.join("\n");
}

/**
 * report.svg: estimated speedup and calibration loss per step.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PruneLog, reportSvg } from "@sprint-wgpu/toolkit/sprint";
 * const log: Omit<PruneLog, "applied"> = { // one step: MLP sublayer 3 (block 1) pruned
 *   format: "sprint-wgpu prune log v1", method: "sprint", settings: {}, protocol: { model: "m" },
 *   latency: { attention: 1, mlp: 2, dense: 30, source: "file" }, dense: {}, wallSeconds: 1.1,
 *   steps: [{
 *     step: 1, sublayer: 3, type: "mlp", block: 1, stage1: [], candidates: [3], stage2: {},
 *     estimatedSpeedup: 1.07, estimatedSpeedupSublayers: 1.07, estimatedSpeedupTotal: 1.07,
 *     seconds: { stage1: 1, stage2: 0, apply: 0.1, total: 1.1 },
 *   }],
 *   final: { mask: [true, true, true, false], pruned: [3], estimatedSpeedup: 1.07 },
 * };
 * const svg = reportSvg({ ...log, applied: [] }); // speedup and calibration loss per step
 * assert.ok(svg.startsWith("<svg ") && svg.endsWith("</svg>\n"));
 * ```
 */
export function reportSvg(log: PruneLog): string {
  const steps = log.steps;
  return svgDocument(900, 320, [
    linePanel(0, 0, 450, 320, "Estimated speedup", "step", [
      {
        name: "speedup model in use",
        points: [[0, 1], ...steps.map((s) => [s.step, s.estimatedSpeedup] as [number, number])],
      },
      {
        name: "sublayers only",
        points: [
          [0, 1],
          ...steps.map((s) => [s.step, s.estimatedSpeedupSublayers] as [number, number]),
        ],
      },
    ]),
    linePanel(450, 0, 450, 320, "Calibration loss (mean NLL)", "step", [
      {
        name: "calibration loss",
        points: [
          [0, log.dense.calibrationLoss ?? NaN],
          ...steps.map((s) => [s.step, s.calibrationLoss ?? NaN] as [number, number]),
        ],
      },
    ]),
  ]);
}
