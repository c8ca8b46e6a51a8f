/**
 * kill -9 at every phase of a prune (SPRINT_TEST_CRASH_AT, src/prune/crash.ts), and once at a
 * random moment: `--resume` then ends with the same pruning order and a byte-identical
 * model.safetensors as an uninterrupted run, and leaves no lock, state or partial files behind.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert";
import { join } from "node:path";
import {
  listDir,
  outcome,
  runPrune,
  smallFlags,
  spawnPrune,
  writePruneFixture,
} from "./helpers.ts";
import { readStateFile } from "../../src/prune/state.ts";

const CLI = { sanitizeResources: false, sanitizeOps: false } as const;
const dir = await Deno.makeTempDir({ prefix: "prune-kill-" });
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const { model, latency } = await writePruneFixture(dir);

async function reference(name: string, extra: string[]) {
  const out = join(dir, name);
  const r = await runPrune([...smallFlags(model, latency, out), ...extra], { cwd: dir });
  assertEquals(r.code, 0, r.stderr);
  return { out, ...(await outcome(out)) };
}

async function assertClean(out: string, name: string): Promise<void> {
  const left = (await listDir(dir)).filter((n) => n.includes(name) && n !== name);
  assertEquals(left, [], `leftovers of ${name}`);
  ok(!(await listDir(out)).some((n) => n.includes("partial") || n.endsWith(".tmp")));
}

/**
 * Runs a chain of crashing runs (each after the first with --resume), then a last --resume;
 * asserts every crashing run died by SIGKILL and the result equals `ref`.
 */
async function crashChain(
  name: string,
  extra: string[],
  crashes: [string, number | null][],
  ref: { model: Uint8Array; pruned: number[] },
): Promise<void> {
  const out = join(dir, name);
  const flags = [...smallFlags(model, latency, out), ...extra];
  for (const [i, [at, step]] of crashes.entries()) {
    const r = await runPrune(i === 0 ? flags : [...flags, "--resume"], { cwd: dir, crashAt: at });
    assertEquals(r.signal, "SIGKILL", `crash at ${at}: ${r.code} ${r.stderr}`);
    // The state left behind: none yet, or the last step completed.
    const state = await readStateFile(`${out}.state`).catch(() => undefined);
    assertEquals(state?.step ?? null, step, `state after the crash at ${at}`);
  }
  const last = await runPrune([...flags, "--resume"], { cwd: dir });
  assertEquals(last.code, 0, last.stderr);
  const got = await outcome(out);
  assertEquals(got.pruned, ref.pruned);
  ok(got.model.length === ref.model.length && got.model.every((b, i) => b === ref.model[i]));
  await assertClean(out, name);
}

Deno.test({
  name: "SPRINT: kill -9 at every phase, then --resume: same order, byte-identical model",
  ...CLI,
  async fn() {
    const extra = ["--num-sublayers", "3"];
    const ref = await reference("ref-sprint", extra);
    assertEquals(ref.pruned.length, 3);
    // Each run continues the previous one's state: before any state (locked, loaded, latency,
    // stage 1/2 of step 1), after one step, between the temporary state write and its rename,
    // after the rename, during the final save (temporary folder written, not renamed) and after
    // the save (state not yet removed; the last --resume finds the run finished).
    await crashChain("chain-sprint", extra, [
      ["locked", null],
      ["loaded", null],
      ["latency", null],
      ["stage1:3", null],
      ["stage2:2", null],
      ["step:2", 1],
      ["state-written", 1],
      ["state-renamed", 2],
      ["save", 3],
      ["saved", 3],
    ], ref);
  },
});

Deno.test({
  name: "BlockPruner: kill -9 during the search, between state writes and during the save",
  ...CLI,
  async fn() {
    const extra = ["--method", "blockpruner", "--num-sublayers", "2"];
    const ref = await reference("ref-bp", extra);
    await crashChain("chain-bp", extra, [["search:3", null], [
      "state-written:2",
      1,
    ], ["save", 2]], ref);
  },
});

Deno.test({
  name: "SPRINT: a real SIGKILL at a random moment, then --resume until done: identical result",
  ...CLI,
  async fn() {
    const extra = ["--num-sublayers", "3"];
    const ref = await outcome(join(dir, "ref-sprint")).catch(() => undefined) ??
      await reference("ref-sprint-2", extra);
    const out = join(dir, "random");
    const flags = [...smallFlags(model, latency, out), ...extra];
    const t0 = performance.now();
    const probe = await runPrune([...smallFlags(model, latency, join(dir, "timing")), ...extra], {
      cwd: dir,
    });
    assertEquals(probe.code, 0, probe.stderr);
    const total = performance.now() - t0;
    const delay = Math.floor(Math.random() * total);
    console.log(`killing after ${delay} ms of ~${total.toFixed(0)} ms`);
    const child = spawnPrune(flags, { cwd: dir });
    await new Promise((r) => setTimeout(r, delay));
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.output();
    let r = await runPrune([...flags, "--resume"], { cwd: dir });
    assertEquals(r.code, 0, r.stderr);
    r = await runPrune([...flags, "--resume"], { cwd: dir }); // a finished run: nothing to do
    assertEquals(r.code, 0, r.stderr);
    const got = await outcome(out);
    assertEquals(got.pruned, ref.pruned);
    ok(got.model.every((b, i) => b === ref.model[i]) && got.model.length === ref.model.length);
    await assertClean(out, "random");
  },
});

Deno.test({
  name: "SPRINT: Ctrl-C / SIGTERM releases the lock; --resume then finishes identically",
  ...CLI,
  async fn() {
    const ref = await outcome(join(dir, "ref-sprint")).catch(() => undefined) ??
      await reference("ref-sprint-3", ["--num-sublayers", "3"]);
    const out = join(dir, "term");
    const flags = [...smallFlags(model, latency, out), "--num-sublayers", "3"];
    const child = spawnPrune(flags, { cwd: dir });
    const deadline = Date.now() + 60_000;
    while (!(await Deno.stat(`${out}.lock`).then(() => true, () => false))) {
      if (Date.now() > deadline) throw new Error("the run never took its lock");
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGTERM");
    const st = await child.output();
    if (st.code !== 0) {
      assertEquals(st.code, 143, new TextDecoder().decode(st.stderr));
      ok(!(await listDir(dir)).includes("term.lock"), "lock released");
    }
    const r = await runPrune([...flags, "--resume"], { cwd: dir });
    assertEquals(r.code, 0, r.stderr);
    const got = await outcome(out);
    assertEquals(got.pruned, ref.pruned);
    ok(got.model.every((b, i) => b === ref.model[i]) && got.model.length === ref.model.length);
    await assertClean(out, "term");
  },
});
