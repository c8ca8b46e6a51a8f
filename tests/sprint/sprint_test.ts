import { deepStrictEqual as assertEquals } from "node:assert";
import { join } from "node:path";
import { loadModel } from "../../src/model/model.ts";
import { recordForward } from "../../src/model/forward.ts";
import { sprint, type SprintOptions, type SprintState } from "../../src/sprint/sprint.ts";
import { sampleCalibration } from "../../src/sprint/calibration.ts";
import { replayLog, writePruneLog } from "../../src/sprint/log.ts";
import { refSprintStep } from "../../ref/sprint.ts";
import { writeTinyModel } from "../fixtures.ts";
import { assertClose, GPU_TEST, rng, testGpuF32 } from "../util.ts";

const LAT = { attention: 1, mlp: 1.5, dense: 10, source: "file" as const };

function calibration(vocab: number, n: number, T: number, seed = 3) {
  const r = rng(seed);
  const tokens = Array.from({ length: n * T + 50 }, () => Math.floor(r() * vocab));
  return sampleCalibration(tokens, { nsamples: n, seqLen: T, sampling: "sequential" });
}

const BASE: Omit<SprintOptions, "latency"> = {
  batchSize: 4,
  lossSequences: 0,
  speedupModel: "sublayers",
};

Deno.test({
  name:
    "one SPRINT step matches the f64 reference (stage-1 and stage-2 importance, target, re-fitted rows)",
  ...GPU_TEST,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const { config, weights } = await writeTinyModel(dir, { num_hidden_layers: 4 }, 11);
      const gpu = await testGpuF32();
      const model = await loadModel(gpu, dir, { dtype: "f32" });
      const calib = calibration(config.vocabSize, 8, 24);
      const { steps, state } = await sprint(model, calib, {
        ...BASE,
        numSublayers: 1,
        latency: LAT,
      });
      const seqs = Array.from(
        { length: 8 },
        (_, i) => [...calib.ids.subarray(i * 24, (i + 1) * 24)],
      );
      const ref = refSprintStep(config, weights, seqs, LAT, 5);
      const s = steps[0];
      assertClose(s.stage1[0].map((v) => v ?? Infinity), ref.importance1, {
        atol: 1e-6,
        rtol: 1e-3,
      }, "stage-1 importance");
      assertEquals(s.candidates, ref.candidates);
      for (const c of ref.candidates) {
        assertClose(
          [s.stage2[c][0]],
          [ref.importance2.get(c)!],
          { atol: 1e-6, rtol: 2e-3 },
          `stage-2 importance of ${c}`,
        );
      }
      assertEquals(s.sublayer, ref.target);
      const tuned = state.applied[0];
      assertEquals(tuned.block, ref.tunedBlock);
      assertClose(
        tuned.values,
        ref.tunedDown,
        { atol: 1e-4, rtol: 2e-3 },
        "re-fitted down_proj rows",
      );
      model.destroy();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "SPRINT is deterministic; an interrupted run resumed from its state ends identically; replay reproduces the model",
  ...GPU_TEST,
  async fn() {
    const root = await Deno.makeTempDir();
    try {
      const dir = join(root, "m");
      const { config } = await writeTinyModel(dir, { num_hidden_layers: 4 }, 21);
      const gpu = await testGpuF32();
      const calib = calibration(config.vocabSize, 8, 16, 5);
      const opts = { ...BASE, numSublayers: 3, latency: LAT, checkpoints: 2 };
      const runFull = async () => {
        const model = await loadModel(gpu, dir, { dtype: "f32" });
        const r = await sprint(model, calib, opts);
        return { model, r };
      };
      const a = await runFull();
      const b = await runFull();
      assertEquals(a.r.state.pruned, b.r.state.pruned);
      assertEquals(
        a.r.state.applied.map((t) => [...t.values]),
        b.r.state.applied.map((t) => [...t.values]),
      );

      // Interrupt after one step (the state a resumable run persists), then resume on a fresh model.
      let saved: SprintState | undefined;
      const m1 = await loadModel(gpu, dir, { dtype: "f32" });
      await sprint(m1, calib, {
        ...opts,
        numSublayers: 1,
        onStep: (_s, st) => {
          saved = structuredClone(st);
          return Promise.resolve();
        },
      });
      const m2 = await loadModel(gpu, dir, { dtype: "f32" });
      const resumed = await sprint(m2, calib, { ...opts, resume: saved });
      assertEquals(resumed.state.pruned, a.r.state.pruned);
      assertEquals(
        resumed.state.applied.map((t) => [...t.values]),
        a.r.state.applied.map((t) => [...t.values]),
      );

      // Replaying the log's first 3 steps onto the dense model gives the pruned model's logits.
      const logDir = join(root, "log");
      await Deno.mkdir(logDir);
      await writePruneLog(logDir, {
        format: "sprint-wgpu prune log v1",
        method: "sprint",
        settings: {},
        protocol: {},
        latency: LAT,
        dense: {},
        steps: a.r.steps,
        final: { mask: a.r.mask, pruned: a.r.state.pruned, estimatedSpeedup: 1 },
        wallSeconds: 0,
      }, a.r.state);
      const m3 = await loadModel(gpu, dir, { dtype: "f32" });
      const mask = await replayLog(m3, logDir, 3);
      assertEquals(mask, a.r.mask);
      const ids = gpu.tensor([10], "u32", new Uint32Array([1, 5, 9, 2, 7, 3, 8, 4, 6, 10]));
      const la = await gpu.run((rec) =>
        recordForward(rec, a.model, ids, { batch: 1, tokens: 10, mask: a.r.mask })
      ).read();
      const l3 = await gpu.run((rec) => recordForward(rec, m3, ids, { batch: 1, tokens: 10, mask }))
        .read();
      assertEquals([...l3], [...la]);
      for (const m of [a.model, b.model, m1, m2, m3]) m.destroy();
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
