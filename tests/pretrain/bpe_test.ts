import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import {
  bpeModelFromJson,
  BpeTokenizer,
  BYTE_TO_UNICODE,
  compression,
  countWords,
  preTokenize,
  tokenizerConfig,
  tokenizerJson,
  trainBpe,
  unigramPerplexity,
  writeTokenizer,
} from "../../src/pretrain/bpe.ts";
import { HfTokenizer } from "../../src/deps.ts";
import { loadTokenizer } from "../../src/model/tokenizer.ts";

/** Deterministic pseudo-random text over a small syllable set (many ties between pairs). */
function syllableText(words: number, seed: number): string {
  let a = seed >>> 0;
  const r = () => {
    a = (a * 1664525 + 1013904223) >>> 0;
    return a / 2 ** 32;
  };
  const syl = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "a", "o", "ng"];
  const punct = [" ", " ", " ", " ", ", ", ". ", "\n", "\n\n", "  ", "'s "];
  let s = "";
  for (let i = 0; i < words; i++) {
    const n = 1 + Math.floor(r() * 4);
    let w = "";
    for (let j = 0; j < n; j++) w += syl[Math.floor(r() * syl.length)];
    if (r() < 0.1) w = w[0].toUpperCase() + w.slice(1);
    if (r() < 0.05) w += String(Math.floor(r() * 100));
    s += w + punct[Math.floor(r() * punct.length)];
  }
  return s;
}

/** Textbook BPE: re-count every pair of every word occurrence at each step, same tie-breaking. */
function naiveMerges(text: string, vocabSize: number, k: number): [string, string][] {
  const enc = new TextEncoder();
  const vocab = [...Array(k).keys()].map((i) => `<${i}>`).concat(BYTE_TO_UNICODE);
  let words = preTokenize(text).map((w) => Array.from(enc.encode(w), (b) => k + b));
  const merges: [string, string][] = [];
  while (vocab.length < vocabSize) {
    const counts = new Map<string, number>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.length; i++) {
        const key = `${w[i]},${w[i + 1]}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    let best: [number, number] | undefined;
    let bestCount = 0;
    for (const [key, c] of counts) {
      const [a, b] = key.split(",").map(Number);
      if (
        c > bestCount ||
        (c === bestCount && best && (a < best[0] || (a === best[0] && b < best[1])))
      ) {
        best = [a, b];
        bestCount = c;
      }
    }
    if (!best || bestCount < 2) break;
    const [a, b] = best;
    const id = vocab.length;
    vocab.push(vocab[a] + vocab[b]);
    merges.push([vocab[a], vocab[b]]);
    words = words.map((w) => {
      const out: number[] = [];
      for (let i = 0; i < w.length;) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          out.push(id);
          i += 2;
        } else out.push(w[i++]);
      }
      return out;
    });
  }
  return merges;
}

/** Strings the tokenizers must agree on and round-trip. */
const SAMPLES = [
  "",
  "a",
  "Hello, world!",
  "Call me Ishmael. Some years ago—never mind how long precisely—having little money.",
  "I don't think we'll go; they're sure it's John's, and I've I'd I'm.",
  "DON'T SHOUT 'quoted' ''double''",
  "Numbers: 3.14159, 1,000,000 and 2021-04-28; 42nd 7th",
  "   leading spaces\n\n\n trailing spaces   \n",
  "tabs\tand\r\nCRLF\u000bvertical\u00a0nbsp\u2003em-space\u3000ideographic",
  "naïve café résumé — “curly” ‘quotes’ … €100 £5 ¥3",
  "Ünïcödé: e\u0301 (combining) vs é (precomposed); ﬁ ligature; Ω Å",
  "中文字符测试，日本語のテキスト、한국어 텍스트",
  "עברית ועוד and العربية mixed with English",
  "emoji 😀 😂 🐋 👍🏽 👩‍👩‍👧‍👦 🇺🇸 ❤️ and ☃",
  "math ∑∫√∞ ≤ ≥ ≠ and symbols ©®™ §¶ †‡",
  "<|bos|> inside text, <|eos|> too, and <|bos|><|eos|> adjacent",
  "x".repeat(300) + " " + "ab".repeat(200),
  "\u0000\u0001 control \u007f chars",
  "       \n\n\n\n    ",
  "The LORD said unto Moses, Go in unto Pharaoh.\nAnd Pharaoh said, Who is the LORD?",
];

const SMALL = "low lower lowest";

Deno.test("bpe: first merges of a hand-made text, vocabulary layout", () => {
  const r = trainBpe(SMALL, { vocabSize: 262 });
  assertEquals(r.model.merges, [["l", "o"], ["lo", "w"], ["Ġ", "low"], ["Ġlow", "e"]]);
  assertEquals(r.model.specialTokens, ["<|bos|>", "<|eos|>"]);
  assertEquals(r.model.vocab.slice(0, 2), ["<|bos|>", "<|eos|>"]);
  assertEquals(r.model.vocab[2 + 0x20], "Ġ");
  assertEquals(r.model.vocab[2 + 0x61], "a");
  assertEquals(r.model.vocab.slice(258), ["lo", "low", "Ġlow", "Ġlowe"]);
  assertEquals(r.words, 3);
  assertEquals(r.uniqueWords, 3);
  const tok = new BpeTokenizer(r.model);
  assertEquals(tok.encode("lowest"), [0, 259, 103, 117, 118]);
  assertEquals(tok.encode(" lowest lo", { addBos: false }), [261, 117, 118, 34, 258]);
});

Deno.test("bpe: overlapping pairs, minimum frequency, early stop", () => {
  // "aaaa": (a,a) occurs 3 times; merging left to right gives "aa aa", then (aa,aa).
  // " aaaa" occurs once, so (Ġ, aaaa) is not merged with the default minimum frequency 2.
  assertEquals(trainBpe("aaaa aaaa", { vocabSize: 300 }).model.merges, [["a", "a"], ["aa", "aa"]]);
  assertEquals(trainBpe("aaaa aaaa", { vocabSize: 300, minFrequency: 1 }).model.merges, [
    ["a", "a"],
    ["aa", "aa"],
    ["Ġ", "aaaa"],
  ]);
  // "aaa" once: (a,a) counts 2, then (aa,a) counts 1 < 2: stop.
  assertEquals(trainBpe("aaa", { vocabSize: 300 }).model.merges, [["a", "a"]]);
});

Deno.test("bpe: ties go to the smallest (left id, right id); training is deterministic", () => {
  // (c,d) and (a,b) both occur twice; whatever the text order, the smallest ids go first.
  assertEquals(trainBpe("cd\ncd\nab\nab", { vocabSize: 264 }).model.merges, [
    ["a", "b"],
    ["c", "d"],
  ]);
  // (Ġ,c) ties with (a,b) and (c,d): "Ġ" is byte 0x20, the smallest id.
  assertEquals(trainBpe("ab ab cd cd", { vocabSize: 264 }).model.merges[0], ["Ġ", "c"]);
  const text = syllableText(3000, 7);
  const a = trainBpe(text, { vocabSize: 600 });
  assertEquals(a.model.vocab.length, 600);
  assertEquals(trainBpe(text, { vocabSize: 600 }).model, a.model);
});

Deno.test("bpe: incremental trainer equals a textbook re-counting trainer", () => {
  for (const seed of [1, 2, 3]) {
    const text = syllableText(1500, seed);
    const fast = trainBpe(text, { vocabSize: 520 }).model.merges;
    assert(fast.length > 150, `seed ${seed}: ${fast.length} merges`);
    assertEquals(fast, naiveMerges(text, 520, 2), `seed ${seed}`);
  }
});

Deno.test("bpe: pre-tokenization is GPT-2's", () => {
  assertEquals(preTokenize("I'm here:  it's 2021!\n\n ok"), [
    "I",
    "'m",
    " here",
    ":",
    " ",
    " it",
    "'s",
    " 2021",
    "!",
    "\n\n",
    " ok",
  ]);
  assertEquals([...countWords(["the cat the", "the"])], [["the", 2], [" cat", 1], [" the", 1]]);
});

Deno.test("bpe: tokenizer.json loads in @huggingface/tokenizers and matches the reference", () => {
  const text = syllableText(4000, 11) + SAMPLES.join("\n") + " café naïve 😀 中文";
  const { model } = trainBpe(text, { vocabSize: 700 });
  const ref = new BpeTokenizer(model);
  const hf = new HfTokenizer(tokenizerJson(model), tokenizerConfig(model));
  for (const s of [...SAMPLES, syllableText(300, 99)]) {
    const ids = ref.encode(s);
    const label = JSON.stringify(s.slice(0, 40));
    assertEquals(hf.encode(s).ids, ids, label);
    assertEquals(hf.encode(s, { add_special_tokens: false }).ids, ids.slice(1), label);
    // BOS exactly once, at the start (the sample strings holding "<|bos|>" text aside).
    assertEquals(ids[0], 0, label);
    if (!s.includes("<|bos|>")) assertEquals(ids.indexOf(0, 1), -1, label);
    // Round trip (special-token strings in the text come back only without skipping).
    const back = s.includes("<|") ? ref.decode(ids.slice(1), false) : ref.decode(ids);
    assertEquals(back, s, label);
    if (ids.length > 1) {
      const hfBack = s.includes("<|")
        ? hf.decode(ids.slice(1), { skip_special_tokens: false })
        : hf.decode(ids, { skip_special_tokens: true });
      assertEquals(hfBack, s, label);
    }
  }
  // Reading the JSON back gives the same model.
  assertEquals(bpeModelFromJson(tokenizerJson(model)), model);
});

Deno.test("bpe: written files load through src/model/tokenizer.ts (BOS/EOS ids, vocab size)", async () => {
  const { model } = trainBpe(syllableText(2000, 5), { vocabSize: 400 });
  const dir = await Deno.makeTempDir();
  try {
    await writeTokenizer(dir, model, { modelMaxLength: 512 });
    const cfg = JSON.parse(await Deno.readTextFile(join(dir, "tokenizer_config.json")));
    assertEquals(cfg.bos_token, "<|bos|>");
    assertEquals(cfg.eos_token, "<|eos|>");
    assertEquals(cfg.add_bos_token, true);
    assertEquals(cfg.model_max_length, 512);
    assertEquals(cfg.tokenizer_class, "PreTrainedTokenizerFast");
    const tok = await loadTokenizer(dir);
    assertEquals([tok.bosId, tok.eosId, tok.vocabSize], [0, 1, 400]);
    const ref = new BpeTokenizer(model);
    for (const s of SAMPLES.slice(1)) {
      assertEquals(tok.encode(s), ref.encode(s));
      assertEquals(tok.encode(s, { addSpecialTokens: false }), ref.encode(s, { addBos: false }));
      if (!s.includes("<|")) assertEquals(tok.decode(tok.encode(s)), s);
    }
    const json = JSON.parse(await Deno.readTextFile(join(dir, "tokenizer.json")));
    assertEquals(json.model.type, "BPE");
    assertEquals(json.pre_tokenizer, {
      type: "ByteLevel",
      add_prefix_space: false,
      trim_offsets: true,
      use_regex: true,
    });
    assertEquals(json.decoder.type, "ByteLevel");
    assertEquals(json.post_processor.type, "TemplateProcessing");
    assertEquals(bpeModelFromJson(json), model);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bpe: unigram perplexity with add-one smoothing, compression", () => {
  // counts: 0 → 2, 1 → 1; N = 3, V = 2: p(0) = 3/5, p(1) = 2/5.
  const r = unigramPerplexity([0, 0, 1], [0, 1], 2);
  assert(Math.abs(r.nll - (Math.log(5 / 3) + Math.log(5 / 2))) < 1e-12);
  assert(Math.abs(r.perplexity - Math.sqrt(25 / 6)) < 1e-12);
  assertEquals(r.tokens, 2);
  // A token never seen in training still has probability 1 / (N + V).
  assert(Math.abs(unigramPerplexity([0], [2], 3).perplexity - 4) < 1e-12);
  const c = compression("héllo 😀", 4);
  assertEquals([c.chars, c.bytes, c.charsPerToken, c.bytesPerToken], [7, 11, 7 / 4, 11 / 4]);
});
