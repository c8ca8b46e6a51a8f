/**
 * Block streaming (`offload`): an offloaded model (blocks in host memory, uploaded into device
 * slots as the forward reaches them) gives the same calibration loss bit for bit, the same SPRINT
 * steps and re-fitted rows and a byte-identical model.safetensors as the resident model, with one
 * and two slots and combined with streamed activations; its measured peak device bytes stay
 * below the resident run's and within the plan; the plan chooses offloading by itself when the
 * weights do not fit a budget.
 */
import { deepStrictEqual as assertEquals } from "node:assert";
import { join } from "node:path";
import { loadModel } from "../../src/model/model.ts";
import { meanNll } from "../../src/model/loss.ts";
import { saveModel } from "../../src/model/save.ts";
import { sprint, type SprintOptions, type SprintResult } from "../../src/sprint/sprint.ts";
import { sampleCalibration } from "../../src/sprint/calibration.ts";
import { formatPlan, planSprintMemory, weightBytes } from "../../src/plan/memory.ts";
import { writeTinyModel } from "../fixtures.ts";
import { GPU_TEST, rng, testGpuF32 } from "../util.ts";

const LAT = { attention: 1, mlp: 1.5, dense: 10, source: "file" as const };

Deno.test({
  name:
    "offload: blocks streamed from host memory = resident model (loss bits, SPRINT steps, rows, model.safetensors bytes), peak within the plan",
  ...GPU_TEST,
  async fn() {
    const root = await Deno.makeTempDir();
    try {
      const dir = join(root, "m");
      const { config } = await writeTinyModel(dir, { num_hidden_layers: 4, mlp_bias: true }, 37);
      const gpu = await testGpuF32();
      const r = rng(9);
      const tokens = Array.from({ length: 8 * 16 + 20 }, () => Math.floor(r() * config.vocabSize));
      const calib = sampleCalibration(tokens, { nsamples: 8, seqLen: 16, sampling: "sequential" });
      const base: SprintOptions = {
        batchSize: 2,
        lossSequences: 2,
        speedupModel: "sublayers",
        numSublayers: 3,
        checkpoints: 2,
        latency: LAT,
      };
      const runs: { name: string; slots?: number; opts?: Partial<SprintOptions> }[] = [
        { name: "resident" },
        { name: "offload2", slots: 2 },
        { name: "offload1", slots: 1 },
        { name: "offload-streamed", slots: 2, opts: { placement: "streamed" } },
      ];
      const results: SprintResult[] = [];
      const losses: number[] = [];
      for (const run of runs) {
        const model = await loadModel(gpu, dir, {
          dtype: "f32",
          offload: run.slots ? { slots: run.slots } : undefined,
        });
        assertEquals(model.residency !== undefined, run.slots !== undefined);
        losses.push(await meanNll(model, calib.ids, 3, calib.seqLen));
        const res = await sprint(model, calib, { ...base, ...run.opts });
        await saveModel(model, join(root, run.name), { mask: res.mask });
        const rs = model.residency;
        if (rs) {
          assertEquals(rs.extraSlots, 0);
          assertEquals(rs.uploads > config.numLayers, true, "blocks were streamed");
        }
        results.push(res);
        model.destroy();
      }
      assertEquals(new Set(losses).size, 1, `calibration losses differ: ${losses}`);
      const strip = (s: SprintResult["steps"]) => s.map((x) => ({ ...x, seconds: undefined }));
      const want = await Deno.readFile(join(root, "resident", "model.safetensors"));
      const [res] = results;
      assertEquals(res.memory.plan.weights, "resident");
      for (const [i, other] of results.entries()) {
        if (i === 0) continue;
        const name = runs[i].name;
        assertEquals(other.memory.plan.weights, "streamed", name);
        assertEquals(strip(other.steps), strip(res.steps), name);
        assertEquals(other.state.applied, res.state.applied, name);
        assertEquals(await Deno.readFile(join(root, name, "model.safetensors")), want, name);
        assertEquals(
          other.memory.peakDeviceBytes < res.memory.peakDeviceBytes,
          true,
          `${name}: peak ${other.memory.peakDeviceBytes} ≥ resident ${res.memory.peakDeviceBytes}`,
        );
      }
      for (const x of results) {
        assertEquals(
          x.memory.peakDeviceBytes <= x.memory.plan.deviceBytes,
          true,
          `peak ${x.memory.peakDeviceBytes} > plan\n${formatPlan(x.memory.plan)}`,
        );
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("memory plan: weights streamed when they do not fit the budget, refused below one block", () => {
  const cfg = {
    hiddenSize: 4096,
    intermediateSize: 14336,
    numLayers: 32,
    numHeads: 32,
    numKvHeads: 8,
    headDim: 128,
    vocabSize: 128256,
    maxPositions: 8192,
    alive: new Array(64).fill(true),
    qkvBias: false,
    oBias: false,
    mlpBias: false,
  } as unknown as Parameters<typeof planSprintMemory>[0];
  const s = { nsamples: 128, seqLen: 2048, checkpoints: 8 };
  const w = weightBytes(cfg, "f16");
  // Llama-3-8B in f16 (~16 GB of weights) under a 12 GiB budget: weights and activations streamed.
  const plan = planSprintMemory(cfg, "f16", { ...s, deviceMemory: 12 * 2 ** 30 });
  assertEquals(plan.weights, "streamed");
  assertEquals(plan.placement, "streamed");
  assertEquals(plan.deviceBytes <= 12 * 2 ** 30, true, formatPlan(plan));
  const row = plan.rows.find((r) => r.category === "weights")!;
  assertEquals(row.host > 0.8 * w && row.device < 0.2 * w, true, formatPlan(plan));
  // Unbounded: resident; forced offload: streamed whatever the budget.
  assertEquals(planSprintMemory(cfg, "f16", s).weights, "resident");
  assertEquals(planSprintMemory(cfg, "f16", { ...s, offload: true }).weights, "streamed");
  let msg = "";
  try {
    planSprintMemory(cfg, "f16", { ...s, deviceMemory: 2 ** 30 });
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(/even with .*weights streamed/.test(msg) && !msg.includes("\n"), true, msg);
});
