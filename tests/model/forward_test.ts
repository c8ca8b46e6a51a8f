import { loadModel } from "../../src/model/model.ts";
import { KvCache, recordForward } from "../../src/model/forward.ts";
import { refForward } from "../../ref/forward.ts";
import { writeTinyModel } from "../fixtures.ts";
import { assertClose, GPU_TEST, testGpuF32 } from "../util.ts";

const CASES: [string, Record<string, unknown>][] = [
  ["GQA 6/2, untied", {}],
  ["MHA (no GQA), tied", { num_key_value_heads: 6, tie_word_embeddings: true }],
  ["Qwen2 qkv bias, GQA 4", {
    model_type: "qwen2",
    num_attention_heads: 4,
    num_key_value_heads: 1,
    head_dim: 8,
    tie_word_embeddings: true,
  }],
  ["llama3 rope scaling, attention+mlp bias", {
    rope_theta: 500000,
    rope_scaling: {
      rope_type: "llama3",
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 16,
    },
    attention_bias: true,
    mlp_bias: true,
  }],
];

const IDS = [1, 5, 9, 60, 3, 17, 44, 2, 8, 31, 12];

for (const [name, overrides] of CASES) {
  Deno.test({
    name: `forward vs f64 reference: ${name}`,
    ...GPU_TEST,
    async fn() {
      const dir = await Deno.makeTempDir();
      try {
        const { config, weights } = await writeTinyModel(dir, overrides, 7);
        const gpu = await testGpuF32();
        const model = await loadModel(gpu, dir, { dtype: "f32" });
        const ids = gpu.tensor([IDS.length], "u32", new Uint32Array(IDS));
        const logits = gpu.run((rec) =>
          recordForward(rec, model, ids, { batch: 1, tokens: IDS.length })
        );
        assertClose(await logits.read(), refForward(config, weights, IDS), {
          atol: 1e-4,
          rtol: 1e-4,
        }, name);
        // Some sublayers masked: 0 (attention of block 0), 3 (MLP of block 1), 4.
        const mask = model.alive.map((_, s) => ![0, 3, 4].includes(s));
        const masked = gpu.run((rec) =>
          recordForward(rec, model, ids, { batch: 1, tokens: IDS.length, mask })
        );
        assertClose(await masked.read(), refForward(config, weights, IDS, mask), {
          atol: 1e-4,
          rtol: 1e-4,
        }, `${name} masked`);
        model.destroy();
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

// head_dim 4: RoPE + cache write + attention as separate kernels; head_dim 8 (hidden 48): the
// fused decode-step kernel (ropeAttentionDecode).
for (const overrides of [{}, { head_dim: 8, hidden_size: 48 }]) {
  Deno.test({
    name: `forward with KV cache: prefill + decode steps equal the full forward, batch 2 ${
      JSON.stringify(overrides)
    }`,
    ...GPU_TEST,
    async fn() {
      const dir = await Deno.makeTempDir();
      try {
        const { config, weights } = await writeTinyModel(dir, overrides, 3);
        const gpu = await testGpuF32();
        const model = await loadModel(gpu, dir, { dtype: "f32" });
        const seqs = [[1, 4, 9, 16, 25, 36], [1, 2, 3, 5, 8, 13]];
        const prefix = 3;
        const cache = new KvCache(model, 2, 8);
        const V = config.vocabSize;
        const pre = gpu.tensor(
          [2 * prefix],
          "u32",
          new Uint32Array(seqs.flatMap((s) => s.slice(0, prefix))),
        );
        const last0 = gpu.run((rec) =>
          recordForward(rec, model, pre, { batch: 2, tokens: prefix, cache, output: "last" })
        );
        const got: Float32Array[] = [(await last0.read()) as Float32Array];
        for (let t = prefix; t < 6; t++) {
          const step = gpu.tensor([2], "u32", new Uint32Array([seqs[0][t], seqs[1][t]]));
          const out = gpu.run((rec) =>
            recordForward(rec, model, step, { batch: 2, tokens: 1, cache, output: "last" })
          );
          got.push((await out.read()) as Float32Array);
        }
        for (let b = 0; b < 2; b++) {
          const ref = refForward(config, weights, seqs[b]);
          for (let i = 0; i < got.length; i++) {
            const pos = prefix - 1 + i;
            assertClose(got[i].subarray(b * V, (b + 1) * V), ref.subarray(pos * V, (pos + 1) * V), {
              atol: 1e-4,
              rtol: 1e-4,
            }, `seq ${b} pos ${pos}`);
          }
        }
        cache.destroy();
        model.destroy();
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
