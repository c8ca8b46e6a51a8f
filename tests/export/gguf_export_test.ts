/**
 * Structure of exported GGUF files, read back independently by @huggingface/gguf: architecture
 * and hyper-parameters, per-layer arrays of `deci`, tensor names/shapes/types/offsets, the
 * q/k row permutation, the embedded tokenizers; and the error paths (one-line ToolkitErrors, no
 * partial output).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import { gguf } from "@huggingface/gguf";
import { ToolkitError } from "../../src/errors.ts";
import { exportGguf, permuteRotary } from "../../src/export/gguf.ts";
import { readConfig } from "../../src/model/config.ts";
import { loadModel } from "../../src/model/model.ts";
import { openCheckpoint } from "../../src/model/safetensors.ts";
import { saveModel } from "../../src/model/save.ts";
import { sharedModelDir, writeTinyModel } from "../fixtures.ts";
import { GPU_TEST, testGpuF32 } from "../util.ts";
import { tempDir, writeTinyTokenizer } from "./helpers.ts";

const storiesDir = await sharedModelDir();
const defaultDir = new URL("../../data/models/default", import.meta.url).pathname;

type Meta = Record<string, unknown>;

async function parse(file: string) {
  const r = await gguf(file, { allowLocalFile: true });
  const raw = await Deno.readFile(file);
  const start = Number(r.tensorDataOffset);
  const infos = new Map(r.tensorInfos.map((t) => [t.name, t]));
  /** A tensor's F32 values. */
  const f32 = (name: string): Float32Array => {
    const t = infos.get(name)!;
    assertEquals(t.dtype, 0);
    const n = t.shape.reduce((a, b) => a * Number(b), 1);
    const off = start + Number(t.offset);
    return new Float32Array(raw.slice(off, off + 4 * n).buffer);
  };
  return { meta: r.metadata as unknown as Meta, infos, f32, start, size: raw.byteLength };
}

Deno.test("permuteRotary: rotate_half rows to adjacent pairs, per head", () => {
  // One head of 4 (pairs (0,2), (1,3) in HF order) -> adjacent pairs (0,1), (2,3).
  assertEquals([...permuteRotary([10, 11, 12, 13], 1, 4, 1)], [10, 12, 11, 13]);
  // Two heads of 4, two columns each.
  const w = Array.from({ length: 16 }, (_, i) => i);
  assertEquals(
    [...permuteRotary(w, 2, 4, 2)],
    [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15],
  );
});

Deno.test({
  name: "export: stories260K as llama — hyper-parameters, tensors, permuted q/k, SPM tokenizer",
  ignore: !storiesDir,
  async fn() {
    const work = await tempDir();
    try {
      const file = join(work, "s.gguf");
      const r = await exportGguf(storiesDir!, file);
      assertEquals(r.arch, "llama");
      const { meta: m, infos, f32, start, size } = await parse(file);
      assertEquals(r.bytes, size);
      assertEquals(m["general.architecture"], "llama");
      assertEquals(m["general.alignment"], 32);
      assertEquals(m["general.file_type"], 0);
      assertEquals(
        [
          m["llama.block_count"],
          m["llama.embedding_length"],
          m["llama.feed_forward_length"],
          m["llama.attention.head_count"],
          m["llama.attention.head_count_kv"],
          m["llama.attention.key_length"],
          m["llama.rope.dimension_count"],
          m["llama.context_length"],
          m["llama.vocab_size"],
        ],
        [5, 64, 172, 8, 4, 8, 8, 512, 512],
      );
      assertEquals(m["llama.rope.freq_base"], 10000);
      assertEquals(m["llama.attention.layer_norm_rms_epsilon"], Math.fround(1e-5));
      // Tied embeddings: no output.weight; 2 + 5 × 9 tensors.
      assertEquals(infos.size, 47);
      assert(!infos.has("output.weight"));
      assertEquals(infos.get("token_embd.weight")!.shape.map(Number), [64, 512]);
      assertEquals(infos.get("blk.0.attn_k.weight")!.shape.map(Number), [64, 32]);
      assertEquals(infos.get("blk.4.ffn_down.weight")!.shape.map(Number), [172, 64]);
      for (const t of infos.values()) assertEquals(Number(t.offset) % 32, 0);
      assertEquals(start % 32, 0);
      // q/k rows permuted (k with the KV head count); v as is.
      const ckpt = await openCheckpoint(storiesDir!);
      const q = await ckpt.float32("model.layers.3.self_attn.q_proj.weight");
      const k = await ckpt.float32("model.layers.3.self_attn.k_proj.weight");
      const v = await ckpt.float32("model.layers.3.self_attn.v_proj.weight");
      assertEquals(f32("blk.3.attn_q.weight"), permuteRotary(q, 8, 8, 64));
      assertEquals(f32("blk.3.attn_k.weight"), permuteRotary(k, 4, 8, 64));
      assertEquals(f32("blk.3.attn_v.weight"), v);
      // Tokenizer: SentencePiece-style BPE with byte fallback.
      assertEquals(m["tokenizer.ggml.model"], "llama");
      const tokens = m["tokenizer.ggml.tokens"] as string[];
      const scores = m["tokenizer.ggml.scores"] as number[];
      const types = m["tokenizer.ggml.token_type"] as number[];
      assertEquals(tokens.length, 512);
      assertEquals(tokens.slice(0, 4), ["<unk>", "<s>", "</s>", "<0x00>"]);
      assertEquals(types.slice(0, 4), [2, 3, 3, 6]); // unknown, control, control, byte
      assertEquals(types[258], 6);
      assertEquals(types[300], 1);
      assertEquals(scores.slice(0, 259), new Array(259).fill(0));
      assertEquals(scores[300], -300);
      assertEquals(scores[511], -511);
      assertEquals(
        [m["tokenizer.ggml.bos_token_id"], m["tokenizer.ggml.eos_token_id"]],
        [1, 2],
      );
      assertEquals(m["tokenizer.ggml.add_bos_token"], true);
      assertEquals(m["tokenizer.ggml.add_space_prefix"], true);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test("export: default model as llama with a gpt2 tokenizer (merges, pre-tokenizer), f16 matrices", async () => {
  const work = await tempDir();
  try {
    const file = join(work, "d.gguf");
    await exportGguf(defaultDir, file, { dtype: "f16" });
    const { meta: m, infos } = await parse(file);
    const tj = JSON.parse(await Deno.readTextFile(join(defaultDir, "tokenizer.json")));
    assertEquals(m["general.file_type"], 1);
    assertEquals(m["tokenizer.ggml.model"], "gpt2");
    assertEquals(m["tokenizer.ggml.pre"], "gpt-2");
    assertEquals((m["tokenizer.ggml.tokens"] as string[]).length, 4096);
    assertEquals(m["tokenizer.ggml.merges"], tj.model.merges);
    assertEquals((m["tokenizer.ggml.token_type"] as number[]).slice(0, 3), [3, 3, 1]);
    assertEquals(
      [m["tokenizer.ggml.bos_token_id"], m["tokenizer.ggml.eos_token_id"]],
      [0, 1],
    );
    assertEquals(m["tokenizer.ggml.add_bos_token"], true);
    // Untied: output.weight present; matrices F16, vectors F32.
    assertEquals(infos.get("output.weight")!.dtype, 1);
    assertEquals(infos.get("token_embd.weight")!.dtype, 1);
    assertEquals(infos.get("blk.7.attn_q.weight")!.dtype, 1);
    assertEquals(infos.get("blk.7.attn_norm.weight")!.dtype, 0);
    assertEquals(infos.get("output_norm.weight")!.dtype, 0);
    assertEquals(infos.size, 2 + 1 + 8 * 9);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test({
  name:
    "export: a pruned model as deci — per-layer arrays, zero width-1 FFN, block-0 linear attention",
  ...GPU_TEST,
  async fn() {
    const work = await tempDir();
    try {
      const dense = join(work, "dense");
      await writeTinyModel(dense, { num_hidden_layers: 4 }, 5);
      await writeTinyTokenizer(dense, 67);
      const gpu = await testGpuF32();
      const model = await loadModel(gpu, dense, { dtype: "f32" });
      // Removed: block 0 attention, block 1 MLP, block 2 attention, block 3 both.
      const removed = [0, 3, 4, 6, 7];
      const pruned = join(work, "pruned");
      await saveModel(model, pruned, { mask: model.alive.map((_, s) => !removed.includes(s)) });
      model.destroy();
      assertEquals((await readConfig(pruned)).modelType, "nemotron-nas");
      const file = join(work, "p.gguf");
      assertEquals((await exportGguf(pruned, file)).arch, "deci");
      const { meta: m, infos, f32 } = await parse(file);
      assertEquals(m["general.architecture"], "deci");
      assertEquals(m["deci.attention.head_count"], [6, 6, 0, 0]);
      assertEquals(m["deci.attention.head_count_kv"], [0, 2, 0, 0]);
      assertEquals(m["deci.feed_forward_length"], [40, 1, 40, 1]);
      assertEquals(m["deci.attention.key_length"], 4);
      // Block 0: linear attention with a zero [D, D] output, no q/k/v.
      assertEquals(infos.get("blk.0.attn_output.weight")!.shape.map(Number), [24, 24]);
      assert(f32("blk.0.attn_output.weight").every((x) => x === 0));
      assert(!infos.has("blk.0.attn_q.weight"));
      // Block 2: no attention tensors at all.
      assert(![...infos.keys()].some((n) => n.startsWith("blk.2.attn")));
      // Removed MLPs: zero FFN of width 1.
      for (const b of [1, 3]) {
        assertEquals(infos.get(`blk.${b}.ffn_gate.weight`)!.shape.map(Number), [24, 1]);
        assertEquals(infos.get(`blk.${b}.ffn_down.weight`)!.shape.map(Number), [1, 24]);
        assert(f32(`blk.${b}.ffn_down.weight`).every((x) => x === 0));
        assert(f32(`blk.${b}.ffn_up.weight`).every((x) => x === 0));
      }
      assertEquals(infos.get("blk.2.ffn_gate.weight")!.shape.map(Number), [24, 40]);
      assertEquals(infos.get("blk.1.attn_q.weight")!.shape.map(Number), [24, 24]);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test({
  name: "export: a loaded LlamaModel gives the same file as its directory",
  ...GPU_TEST,
  async fn() {
    const work = await tempDir();
    try {
      const dir = join(work, "m");
      await writeTinyModel(dir, { tie_word_embeddings: true }, 7);
      await writeTinyTokenizer(dir, 67);
      const model = await loadModel(await testGpuF32(), dir, { dtype: "f32" });
      await exportGguf(model, join(work, "a.gguf"));
      model.destroy();
      await exportGguf(dir, join(work, "b.gguf"));
      assertEquals(
        await Deno.readFile(join(work, "a.gguf")),
        await Deno.readFile(join(work, "b.gguf")),
      );
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test({
  name: "export: the mask option equals saving with that mask, then exporting",
  ...GPU_TEST,
  async fn() {
    const work = await tempDir();
    try {
      const dir = join(work, "m");
      await writeTinyModel(dir, {}, 8);
      await writeTinyTokenizer(dir, 67);
      const model = await loadModel(await testGpuF32(), dir, { dtype: "f32" });
      const mask = model.alive.map((_, s) => ![0, 3, 5].includes(s));
      const saved = join(work, "saved");
      await saveModel(model, saved, { mask });
      await exportGguf(saved, join(work, "a.gguf"), { name: "x" });
      await exportGguf(model, join(work, "b.gguf"), { name: "x", mask });
      await exportGguf(dir, join(work, "c.gguf"), { name: "x", mask });
      model.destroy();
      const a = await Deno.readFile(join(work, "a.gguf"));
      assertEquals(await Deno.readFile(join(work, "b.gguf")), a);
      assertEquals(await Deno.readFile(join(work, "c.gguf")), a);
      await rejects(exportGguf(dir, join(work, "d.gguf"), { mask: [true] }), "mask has 1 flags");
      await rejects(
        exportGguf(saved, join(work, "d.gguf"), { mask: new Array(6).fill(true) }),
        "mask keeps sublayer 0, which the model lacks",
      );
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});

async function rejects(p: Promise<unknown>, part: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof ToolkitError, `expected a ToolkitError, got ${e}`);
    assert(e.message.includes(part), `"${e.message}" lacks "${part}"`);
    assert(!e.message.includes("\n"), "one line");
    return;
  }
  throw new Error(`expected a ToolkitError containing "${part}"`);
}

Deno.test("export: bad input is a one-line ToolkitError naming file and field; no partial output", async () => {
  const work = await tempDir();
  try {
    const dir = join(work, "m");
    await writeTinyModel(dir, {}, 2);
    const out = join(work, "out", "x.gguf");
    await rejects(exportGguf(dir, out), `${join(dir, "tokenizer.json")}: cannot read`);
    await writeTinyTokenizer(dir, 67);
    await rejects(exportGguf(dir, out, { dtype: "bf16" as "f16" }), "dtype");
    // A tokenizer with more tokens than the embedding has rows.
    const tjPath = join(dir, "tokenizer.json");
    const tj = JSON.parse(await Deno.readTextFile(tjPath));
    tj.model.vocab["zz"] = 80;
    await Deno.writeTextFile(tjPath, JSON.stringify(tj));
    await rejects(exportGguf(dir, out), "beyond the model's vocab_size 67");
    tj.model.type = "Unigram";
    await Deno.writeTextFile(tjPath, JSON.stringify(tj));
    await rejects(exportGguf(dir, out), 'field model.type is "Unigram"');
    await writeTinyTokenizer(dir, 67);
    // A missing config field and an unsupported architecture.
    const cfgPath = join(dir, "config.json");
    const cfg = JSON.parse(await Deno.readTextFile(cfgPath));
    await Deno.writeTextFile(cfgPath, JSON.stringify({ ...cfg, hidden_size: undefined }));
    await rejects(exportGguf(dir, out), "field hidden_size is missing");
    await Deno.writeTextFile(cfgPath, JSON.stringify({ ...cfg, model_type: "qwen2" }));
    await rejects(exportGguf(dir, out), "model_type qwen2 is not supported");
    await Deno.writeTextFile(cfgPath, JSON.stringify(cfg));
    // A checkpoint lacking a tensor the config implies.
    await Deno.writeTextFile(cfgPath, JSON.stringify({ ...cfg, num_hidden_layers: 4 }));
    await rejects(exportGguf(dir, out), "tensor model.layers.3.input_layernorm.weight is missing");
    await Deno.writeTextFile(cfgPath, JSON.stringify(cfg));
    // Nothing was written by the failures.
    let entries: string[] = [];
    try {
      entries = [...Deno.readDirSync(join(work, "out"))].map((e) => e.name);
    } catch { /* not created */ }
    assertEquals(entries, []);
    // Existing output: refused without overwrite, replaced with it.
    await exportGguf(dir, out);
    await rejects(exportGguf(dir, out), "output file exists (use --overwrite)");
    await exportGguf(dir, out, { overwrite: true });
    assertEquals([...Deno.readDirSync(join(work, "out"))].map((e) => e.name), ["x.gguf"]);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("deno task export: flags, one-line errors with exit code 2", async () => {
  const work = await tempDir();
  try {
    const run = async (...args: string[]) => {
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("../../tasks/export.ts", import.meta.url).pathname, ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return {
        code: r.code,
        out: new TextDecoder().decode(r.stdout),
        err: new TextDecoder().decode(r.stderr),
      };
    };
    const out = join(work, "d.gguf");
    const ok = await run("--model", defaultDir, "--out", out, "--dtype", "f16");
    assertEquals(ok.code, 0, ok.err);
    assert(ok.out.includes("architecture llama"), ok.out);
    for (
      const [args, part] of [
        [["--model", defaultDir, "--out", out], "output file exists"],
        [["--model", defaultDir, "--out", out, "--bogus"], "Unknown option '--bogus'"],
        [["--model", defaultDir], "--out FILE.gguf is required"],
        [["--model", defaultDir, "--out", out, "--dtype", "q4"], "--dtype: expected f32 or f16"],
        [
          ["--model", join(work, "nope"), "--out", join(work, "n.gguf")],
          "config.json: cannot read",
        ],
      ] as [string[], string][]
    ) {
      const r = await run(...args);
      assertEquals(r.code, 2, `${args}: ${r.err}`);
      assert(r.err.includes(part), `${args}: ${r.err}`);
      assertEquals(r.err.trim().split("\n").length, 1, r.err);
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
