/** The one-file prune state: round trip, and every kind of damage refused with a one-line error. */
import { deepStrictEqual as assertEquals, match, ok } from "node:assert";
import { join } from "node:path";
import { ToolkitError } from "../../src/errors.ts";
import { readStateFile, statePartialName, writeStateFile } from "../../src/prune/state.ts";
import { decodeState, encodeState } from "../../src/prune/codec.ts";
import type { SprintState } from "../../src/sprint/sprint.ts";
import { checkNumSublayers, checkTargetSpeedup, maxSublayers } from "../../src/prune/reach.ts";

const LIM = { numLayers: 3, hiddenSize: 4, intermediateSize: 2 };
const LAT = { attention: 1, mlp: 2, dense: 20, source: "file" as const };

function sprintState(): SprintState {
  const rows = (block: number, r: number[]) => ({
    sublayer: 2 * block + 1,
    block,
    rows: r,
    values: Float32Array.from({ length: r.length * 2 }, (_, i) => i + 0.5 + block),
    fellBack: false,
  });
  const step = (s: number, k: number) =>
    ({ step: k, sublayer: s }) as unknown as SprintState["steps"][number];
  return {
    pruned: [2, 5],
    applied: [{ ...rows(1, [0, 3]), step: 1 }],
    cache: [{ candidate: 0, tuned: rows(0, [1]), score: [0.25, Infinity] }],
    steps: [step(2, 1), step(5, 2)],
    denseLoss: 3.5,
  };
}

async function refused(p: Promise<unknown>, re: RegExp): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  ok(err instanceof ToolkitError, `expected a ToolkitError: ${err}`);
  match((err as Error).message, re);
  ok(!(err as Error).message.includes("\n"));
}

Deno.test("prune state: one file round trip (SPRINT state with re-fitted rows)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "o.state");
    const st = sprintState();
    await writeStateFile(path, {
      method: "sprint",
      fingerprint: { a: "1" },
      ...encodeState({ kind: "sprint", state: st, latency: LAT }),
    });
    const back = await readStateFile(path);
    assertEquals([back.method, back.step, back.fingerprint], ["sprint", 2, { a: "1" }]);
    const dec = decodeState(path, "sprint", back, LIM);
    assertEquals(dec.state, st);
    assertEquals(dec.latency, LAT);
    ok(!(await Deno.stat(statePartialName(path)).then(() => true, () => false)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("prune state: truncated, corrupted, disagreeing or out-of-range states are refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "o.state");
    const write = (st: SprintState, step?: number) =>
      writeStateFile(path, {
        method: "sprint",
        fingerprint: {},
        ...encodeState({ kind: "sprint", state: st, latency: LAT }),
        ...(step === undefined ? {} : { step }),
      });
    await write(sprintState());
    const good = await Deno.readFile(path);
    await Deno.writeFile(path, good.subarray(0, good.length - 5));
    await refused(readStateFile(path), /part .* is truncated|trailing/);
    const flipped = good.slice();
    flipped[good.length - 1] ^= 1;
    await Deno.writeFile(path, flipped);
    await refused(readStateFile(path), /part applied\.0|cache\.0 does not match its checksum/);
    await Deno.writeFile(path, new Uint8Array([...good, 0]));
    await refused(readStateFile(path), /trailing bytes/);
    // Manifest step ≠ steps in the state (a state mixed from two steps).
    await write(sprintState(), 3);
    await refused(readStateFile(path), /manifest pins step 3 but the state holds 2/);
    // Contents that do not fit the model.
    const bad: [Partial<SprintState>, RegExp][] = [
      [{ pruned: [2, 99] }, /field pruned must list sublayers 0\.\.5/],
      [{ pruned: [2, 2] }, /repeats a sublayer/],
      [{ pruned: [5, 2] }, /steps and pruned disagree/],
    ];
    for (const [patch, re] of bad) {
      await write({ ...sprintState(), ...patch });
      await refused(
        (async () => decodeState(path, "sprint", await readStateFile(path), LIM))(),
        re,
      );
    }
    const wrongRows = sprintState();
    wrongRows.applied[0].rows = [0, 9];
    await write(wrongRows);
    await refused(
      (async () => decodeState(path, "sprint", await readStateFile(path), LIM))(),
      /applied entry 0 does not fit the model/,
    );
    await Deno.writeTextFile(path, "null");
    await refused(readStateFile(path), /too short|not written by sprint-wgpu/);
    await Deno.remove(path);
    await Deno.mkdir(path);
    await refused(readStateFile(path), /not a regular file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reach: the most a method can remove and the largest speedup it can reach", () => {
  assertEquals([maxSublayers("sprint", 4), maxSublayers("blockpruner", 4)], [7, 7]);
  assertEquals([maxSublayers("shortgpt", 4), maxSublayers("sleb", 4), maxSublayers("sleb", 2)], [
    6,
    4,
    0,
  ]);
  checkNumSublayers("sprint", 4, 7);
  let msg = "";
  try {
    checkNumSublayers("shortgpt", 4, 7);
  } catch (e) {
    msg = (e as Error).message;
  }
  match(msg, /largest reachable value is 6$/);
  // Σ = 3·(1+2) = 9, dense 20: all but one attention removed → 20 / (20 − 9 + 1) = 1.667.
  checkTargetSpeedup("sprint", 3, LAT, "total", 1.66);
  try {
    checkTargetSpeedup("sprint", 3, LAT, "total", 1.7);
  } catch (e) {
    msg = (e as Error).message;
  }
  match(msg, /at most 1\.6667 .*largest reachable value is 1\.666 \(1\.538 whichever/);
  try {
    checkTargetSpeedup("sprint", 3, { ...LAT, attention: 1e308, mlp: 1e308 }, "total", 1.1);
  } catch (e) {
    msg = (e as Error).message;
  }
  match(msg, /gives no finite estimated speedup/);
});
