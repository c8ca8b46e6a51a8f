/**
 * The exported GGUF in the pinned llama.cpp (node-llama-cpp 3.21.1, in a `node` child process,
 * F32 KV cache, flash attention off): per-token log-probs equal our WebGPU forward's and the
 * float64 reference's within 1e-4, greedy continuations are identical, token ids equal
 * @huggingface/tokenizers' on corpora. Dense models are `llama`; pruned ones (saved by the
 * toolkit in the Nemotron-NAS form) are `deci`, for every removal pattern.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import { exportGguf } from "../../src/export/gguf.ts";
import { readConfig } from "../../src/model/config.ts";
import { recordForward } from "../../src/model/forward.ts";
import { generate } from "../../src/model/generate.ts";
import { type LlamaModel, loadModel, readHostWeights } from "../../src/model/model.ts";
import { openCheckpoint } from "../../src/model/safetensors.ts";
import { saveModel } from "../../src/model/save.ts";
import { loadTokenizer } from "../../src/model/tokenizer.ts";
import { refForward, refGreedy } from "../../ref/forward.ts";
import { sharedModelDir, writeTinyModel } from "../fixtures.ts";
import { GPU_TEST, testGpuF32 } from "../util.ts";
import { maxAbsDiff, nextTokenLogprobs, tempDir, writeTinyTokenizer } from "./helpers.ts";
import { LlamaCppChild, skipWithoutLlamaCpp } from "./llamacpp.ts";

const noLlama = await skipWithoutLlamaCpp("llama.cpp comparison tests");
const storiesDir = await sharedModelDir();
if (!storiesDir) {
  console.warn(
    "skipping stories260K llama.cpp tests: ../shared/data/models/stories260K-hf is absent",
  );
}
const TOL = 1e-4;

async function ourLogprobs(model: LlamaModel, ids: readonly number[]): Promise<number[]> {
  const t = model.gpu.tensor([ids.length], "u32", new Uint32Array(ids));
  const logits = model.gpu.run((rec) =>
    recordForward(rec, model, t, { batch: 1, tokens: ids.length })
  );
  const v = await logits.read();
  logits.destroy();
  t.destroy();
  return nextTokenLogprobs(v, model.config.vocabSize, ids);
}

/** Removal patterns of a 3-block model: sublayers removed (2b attention, 2b+1 MLP). */
const PATTERNS: [string, number[]][] = [
  ["attention only (block 1)", [2]],
  ["MLP only (block 1)", [3]],
  ["both of block 1", [2, 3]],
  ["block 0 attention", [0]],
  ["block 0 both", [0, 1]],
  ["last block MLP", [5]],
  ["last block both", [4, 5]],
  ["mixed: block 0 attention, block 1 MLP, last attention", [0, 3, 4]],
];

/**
 * Saves `dense` with `removed` sublayers masked (the toolkit's pruned form), exports both to GGUF
 * and checks llama.cpp against our forward and the f64 reference.
 */
async function checkModel(
  llama: LlamaCppChild,
  dir: string,
  work: string,
  removed: number[],
  ids: readonly number[],
  greedyTokens: number,
  label: string,
): Promise<string> {
  const gpu = await testGpuF32();
  const cfg = await readConfig(dir);
  const ws = await readHostWeights(cfg, await openCheckpoint(dir));
  const mask = cfg.alive.map((_, s) => !removed.includes(s));
  let modelDir = dir;
  if (removed.length) {
    const dense = await loadModel(gpu, dir, { dtype: "f32" });
    modelDir = join(work, `pruned_${removed.join("_")}`);
    await saveModel(dense, modelDir, { mask, dtype: "F32", overwrite: true });
    dense.destroy();
  }
  const file = join(work, `${removed.join("_") || "dense"}.gguf`);
  const r = await exportGguf(modelDir, file, { overwrite: true });
  assertEquals(r.arch, removed.length ? "deci" : "llama");
  await llama.request("load", { model: file, contextSize: 128 });
  const lc = await llama.logprobs(ids);
  const ref = nextTokenLogprobs(refForward(cfg, ws, ids, mask), cfg.vocabSize, ids);
  const model = await loadModel(gpu, modelDir, { dtype: "f32" });
  const ours = await ourLogprobs(model, ids);
  const ourGreedy = (await generate(model, ids, { maxNewTokens: greedyTokens, stopAtEos: false }))
    .tokens;
  model.destroy();
  const dRef = maxAbsDiff(lc.logprobs, ref);
  const dOurs = maxAbsDiff(lc.logprobs, ours);
  assert(dRef <= TOL, `${label}: llama.cpp vs f64 reference max |Δ log p| ${dRef}`);
  assert(dOurs <= TOL, `${label}: llama.cpp vs our forward max |Δ log p| ${dOurs}`);
  const want = refGreedy(cfg, ws, ids, greedyTokens, mask);
  assertEquals(await llama.greedy(ids, greedyTokens), want, `${label}: llama.cpp greedy`);
  assertEquals(ourGreedy, want, `${label}: our greedy`);
  return `${label}: max |Δ| vs f64 ${dRef.toExponential(2)}, vs ours ${dOurs.toExponential(2)}`;
}

Deno.test({
  name:
    "llama.cpp: stories260K dense (llama) and pruned (deci) log-probs within 1e-4, greedy identical",
  ignore: noLlama || !storiesDir,
  ...GPU_TEST,
  async fn() {
    const work = await tempDir();
    const llama = await LlamaCppChild.open(await firstExport(work));
    try {
      const tok = await loadTokenizer(storiesDir!);
      const ids = tok.encode(
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
      );
      const lines: string[] = [];
      // stories260K: 5 blocks, sublayers 0..9.
      for (
        const [label, removed] of [
          ["dense", []],
          ["attention only", [4]],
          ["MLP only", [5]],
          ["both of block 2", [4, 5]],
          ["block 0 attention", [0]],
          ["block 0 both", [0, 1]],
          ["last block MLP", [9]],
          ["last block both", [8, 9]],
          ["SPRINT-like mix", [0, 3, 6, 9]],
        ] as [string, number[]][]
      ) {
        lines.push(
          await checkModel(llama, storiesDir!, work, removed, ids, 30, `stories260K ${label}`),
        );
      }
      console.log(lines.join("\n"));
    } finally {
      await llama.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test({
  name: "llama.cpp: default model (byte-level BPE, untied, 8 blocks) dense and pruned within 1e-4",
  ignore: noLlama,
  ...GPU_TEST,
  async fn() {
    const work = await tempDir();
    const llama = await LlamaCppChild.open(await firstExport(work));
    try {
      const dir = new URL("../../data/models/default", import.meta.url).pathname;
      const line = (await Deno.readTextFile(join(dir, "heldout.txt"))).split("\n")[0];
      const ids = (await loadTokenizer(dir)).encode(line).slice(0, 48);
      const lines: string[] = [];
      for (
        const [label, removed] of [["dense", []], ["pruned", [0, 5, 8, 11, 14, 15]]] as [
          string,
          number[],
        ][]
      ) {
        lines.push(await checkModel(llama, dir, work, removed, ids, 20, `default ${label}`));
      }
      console.log(lines.join("\n"));
    } finally {
      await llama.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});

/** A GGUF to start the child with (the child reloads per case). */
async function firstExport(work: string): Promise<string> {
  const dir = join(work, "first");
  await writeTinyModel(dir, {}, 9);
  await writeTinyTokenizer(dir, 67);
  const file = join(work, "first.gguf");
  await exportGguf(dir, file);
  return file;
}

const VARIANTS: [string, Record<string, unknown>, boolean][] = [
  ["GQA 6/2, untied", {}, true],
  ["MHA, tied embeddings", { tie_word_embeddings: true, num_key_value_heads: 6 }, false],
  [
    "llama3 rope, head_dim 8 (H·hd ≠ D), MQA, tied",
    {
      num_attention_heads: 4,
      num_key_value_heads: 1,
      head_dim: 8,
      tie_word_embeddings: true,
      rope_theta: 500000,
      rope_scaling: {
        rope_type: "llama3",
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 16,
      },
    },
    true,
  ],
  ["linear rope ×2", { rope_scaling: { type: "linear", factor: 2 } }, false],
  ["attention_bias (q/k/v/o biases)", { attention_bias: true }, false],
];

Deno.test({
  name:
    "llama.cpp: generated models (GQA, tied/untied, llama3 rope) dense and every removal pattern",
  ignore: noLlama,
  ...GPU_TEST,
  async fn() {
    const work = await tempDir();
    const llama = await LlamaCppChild.open(await firstExport(work));
    try {
      const lines: string[] = [];
      for (const [i, [name, overrides, allPatterns]] of VARIANTS.entries()) {
        const dir = join(work, `tiny${i}`);
        await writeTinyModel(dir, overrides, 3 + i);
        await writeTinyTokenizer(dir, 67);
        const ids = [1, ...Array.from({ length: 20 }, (_, k) => 3 + ((k * 37 + i * 11) % 64))];
        const patterns = allPatterns ? PATTERNS : PATTERNS.filter(([, r]) => r.includes(0));
        for (const [label, removed] of [["dense", []] as [string, number[]], ...patterns]) {
          lines.push(await checkModel(llama, dir, work, removed, ids, 8, `${name}, ${label}`));
        }
      }
      console.log(lines.join("\n"));
    } finally {
      await llama.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});

async function corpusLines(path: string, n: number): Promise<string[]> {
  return (await Deno.readTextFile(path)).split("\n").filter((l) => l.trim()).slice(0, n);
}

const EDGE_CASES = [
  "  two leading spaces and  double  spaces",
  "tabs\tand\nnew\nlines\n",
  "Unicode: café, naïve, Ünïcödé, 日本語, emoji 🙂🚀",
  "digits 0123456789 and 3.14159, 1,000,000!",
  "quotes \"don't\" 'we'll' (parens) [brackets] {braces}",
  " ",
  "x",
];

async function checkTokenizer(dir: string, corpus: string[], work: string, label: string) {
  const file = join(work, `${label}.gguf`);
  await exportGguf(dir, file, { overwrite: true });
  const tok = await loadTokenizer(dir);
  const llama = await LlamaCppChild.open(file);
  try {
    let checked = 0;
    for (const line of [...EDGE_CASES, ...corpus]) {
      const want = tok.encode(line, { addSpecialTokens: false });
      const got = await llama.tokenize(line);
      assertEquals(got, want, `${label}: ids of ${JSON.stringify(line.slice(0, 80))}`);
      checked++;
    }
    console.log(`${label}: ${checked} lines tokenized identically`);
  } finally {
    await llama.close();
  }
}

Deno.test({
  name:
    "llama.cpp: token ids equal @huggingface/tokenizers' (stories260K SPM-BPE as llama, default model byte-level BPE as gpt2)",
  ignore: noLlama,
  async fn() {
    const work = await tempDir();
    try {
      const defaultDir = new URL("../../data/models/default", import.meta.url).pathname;
      await checkTokenizer(
        defaultDir,
        await corpusLines(join(defaultDir, "heldout.txt"), 2000),
        work,
        "default",
      );
      if (storiesDir) {
        const corpus = new URL(
          "../../../shared/data/corpus/tinystories_val_subset.txt",
          import.meta.url,
        ).pathname;
        let lines: string[] = [];
        try {
          lines = await corpusLines(corpus, 1500);
        } catch {
          console.warn(`tokenizer check: ${corpus} is absent; edge cases only`);
        }
        await checkTokenizer(storiesDir, lines, work, "stories260K");
      }
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test({
  name: "llama.cpp: f16 export of stories260K (dense and pruned) stays close to the f64 reference",
  ignore: noLlama || !storiesDir,
  ...GPU_TEST,
  async fn() {
    const work = await tempDir();
    try {
      const file = join(work, "s16.gguf");
      await exportGguf(storiesDir!, file, { dtype: "f16" });
      const cfg = await readConfig(storiesDir!);
      const ws = await readHostWeights(cfg, await openCheckpoint(storiesDir!));
      const ids = (await loadTokenizer(storiesDir!)).encode("Once upon a time, there was a cat.");
      // A pruned model in f16: the zero width-1 FFN and block-0 linear attention as F16 tensors.
      const removed = [0, 3, 9];
      const mask = cfg.alive.map((_, s) => !removed.includes(s));
      const dense = await loadModel(await testGpuF32(), storiesDir!, { dtype: "f32" });
      const prunedDir = join(work, "pruned");
      await saveModel(dense, prunedDir, { mask, dtype: "F16" });
      dense.destroy();
      const pruned = join(work, "p16.gguf");
      assertEquals((await exportGguf(prunedDir, pruned, { dtype: "f16" })).arch, "deci");
      const llama = await LlamaCppChild.open(file);
      try {
        const lc = await llama.logprobs(ids);
        const d = maxAbsDiff(lc.logprobs, nextTokenLogprobs(refForward(cfg, ws, ids), 512, ids));
        // f16 weights (and llama.cpp's f16 activations in f16 matmuls): loose, stated bound.
        assert(d < 0.05, `f16 export: max |Δ log p| ${d}`);
        assert(d > 0, "f16 export should not be bit-identical to f64");
        await llama.request("load", { model: pruned });
        const lp = await llama.logprobs(ids);
        const dp = maxAbsDiff(
          lp.logprobs,
          nextTokenLogprobs(refForward(cfg, ws, ids, mask), 512, ids),
        );
        assert(dp < 0.05, `f16 pruned export: max |Δ log p| ${dp}`);
        console.log(
          `f16: dense max |Δ log p| ${d.toExponential(2)}, pruned ${dp.toExponential(2)}`,
        );
      } finally {
        await llama.close();
      }
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});
