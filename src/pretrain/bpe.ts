/**
 * Byte-level BPE tokenizer training (GPT-2 style), a reference encoder, and the Hugging Face
 * `tokenizer.json` / `tokenizer_config.json` writer that `@huggingface/tokenizers` (and
 * `src/model/tokenizer.ts`) loads.
 *
 * - **Pre-tokenization**: the GPT-2 regex ({@link PRE_TOKENIZE_PATTERN}, exactly the pattern of the
 *   ByteLevel pre-tokenizer of `@huggingface/tokenizers`); each piece is taken as UTF-8 bytes, and
 *   each byte is shown as GPT-2's printable stand-in ({@link BYTE_TO_UNICODE}).
 * - **Vocabulary layout**: the special tokens first (ids `0..k-1`, default `<|bos|>` = 0 and
 *   `<|eos|>` = 1), then the 256 bytes in byte order (byte `b` is id `k + b`), then one token per
 *   merge in the order learned.
 * - **Training** ({@link trainBpe}): the pieces are counted once (word → frequency); each step merges
 *   the most frequent adjacent pair, ties broken by the smallest `(left id, right id)`, so the result
 *   is fully deterministic. Pair counts are updated incrementally from the words that contain the
 *   merged pair (an index pair → words), with a lazy max-heap; no re-scan of the corpus.
 * - **Encoding** ({@link BpeTokenizer}): per piece, repeatedly merge the adjacent pair of lowest
 *   merge rank (all its occurrences, left to right) — what the Hugging Face BPE model does, so the
 *   ids match the library's (the tests check it).
 *
 * @module
 */
import { join } from "node:path";
import { ToolkitError } from "../errors.ts";

/** GPT-2's pre-tokenization regex (with the `gu` flags), as the ByteLevel pre-tokenizer uses it. */
export const PRE_TOKENIZE_PATTERN =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Default special tokens: beginning and end of sequence (ids 0 and 1). */
export const DEFAULT_SPECIAL_TOKENS: readonly string[] = ["<|bos|>", "<|eos|>"];

/** GPT-2's `bytes_to_unicode`: the printable character standing for each byte value. */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const out = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
    out[b] = String.fromCharCode(printable ? b : 256 + n++);
  }
  return out;
})();

/** Inverse of {@link BYTE_TO_UNICODE}: char code → byte value (-1 where none). */
const UNICODE_TO_BYTE: Int16Array = (() => {
  const out = new Int16Array(512).fill(-1);
  BYTE_TO_UNICODE.forEach((c, b) => out[c.charCodeAt(0)] = b);
  return out;
})();

/** A trained byte-level BPE model. */
export interface BpeModel {
  /** Special tokens, ids `0..specialTokens.length-1` (the first is BOS, the second EOS). */
  specialTokens: string[];
  /** Token strings by id (special tokens, then bytes as {@link BYTE_TO_UNICODE} chars, then merges). */
  vocab: string[];
  /** Merges in rank order, as byte-level token strings; merge `r` created token `k + 256 + r`. */
  merges: [string, string][];
}

/** Options of {@link trainBpe}. */
export interface BpeTrainOptions {
  /** Vocabulary size including special tokens and the 256 bytes (default 4096). */
  vocabSize?: number;
  /** Special tokens, given ids 0.. in this order (default {@link DEFAULT_SPECIAL_TOKENS}). */
  specialTokens?: readonly string[];
  /** A pair seen fewer times than this is never merged; training stops early (default 2). */
  minFrequency?: number;
  /** Called every `progressEvery` merges (default 500) with the merge count so far. */
  onProgress?: (merges: number, total: number) => void;
  /** See `onProgress`. */
  progressEvery?: number;
}

/** What {@link trainBpe} returns: the model and counts about the run. */
export interface BpeTrainResult {
  /** The trained model. */
  model: BpeModel;
  /** Pre-tokenized pieces in the training text (with repetition). */
  words: number;
  /** Distinct pieces. */
  uniqueWords: number;
  /** Frequency of the last merge made (0 when no merge was made). */
  lastMergeCount: number;
  /** Wall-clock seconds: counting pieces, merging. */
  seconds: { count: number; merge: number };
}

/**
 * Counts the pre-tokenized pieces of `texts` (adds into `counts` when given).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { countWords } from "@sprint-wgpu/toolkit/pretrain";
 * assert.deepEqual([...countWords(["the cat the"])], [["the", 1], [" cat", 1], [" the", 1]]);
 * ```
 */
export function countWords(
  texts: string | Iterable<string>,
  counts: Map<string, number> = new Map(),
): Map<string, number> {
  const re = new RegExp(PRE_TOKENIZE_PATTERN.source, "gu");
  for (const text of typeof texts === "string" ? [texts] : texts) {
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const w = m[0];
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  return counts;
}

/** The pre-tokenized pieces of `text` (the regex matches, in order). */
export function preTokenize(text: string): string[] {
  return text.match(new RegExp(PRE_TOKENIZE_PATTERN.source, "gu")) ?? [];
}

const encoder = new TextEncoder();

/** Byte-level string (each UTF-8 byte as its {@link BYTE_TO_UNICODE} char) of `text`. */
export function toByteLevel(text: string): string {
  let s = "";
  for (const b of encoder.encode(text)) s += BYTE_TO_UNICODE[b];
  return s;
}

/** Pair key: `(a, b)` ordered lexicographically by the number. */
const SHIFT = 2 ** 21;

/** Max-heap of (count, key), the greater count first, then the smaller key. */
class PairHeap {
  #c: number[] = [];
  #k: number[] = [];

  get size(): number {
    return this.#c.length;
  }

  #above(i: number, j: number): boolean {
    const c = this.#c, k = this.#k;
    return c[i] > c[j] || (c[i] === c[j] && k[i] < k[j]);
  }

  #swap(i: number, j: number): void {
    const c = this.#c, k = this.#k;
    [c[i], c[j]] = [c[j], c[i]];
    [k[i], k[j]] = [k[j], k[i]];
  }

  push(count: number, key: number): void {
    this.#c.push(count);
    this.#k.push(key);
    let i = this.#c.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#above(i, p)) break;
      this.#swap(i, p);
      i = p;
    }
  }

  /** Removes the top; returns [count, key]. */
  pop(): [number, number] {
    const top: [number, number] = [this.#c[0], this.#k[0]];
    const lastC = this.#c.pop()!, lastK = this.#k.pop()!;
    const n = this.#c.length;
    if (n > 0) {
      this.#c[0] = lastC;
      this.#k[0] = lastK;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let best = i;
        if (l < n && this.#above(l, best)) best = l;
        if (r < n && this.#above(r, best)) best = r;
        if (best === i) break;
        this.#swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

/**
 * Trains a byte-level BPE model on `texts` (a string or several; pieces never span two strings).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { trainBpe } from "@sprint-wgpu/toolkit/pretrain";
 * const { model } = trainBpe("low lower lowest", { vocabSize: 262 });
 * assert.deepEqual(model.merges, [["l", "o"], ["lo", "w"], ["Ġ", "low"], ["Ġlow", "e"]]);
 * ```
 */
export function trainBpe(
  texts: string | Iterable<string>,
  options: BpeTrainOptions = {},
): BpeTrainResult {
  const specialTokens = [...(options.specialTokens ?? DEFAULT_SPECIAL_TOKENS)];
  const vocabSize = options.vocabSize ?? 4096;
  const minFrequency = Math.max(1, options.minFrequency ?? 2);
  const k = specialTokens.length;
  if (new Set(specialTokens).size !== k) throw new ToolkitError("special tokens must differ");
  if (!Number.isInteger(vocabSize) || vocabSize < k + 256 || vocabSize > SHIFT) {
    throw new ToolkitError(
      `vocabulary size ${vocabSize}: expected an integer in [${k + 256}, ${SHIFT}] ` +
        `(the special tokens and the 256 bytes are always in it)`,
    );
  }
  const t0 = performance.now();
  const counts = countWords(texts);
  const t1 = performance.now();

  const vocab: string[] = [...specialTokens, ...BYTE_TO_UNICODE];
  for (const s of specialTokens) {
    if (BYTE_TO_UNICODE.includes(s)) {
      throw new ToolkitError(`special token ${JSON.stringify(s)} collides with a byte token`);
    }
  }
  const merges: [string, string][] = [];

  // Words as symbol-id arrays, with frequencies.
  const words: Int32Array[] = [];
  const freqs: number[] = [];
  let total = 0;
  for (const [w, f] of counts) {
    const bytes = encoder.encode(w);
    const sym = new Int32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) sym[i] = k + bytes[i];
    words.push(sym);
    freqs.push(f);
    total += f;
  }

  const pairCount = new Map<number, number>();
  const where = new Map<number, number[]>();
  for (let w = 0; w < words.length; w++) {
    const s = words[w], f = freqs[w];
    for (let i = 0; i + 1 < s.length; i++) {
      const key = s[i] * SHIFT + s[i + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + f);
      const list = where.get(key);
      if (list === undefined) where.set(key, [w]);
      else if (list[list.length - 1] !== w) list.push(w);
    }
  }
  const heap = new PairHeap();
  for (const [key, c] of pairCount) heap.push(c, key);

  const totalMerges = vocabSize - vocab.length;
  const every = options.progressEvery ?? 500;
  let lastMergeCount = 0;
  while (vocab.length < vocabSize && heap.size > 0) {
    const [c, key] = heap.pop();
    if (pairCount.get(key) !== c) continue; // stale entry
    if (c < minFrequency) break;
    const a = Math.floor(key / SHIFT), b = key - a * SHIFT;
    const id = vocab.length;
    vocab.push(vocab[a] + vocab[b]);
    merges.push([vocab[a], vocab[b]]);
    lastMergeCount = c;

    const delta = new Map<number, number>();
    const add = (p: number, d: number) => delta.set(p, (delta.get(p) ?? 0) + d);
    for (const w of where.get(key) ?? []) {
      const s = words[w];
      let found = false;
      for (let i = 0; i + 1 < s.length; i++) {
        if (s[i] === a && s[i + 1] === b) {
          found = true;
          break;
        }
      }
      if (!found) continue; // stale: merged away by an earlier merge
      const f = freqs[w];
      for (let i = 0; i + 1 < s.length; i++) add(s[i] * SHIFT + s[i + 1], -f);
      const out: number[] = [];
      for (let i = 0; i < s.length;) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(id);
          i += 2;
        } else {
          out.push(s[i++]);
        }
      }
      const merged = Int32Array.from(out);
      words[w] = merged;
      for (let i = 0; i + 1 < merged.length; i++) {
        const p = merged[i] * SHIFT + merged[i + 1];
        add(p, f);
        if (merged[i] === id || merged[i + 1] === id) {
          const list = where.get(p);
          if (list === undefined) where.set(p, [w]);
          else if (list[list.length - 1] !== w) list.push(w);
        }
      }
    }
    where.delete(key);
    for (const [p, d] of delta) {
      if (d === 0) continue;
      const n = (pairCount.get(p) ?? 0) + d;
      if (n > 0) {
        pairCount.set(p, n);
        heap.push(n, p);
      } else {
        pairCount.delete(p);
        where.delete(p);
      }
    }
    if (options.onProgress && merges.length % every === 0) {
      options.onProgress(merges.length, totalMerges);
    }
  }
  const t2 = performance.now();
  return {
    model: { specialTokens, vocab, merges },
    words: total,
    uniqueWords: words.length,
    lastMergeCount,
    seconds: { count: (t1 - t0) / 1000, merge: (t2 - t1) / 1000 },
  };
}

/** Options of {@link BpeTokenizer.encode}. */
export interface BpeEncodeOptions {
  /** Prepend the BOS token (default true, as the written `tokenizer.json` does). */
  addBos?: boolean;
}

/**
 * The reference encoder/decoder of a {@link BpeModel}: what `@huggingface/tokenizers` computes from
 * the written `tokenizer.json` (special-token strings in the text become their ids; each other
 * stretch is pre-tokenized and BPE-merged by rank).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BpeTokenizer, trainBpe } from "@sprint-wgpu/toolkit/pretrain";
 * const tok = new BpeTokenizer(trainBpe("low lower lowest", { vocabSize: 262 }).model);
 * assert.deepEqual(tok.encode("lowest"), [0, 259, 103, 117, 118]);
 * assert.equal(tok.decode(tok.encode("lowest")), "lowest");
 * ```
 */
export class BpeTokenizer {
  /** The vocabulary and merges. */
  readonly model: BpeModel;
  /** BOS id (the first special token), if any. */
  readonly bosId: number | undefined;
  /** EOS id (the second special token), if any. */
  readonly eosId: number | undefined;
  readonly #ids = new Map<string, number>();
  readonly #rank = new Map<number, number>();
  readonly #cache = new Map<string, number[]>();
  readonly #special: RegExp | undefined;
  readonly #byteBase: number;

  /** A tokenizer over a trained or loaded model. */
  constructor(model: BpeModel) {
    this.model = model;
    const k = model.specialTokens.length;
    this.#byteBase = k;
    model.vocab.forEach((t, i) => this.#ids.set(t, i));
    for (let i = 0; i < 256; i++) {
      if (model.vocab[k + i] !== BYTE_TO_UNICODE[i]) {
        throw new ToolkitError(`BPE model: id ${k + i} is not the byte ${i}`);
      }
    }
    model.merges.forEach(([l, r], rank) => {
      const a = this.#ids.get(l), b = this.#ids.get(r);
      if (a === undefined || b === undefined || this.#ids.get(l + r) === undefined) {
        throw new ToolkitError(`BPE model: merge ${rank} (${l} ${r}) uses unknown tokens`);
      }
      const key = a * SHIFT + b;
      if (!this.#rank.has(key)) this.#rank.set(key, rank);
    });
    this.bosId = k > 0 ? 0 : undefined;
    this.eosId = k > 1 ? 1 : undefined;
    if (k > 0) {
      const alts = [...model.specialTokens].sort((x, y) => y.length - x.length)
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
      this.#special = new RegExp(`(${alts.join("|")})`);
    }
  }

  /** Vocabulary size (special tokens included). */
  get vocabSize(): number {
    return this.model.vocab.length;
  }

  /** Token ids of one pre-tokenized piece (cached). */
  encodeWord(word: string): number[] {
    const hit = this.#cache.get(word);
    if (hit !== undefined) return hit;
    const bytes = encoder.encode(word);
    let s: number[] = Array.from(bytes, (b) => this.#byteBase + b);
    for (;;) {
      let best = -1, bestRank = Infinity;
      for (let i = 0; i + 1 < s.length; i++) {
        const r = this.#rank.get(s[i] * SHIFT + s[i + 1]);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const a = s[best], b = s[best + 1];
      const id = this.#ids.get(this.model.vocab[a] + this.model.vocab[b])!;
      const out: number[] = s.slice(0, best);
      for (let i = best; i < s.length;) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(id);
          i += 2;
        } else {
          out.push(s[i++]);
        }
      }
      s = out;
    }
    if (this.#cache.size > 200_000) this.#cache.clear();
    this.#cache.set(word, s);
    return s;
  }

  /** Token ids of `text` (BOS first unless `addBos` is false). */
  encode(text: string, options: BpeEncodeOptions = {}): number[] {
    const out: number[] = [];
    if ((options.addBos ?? true) && this.bosId !== undefined) out.push(this.bosId);
    const parts = this.#special ? text.split(this.#special) : [text];
    const re = new RegExp(PRE_TOKENIZE_PATTERN.source, "gu");
    parts.forEach((part, i) => {
      if (i % 2 === 1) {
        out.push(this.#ids.get(part)!);
        return;
      }
      re.lastIndex = 0;
      for (let m = re.exec(part); m !== null; m = re.exec(part)) {
        for (const id of this.encodeWord(m[0])) out.push(id);
      }
    });
    return out;
  }

  /** Text of `ids`; special tokens are skipped unless `skipSpecial` is false. */
  decode(ids: readonly number[], skipSpecial = true): string {
    const k = this.model.specialTokens.length;
    const dec = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
    let text = "";
    let bytes: number[] = [];
    const flush = () => {
      text += dec.decode(new Uint8Array(bytes));
      bytes = [];
    };
    for (const id of ids) {
      const tok = this.model.vocab[id];
      if (tok === undefined) throw new ToolkitError(`decode: token id ${id} is out of range`);
      if (id < k) {
        if (!skipSpecial) {
          flush();
          text += tok;
        }
        continue;
      }
      for (let i = 0; i < tok.length; i++) bytes.push(UNICODE_TO_BYTE[tok.charCodeAt(i)]);
    }
    flush();
    return text;
  }
}

/** Options of the written tokenizer files. */
export interface TokenizerFileOptions {
  /** `model_max_length` in `tokenizer_config.json` (default 2048). */
  modelMaxLength?: number;
}

/**
 * The Hugging Face `tokenizer.json` of `model`: BPE model, ByteLevel pre-tokenizer (regex on, no
 * prefix space) and decoder, special tokens as added tokens, and a TemplateProcessing
 * post-processor that puts BOS before each sequence.
 */
export function tokenizerJson(model: BpeModel): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  model.vocab.forEach((t, i) => vocab[t] = i);
  const bos = model.specialTokens[0];
  const seq = (id: "A" | "B", typeId: number) => ({ Sequence: { id, type_id: typeId } });
  const special = (typeId: number) => ({ SpecialToken: { id: bos, type_id: typeId } });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: model.specialTokens.map((content, id) => ({
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
    post_processor: bos === undefined ? null : {
      type: "TemplateProcessing",
      single: [special(0), seq("A", 0)],
      pair: [special(0), seq("A", 0), special(1), seq("B", 1)],
      special_tokens: { [bos]: { id: bos, ids: [0], tokens: [bos] } },
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
      vocab,
      // The classic "left right" form: byte-level tokens never contain a space.
      merges: model.merges.map(([l, r]) => `${l} ${r}`),
    },
  };
}

/** The `tokenizer_config.json` that goes with {@link tokenizerJson}. */
export function tokenizerConfig(
  model: BpeModel,
  options: TokenizerFileOptions = {},
): Record<string, unknown> {
  const [bos, eos] = model.specialTokens;
  const decoder: Record<string, unknown> = {};
  model.specialTokens.forEach((content, id) => {
    decoder[String(id)] = {
      content,
      lstrip: false,
      normalized: false,
      rstrip: false,
      single_word: false,
      special: true,
    };
  });
  return {
    add_bos_token: bos !== undefined,
    add_eos_token: false,
    added_tokens_decoder: decoder,
    bos_token: bos ?? null,
    eos_token: eos ?? null,
    clean_up_tokenization_spaces: false,
    model_max_length: options.modelMaxLength ?? 2048,
    tokenizer_class: "PreTrainedTokenizerFast",
  };
}

/** Writes `<dir>/tokenizer.json` and `<dir>/tokenizer_config.json` (creates `dir`). */
export async function writeTokenizer(
  dir: string,
  model: BpeModel,
  options: TokenizerFileOptions = {},
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "tokenizer.json"),
    JSON.stringify(tokenizerJson(model), null, 2) + "\n",
  );
  await Deno.writeTextFile(
    join(dir, "tokenizer_config.json"),
    JSON.stringify(tokenizerConfig(model, options), null, 2) + "\n",
  );
}

/**
 * The {@link BpeModel} of a `tokenizer.json` written by {@link writeTokenizer} (or any byte-level
 * BPE `tokenizer.json` with this module's vocabulary layout).
 */
export function bpeModelFromJson(json: Record<string, unknown>): BpeModel {
  const m = json.model as { type?: string; vocab?: Record<string, number>; merges?: unknown[] };
  if (m?.type !== "BPE" || !m.vocab || !Array.isArray(m.merges)) {
    throw new ToolkitError("tokenizer.json: model is not a BPE model with vocab and merges");
  }
  const vocab: string[] = [];
  for (const [t, i] of Object.entries(m.vocab)) vocab[i] = t;
  const added = (json.added_tokens as { id: number; content: string }[] | undefined) ?? [];
  const specialTokens = added.slice().sort((x, y) => x.id - y.id).map((t) => t.content);
  const merges = m.merges.map((x) =>
    (Array.isArray(x) ? x : String(x).split(" ", 2)) as [string, string]
  );
  return { specialTokens, vocab, merges };
}

/** Compression of `text` encoded as `tokens` tokens: characters (code points) and UTF-8 bytes per token. */
export function compression(
  text: string,
  tokens: number,
): { tokens: number; chars: number; bytes: number; charsPerToken: number; bytesPerToken: number } {
  let chars = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) chars++;
  }
  const bytes = encoder.encode(text).length;
  return { tokens, chars, bytes, charsPerToken: chars / tokens, bytesPerToken: bytes / tokens };
}

/** Result of {@link unigramPerplexity}. */
export interface UnigramResult {
  /** exp(mean negative log-likelihood per evaluated token). */
  perplexity: number;
  /** Mean negative log-likelihood per token, in nats. */
  nllPerToken: number;
  /** Total negative log-likelihood, in nats. */
  nll: number;
  /** Evaluated tokens. */
  tokens: number;
}

/**
 * Perplexity of `evalIds` under the unigram distribution of `trainIds` with add-one (Laplace)
 * smoothing over `vocabSize` tokens: p(t) = (count(t) + 1) / (N + V).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unigramPerplexity } from "@sprint-wgpu/toolkit/pretrain";
 * const r = unigramPerplexity([0, 0, 1], [0], 2); // add-one smoothing: (3 + 2) / (2 + 1)
 * assert.ok(Math.abs(r.perplexity - 5 / 3) < 1e-12);
 * ```
 */
export function unigramPerplexity(
  trainIds: ArrayLike<number>,
  evalIds: ArrayLike<number>,
  vocabSize: number,
): UnigramResult {
  const counts = new Float64Array(vocabSize);
  for (let i = 0; i < trainIds.length; i++) counts[trainIds[i]]++;
  const denom = Math.log(trainIds.length + vocabSize);
  let nll = 0;
  for (let i = 0; i < evalIds.length; i++) nll += denom - Math.log(counts[evalIds[i]] + 1);
  const n = evalIds.length;
  return { perplexity: Math.exp(nll / n), nllPerToken: nll / n, nll, tokens: n };
}
