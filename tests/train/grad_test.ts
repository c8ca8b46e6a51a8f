import { loadModel } from "../../src/model/model.ts";
import { allocGrads, recordLossAndGrads, zeroGrads } from "../../src/train/grad.ts";
import { packedShape } from "../../src/kernels/matmul.ts";
import { refMeanNll } from "../../ref/forward.ts";
import { writeTinyModel } from "../fixtures.ts";
import { GPU_TEST, testGpuF32 } from "../util.ts";

Deno.test({
  name:
    "model gradients (forward tape + backward kernels) match central finite differences of the f64 loss",
  ...GPU_TEST,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const { config, weights } = await writeTinyModel(dir, {
        num_hidden_layers: 2,
        attention_bias: true,
      }, 4);
      const gpu = await testGpuF32();
      const model = await loadModel(gpu, dir, { dtype: "f32" });
      const seqs = [[1, 5, 9, 33, 2, 7, 11, 40, 3], [4, 8, 15, 16, 23, 42, 6, 19, 60]];
      const T = 8;
      const ids = new Uint32Array(seqs.flatMap((s) => s.slice(0, T)));
      const targets = new Uint32Array(seqs.flatMap((s) => s.slice(1, T + 1)));
      const grads = allocGrads(model);
      const rec = gpu.recorder();
      zeroGrads(rec, grads);
      const r = recordLossAndGrads(rec, model, grads, { batch: 2, tokens: T, ids, targets });
      rec.submit();
      const loss = (await r.loss.read())[0];
      const ref0 = refMeanNll(config, weights, seqs);
      if (Math.abs(loss - ref0) > 1e-4 * Math.abs(ref0)) {
        throw new Error(`loss ${loss} vs ref ${ref0}`);
      }
      // Probe entries of several parameters: (name, HF index, gradient tensor, packed index).
      const probes: [string, number, Float32Array, number][] = [];
      const add = async (
        name: string,
        hfIndex: number,
        grad: { read(): Promise<ArrayLike<number>> },
        packedIndex: number,
      ) => probes.push([name, hfIndex, (await grad.read()) as Float32Array, packedIndex]);
      const D = config.hiddenSize;
      const F = config.intermediateSize;
      const lin = (out: number, inp: number, n: number, k: number) =>
        k * packedShape(out, inp).np + n;
      const g0 = grads.blocks[0];
      const g1 = grads.blocks[1];
      await add(
        "model.layers.0.self_attn.q_proj.weight",
        3 * D + 5,
        g0.attention!.q!.weight,
        lin(24, D, 3, 5),
      );
      await add(
        "model.layers.0.self_attn.k_proj.weight",
        1 * D + 7,
        g0.attention!.k!.weight,
        lin(8, D, 1, 7),
      );
      await add(
        "model.layers.1.self_attn.v_proj.weight",
        6 * D + 2,
        g1.attention!.v!.weight,
        lin(8, D, 6, 2),
      );
      await add(
        "model.layers.1.self_attn.o_proj.weight",
        4 * 24 + 9,
        g1.attention!.o!.weight,
        lin(D, 24, 4, 9),
      );
      await add("model.layers.0.self_attn.q_proj.bias", 11, g0.attention!.q!.bias!, 11);
      await add(
        "model.layers.0.mlp.gate_proj.weight",
        17 * D + 3,
        g0.mlp!.gate!.weight,
        lin(F, D, 17, 3),
      );
      await add(
        "model.layers.1.mlp.up_proj.weight",
        2 * D + 20,
        g1.mlp!.up!.weight,
        lin(F, D, 2, 20),
      );
      await add(
        "model.layers.0.mlp.down_proj.weight",
        5 * F + 30,
        g0.mlp!.down!.weight,
        lin(D, F, 5, 30),
      );
      await add("model.layers.1.input_layernorm.weight", 4, g1.attention!.norm!, 4);
      await add("model.layers.0.post_attention_layernorm.weight", 13, g0.mlp!.norm!, 13);
      await add("model.norm.weight", 2, grads.finalNorm!, 2);
      await add("lm_head.weight", 9 * D + 1, grads.lmHead!.weight, lin(config.vocabSize, D, 9, 1));
      await add("model.embed_tokens.weight", 5 * D + 6, grads.embed!, 5 * D + 6);
      for (const [name, i, g, pi] of probes) {
        const w = Float64Array.from(weights.get(name)!);
        const h = 1e-4;
        const ws = new Map<string, Float32Array | Float64Array>(weights);
        w[i] += h;
        ws.set(name, w);
        const up = refMeanNll(config, ws, seqs);
        w[i] -= 2 * h;
        const down = refMeanNll(config, ws, seqs);
        const fd = (up - down) / (2 * h);
        const got = g[pi];
        if (!(Math.abs(got - fd) <= 2e-4 + 2e-3 * Math.abs(fd))) {
          throw new Error(`${name}[${i}]: gradient ${got} vs finite difference ${fd}`);
        }
      }
      r.release();
      model.destroy();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
