/** Evaluation on the real stories260K checkpoint and shared data against the f64 reference. */
import { deepStrictEqual as assertEquals, ok } from "node:assert";
import { join } from "node:path";
import { encodePair } from "../../src/eval/loglikelihood.ts";
import { perplexity } from "../../src/eval/perplexity.ts";
import { TASKS } from "../../src/eval/tasks.ts";
import { evaluateDocs } from "../../src/eval/zeroshot.ts";
import { readConfig } from "../../src/model/config.ts";
import { loadModel, readHostWeights } from "../../src/model/model.ts";
import { openCheckpoint } from "../../src/model/safetensors.ts";
import { sharedModelDir } from "../fixtures.ts";
import { refLoglikelihood, refPerplexity } from "../../ref/eval.ts";
import { GPU_TEST, testGpuF32 } from "../util.ts";

const dir = await sharedModelDir();
const data = new URL("../../../shared/data", import.meta.url).pathname;
if (!dir) {
  console.warn("skipping stories260K eval tests: ../shared/data/models/stories260K-hf is absent");
}

Deno.test({
  name:
    "stories260K: PIQA / WinoGrande / LAMBADA log-likelihoods and TinyStories perplexity match the f64 reference",
  ignore: !dir,
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const model = await loadModel(gpu, dir!, { dtype: "f32" });
    const cfg = await readConfig(dir!);
    const weights = await readHostWeights(cfg, await openCheckpoint(dir!));
    for (const name of ["piqa", "winogrande", "lambada"] as const) {
      const spec = TASKS[name];
      const docs = await spec.load(join(data, spec.file), 4);
      const res = await evaluateDocs(model, spec, docs, { samples: true });
      docs.forEach((d, i) =>
        d.requests.forEach((q, j) => {
          const p = encodePair(model.tokenizer!, q.context, q.continuation);
          const ref = refLoglikelihood(cfg, weights, p.context, p.continuation);
          const got = res.samples![i].lls[j];
          ok(Math.abs(got - ref.ll) < 1e-3, `${name} doc ${i} choice ${j}: ${got} vs ${ref.ll}`);
          assertEquals(res.samples![i].isGreedy[j], ref.greedy);
        })
      );
    }
    const text = (await Deno.readTextFile(join(data, "corpus", "tinystories_val_subset.txt")))
      .slice(0, 3000);
    const ids = model.tokenizer!.encode(text);
    const got = await perplexity(model, text, { seqLen: 128, limit: 3 });
    const ref = refPerplexity(cfg, weights, ids, 128, 128, 3);
    assertEquals([got.tokens, got.windows], [ref.tokens, ref.windows]);
    ok(Math.abs(got.ppl - ref.ppl) < 1e-4 * ref.ppl, `${got.ppl} vs ${ref.ppl}`);
    ok(got.ppl < 20, `in-domain perplexity should be low, got ${got.ppl}`);
    model.destroy();
  },
});
