import { throws } from "node:assert";
import { loadModel } from "../../src/model/model.ts";
import { recordForward } from "../../src/model/forward.ts";
import { createLora, loraFineTune, mergeLora } from "../../src/train/lora.ts";
import { recordLossAndGrads, zeroGrads } from "../../src/train/grad.ts";
import { linearGradTensors } from "../../src/train/kernels/linear_backward.ts";
import { packedShape, unpackWeightHost } from "../../src/kernels/matmul.ts";
import { refMeanNll } from "../../ref/forward.ts";
import { writeTinyModel } from "../fixtures.ts";
import { assertClose, GPU_TEST, randn, testGpuF32 } from "../util.ts";

Deno.test({
  name:
    "LoRA: adapter gradients match finite differences; merged weights reproduce the adapted model",
  ...GPU_TEST,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const { config, weights } = await writeTinyModel(dir, { num_hidden_layers: 2 }, 9);
      const gpu = await testGpuF32();
      const model = await loadModel(gpu, dir, { dtype: "f32" });
      const lora = createLora(model, { rank: 3, alpha: 6, targets: ["q", "down"] });
      // Non-zero B so that gradients reach A too.
      for (const [, ad] of lora) {
        const n = ad.b.outFeatures;
        ad.b.weight.write(packLinearHost(randn(n * 3, n, 0.3), n, 3));
      }
      const seqs = [[1, 5, 9, 33, 2, 7, 11, 40, 3], [4, 8, 15, 16, 23, 42, 6, 19, 60]];
      const T = 8;
      const grads = {
        blocks: [],
        lora: new Map(
          [...lora].map((
            [k, ad],
          ) => [k, { a: linearGradTensors(gpu, ad.a), b: linearGradTensors(gpu, ad.b) }]),
        ),
      };
      const rec = gpu.recorder();
      zeroGrads(rec, grads);
      const r = recordLossAndGrads(rec, model, grads, {
        batch: 2,
        tokens: T,
        ids: new Uint32Array(seqs.flatMap((s) => s.slice(0, T))),
        targets: new Uint32Array(seqs.flatMap((s) => s.slice(1, T + 1))),
      }, lora);
      rec.submit();
      const loss = (await r.loss.read())[0];
      // Effective weights in f64 for the reference.
      const effective = async (
        adapters: typeof lora,
        delta?: { key: string; which: "a" | "b"; i: number; h: number },
      ) => {
        const ws = new Map<string, ArrayLike<number>>(weights);
        for (const [key, ad] of adapters) {
          const [b, name] = key.split(".");
          const hf = name === "q"
            ? `model.layers.${b}.self_attn.q_proj.weight`
            : `model.layers.${b}.mlp.down_proj.weight`;
          const W = Float64Array.from(weights.get(hf)!);
          const n = ad.b.outFeatures;
          const k = ad.a.inFeatures;
          const A = Float64Array.from(unpackWeightHost(await ad.a.weight.read(), 3, k));
          const B = Float64Array.from(unpackWeightHost(await ad.b.weight.read(), n, 3));
          if (delta && delta.key === key) (delta.which === "a" ? A : B)[delta.i] += delta.h;
          for (let o = 0; o < n; o++) {
            for (let j = 0; j < 3; j++) {
              for (let i = 0; i < k; i++) W[o * k + i] += ad.scale * B[o * 3 + j] * A[j * k + i];
            }
          }
          ws.set(hf, W);
        }
        return ws;
      };
      const ref0 = refMeanNll(config, await effective(lora), seqs);
      if (Math.abs(loss - ref0) > 1e-4 * ref0) throw new Error(`loss ${loss} vs ${ref0}`);
      for (
        const [key, which, i] of [["0.q", "a", 5], ["1.q", "b", 7], ["0.down", "a", 30], [
          "1.down",
          "b",
          11,
        ]] as const
      ) {
        const ad = lora.get(key)!;
        const g = grads.lora.get(key)![which].weight;
        const [rows, cols] = which === "a" ? [3, ad.a.inFeatures] : [ad.b.outFeatures, 3];
        const gHf = unpackWeightHost(await g.read(), rows, cols);
        const h = 1e-4;
        const up = refMeanNll(config, await effective(lora, { key, which, i, h }), seqs);
        const down = refMeanNll(config, await effective(lora, { key, which, i, h: -h }), seqs);
        const fd = (up - down) / (2 * h);
        if (!(Math.abs(gHf[i] - fd) <= 2e-4 + 2e-3 * Math.abs(fd))) {
          throw new Error(`${key}.${which}[${i}]: ${gHf[i]} vs fd ${fd}`);
        }
      }
      r.release();
      // Merge: the plain model afterwards equals the adapted model before.
      const ids = gpu.tensor([T], "u32", new Uint32Array(seqs[0].slice(0, T)));
      const adapted = await gpu.run((rec2) =>
        recordForward(rec2, model, ids, { batch: 1, tokens: T, hooks: { lora } })
      ).read();
      await mergeLora(model, lora);
      const merged = await gpu.run((rec2) =>
        recordForward(rec2, model, ids, { batch: 1, tokens: T })
      ).read();
      assertClose(merged, adapted, { atol: 1e-4, rtol: 1e-4 }, "merged vs adapted");
      model.destroy();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function packLinearHost(w: Float32Array, out: number, inp: number): Float32Array {
  const { kp, np } = packedShape(out, inp);
  const p = new Float32Array(kp * np);
  for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) p[i * np + o] = w[o * inp + i];
  return p;
}

Deno.test({
  name: "LoRA tuning lowers the training loss; bad targets and ranks are one-line errors",
  ...GPU_TEST,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const { config } = await writeTinyModel(dir, { num_hidden_layers: 2 }, 12);
      const gpu = await testGpuF32();
      const model = await loadModel(gpu, dir, { dtype: "f32" });
      throws(
        () => createLora(model, { targets: ["q", "wq"] }),
        /--targets: unknown layer "wq" \(known: q, k, v, o, gate, up, down\)/,
      );
      throws(() => createLora(model, { rank: 30 }), /--rank: 30 exceeds/);
      const text = Array.from({ length: 3000 }, (_, i) => (i * 7) % config.vocabSize);
      const r = await loraFineTune(model, text, text.slice(0, 256), { rank: 4, alpha: 8 }, {
        steps: 30,
        batch: 4,
        seqLen: 16,
        lr: 1e-2,
        logEvery: 10,
        evalEvery: 0,
      });
      const losses = r.history.filter((p) => p.loss !== undefined).map((p) => p.loss!);
      if (!(losses[losses.length - 1] < losses[0] - 0.1)) {
        throw new Error(`loss did not fall: ${losses}`);
      }
      model.destroy();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
