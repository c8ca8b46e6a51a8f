/**
 * Test fixtures for the evaluation tests: a hand-made Llama-style tokenizer (SentencePiece-like
 * BPE: "▁" prepended and spaces replaced by "▁", BOS added by the post-processor) that
 * @huggingface/tokenizers loads, and a tiny random model that uses it.
 */
import { join } from "node:path";
import { writeTinyModel } from "../fixtures.ts";
import type { ModelConfig } from "../../src/model/config.ts";
import type { HostWeights } from "../../src/model/model.ts";

const CHARS = [
  "▁",
  ..."abcdefghijklmnopqrstuvwxyz",
  ..."ABCDEFGHIJKLMNOPQRSTUVWXYZ",
  "?",
  ":",
  ".",
  "\n",
  ",",
  "'",
];

/** BPE merges (in priority order) of the hand-made tokenizer. */
const MERGES: [string, string][] = [
  ["▁", "t"],
  ["h", "e"],
  ["▁t", "he"],
  ["▁", "a"],
  ["▁", "i"],
  ["i", "s"],
  ["▁i", "s"],
  ["▁", "y"],
  ["e", "s"],
  ["▁y", "es"],
  ["▁", "n"],
  ["▁n", "o"],
  ["A", "n"],
  ["s", "w"],
  ["An", "sw"],
  ["e", "r"],
  ["Answ", "er"],
  ["Answer", ":"],
  ["▁", "c"],
  ["a", "t"],
  ["▁c", "at"],
];

/** The hand-made tokenizer's vocabulary: token → id. */
export function tinyVocab(): Record<string, number> {
  const vocab: Record<string, number> = { "<unk>": 0, "<s>": 1, "</s>": 2 };
  for (const c of CHARS) vocab[c] = Object.keys(vocab).length;
  for (const [a, b] of MERGES) vocab[a + b] = Object.keys(vocab).length;
  return vocab;
}

/** Vocabulary size of the hand-made tokenizer. */
export const TINY_VOCAB_SIZE: number = Object.keys(tinyVocab()).length;

/** tokenizer.json of the hand-made tokenizer. */
export function tinyTokenizerJson(): Record<string, unknown> {
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "▁" },
        { type: "Replace", pattern: { String: " " }, content: "▁" },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "<s>", type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "▁" }, content: " " },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: false,
      ignore_merges: false,
      vocab: tinyVocab(),
      merges: MERGES,
    },
  };
}

/** Writes tokenizer.json and tokenizer_config.json of the hand-made tokenizer into `dir`. */
export async function writeTinyTokenizer(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "tokenizer.json"), JSON.stringify(tinyTokenizerJson()));
  await Deno.writeTextFile(
    join(dir, "tokenizer_config.json"),
    JSON.stringify({
      add_bos_token: true,
      bos_token: "<s>",
      eos_token: "</s>",
      unk_token: "<unk>",
    }),
  );
}

/**
 * Writes a tiny random model (context 64 unless overridden) with the hand-made tokenizer into
 * `dir`.
 */
export async function writeTinyEvalModel(
  dir: string,
  overrides: Record<string, unknown> = {},
  seed = 3,
): Promise<{ config: ModelConfig; weights: HostWeights }> {
  const m = await writeTinyModel(dir, {
    vocab_size: TINY_VOCAB_SIZE,
    torch_dtype: "float32",
    ...overrides,
  }, seed);
  await writeTinyTokenizer(dir);
  return m;
}

/** Hand-made benchmark files (2–3 items each) laid out like `../shared/data`. */
export async function writeTinyData(dir: string): Promise<void> {
  const bench = join(dir, "bench");
  const corpus = join(dir, "corpus");
  await Deno.mkdir(bench, { recursive: true });
  await Deno.mkdir(corpus, { recursive: true });
  const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
  await Deno.writeTextFile(
    join(bench, "piqa.jsonl"),
    jsonl([
      { choices: ["the cat is hot.", "the cat."], gold: 0, query: "Question: is the cat hot?\n" },
      { choices: ["yes", "no, the cat is a cat."], gold: 1, query: "Question: a cat\n" },
    ]),
  );
  for (const f of ["arc_easy.jsonl", "arc_challenge.jsonl"]) {
    await Deno.writeTextFile(
      join(bench, f),
      jsonl([
        {
          choices: ["a cat", "the cat", "no", "yes"],
          query: "Question: What is the cat?",
          gold: 1,
        },
        { choices: ["hot", "cold", "the", "a"], query: "Question: Is it hot?", gold: 0 },
      ]),
    );
  }
  await Deno.writeTextFile(
    join(bench, "boolq.jsonl"),
    jsonl([
      {
        query: "Passage: the cat is hot.\nQuestion: is the cat hot?",
        choices: ["no", "yes"],
        gold: 1,
      },
      { query: "Passage: a cat.\nQuestion: is it a hat?", choices: ["no", "yes"], gold: 0 },
    ]),
  );
  await Deno.writeTextFile(
    join(bench, "openbook_qa.jsonl"),
    jsonl([
      { query: "The cat is", choices: ["hot", "a cat", "the", "no"], gold: 1 },
      { query: "Hats are", choices: ["cats", "hot", "no", "yes"], gold: 2 },
    ]),
  );
  await Deno.writeTextFile(
    join(bench, "winogrande.jsonl"),
    jsonl([
      {
        context_options: ["the cat is hot so the cat", "the cat is hot so the hat"],
        continuation: "is hot.",
        gold: 0,
      },
    ]),
  );
  await Deno.writeTextFile(
    join(bench, "lambada_openai.jsonl"),
    jsonl([
      { context: "the cat is hot. the cat is", continuation: "hot" },
      { context: "a hat is a", continuation: "hat" },
    ]),
  );
  await Deno.writeTextFile(
    join(bench, "hellaswag_val.txt"),
    [
      "Cats: The cat is hot. the cat",
      "2",
      "is a hat.",
      "is [title] hot.",
      "is  a  cat [step] now.",
      "sits.",
      "Hats: How to wear a hat [title] Put it on. you",
      "0",
      "wear it.",
      "eat it.",
      "the hat.",
      "no.",
    ].join("\n") + "\n",
  );
  const text = "the cat is hot. the cat is a cat. is the hat hot? yes, the hat is hot.\n\n".repeat(
    6,
  );
  await Deno.writeTextFile(join(corpus, "tinystories_val_subset.txt"), text);
  await Deno.writeTextFile(
    join(corpus, "wikitext2_test.raw"),
    " \n = The cat = \n \n the cat is hot . \n".repeat(8),
  );
}
