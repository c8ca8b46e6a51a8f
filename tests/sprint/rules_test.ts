import { deepStrictEqual as assertEquals } from "node:assert";
import {
  checkpointIndices,
  estimatedSpeedup,
  isTunable,
  latencyProbeBlocks,
  restartIndex,
  tuneIndex,
} from "../../src/sprint/rules.ts";
import { checkpointCount } from "../../src/plan/memory.ts";

const none = (n: number) => new Array<boolean>(n).fill(false);

Deno.test("tuneIndex: next alive MLP, skipping pruned ones; fallback min(s+1, 2L-1); rule none", () => {
  const p = none(8);
  assertEquals(tuneIndex(0, p), 1); // MHA → own MLP
  assertEquals(tuneIndex(1, p), 3); // MLP → next MLP
  assertEquals(tuneIndex(6, p), 7);
  assertEquals(tuneIndex(7, p), 7); // last MLP: min(8, 7)
  const q = none(8);
  q[1] = true;
  q[3] = true;
  assertEquals(tuneIndex(0, q), 5); // own MLP pruned → next alive
  assertEquals(tuneIndex(2, q), 5);
  const r = none(8);
  r[7] = true;
  assertEquals(tuneIndex(6, r), 7); // only a pruned MLP after it
  assertEquals(isTunable(6, 7, r), false);
  assertEquals(isTunable(7, 7, none(8)), false);
  assertEquals(isTunable(0, 1, none(8)), true);
  assertEquals(tuneIndex(3, p, "none"), 3);
});

Deno.test("checkpointIndices match the spec's worked examples", () => {
  assertEquals(checkpointIndices(32, 8), [0, 6, 14, 20, 28, 34, 42, 48, 56]);
  assertEquals(checkpointIndices(40, 8), [0, 8, 16, 26, 34, 44, 52, 62, 70]);
  assertEquals(checkpointIndices(80, 8), [0, 16, 34, 52, 70, 88, 106, 124, 142]);
  assertEquals(checkpointIndices(32, 0), [0]);
});

Deno.test("the memory plan's checkpointCount is the number of distinct checkpointIndices", () => {
  for (let layers = 1; layers <= 40; layers++) {
    for (let c = 0; c <= 48; c++) {
      assertEquals(checkpointCount(layers, c), new Set(checkpointIndices(layers, c)).size);
    }
  }
});

Deno.test("restartIndex: scan down while tuneIdx[i] >= s*, restart at the checkpoint at or below u", () => {
  const q = [0, 4, 8];
  // tuneIdx for 12 sublayers (L=6): identity except some tuned further.
  const t = [1, 3, 3, 5, 5, 7, 7, 9, 9, 11, 11, 11];
  assertEquals(restartIndex(t, 9, q), 4); // i=7 has 9 ≥ 9, i=6: 7 < 9 → u=6 → checkpoint 4
  assertEquals(restartIndex(t, 2, q), 0); // u = 1 → 0
  assertEquals(restartIndex(t, 11, q), 8); // u = 8 → 8
  assertEquals(restartIndex(t, 0, q), 0); // no i → 0
});

Deno.test("latencyProbeBlocks: the 25 % rule, blocks L-2 downward", () => {
  assertEquals(latencyProbeBlocks(32), [30, 29, 28, 27, 26, 25, 24, 23]);
  assertEquals(latencyProbeBlocks(40).length, 10);
  assertEquals(latencyProbeBlocks(5), [3]);
  assertEquals(latencyProbeBlocks(2), [0]);
});

Deno.test("estimatedSpeedup: the spec's example and the fixed-cost variant", () => {
  // 32 blocks, l_MLP = 2 l_MHA, prune 14 MLPs → 96 / 68 = 1.41
  const alive = new Array<boolean>(64).fill(true);
  for (let i = 0; i < 14; i++) alive[2 * i + 1] = false;
  const lat = { attention: 1, mlp: 2, dense: 96 };
  assertEquals(estimatedSpeedup(lat, alive).toFixed(4), (96 / 68).toFixed(4));
  // With a fixed cost of 24 ms on top of 96: (120) / (68 + 24)
  assertEquals(
    estimatedSpeedup({ ...lat, dense: 120 }, alive, true).toFixed(6),
    (120 / 92).toFixed(6),
  );
});
