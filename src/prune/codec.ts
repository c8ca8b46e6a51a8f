/**
 * The method states (SPRINT's {@link SprintState}, a baseline's {@link BaselineState}) as the
 * body and float32 parts of the one prune state file, and back — with the checks that a state's
 * contents fit the model (sublayer indices in range, no repeats, re-fitted rows of the right
 * size), so `{}`, `null` or out-of-range sublayers are refused with a one-line error.
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import type { BaselineState } from "../baselines/common.ts";
import type { SprintState, TunedRows } from "../sprint/sprint.ts";
import type { LatencyTable } from "../sprint/latency.ts";
import type { PruneStateFile } from "./state.ts";

/** A method's state plus the latency table the run used. */
export type MethodState =
  | { kind: "sprint"; state: SprintState; latency: LatencyTable }
  | { kind: "baseline"; state: BaselineState; latency: LatencyTable };

/** Body and parts of a state file for `s`. */
export function encodeState(s: MethodState): Pick<PruneStateFile, "body" | "tensors" | "step"> {
  const tensors = new Map<string, Float32Array<ArrayBuffer>>();
  if (s.kind === "baseline") {
    return {
      body: { ...s.state, steps: s.state.steps, latency: s.latency },
      tensors,
      step: s.state.steps.length,
    };
  }
  const st = s.state;
  const strip = (t: TunedRows) => ({ ...t, values: undefined });
  st.applied.forEach((t, i) => tensors.set(`applied.${i}`, t.values));
  st.cache.forEach((c) => tensors.set(`cache.${c.candidate}`, c.tuned.values));
  return {
    step: st.steps.length,
    tensors,
    body: {
      ...st,
      steps: st.steps,
      applied: st.applied.map(strip),
      cache: st.cache.map((c) => ({
        ...c,
        tuned: strip(c.tuned),
        score: c.score.map((v) => (Number.isFinite(v) ? v : null)),
      })),
      latency: s.latency,
    },
  };
}

/** The shape facts a state is checked against. */
export interface StateLimits {
  /** Blocks of the model. */
  numLayers: number;
  /** Hidden width (rows of a down_proj). */
  hiddenSize: number;
  /** MLP width (columns of a down_proj). */
  intermediateSize: number;
}

function isIndex(v: unknown, n: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v < n;
}

/** Decodes and checks a state file's body for `kind`; `path` names it in errors. */
export function decodeState(
  path: string,
  kind: "sprint" | "baseline",
  file: PruneStateFile,
  lim: StateLimits,
): MethodState {
  const fail = (why: string): never => {
    throw new ToolkitError(`${path}: not a usable prune state (${why}); it was left untouched`);
  };
  const b = file.body as Record<string, unknown>;
  const n = 2 * lim.numLayers;
  const pruned = b.pruned;
  if (!Array.isArray(pruned) || !pruned.every((s) => isIndex(s, n))) {
    fail(`field pruned must list sublayers 0..${n - 1}`);
  }
  const pr = pruned as number[];
  if (new Set(pr).size !== pr.length) fail("field pruned repeats a sublayer");
  if (pr.length >= n) fail("field pruned removes every sublayer");
  const latency = b.latency as LatencyTable;
  if (
    typeof latency !== "object" || latency === null || typeof latency.attention !== "number" ||
    typeof latency.mlp !== "number" || typeof latency.dense !== "number"
  ) fail("field latency is not a latency table");
  const steps = b.steps as { sublayer?: unknown }[];
  if (!steps.every((s) => typeof s === "object" && s !== null && isIndex(s.sublayer, n))) {
    fail("a step names no valid sublayer");
  }
  if (kind === "baseline") {
    const removed = (steps as { sublayers?: unknown }[]).flatMap((s) =>
      Array.isArray(s.sublayers) ? s.sublayers : [NaN]
    );
    if (JSON.stringify(removed) !== JSON.stringify(pr)) fail("steps and pruned disagree");
    return {
      kind,
      latency,
      state: {
        pruned: pr,
        steps: b.steps as BaselineState["steps"],
        denseLoss: b.denseLoss as number | undefined,
      },
    };
  }
  if (steps.length !== pr.length || steps.some((s, i) => s.sublayer !== pr[i])) {
    fail("steps and pruned disagree");
  }
  const rowsOk = (
    t: Record<string, unknown> | null | undefined,
    values: Float32Array | undefined,
  ) =>
    typeof t === "object" && t !== null && isIndex(t.block, lim.numLayers) &&
    isIndex(t.sublayer, n) && Array.isArray(t.rows) &&
    t.rows.every((r) => isIndex(r, lim.hiddenSize)) &&
    (values?.length ?? 0) === (t.rows as number[]).length * lim.intermediateSize &&
    typeof t.fellBack === "boolean";
  const appliedRaw = b.applied;
  if (!Array.isArray(appliedRaw)) fail("field applied is missing");
  const applied: TunedRows[] = (appliedRaw as Record<string, unknown>[]).map((t, i) => {
    const values = file.tensors.get(`applied.${i}`) ?? new Float32Array(0);
    if (!rowsOk(t, values)) fail(`applied entry ${i} does not fit the model`);
    return { ...(t as unknown as TunedRows), values };
  });
  const cacheRaw = b.cache;
  if (!Array.isArray(cacheRaw)) fail("field cache is missing");
  const cache = (cacheRaw as Record<string, unknown>[]).map((c, i) => {
    if (typeof c !== "object" || c === null || !isIndex(c.candidate, n)) {
      fail(`cache entry ${i} names no valid sublayer`);
    }
    const values = file.tensors.get(`cache.${c.candidate}`) ?? new Float32Array(0);
    if (!rowsOk(c.tuned as Record<string, unknown>, values)) {
      fail(`cache entry ${i} does not fit the model`);
    }
    if (!Array.isArray(c.score) || !c.score.every((v) => v === null || typeof v === "number")) {
      fail(`cache entry ${i} has no scores`);
    }
    return {
      candidate: c.candidate as number,
      tuned: { ...(c.tuned as TunedRows), values },
      score: (c.score as (number | null)[]).map((v) => (v === null ? Infinity : v)),
    };
  });
  return {
    kind,
    latency,
    state: {
      pruned: pr,
      applied,
      cache,
      steps: b.steps as SprintState["steps"],
      denseLoss: b.denseLoss as number | undefined,
    },
  };
}
