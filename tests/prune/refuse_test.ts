/**
 * The prune command never destroys what it did not create and refuses bad runs up front:
 * existing outputs, foreign folders/files/states under --resume, a state of another run
 * (fingerprint), a tampered state, concurrent runs into one --out (lock), unreachable targets.
 */
import { deepStrictEqual as assertEquals, match, ok } from "node:assert";
import { join } from "node:path";
import { hostname } from "node:os";
import { errorLine, listDir, runPrune, smallFlags, writePruneFixture } from "./helpers.ts";

const CLI = { sanitizeResources: false, sanitizeOps: false } as const;
const dir = await Deno.makeTempDir({ prefix: "prune-refuse-" });
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const { model, latency } = await writePruneFixture(dir);
const flags = (out: string, ...extra: string[]) => [
  ...smallFlags(model, latency, out),
  "--num-sublayers",
  "2",
  ...extra,
];

async function snapshot(path: string): Promise<string> {
  const st = await Deno.lstat(path);
  if (st.isFile) return `file:${new TextDecoder().decode(await Deno.readFile(path))}`;
  const names = await listDir(path);
  const parts = await Promise.all(names.map(async (n) => `${n}=${await snapshot(join(path, n))}`));
  return `dir:[${parts.join(",")}]`;
}

Deno.test({
  name: "prune: an existing --out (folder or file) is refused up front and left untouched",
  ...CLI,
  async fn() {
    const folder = join(dir, "user-folder");
    await Deno.mkdir(folder);
    await Deno.writeTextFile(join(folder, "notes.txt"), "mine");
    const file = join(dir, "user-file");
    await Deno.writeTextFile(file, "my data");
    for (const out of [folder, file]) {
      const before = await snapshot(out);
      for (const extra of [[], ["--resume"]]) {
        const line = errorLine(await runPrune(flags(out, ...extra), { cwd: dir }));
        match(line, extra.length ? /is not the finished output of this run/ : /output exists/);
        assertEquals(await snapshot(out), before);
      }
      // Nothing was created beside it either (no lock, no state).
      assertEquals((await listDir(dir)).filter((n) => n.startsWith(out.split("/").pop()!)), [
        out.split("/").pop()!,
      ]);
    }
  },
});

Deno.test({
  name: "prune --resume: a foreign, tampered or other run's state is refused and left untouched",
  ...CLI,
  async fn() {
    const out = join(dir, "r1");
    // A foreign file where the state would be.
    const foreign = JSON.stringify({ pruned: [0, 1, 2], steps: [], note: "not a prune state" });
    await Deno.writeTextFile(`${out}.state`, foreign);
    let line = errorLine(await runPrune(flags(out, "--resume"), { cwd: dir }));
    match(line, /r1\.state: not a usable prune state \(not written by sprint-wgpu prune\)/);
    assertEquals(await Deno.readTextFile(`${out}.state`), foreign);
    // Without --resume or --overwrite, the leftover state is not silently replaced.
    line = errorLine(await runPrune(flags(out), { cwd: dir }));
    match(line, /left its state; pass --resume to continue it or --overwrite/);
    await Deno.remove(`${out}.state`);

    // A real state (killed after step 1) of this run…
    const crashed = await runPrune(flags(out), { cwd: dir, crashAt: "step:2" });
    assertEquals(crashed.signal, "SIGKILL");
    const state = await Deno.readFile(`${out}.state`);
    // …is not continued by a run with other settings or another calibration text.
    line = errorLine(await runPrune(flags(out, "--resume", "--seed", "1"), { cwd: dir }));
    match(line, /was written for a different run \(differs: --seed\)/);
    const calib2 = join(dir, "calib2.txt");
    await Deno.writeTextFile(
      calib2,
      (await Deno.readTextFile(join(model, "calibration.txt"))) + "x",
    );
    line = errorLine(await runPrune(flags(out, "--resume", "--calib", calib2), { cwd: dir }));
    match(line, /differs: calibration text\)/);
    const lat2 = join(dir, "lat2.json");
    await Deno.writeTextFile(lat2, JSON.stringify({ attention: 1, mlp: 2, dense: 12 }));
    line = errorLine(
      await runPrune(
        [...flags(out, "--resume"), "--latency-table", lat2].filter((_, i, a) =>
          !(a[i] === latency || (a[i] === "--latency-table" && a[i + 1] === latency))
        ),
        { cwd: dir },
      ),
    );
    match(line, /differs: latency table\)/);
    assertEquals(await Deno.readFile(`${out}.state`), state);

    // A state whose bytes were changed (one byte of a part) is refused by its checksum.
    const bad = state.slice();
    bad[bad.length - 3] ^= 0x40;
    await Deno.writeFile(`${out}.state`, bad);
    line = errorLine(await runPrune(flags(out, "--resume"), { cwd: dir }));
    match(line, /does not match its checksum|not JSON/);
    assertEquals(await Deno.readFile(`${out}.state`), bad);

    // The intact state resumes.
    await Deno.writeFile(`${out}.state`, state);
    const ok2 = await runPrune(flags(out, "--resume"), { cwd: dir });
    assertEquals(ok2.code, 0, ok2.stderr);
    ok(!(await listDir(dir)).includes("r1.state"));
  },
});

Deno.test({
  name:
    "prune: two concurrent runs into one --out — one is refused up front; locks of the dead are taken over",
  ...CLI,
  async fn() {
    const out = join(dir, "race");
    const [a, b] = await Promise.all([
      runPrune(flags(out), { cwd: dir }),
      runPrune(flags(out), { cwd: dir }),
    ]);
    const winners = [a, b].filter((r) => r.code === 0);
    assertEquals(winners.length, 1, `${a.stderr}\n---\n${b.stderr}`);
    const loser = a.code === 0 ? b : a;
    match(errorLine(loser), /is in use by another prune \(pid \d+|output exists/);
    ok(!(await listDir(dir)).some((n) => n.startsWith("race.") || n.startsWith(".race.")));

    // A lock held by a live process refuses the run before anything is loaded.
    const out2 = join(dir, "locked");
    const lockInfo = { pid: Deno.pid, host: hostname(), started: "now", command: "prune" };
    await Deno.writeTextFile(`${out2}.lock`, JSON.stringify(lockInfo) + "\n");
    match(
      errorLine(await runPrune(flags(out2), { cwd: dir })),
      new RegExp(`in use by another prune \\(pid ${Deno.pid}`),
    );
    // A lock of a dead process is stale: taken over, the run succeeds and removes it.
    const dead = new Deno.Command("true").spawn();
    await dead.status;
    await Deno.writeTextFile(`${out2}.lock`, JSON.stringify({ ...lockInfo, pid: dead.pid }));
    const r = await runPrune(flags(out2), { cwd: dir });
    assertEquals(r.code, 0, r.stderr);
    ok(!(await listDir(dir)).includes("locked.lock"));
    // A live pid with another start time is a reused pid: the lock is stale too.
    const out3 = join(dir, "reused");
    await Deno.writeTextFile(`${out3}.lock`, JSON.stringify({ ...lockInfo, startTicks: "1" }));
    const r3 = await runPrune(flags(out3), { cwd: dir });
    assertEquals(r3.code, 0, r3.stderr);
    ok(!(await listDir(dir)).includes("reused.lock"));
  },
});

Deno.test({
  name:
    "prune: unreachable targets, bad metric and unwritable outputs are refused before any search",
  ...CLI,
  async fn() {
    const out = join(dir, "u");
    const base = smallFlags(model, latency, out);
    match(
      errorLine(await runPrune([...base, "--num-sublayers", "999"], { cwd: dir })),
      /--num-sublayers 999 is unreachable: sprint can remove at most 5 of the model's 6 sublayers; the largest reachable value is 5$/,
    );
    match(
      errorLine(
        await runPrune([...base, "--method", "sleb", "--num-sublayers", "3"], { cwd: dir }),
      ),
      /the largest reachable value is 2$/,
    );
    // Latency 1 / 1.6 / dense 12 ms, 3 blocks: at most 12 / 5.2 (one attention left).
    const r = await runPrune([...base, "--target-speedup", "100"], { cwd: dir });
    match(
      errorLine(r),
      /--target-speedup 100 is unreachable: .*the largest reachable value is \d+\.\d+ \([\d.]+ whichever sublayer the search keeps\)$/,
    );
    const max = Number(/\(([\d.]+) whichever/.exec(errorLine(r))![1]);
    const ok1 = await runPrune([...base, "--target-speedup", String(max)], { cwd: dir });
    assertEquals(ok1.code, 0, ok1.stderr);
    const log = JSON.parse(await Deno.readTextFile(join(out, "prune_log.json")));
    ok(log.final.estimatedSpeedup >= max);
    match(
      errorLine(await runPrune([...base, "--metric", "bogus", "--overwrite"], { cwd: dir })),
      /^error: --metric: /,
    );
    // --out onto the model itself (or a folder holding it) is refused, even with --overwrite.
    match(
      errorLine(
        await runPrune(smallFlags(model, latency, model).concat("--overwrite"), { cwd: dir }),
      ),
      /--out .*model: is the --model input/,
    );
    match(
      errorLine(
        await runPrune(smallFlags(model, latency, dir).concat("--overwrite"), { cwd: dir }),
      ),
      /is a folder holding the --model input/,
    );
    // --out under a regular file: the parent is not a folder.
    const f = join(dir, "plain");
    await Deno.writeTextFile(f, "x");
    match(
      errorLine(await runPrune(smallFlags(model, latency, join(f, "sub")), { cwd: dir })),
      /--out .*plain\/sub: parent .*not a folder/,
    );
  },
});

Deno.test({
  name: "prune: latency is not measured when unused (--no-latency-aware --num-sublayers)",
  ...CLI,
  async fn() {
    const out = join(dir, "nolat");
    const r = await runPrune([
      "--model",
      model,
      "--out",
      out,
      "--nsamples",
      "4",
      "--seq-len",
      "16",
      "--no-latency-aware",
      "--num-sublayers",
      "1",
    ], { cwd: dir });
    assertEquals(r.code, 0, r.stderr);
    match(r.stderr, /latency: not measured/);
    ok(!r.stderr.includes("measuring sublayer latency"));
    const lat = JSON.parse(await Deno.readTextFile(join(out, "latency.json")));
    assertEquals(lat.source, "unmeasured");
    ok(!(await listDir(dir)).includes("out"), "no latency cache written");
    // A supplied table whose dense latency is below Σ sublayers is reported, not silently clamped.
    const low = join(dir, "low.json");
    await Deno.writeTextFile(low, JSON.stringify({ attention: 1, mlp: 1.6, dense: 1 }));
    const r2 = await runPrune([
      ...smallFlags(model, low, join(dir, "lowdense")).filter((a) => a !== "--quiet"),
      "--num-sublayers",
      "1",
    ], { cwd: dir });
    assertEquals(r2.code, 0, r2.stderr);
    match(
      r2.stderr,
      /warning: dense 1\.000 ms < Σ sublayers 7\.800 ms; the fixed cost is taken as 0/,
    );
  },
});
