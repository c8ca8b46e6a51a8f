/**
 * Memory plans and the device budget: the device-byte counter, the planned weights against the
 * bytes a load allocates, SPRINT with per-batch activations streamed from host memory (forced, and
 * chosen by a `deviceMemory` below the resident footprint) giving the same steps and a
 * byte-identical model.safetensors with the measured peak within the budget, and the refusals.
 */
import { deepStrictEqual as assertEquals } from "node:assert";
import { join } from "node:path";
import { loadModel } from "../../src/model/model.ts";
import { saveModel } from "../../src/model/save.ts";
import { sprint, type SprintOptions } from "../../src/sprint/sprint.ts";
import { sampleCalibration } from "../../src/sprint/calibration.ts";
import {
  assertHostFits,
  formatPlan,
  planSprintMemory,
  weightBytes,
} from "../../src/plan/memory.ts";
import { ToolkitError } from "../../src/errors.ts";
import { writeTinyModel } from "../fixtures.ts";
import { GPU_TEST, rng, testGpuF32 } from "../util.ts";

Deno.test({
  name: "device-byte counter: tensors counted on creation, once on destroy (views share)",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const before = gpu.memory.current;
    gpu.memory.resetPeak();
    const a = gpu.tensor([10, 10], "f32");
    const b = gpu.tensor([3], "f16"); // 6 bytes → an 8-byte buffer
    assertEquals(gpu.memory.current - before, 400 + 8);
    a.reshape([100]).destroy();
    a.destroy();
    assertEquals(gpu.memory.current - before, 8);
    b.destroy();
    assertEquals(gpu.memory.current, before);
    assertEquals(gpu.memory.peak - before, 408);
    await gpu.sync();
  },
});

const LAT = { attention: 1, mlp: 1.5, dense: 10, source: "file" as const };

Deno.test({
  name:
    "SPRINT streamed from host memory (forced, and by a deviceMemory budget) = resident run: steps, rows, model.safetensors bytes",
  ...GPU_TEST,
  async fn() {
    const root = await Deno.makeTempDir();
    try {
      const dir = join(root, "m");
      const { config } = await writeTinyModel(dir, { num_hidden_layers: 4 }, 31);
      const gpu = await testGpuF32();
      const r = rng(5);
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
      const before = gpu.memory.current;
      const model0 = await loadModel(gpu, dir, { dtype: "f32" });
      assertEquals(
        gpu.memory.current - before,
        weightBytes(config, "f32", { maxPositions: model0.rope.maxPositions }),
        "planned weight bytes = allocated",
      );
      model0.destroy();

      const runs: { name: string; opts: Partial<SprintOptions> }[] = [
        { name: "resident", opts: { placement: "resident" } },
        { name: "streamed", opts: { placement: "streamed" } },
      ];
      const results = [];
      for (const run of runs) {
        const model = await loadModel(gpu, dir, { dtype: "f32" });
        const res = await sprint(model, calib, { ...base, ...run.opts });
        await saveModel(model, join(root, run.name), { mask: res.mask });
        results.push(res);
        model.destroy();
      }
      const [res, str] = results;
      assertEquals(res.memory.plan.placement, "resident");
      assertEquals(str.memory.plan.placement, "streamed");
      // A budget between the streamed and the resident footprint chooses streaming by itself.
      const budget = Math.floor((res.memory.plan.deviceBytes + str.memory.plan.deviceBytes) / 2);
      {
        const model = await loadModel(gpu, dir, { dtype: "f32" });
        const auto = await sprint(model, calib, { ...base, deviceMemory: budget });
        await saveModel(model, join(root, "auto"), { mask: auto.mask });
        model.destroy();
        assertEquals(auto.memory.plan.placement, "streamed");
        assertEquals(auto.memory.peakDeviceBytes <= budget, true, formatPlan(auto.memory.plan));
        results.push(auto);
      }
      const strip = (s: typeof res.steps) => s.map((x) => ({ ...x, seconds: undefined }));
      const want = await Deno.readFile(join(root, "resident", "model.safetensors"));
      for (const [i, other] of results.entries()) {
        if (i === 0) continue;
        assertEquals(strip(other.steps), strip(res.steps));
        assertEquals(other.state.applied, res.state.applied);
        const name = i === 1 ? "streamed" : "auto";
        assertEquals(await Deno.readFile(join(root, name, "model.safetensors")), want, name);
      }
      // The plan bounds the measured peak.
      for (const x of results) {
        assertEquals(
          x.memory.peakDeviceBytes <= x.memory.plan.deviceBytes,
          true,
          `peak ${x.memory.peakDeviceBytes} > plan\n${formatPlan(x.memory.plan)}`,
        );
      }
      assertEquals(str.memory.peakDeviceBytes < res.memory.peakDeviceBytes, true);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("memory plan refusals: device budget below the streamed footprint; host too small", () => {
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
  let msg = "";
  try {
    planSprintMemory(cfg, "f16", { nsamples: 128, seqLen: 2048, deviceMemory: 2 ** 30 });
  } catch (e) {
    if (!(e instanceof ToolkitError)) throw e;
    msg = e.message;
  }
  assertEquals(/device memory even with activations in host memory/.test(msg), true, msg);
  const plan = planSprintMemory(cfg, "f16", {
    nsamples: 1 << 16,
    seqLen: 2048,
    deviceMemory: 2 ** 40,
    placement: "streamed",
  });
  assertEquals(plan.hostBytes > 2 ** 40, true);
  let refused = "";
  try {
    assertHostFits({ ...plan, hostAvailable: 2 ** 34 }, "SPRINT");
  } catch (e) {
    if (!(e instanceof ToolkitError)) throw e;
    refused = e.message;
  }
  assertEquals(/needs .* of host memory/.test(refused) && !refused.includes("\n"), true, refused);
  // Llama-3-8B, 128 × 2048 calibration tokens: one f32 activation copy is 4 GiB (the 4.3 GB).
  const row = plan.rows.find((r) => r.category === "batch states")!;
  assertEquals(row.note.includes("[8192, 4096]"), true);
});
