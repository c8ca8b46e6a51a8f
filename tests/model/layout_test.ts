// The tiled projection-weight layout (`loadModel(..., { weightLayout: "tiled" })`): same forward
// (prefill and KV-cached decode) as the rows layout and the f64 reference, the same saved
// checkpoint and GGUF, the same re-fit and LoRA merge, and a clear refusal in the backward kernels.
import { deepStrictEqual as assertEquals } from "node:assert";
import { join } from "node:path";
import { loadModel } from "../../src/model/model.ts";
import { recordForward } from "../../src/model/forward.ts";
import { generate } from "../../src/model/generate.ts";
import { saveModel } from "../../src/model/save.ts";
import { exportGguf } from "../../src/export/gguf.ts";
import { applyTunedRows, currentDownWeight } from "../../src/sprint/refit.ts";
import { linearLayout, packLinearAs, unpackLinearHost } from "../../src/kernels/linear_layout.ts";
import { linearBackwardInput } from "../../src/train/kernels/linear_backward.ts";
import { refForward, refGreedy } from "../../ref/forward.ts";
import { writeTinyModel } from "../fixtures.ts";
import { writeTinyTokenizer } from "../export/helpers.ts";
import { assertClose, assertThrows, GPU_TEST, randn, testGpuF32 } from "../util.ts";

const IDS = [1, 7, 3, 30, 12, 5, 66];

Deno.test({
  name: "tiled layout: pack/unpack round trip on odd shapes, rows fallback when in % 4 != 0",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    for (const [n, k] of [[1, 4], [17, 8], [33, 12], [5, 7]]) {
      const w = randn(n * k, n + k);
      const lin = packLinearAs(gpu, "tiled", w, n, k, { dtype: "f32" });
      assertEquals(linearLayout(lin), k % 4 === 0 ? "tiled" : "rows");
      assertEquals(unpackLinearHost(lin, await lin.weight.read()), w);
      lin.weight.destroy();
    }
  },
});

Deno.test({
  name: "tiled layout: forward, decode, save, GGUF, re-fit equal the rows layout (mixed fallback)",
  ...GPU_TEST,
  async fn() {
    const root = await Deno.makeTempDir();
    try {
      // intermediate 42: gate/up (in 24) are tiled, down (in 42) falls back to rows.
      const { config, weights } = await writeTinyModel(root + "/src", {
        attention_bias: true,
        intermediate_size: 42,
      }, 3);
      await writeTinyTokenizer(root + "/src", config.vocabSize);
      const gpu = await testGpuF32();
      const rows = await loadModel(gpu, root + "/src", { dtype: "f32" });
      const tiled = await loadModel(gpu, root + "/src", { dtype: "f32", weightLayout: "tiled" });
      const a0 = tiled.blocks[0].attention!;
      assertEquals(
        [linearLayout(a0.q), linearLayout(tiled.blocks[0].mlp!.gate)],
        ["tiled", "tiled"],
      );
      assertEquals(linearLayout(tiled.blocks[0].mlp!.down), "rows");
      assertEquals(linearLayout(rows.blocks[0].attention!.q), "rows");
      assertEquals(linearLayout(tiled.head.parts[0].linear), "tiled");
      // Offloaded blocks are streamed in rows: the layout option is ignored, the head included.
      const off = await loadModel(gpu, root + "/src", {
        dtype: "f32",
        weightLayout: "tiled",
        offload: true,
      });
      assertEquals(linearLayout(off.head.parts[0].linear), "rows");
      off.destroy();

      const ids = gpu.tensor([IDS.length], "u32", new Uint32Array(IDS));
      const run = (m: typeof rows) =>
        gpu.run((rec) => recordForward(rec, m, ids, { batch: 1, tokens: IDS.length })).read();
      const lt = await run(tiled);
      assertClose(lt, await run(rows), { atol: 1e-5, rtol: 1e-5 }, "tiled vs rows logits");
      assertClose(lt, refForward(config, weights, IDS), { atol: 1e-4, rtol: 1e-4 }, "vs f64");

      const opts = { maxNewTokens: 6, stopAtEos: false };
      const g = await generate(tiled, IDS.slice(0, 3), opts);
      assertEquals(g.tokens, (await generate(rows, IDS.slice(0, 3), opts)).tokens);
      assertEquals(g.tokens, refGreedy(config, weights, IDS.slice(0, 3), 6));

      // Saving and exporting read the weights back in HF layout: byte-identical files.
      await saveModel(rows, join(root, "rows"));
      await saveModel(tiled, join(root, "tiled"));
      const bytes = (d: string, f: string) => Deno.readFile(join(root, d, f));
      assertEquals(
        await bytes("tiled", "model.safetensors"),
        await bytes("rows", "model.safetensors"),
      );
      await exportGguf(rows, join(root, "rows.gguf"));
      await exportGguf(tiled, join(root, "tiled.gguf"));
      const gguf = (f: string) => Deno.readFile(join(root, f));
      assertEquals(await gguf("tiled.gguf"), await gguf("rows.gguf"));

      // Re-fitted rows written into a tiled down_proj (F 40) keep its layout and land as in rows.
      const src2 = root + "/src40";
      await writeTinyModel(src2, {}, 4);
      const r40 = await loadModel(gpu, src2, { dtype: "f32" });
      const t40 = await loadModel(gpu, src2, { dtype: "f32", weightLayout: "tiled" });
      assertEquals(linearLayout(t40.blocks[1].mlp!.down), "tiled");
      const F = t40.config.intermediateSize;
      const tuned = {
        sublayer: 3,
        block: 1,
        rows: [0, 5, 23],
        values: randn(3 * F, 9),
        fellBack: false,
      };
      for (const m of [r40, t40]) await applyTunedRows(m, tuned);
      assertEquals(linearLayout(t40.blocks[1].mlp!.down), "tiled");
      assertEquals(await currentDownWeight(t40, 1), await currentDownWeight(r40, 1));
      assertEquals(
        (await currentDownWeight(t40, 1)).subarray(5 * F, 6 * F),
        tuned.values.subarray(F, 2 * F),
      );

      // The backward kernels take only the rows layout, and say so.
      const dy = gpu.tensor([1, a0.q.outFeatures], "f32");
      assertThrows(
        () => gpu.run((rec) => linearBackwardInput(rec, dy, a0.q)),
        "tiled weight layout is forward-only",
      );
      ids.destroy();
      for (const m of [rows, tiled, r40, t40]) m.destroy();
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
