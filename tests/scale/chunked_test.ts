/**
 * Tensors split across storage bindings: the embedding gather, the LM head and everything over
 * the vocabulary (forward logits, argmax, perplexity NLL, save → load) on tables stored in chunks,
 * against the f64 references — with forced tiny chunks on tiny models, and at the real head shapes
 * of Llama-2-7B (32000 × 4096, untied) and Llama-3.2-1B (128256 × 2048, tied) on narrow models.
 */
import { deepStrictEqual as assertEquals } from "node:assert";
import { join } from "node:path";
import { chunkBytesLimit, ChunkedTensor, setChunkBytesLimit } from "../../src/gpu/chunked.ts";
import { embedding } from "../../src/kernels/embedding.ts";
import { headLogits, packChunkedLinear } from "../../src/kernels/head.ts";
import { linearLayout } from "../../src/kernels/linear_layout.ts";
import { argmax } from "../../src/kernels/softmax.ts";
import { parseConfig } from "../../src/model/config.ts";
import { recordForward } from "../../src/model/forward.ts";
import { meanNll } from "../../src/model/loss.ts";
import {
  expectedTensors,
  type HostWeights,
  loadModel,
  modelFromHostWeights,
} from "../../src/model/model.ts";
import { saveModel } from "../../src/model/save.ts";
import { sprint } from "../../src/sprint/sprint.ts";
import { sampleCalibration } from "../../src/sprint/calibration.ts";
import { refSprintStep } from "../../ref/sprint.ts";
import { embeddingRef } from "../../ref/embedding.ts";
import { refForward } from "../../ref/forward.ts";
import { linearRef } from "../../ref/matmul.ts";
import { tinyConfigJson, writeTinyModel } from "../fixtures.ts";
import { assertClose, GPU_TEST, randn, rng, roundF16, testGpu, testGpuF32 } from "../util.ts";

Deno.test({
  name: "chunked embedding gather and LM head equal the f64 references (forced 4 KiB chunks)",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    setChunkBytesLimit(4096);
    try {
      const [v, d, m] = [203, 37, 19];
      const table = randn(v * d, 5);
      const t = ChunkedTensor.upload(gpu, [v, d], "f32", table);
      assertEquals(t.chunks.length, Math.ceil(v / Math.floor(4096 / (4 * d))));
      const ids = Uint32Array.from({ length: m }, (_, i) => (i * 37) % v);
      ids[0] = v - 1;
      ids[1] = v + 5; // out of range in a GPU tensor: a row of zeros
      const out = gpu.run((rec) => embedding(rec, gpu.tensor([m], "u32", ids), t));
      assertClose(await out.read(), embeddingRef(ids, table, v, d), { atol: 0, rtol: 0 }, "gather");
      assertClose(await t.read(), table, { atol: 0, rtol: 0 }, "chunked read");

      // Rows layout (D 37), and the tiled layout (D 40: K a multiple of 4) at a prefill-sized and
      // a one-row product.
      for (
        const [layout, dh, mh] of [["rows", d, m], ["tiled", 40, m], ["tiled", 40, 1]] as const
      ) {
        const w = randn(v * dh, 6, 0.2); // HF [V, D]
        const head = packChunkedLinear(gpu, w, v, dh, { dtype: "f32", layout });
        assertEquals(head.parts.map((p) => linearLayout(p.linear)), head.parts.map(() => layout));
        const x = randn(mh * dh, 7);
        const logits = gpu.run((rec) => headLogits(rec, gpu.tensor([mh, dh], "f32", x), head));
        assertEquals(head.parts.length > 1, true);
        const ref = linearRef(x, w, mh, dh, v);
        assertClose(await logits.read(), ref, { atol: 1e-5, rtol: 1e-4 }, `head ${layout} m=${mh}`);
      }
    } finally {
      setChunkBytesLimit(undefined);
    }
  },
});

Deno.test({
  name: "forward, argmax, perplexity and save → load with vocabulary tables in forced chunks",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const root = await Deno.makeTempDir();
    setChunkBytesLimit(2048);
    try {
      for (
        const [tied, weightLayout] of [[false, "rows"], [true, "rows"], [false, "tiled"]] as const
      ) {
        const dir = join(root, `m${tied}${weightLayout}`);
        const { config, weights } = await writeTinyModel(dir, {
          tie_word_embeddings: tied,
          vocab_size: 101,
        }, 9);
        const model = await loadModel(gpu, dir, { dtype: "f32", weightLayout });
        assertEquals(linearLayout(model.head.parts[0].linear), weightLayout);
        assertEquals(model.embedTable.chunks.length > 1, true);
        assertEquals(model.head.parts.length > 1, true);
        const ids = [1, 7, 99, 100, 3, 42, 0];
        const idsT = gpu.tensor([ids.length], "u32", new Uint32Array(ids));
        const [logits, best] = gpu.run((rec) => {
          const l = recordForward(rec, model, idsT, { batch: 1, tokens: ids.length });
          return [l, argmax(rec, l)];
        });
        const ref = refForward(config, weights, ids);
        assertClose(await logits.read(), ref, { atol: 1e-4, rtol: 1e-4 }, `logits ${dir}`);
        assertEquals([...await best.read()], refArgmax(ref, config.vocabSize));
        const nll = await meanNll(model, ids, 1, ids.length);
        assertClose([nll], [refNll([ref], [ids], config.vocabSize)], {
          atol: 1e-5,
          rtol: 1e-5,
        }, "nll");
        const out = join(root, `saved${tied}${weightLayout}`);
        await saveModel(model, out);
        const back = await loadModel(gpu, out, { dtype: "f32", weightLayout });
        const again = gpu.run((rec) =>
          recordForward(rec, back, idsT, { batch: 1, tokens: ids.length })
        );
        assertClose(await again.read(), await logits.read(), { atol: 0, rtol: 0 }, "reloaded");
        back.destroy();
        model.destroy();
      }
    } finally {
      setChunkBytesLimit(undefined);
      await Deno.remove(root, { recursive: true });
    }
  },
});

function refArgmax(logits: ArrayLike<number>, v: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < logits.length / v; r++) {
    let best = 0;
    for (let j = 1; j < v; j++) if (logits[r * v + j] > logits[r * v + best]) best = j;
    out.push(best);
  }
  return out;
}

/** Mean NLL of predicting ids[p+1] from the reference logits row p, over all windows. */
function refNll(logits: Float64Array[], windows: number[][], v: number): number {
  let sum = 0;
  let n = 0;
  logits.forEach((l, w) => {
    const ids = windows[w];
    for (let p = 0; p + 1 < ids.length; p++) {
      const row = l.subarray(p * v, (p + 1) * v);
      let max = -Infinity;
      for (const x of row) max = Math.max(max, x);
      let z = 0;
      for (const x of row) z += Math.exp(x - max);
      sum += Math.log(z) + max - row[ids[p + 1]];
      n++;
    }
  });
  return sum / n;
}

/** Values k·2^−10·scale (|k| ≤ 1024), exact in f16 for a power-of-two scale; fast for 10⁸ values. */
export function f16ExactUniform(n: number, seed: number, scale: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  const k = scale / 1024;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (((s >>> 0) % 2049) - 1024) * k;
  }
  return out;
}

/**
 * A narrow random model with a real vocabulary × hidden: `layers` blocks of 2 heads × 8, MLP 16.
 * Weights are exactly representable in f16, so f16 storage equals the f64 reference's values.
 */
export function narrowModel(vocab: number, hidden: number, tied: boolean, layers = 1) {
  const json = tinyConfigJson({
    hidden_size: hidden,
    intermediate_size: 16,
    num_hidden_layers: layers,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    head_dim: 8,
    vocab_size: vocab,
    tie_word_embeddings: tied,
  });
  const config = parseConfig(json);
  const weights: HostWeights = new Map();
  let seed = 100;
  for (const [name, shape] of expectedTensors(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (name.includes("embed") || name.includes("lm_head")) {
      weights.set(name, f16ExactUniform(n, seed++, name.includes("embed") ? 1 : 1 / 32));
    } else if (name.endsWith("norm.weight")) {
      weights.set(name, roundF16(randn(n, seed++, 0.2).map((v) => 1 + v)));
    } else {
      weights.set(name, roundF16(randn(n, seed++, 1.5 / Math.sqrt(shape[1]))));
    }
  }
  return { config, weights };
}

const REAL: [string, number, number, boolean][] = [
  ["Llama-2-7B head 32000 × 4096, untied", 32000, 4096, false],
  ["Llama-3.2-1B head 128256 × 2048, tied", 128256, 2048, true],
];

for (const [name, vocab, hidden, tied] of REAL) {
  Deno.test({
    name:
      `real vocabulary shape on a narrow model: ${name} — load, logits, argmax, NLL, one SPRINT step vs f64`,
    ...GPU_TEST,
    async fn() {
      const gpu = await testGpu();
      const { config, weights } = narrowModel(vocab, hidden, tied, 2);
      const before = gpu.memory.current;
      const model = modelFromHostWeights(gpu, config, weights);
      const dt = model.dtype === "f16" ? 2 : 4;
      const limit = chunkBytesLimit(gpu);
      assertEquals(
        model.embedTable.chunks.length,
        Math.ceil(vocab / Math.floor(limit / (hidden * dt))),
      );
      assertEquals(model.head.parts.length > 1, vocab * hidden * dt > limit);
      const held = gpu.memory.current - before;
      assertEquals(held >= 2 * vocab * hidden * dt, true, `device bytes held ${held}`);
      const r = rng(3);
      const windows = [0, 1].map(() => Array.from({ length: 5 }, () => Math.floor(r() * vocab)));
      windows[0][2] = vocab - 1; // the last row of the last chunk
      const refs = windows.map((w) => refForward(config, weights, w));
      const idsT = gpu.tensor([5], "u32", new Uint32Array(windows[0]));
      const [logits, best] = gpu.run((rec) => {
        const l = recordForward(rec, model, idsT, { batch: 1, tokens: 5 });
        return [l, argmax(rec, l)];
      });
      // f32 products over D = 2048…4096 terms of O(1) values: 2e-4 absolute.
      assertClose(await logits.read(), refs[0], { atol: 2e-4, rtol: 1e-4 }, "logits");
      assertEquals([...await best.read()], refArgmax(refs[0], vocab));
      const nll = await meanNll(model, windows.flat(), 2, 5);
      assertClose([nll], [refNll(refs, windows, vocab)], { atol: 1e-4, rtol: 1e-5 }, "mean NLL");

      // One SPRINT step (embedding gather over the chunked table; stage 1, stage 2, re-fit).
      const calib = sampleCalibration(
        Array.from({ length: 4 * 8 + 10 }, () => Math.floor(r() * vocab)),
        { nsamples: 4, seqLen: 8, sampling: "sequential" },
      );
      const lat = { attention: 1, mlp: 1.5, dense: 10, source: "file" as const };
      const { steps, state } = await sprint(model, calib, {
        batchSize: 4,
        lossSequences: 0,
        speedupModel: "sublayers",
        numSublayers: 1,
        latency: lat,
      });
      const seqs = [0, 1, 2, 3].map((i) => [...calib.ids.subarray(i * 8, (i + 1) * 8)]);
      const ref = refSprintStep(config, weights, seqs, lat, 5);
      assertClose(steps[0].stage1[0].map((v) => v ?? Infinity), ref.importance1, {
        atol: 1e-6,
        rtol: 2e-3,
      }, "stage-1 importance");
      assertEquals(steps[0].sublayer, ref.target);
      assertEquals(state.applied[0].block, ref.tunedBlock);
      assertClose(state.applied[0].values, ref.tunedDown, { atol: 2e-4, rtol: 5e-3 }, "re-fit");
      model.destroy();
      assertEquals(gpu.memory.current <= before + 64 * 1024 * 1024, true);
    },
  });
}
