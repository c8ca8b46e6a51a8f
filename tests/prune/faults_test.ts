/** Faults during a run: non-finite calibration loss or importance stops SPRINT naming step and sublayer. */
import { match, ok } from "node:assert";
import { join } from "node:path";
import { ToolkitError } from "../../src/errors.ts";
import { loadModel } from "../../src/model/model.ts";
import { sampleCalibration } from "../../src/sprint/calibration.ts";
import { sprint } from "../../src/sprint/sprint.ts";
import { writeTinyModel } from "../fixtures.ts";
import { GPU_TEST, rng, testGpuF32 } from "../util.ts";

const LAT = { attention: 1, mlp: 1.5, dense: 10, source: "file" as const };

Deno.test({
  name: "SPRINT: NaN activations stop the run with a one-line error naming the step and sublayer",
  ...GPU_TEST,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const { config } = await writeTinyModel(join(dir, "m"), {}, 5);
      const gpu = await testGpuF32();
      const r = rng(2);
      const tokens = Array.from({ length: 4 * 16 + 20 }, () => Math.floor(r() * config.vocabSize));
      const calib = sampleCalibration(tokens, { nsamples: 4, seqLen: 16, sampling: "sequential" });
      for (const lossSequences of [4, 0]) {
        const model = await loadModel(gpu, join(dir, "m"), { dtype: "f32" });
        // Block 1's MLP down_proj becomes NaN (as a fault on the device would make it): the
        // first window through it is sublayer 1's (re-fitted at MLP 3).
        const down = model.blocks[1].mlp!.down.weight;
        down.write(new Float32Array(down.byteLength / 4).fill(NaN));
        let err: unknown;
        try {
          await sprint(model, calib, {
            numSublayers: 2,
            latency: LAT,
            lossSequences,
            batchSize: 4,
          });
        } catch (e) {
          err = e;
        }
        model.destroy();
        ok(err instanceof ToolkitError, `expected a ToolkitError, got ${err}`);
        match(
          (err as Error).message,
          lossSequences > 0
            ? /^calibration loss of the dense model \(before step 1\) is NaN; .* no model is written$/
            : /^step 1: stage-1 importance of sublayer 1 \(MLP of block 0\) is NaN; .* no model is written$/,
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
