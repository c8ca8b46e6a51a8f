/**
 * Deterministic crash points for the kill tests: `SPRINT_TEST_CRASH_AT=<phase>[:<n>]` kills the
 * process with SIGKILL (no cleanup, exactly like `kill -9`) the n-th time (default 1st) the prune
 * command passes the named point. Unset (every normal run), a crash point does nothing.
 *
 * Phases: `locked`, `loaded`, `latency`, `stage1`, `stage2`, `search` (baselines), `step` (before
 * the state write), `state-written` (state written under its temporary name, not yet renamed),
 * `state-renamed`, `save` (final model written into the temporary folder, not yet renamed),
 * `saved` (output in place, state not yet removed).
 *
 * @module
 */

/** The phases {@link crashPoint} knows. */
export const CRASH_PHASES = [
  "locked",
  "loaded",
  "latency",
  "stage1",
  "stage2",
  "search",
  "step",
  "state-written",
  "state-renamed",
  "save",
  "saved",
] as const;

/** A crash phase. */
export type CrashPhase = typeof CRASH_PHASES[number];

let wanted: { phase: string; n: number } | null | undefined;
const hits = new Map<string, number>();

/**
 * Kills the process here when `SPRINT_TEST_CRASH_AT` names this phase (and hit count).
 *
 * @example
 * ```ts
 * import { crashPoint } from "./crash.ts";
 * crashPoint("loaded"); // no-op unless SPRINT_TEST_CRASH_AT=loaded
 * ```
 */
export function crashPoint(phase: CrashPhase): void {
  if (wanted === undefined) {
    let spec: string | undefined;
    try {
      spec = Deno.env.get("SPRINT_TEST_CRASH_AT");
    } catch {
      spec = undefined; // no env permission: never crash
    }
    if (!spec) wanted = null;
    else {
      const [p, n] = spec.split(":");
      wanted = { phase: p, n: n ? Number(n) : 1 };
    }
  }
  if (wanted === null || wanted.phase !== phase) return;
  const k = (hits.get(phase) ?? 0) + 1;
  hits.set(phase, k);
  if (k === wanted.n) Deno.kill(Deno.pid, "SIGKILL");
}
