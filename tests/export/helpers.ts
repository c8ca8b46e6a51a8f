/** Shared pieces of the GGUF export tests. */
import { join } from "node:path";

/** log p(ids[p+1] | ids[..p]) for p = 0..T−2 from logits `[T, V]` (float64 log-softmax). */
export function nextTokenLogprobs(
  logits: ArrayLike<number>,
  vocab: number,
  ids: readonly number[],
): number[] {
  const out: number[] = [];
  for (let p = 0; p + 1 < ids.length; p++) {
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) max = Math.max(max, logits[p * vocab + i]);
    let z = 0;
    for (let i = 0; i < vocab; i++) z += Math.exp(logits[p * vocab + i] - max);
    out.push(logits[p * vocab + ids[p + 1]] - max - Math.log(z));
  }
  return out;
}

/** Largest |a[i] − b[i]| (lengths must match). */
export function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * A byte-level BPE tokenizer.json (+ tokenizer_config.json) with `vocab` tokens for generated test
 * models: ids 0-2 special (<unk>, <s>, </s>), then single byte-level characters, no merges.
 */
export async function writeTinyTokenizer(dir: string, vocab: number): Promise<void> {
  const chars = ["Ċ", "Ġ", ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,"];
  const specials = ["<unk>", "<s>", "</s>"];
  const v: Record<string, number> = {};
  specials.forEach((s, i) => v[s] = i);
  for (let i = specials.length; i < vocab; i++) v[chars[i - specials.length]] = i;
  const tj = {
    version: "1.0",
    added_tokens: specials.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: {
      type: "ByteLevel",
      add_prefix_space: false,
      trim_offsets: true,
      use_regex: true,
    },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [{ Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: v,
      merges: [],
    },
  };
  await Deno.writeTextFile(join(dir, "tokenizer.json"), JSON.stringify(tj));
  await Deno.writeTextFile(
    join(dir, "tokenizer_config.json"),
    JSON.stringify({ bos_token: "<s>", eos_token: "</s>", add_bos_token: true }),
  );
}

/** A fresh temporary directory (removed by the caller). */
export function tempDir(): Promise<string> {
  return Deno.makeTempDir({ prefix: "gguf_test_" });
}
