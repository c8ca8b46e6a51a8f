/** Perplexity windows, token counts and exp(mean NLL) against an independent f64 computation. */
import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert";
import { perplexity, perplexityWindows } from "../../src/eval/perplexity.ts";
import { loadModel } from "../../src/model/model.ts";
import { refPerplexity } from "../../ref/eval.ts";
import { GPU_TEST, rng, testGpuF32 } from "../util.ts";
import { writeTinyEvalModel } from "./helpers.ts";

const dir = await Deno.makeTempDir({ prefix: "eval-ppl-" });
const { config, weights } = await writeTinyEvalModel(dir);
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

Deno.test("perplexityWindows: non-overlapping full windows, the tail dropped; strided windows score new targets only", () => {
  assertEquals(perplexityWindows(10, 4), [
    { start: 0, length: 4, first: 0 },
    { start: 4, length: 4, first: 0 },
  ]);
  // stride 2: window 0 scores 3 targets (1..3), later windows their last 2.
  assertEquals(perplexityWindows(10, 4, 2).map((w) => [w.start, w.first]), [
    [0, 0],
    [2, 1],
    [4, 1],
    [6, 1],
  ]);
  assertEquals(perplexityWindows(10, 4, 4, 1).length, 1);
  assertEquals(perplexityWindows(3, 8), [{ start: 0, length: 3, first: 0 }]);
  throws(() => perplexityWindows(10, 4, 5), /stride must be an integer in \[1, seq len 4\]/);
  throws(() => perplexityWindows(1, 4), /at least 2/);
});

Deno.test({
  name:
    "perplexity on a tiny model equals the f64 reference (windows, token counts, exp(mean NLL))",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const model = await loadModel(gpu, dir, { dtype: "f32" });
    const r = rng(5);
    const ids = Array.from({ length: 150 }, () => 3 + Math.floor(r() * (config.vocabSize - 3)));
    for (
      const [seqLen, stride, limit] of [
        [32, 32, Infinity],
        [64, 64, Infinity],
        [32, 12, Infinity],
        [16, 16, 3],
      ]
    ) {
      const got = await perplexity(model, { ids }, { seqLen, stride, limit, batchTokens: 100 });
      const ref = refPerplexity(config, weights, ids, seqLen, stride, limit);
      assertEquals(
        [got.tokens, got.windows],
        [ref.tokens, ref.windows],
        `T=${seqLen} stride ${stride}`,
      );
      ok(
        Math.abs(got.ppl - ref.ppl) < 1e-4 * ref.ppl,
        `T=${seqLen} stride ${stride}: ${got.ppl} vs ${ref.ppl}`,
      );
    }
    const nonOverlap = await perplexity(model, { ids }, { seqLen: 32 });
    assertEquals([nonOverlap.windows, nonOverlap.tokens, nonOverlap.unusedTokens], [
      4,
      4 * 31,
      150 - 128,
    ]);
    // Default window: the model's context (64).
    assertEquals((await perplexity(model, { ids })).seqLen, 64);
    // Text input: encoded once with BOS at the start.
    const text = "the cat is hot. the cat is a cat. ".repeat(4);
    const t = await perplexity(model, text, { seqLen: 16 });
    const tokIds = model.tokenizer!.encode(text);
    assertEquals(tokIds[0], 1);
    assertEquals(t.textTokens, tokIds.length);
    const ref = refPerplexity(config, weights, tokIds, 16);
    ok(Math.abs(t.ppl - ref.ppl) < 1e-4 * ref.ppl);
    const noBos = await perplexity(model, text, { seqLen: 16, addSpecialTokens: false });
    assertEquals(noBos.textTokens, tokIds.length - 1);
    await rejects(
      perplexity(model, { ids }, { seqLen: 65 }),
      /--seq-len 65 is longer than the model's context of 64/,
    );
    model.destroy();
  },
});
