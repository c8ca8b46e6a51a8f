import { deepStrictEqual as assertEquals, ok } from "node:assert";
import { type LlamaModel, loadModel } from "../../src/model/model.ts";
import type { ModelConfig } from "../../src/model/config.ts";
import type { HostWeights } from "../../src/model/model.ts";
import { sampleCalibration } from "../../src/sprint/calibration.ts";
import {
  blockInfluence,
  blockpruner,
  maskAfterSteps,
  shortgpt,
  sleb,
} from "../../src/baselines/mod.ts";
import { estimatedSpeedup } from "../../src/sprint/rules.ts";
import {
  refBlockInfluence,
  refBlockPruner,
  refMeanNll,
  refShortGptOrder,
  refSleb,
} from "../../ref/baselines.ts";
import { writeTinyModel } from "../fixtures.ts";
import { assertClose, GPU_TEST, rng, testGpuF32 } from "../util.ts";

const LAT = { attention: 1, mlp: 1.5, dense: 10, source: "file" as const };
const T = 16;
const N = 4;
/** Loss tolerance (f32 GPU vs f64 reference) and the smallest margin a decisive choice needs. */
const TOL = { atol: 2e-5, rtol: 2e-5 };
const MIN_MARGIN = 1e-4;

interface Fixture {
  config: ModelConfig;
  weights: HostWeights;
  model: LlamaModel;
  calib: ReturnType<typeof sampleCalibration>;
  seqs: number[][];
  cleanup: () => Promise<void>;
}

async function fixture(seed: number): Promise<Fixture> {
  const dir = await Deno.makeTempDir();
  const { config, weights } = await writeTinyModel(dir, { num_hidden_layers: 5 }, seed);
  const gpu = await testGpuF32();
  const model = await loadModel(gpu, dir, { dtype: "f32" });
  const r = rng(seed + 100);
  const tokens = Array.from({ length: N * T }, () => Math.floor(r() * config.vocabSize));
  const calib = sampleCalibration(tokens, { nsamples: N, seqLen: T, sampling: "sequential" });
  const seqs = Array.from({ length: N }, (_, i) => [...calib.ids.subarray(i * T, (i + 1) * T)]);
  return {
    config,
    weights,
    model,
    calib,
    seqs,
    cleanup: async () => {
      model.destroy();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test({
  name:
    "SLEB: greedy block order (first/last kept) and every candidate's loss match the f64 brute force",
  ...GPU_TEST,
  async fn() {
    const f = await fixture(31);
    try {
      const ref = refSleb(f.config, f.weights, f.seqs, 2);
      const res = await sleb(f.model, f.calib, {
        numSublayers: 4,
        latency: LAT,
        speedupModel: "sublayers",
      });
      assertEquals(res.steps.length, 2);
      assertClose(
        [res.state.denseLoss!],
        [refMeanNll(f.config, f.weights, f.seqs, f.config.alive)],
        TOL,
        "dense loss",
      );
      res.steps.forEach((s, k) => {
        ok(ref[k].margin > MIN_MARGIN, `reference step ${k + 1} is a near tie; pick another seed`);
        assertEquals(s.type, "block");
        assertEquals(s.sublayers, ref[k].chosen);
        const gpuLosses = ref[k].units.map((u) => s.stage1[0][u[0]] ?? NaN);
        assertClose(gpuLosses, ref[k].losses, TOL, `step ${k + 1} candidate losses`);
        assertClose([s.calibrationLoss!], [Math.min(...ref[k].losses)], TOL, "chosen loss");
        ok(!s.sublayers.includes(0) && !s.sublayers.includes(9), "first/last block kept");
      });
      assertEquals(res.mask, maskAfterSteps(res, 10));
      ok(res.targetReached);
    } finally {
      await f.cleanup();
    }
  },
});

Deno.test({
  name: "BlockPruner: greedy sublayer order and every candidate's loss match the f64 brute force",
  ...GPU_TEST,
  async fn() {
    const f = await fixture(47);
    try {
      const ref = refBlockPruner(f.config, f.weights, f.seqs, 3);
      const res = await blockpruner(f.model, f.calib, {
        numSublayers: 3,
        latency: LAT,
        speedupModel: "sublayers",
      });
      assertEquals(res.steps.length, 3);
      res.steps.forEach((s, k) => {
        ok(ref[k].margin > MIN_MARGIN, `reference step ${k + 1} is a near tie; pick another seed`);
        assertEquals(s.sublayers, ref[k].chosen);
        assertEquals(s.type, s.sublayer % 2 === 0 ? "attention" : "mlp");
        const gpuLosses = ref[k].units.map((u) => s.stage1[0][u[0]] ?? NaN);
        assertClose(gpuLosses, ref[k].losses, TOL, `step ${k + 1} candidate losses`);
      });
      assertEquals(res.state.pruned, ref.map((r) => r.chosen[0]));
    } finally {
      await f.cleanup();
    }
  },
});

Deno.test({
  name:
    "ShortGPT: block influence (GPU cos metric) and the one-shot order match the f64 reference; blocks overshoot an odd count",
  ...GPU_TEST,
  async fn() {
    const f = await fixture(53);
    try {
      const refBi = refBlockInfluence(f.config, f.weights, f.seqs);
      const bi = await blockInfluence(f.model, f.calib, N, 3); // batches of 3 + 1 windows
      assertClose(bi, refBi, { atol: 1e-5, rtol: 1e-4 }, "block influence");
      const order = refShortGptOrder(refBi);
      const sorted = [...refBi].sort((a, b) => a - b);
      ok(sorted[2] - sorted[1] > 1e-4 && sorted[1] - sorted[0] > 1e-4, "near tie in the reference");
      // 3 sublayers asked: the second block crosses the count and is taken whole (4 removed).
      const res = await shortgpt(f.model, f.calib, {
        numSublayers: 3,
        latency: LAT,
        speedupModel: "sublayers",
      });
      assertEquals(res.steps.map((s) => s.block), order.slice(0, 2));
      assertEquals(res.state.pruned, order.slice(0, 2).flatMap((b) => [2 * b, 2 * b + 1]));
      assertEquals(res.steps[0].candidates, order.map((b) => 2 * b));
      const mask = maskAfterSteps(res, 10);
      assertClose(
        [res.steps[1].calibrationLoss!],
        [refMeanNll(f.config, f.weights, f.seqs, mask)],
        TOL,
        "loss after two blocks",
      );
    } finally {
      await f.cleanup();
    }
  },
});

Deno.test({
  name:
    "stopping: the shared latency model — a block adds both sublayers, runs stop at the first state ≥ target",
  ...GPU_TEST,
  async fn() {
    const f = await fixture(31);
    try {
      // Blocks: one block of 5 gives 12.5 / 10 = 1.25 ≥ 1.2 → one step.
      const s = await sleb(f.model, f.calib, {
        targetSpeedup: 1.2,
        latency: LAT,
        speedupModel: "sublayers",
      });
      assertEquals(s.steps.length, 1);
      assertClose([s.steps[0].estimatedSpeedup], [1.25], { atol: 1e-12, rtol: 0 });
      // Sublayers, with the fixed cost: stop at the first state whose total-model speedup ≥ 1.1.
      const b = await blockpruner(f.model, f.calib, { targetSpeedup: 1.1, latency: LAT });
      const sp = b.steps.map((x) => x.estimatedSpeedupTotal);
      ok(sp[sp.length - 1] >= 1.1 && (sp.length === 1 || sp[sp.length - 2] < 1.1), `${sp}`);
      assertClose([sp[sp.length - 1]], [estimatedSpeedup(LAT, b.mask, true)], {
        atol: 1e-12,
        rtol: 0,
      });
      // SLEB runs out of candidates (3 middle blocks) before an unreachable target.
      const all = await sleb(f.model, f.calib, {
        targetSpeedup: 3,
        latency: LAT,
        speedupModel: "sublayers",
      });
      assertEquals(all.steps.length, 3);
      ok(!all.targetReached);
      // Resume: a run continued from its first step's state ends identically.
      let saved;
      await sleb(f.model, f.calib, {
        numSublayers: 2,
        latency: LAT,
        onStep: (_s, st) => {
          saved = structuredClone(st);
          return Promise.resolve();
        },
      });
      const resumed = await sleb(f.model, f.calib, {
        numSublayers: 6,
        latency: LAT,
        resume: saved,
      });
      assertEquals(resumed.state.pruned, all.state.pruned);
    } finally {
      await f.cleanup();
    }
  },
});
