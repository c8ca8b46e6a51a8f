import { deepStrictEqual as assertEquals } from "node:assert";
import { join } from "node:path";
import { loadModel } from "../../src/model/model.ts";
import { readTensors } from "../../src/gpu/tensor.ts";
import { learningRate, sampleBatch, train } from "../../src/train/trainer.ts";
import { namedParams } from "../../src/train/grad.ts";
import { allocGrads } from "../../src/train/grad.ts";
import { writeTinyModel } from "../fixtures.ts";
import { GPU_TEST, testGpuF32 } from "../util.ts";

Deno.test("learning-rate schedule: linear warm-up then cosine to minLr", () => {
  const o = { steps: 100, lr: 1, minLr: 0.1, warmup: 10 };
  assertEquals(learningRate(5, o), 0.5);
  assertEquals(learningRate(10, o), 1);
  assertEquals(Math.abs(learningRate(100, o) - 0.1) < 1e-12, true);
  assertEquals(Math.abs(learningRate(55, o) - 0.55) < 1e-12, true);
});

Deno.test("sampleBatch is a pure function of (seed, step) with next-token targets", () => {
  const tokens = Array.from({ length: 500 }, (_, i) => i);
  const a = sampleBatch(tokens, 3, 8, 7, 12);
  assertEquals(a, sampleBatch(tokens, 3, 8, 7, 12));
  for (let i = 0; i < 24; i++) if (i % 8 !== 7) assertEquals(a.targets[i], a.ids[i + 1]);
  for (let i = 0; i < 24; i++) assertEquals(a.targets[i], a.ids[i] + 1);
});

Deno.test({
  name:
    "training resumed after a kill reaches the same weights as an uninterrupted run; loss falls",
  ...GPU_TEST,
  async fn() {
    const root = await Deno.makeTempDir();
    try {
      const dir = join(root, "m");
      const { config } = await writeTinyModel(dir, { num_hidden_layers: 2 }, 3);
      const gpu = await testGpuF32();
      const text = Array.from({ length: 4000 }, (_, i) => (i * 13 + (i >> 3)) % config.vocabSize);
      const opts = {
        steps: 8,
        batch: 2,
        seqLen: 16,
        lr: 1e-2,
        logEvery: 2,
        evalEvery: 0,
        seed: 5,
        checkpointEvery: 3,
      };
      const weights = async (m: Awaited<ReturnType<typeof loadModel>>) =>
        (await readTensors(gpu, namedParams(m, allocGrads(m)).map((p) => p.param))).map((
          a,
        ) => [...a]);

      const full = await loadModel(gpu, dir, { dtype: "f32" });
      const r = await train(full, text, text.slice(0, 64), opts);
      const losses = r.history.map((p) => p.loss!).filter((x) => x !== undefined);
      if (!(losses[losses.length - 1] < losses[0])) throw new Error(`loss did not fall: ${losses}`);

      const ckpt = join(root, "ckpt");
      const killed = await loadModel(gpu, dir, { dtype: "f32" });
      let threw = false;
      try {
        await train(killed, text, text.slice(0, 64), {
          ...opts,
          checkpointDir: ckpt,
          onProgress: (p) => {
            if (p.step === 5) throw new Error("killed");
          },
        });
      } catch (e) {
        threw = (e as Error).message === "killed";
      }
      assertEquals(threw, true);
      const resumed = await loadModel(gpu, dir, { dtype: "f32" });
      await train(resumed, text, text.slice(0, 64), { ...opts, checkpointDir: ckpt, resume: true });
      assertEquals(await weights(resumed), await weights(full));
      for (const m of [full, killed, resumed]) m.destroy();
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
