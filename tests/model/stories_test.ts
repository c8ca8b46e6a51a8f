import { loadModel } from "../../src/model/model.ts";
import { recordForward } from "../../src/model/forward.ts";
import { generate } from "../../src/model/generate.ts";
import { readHostWeights } from "../../src/model/model.ts";
import { readConfig } from "../../src/model/config.ts";
import { openCheckpoint } from "../../src/model/safetensors.ts";
import { refForward, refGreedy } from "../../ref/forward.ts";
import { sharedModelDir } from "../fixtures.ts";
import { assertClose, GPU_TEST, testGpu, testGpuF32 } from "../util.ts";
import { deepStrictEqual as assertEquals, match as assertMatch } from "node:assert";

const dir = await sharedModelDir();
const skip = dir === undefined;
if (skip) {
  console.warn("skipping stories260K tests: ../shared/data/models/stories260K-hf is absent");
}

Deno.test({
  name: "stories260K: logits match the f64 reference; greedy 100 tokens identical to the reference",
  ignore: skip,
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const model = await loadModel(gpu, dir!, { dtype: "f32" });
    const cfg = await readConfig(dir!);
    const weights = await readHostWeights(cfg, await openCheckpoint(dir!));
    const prompt = model.tokenizer!.encode("Once upon a time, there was a little girl named Lily.");
    const ids = gpu.tensor([prompt.length], "u32", new Uint32Array(prompt));
    const logits = gpu.run((rec) =>
      recordForward(rec, model, ids, { batch: 1, tokens: prompt.length })
    );
    assertClose(await logits.read(), refForward(cfg, weights, prompt), { atol: 1e-4, rtol: 0 });
    const r = await generate(model, prompt, { maxNewTokens: 100, stopAtEos: false });
    const ref = refGreedy(cfg, weights, prompt, 100);
    assertEquals(r.tokens, ref);
    const text = model.tokenizer!.decode(r.tokens);
    assertMatch(text, /[a-z]+ [a-z]+/);
    model.destroy();
  },
});

Deno.test({
  name: "stories260K: f16 weights generate recognisable text",
  ignore: skip,
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpu();
    const model = await loadModel(gpu, dir!);
    const prompt = model.tokenizer!.encode("Once upon a time");
    const r = await generate(model, prompt, { maxNewTokens: 40 });
    const text = model.tokenizer!.decode(r.tokens);
    assertMatch(text, /\b(the|a|was|and|to)\b/);
    model.destroy();
  },
});
