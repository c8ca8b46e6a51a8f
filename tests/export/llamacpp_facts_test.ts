/**
 * Facts of the pinned llama.cpp build (node-llama-cpp 3.21.1) that the export relies on, probed
 * by rewriting a correct export into the naive form and running it: if an update of llama.cpp
 * changes one of them, this file says which.
 *
 * - `llama`/`deci` rotate adjacent pairs: without the q/k row permutation log-probs are far off.
 * - SPM scores: with a constant score most lines tokenize differently from HF.
 * - `deci` with n_ff = 0 in a block skips its residual update (its attention output is lost);
 *   n_ff = 0 in the last block fails; n_head = 0 in block 0 fails at load.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import { gguf } from "@huggingface/gguf";
import { exportGguf } from "../../src/export/gguf.ts";
import {
  GGUF_TYPE,
  type GgufScalarType,
  type GgufValue,
  GgufWriter,
} from "../../src/export/gguf_writer.ts";
import { readConfig } from "../../src/model/config.ts";
import { loadModel, readHostWeights } from "../../src/model/model.ts";
import { openCheckpoint } from "../../src/model/safetensors.ts";
import { saveModel } from "../../src/model/save.ts";
import { loadTokenizer } from "../../src/model/tokenizer.ts";
import { refForward } from "../../ref/forward.ts";
import { sharedModelDir } from "../fixtures.ts";
import { GPU_TEST, testGpuF32 } from "../util.ts";
import { maxAbsDiff, nextTokenLogprobs, tempDir } from "./helpers.ts";
import { LlamaCppChild, skipWithoutLlamaCpp } from "./llamacpp.ts";

const noLlama = await skipWithoutLlamaCpp("llama.cpp fact probes");
const storiesDir = await sharedModelDir();
if (!storiesDir) console.warn("skipping llama.cpp fact probes: stories260K is absent");

const TYPE_NAME = Object.fromEntries(Object.entries(GGUF_TYPE).map(([k, v]) => [v, k])) as Record<
  number,
  GgufScalarType | "array"
>;

interface RawTensor {
  shape: number[];
  data: Float32Array;
}

/** Reads an F32 GGUF back (typed metadata, tensors) and writes it with edits. */
async function rewrite(
  src: string,
  dst: string,
  edit: (kv: Map<string, GgufValue>, tensors: Map<string, RawTensor>) => void,
): Promise<void> {
  const r = await gguf(src, { allowLocalFile: true, typedMetadata: true });
  const kv = new Map<string, GgufValue>();
  const typed = r.typedMetadata as unknown as Record<
    string,
    { value: unknown; type: number; subType?: number }
  >;
  for (const [k, v] of Object.entries(typed)) {
    if (k === "version" || k === "tensor_count" || k === "kv_count") continue;
    const t = TYPE_NAME[v.type];
    const value = (typeof v.value === "bigint" ? Number(v.value) : v.value) as never;
    kv.set(
      k,
      t === "array" ? { type: "array", itemType: TYPE_NAME[v.subType!], value } as GgufValue : {
        type: t,
        value,
      } as GgufValue,
    );
  }
  const raw = await Deno.readFile(src);
  const tensors = new Map<string, RawTensor>();
  for (const t of r.tensorInfos) {
    assertEquals(t.dtype, 0);
    const shape = t.shape.map(Number).reverse();
    const n = shape.reduce((a, b) => a * b, 1);
    const off = Number(r.tensorDataOffset) + Number(t.offset);
    tensors.set(t.name, { shape, data: new Float32Array(raw.slice(off, off + 4 * n).buffer) });
  }
  edit(kv, tensors);
  const w = new GgufWriter();
  for (const [k, v] of kv) w.add(k, v);
  for (const [name, t] of tensors) {
    w.addTensor({
      name,
      shape: t.shape,
      type: "F32",
      data: () => t.data,
    });
  }
  await w.write(dst);
}

Deno.test({
  name: "llama.cpp facts: q/k must be permuted to adjacent pairs; SPM scores must be −id",
  ignore: noLlama || !storiesDir,
  async fn() {
    const work = await tempDir();
    try {
      const good = join(work, "good.gguf");
      await exportGguf(storiesDir!, good);
      const cfg = await readConfig(storiesDir!);
      const ckpt = await openCheckpoint(storiesDir!);
      const ws = await readHostWeights(cfg, ckpt);
      const tok = await loadTokenizer(storiesDir!);
      const ids = tok.encode(
        "Once upon a time, there was a little girl named Lily. She was happy.",
      );
      const ref = nextTokenLogprobs(refForward(cfg, ws, ids), cfg.vocabSize, ids);

      const unpermuted = join(work, "unpermuted.gguf");
      await rewrite(good, unpermuted, (_, t) => {
        for (let b = 0; b < cfg.numLayers; b++) {
          t.get(`blk.${b}.attn_q.weight`)!.data = ws.get(
            `model.layers.${b}.self_attn.q_proj.weight`,
          )!;
          t.get(`blk.${b}.attn_k.weight`)!.data = ws.get(
            `model.layers.${b}.self_attn.k_proj.weight`,
          )!;
        }
      });
      const constScores = join(work, "const_scores.gguf");
      await rewrite(good, constScores, (kv) => {
        kv.set("tokenizer.ggml.scores", {
          type: "array",
          itemType: "f32",
          value: new Float32Array(512),
        });
      });

      const llama = await LlamaCppChild.open(good);
      try {
        const dGood = maxAbsDiff((await llama.logprobs(ids)).logprobs, ref);
        await llama.request("load", { model: unpermuted });
        const dBad = maxAbsDiff((await llama.logprobs(ids)).logprobs, ref);
        console.log(
          `max |Δ log p| vs f64: permuted ${dGood.toExponential(2)}, HF order ${dBad.toFixed(2)}`,
        );
        assert(dGood < 1e-4 && dBad > 0.5, `permuted ${dGood}, unpermuted ${dBad}`);

        const lines = (await Deno.readTextFile(
          new URL("../../../shared/data/corpus/tinystories_val_subset.txt", import.meta.url),
        )).split("\n").filter((l) => l.trim()).slice(0, 100);
        await llama.request("load", { model: constScores });
        let differ = 0;
        for (const l of lines) {
          const got = await llama.tokenize(l);
          if (JSON.stringify(got) !== JSON.stringify(tok.encode(l, { addSpecialTokens: false }))) {
            differ++;
          }
        }
        console.log(`constant SPM scores: ${differ} of ${lines.length} lines tokenize differently`);
        assert(differ > lines.length / 2, `constant scores: only ${differ} lines differ`);
      } finally {
        await llama.close();
      }
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "llama.cpp facts (deci): n_ff = 0 drops the block's attention output, fails in the last block; n_head[0] = 0 fails",
  ignore: noLlama || !storiesDir,
  ...GPU_TEST,
  async fn() {
    const work = await tempDir();
    try {
      const cfg = await readConfig(storiesDir!);
      const ws = await readHostWeights(cfg, await openCheckpoint(storiesDir!));
      const ids = (await loadTokenizer(storiesDir!)).encode("Once upon a time, there was a dog.");
      const oracle = (removed: number[]) =>
        nextTokenLogprobs(
          refForward(cfg, ws, ids, cfg.alive.map((_, s) => !removed.includes(s))),
          cfg.vocabSize,
          ids,
        );
      // The toolkit's pruned form: block 2's MLP, block 4's MLP and block 0's attention removed.
      const dense = await loadModel(await testGpuF32(), storiesDir!, { dtype: "f32" });
      const removed = [0, 5, 9];
      const pruned = join(work, "pruned");
      await saveModel(dense, pruned, { mask: dense.alive.map((_, s) => !removed.includes(s)) });
      dense.destroy();
      const good = join(work, "good.gguf");
      await exportGguf(pruned, good);
      const dropFfn = (b: number) => (kv: Map<string, GgufValue>, t: Map<string, RawTensor>) => {
        const ff = [...(kv.get("deci.feed_forward_length")!.value as number[])];
        ff[b] = 0;
        kv.set("deci.feed_forward_length", { type: "array", itemType: "i32", value: ff });
        for (const n of ["norm", "gate", "up", "down"]) t.delete(`blk.${b}.ffn_${n}.weight`);
      };
      const nff0 = join(work, "nff0_block2.gguf");
      await rewrite(good, nff0, dropFfn(2));
      const nff0Last = join(work, "nff0_last.gguf");
      await rewrite(good, nff0Last, dropFfn(4));
      const head0 = join(work, "nhead0_block0.gguf");
      await rewrite(good, head0, (kv, t) => {
        const h = [...(kv.get("deci.attention.head_count")!.value as number[])];
        h[0] = 0;
        kv.set("deci.attention.head_count", { type: "array", itemType: "i32", value: h });
        t.delete("blk.0.attn_norm.weight");
        t.delete("blk.0.attn_output.weight");
      });

      const llama = await LlamaCppChild.open(good);
      try {
        const dGood = maxAbsDiff((await llama.logprobs(ids)).logprobs, oracle(removed));
        await llama.request("load", { model: nff0 });
        const lp = (await llama.logprobs(ids)).logprobs;
        const dMasked = maxAbsDiff(lp, oracle(removed));
        const dNoAttn = maxAbsDiff(lp, oracle([...removed, 4]));
        console.log(
          `zero width-1 FFN: ${dGood.toExponential(2)}; n_ff = 0 in block 2: vs masked oracle ${
            dMasked.toFixed(3)
          }, vs oracle without block 2's attention too ${dNoAttn.toExponential(2)}`,
        );
        assert(dGood < 1e-4, `zero FFN ${dGood}`);
        assert(dMasked > 1e-2 && dNoAttn < 1e-4, `n_ff = 0: ${dMasked}, ${dNoAttn}`);
      } finally {
        await llama.close().catch(() => {});
      }
      for (
        const [file, what] of [[nff0Last, "n_ff = 0 in the last block"], [head0, "n_head[0] = 0"]]
      ) {
        let failure = "";
        try {
          const c = await LlamaCppChild.open(file);
          try {
            await c.logprobs(ids);
          } finally {
            await c.close().catch(() => {});
          }
        } catch (e) {
          failure = (e as Error).message;
        }
        console.log(`${what}: ${failure.slice(0, 160) || "no failure"}`);
        assert(failure, `${what} was expected to fail in llama.cpp`);
      }
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});
