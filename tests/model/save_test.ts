import { deepStrictEqual as assertEquals } from "node:assert";
import { join } from "node:path";
import { loadModel } from "../../src/model/model.ts";
import { recordForward } from "../../src/model/forward.ts";
import { saveModel } from "../../src/model/save.ts";
import { readConfig } from "../../src/model/config.ts";
import { openCheckpoint } from "../../src/model/safetensors.ts";
import { writeTinyModel } from "../fixtures.ts";
import { GPU_TEST, testGpuF32 } from "../util.ts";

const IDS = [1, 7, 3, 30, 12, 5];

Deno.test({
  name:
    "save → load round trip: dense and pruned (nemotron-nas block_configs) give identical logits",
  ...GPU_TEST,
  async fn() {
    const root = await Deno.makeTempDir();
    try {
      const src = join(root, "src");
      await writeTinyModel(src, { attention_bias: true }, 5);
      const gpu = await testGpuF32();
      const model = await loadModel(gpu, src, { dtype: "f32" });
      const ids = gpu.tensor([IDS.length], "u32", new Uint32Array(IDS));
      const run = (m: typeof model, mask?: boolean[]) =>
        gpu.run((rec) => recordForward(rec, m, ids, { batch: 1, tokens: IDS.length, mask })).read();

      await saveModel(model, join(root, "dense"));
      const dense = await loadModel(gpu, join(root, "dense"), { dtype: "f32" });
      assertEquals(await run(dense), await run(model));
      assertEquals((await readConfig(join(root, "dense"))).modelType, "llama");

      const mask = model.alive.map((_, s) => s !== 1 && s !== 4); // block 0 MLP, block 2 attention
      await saveModel(model, join(root, "pruned"), { mask });
      const cfg = await readConfig(join(root, "pruned"));
      assertEquals(cfg.modelType, "nemotron-nas");
      assertEquals(cfg.alive, mask);
      const raw = cfg.raw as {
        block_configs: { attention: { no_op: boolean }; ffn: { no_op: boolean } }[];
      };
      assertEquals(raw.block_configs[0].ffn.no_op, true);
      assertEquals(raw.block_configs[2].attention.no_op, true);
      const ckpt = await openCheckpoint(join(root, "pruned"));
      assertEquals(ckpt.has("model.layers.0.mlp.down_proj.weight"), false);
      assertEquals(ckpt.has("model.layers.0.post_attention_layernorm.weight"), false);
      assertEquals(ckpt.has("model.layers.2.self_attn.q_proj.weight"), false);
      assertEquals(ckpt.has("model.layers.2.self_attn.o_proj.bias"), false);
      assertEquals(ckpt.has("model.layers.1.self_attn.q_proj.bias"), true);
      const pruned = await loadModel(gpu, join(root, "pruned"), { dtype: "f32" });
      assertEquals(pruned.alive, mask);
      assertEquals(await run(pruned), await run(model, mask));
      // Saving the loaded pruned model again keeps the per-block form.
      await saveModel(pruned, join(root, "pruned2"));
      assertEquals((await readConfig(join(root, "pruned2"))).alive, mask);
      // No temporary leftovers beside the outputs.
      const names = [];
      for await (const e of Deno.readDir(root)) names.push(e.name);
      assertEquals(names.sort(), ["dense", "pruned", "pruned2", "src"]);
      for (const m of [model, dense, pruned]) m.destroy();
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
