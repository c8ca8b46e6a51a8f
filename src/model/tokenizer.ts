/**
 * Tokenizers from a model directory's `tokenizer.json` + `tokenizer_config.json`, through
 * `@huggingface/tokenizers` (no hand-written BPE).
 *
 * @module
 */
import { join } from "node:path";
import { ToolkitError } from "../errors.ts";
import { HfTokenizer } from "../deps.ts";

/** Options for {@link TextTokenizer.encode}. */
export interface EncodeOptions {
  /** Add the tokenizer's special tokens (e.g. BOS for Llama) as tokenizer_config says (default true). */
  addSpecialTokens?: boolean;
}

/** A loaded tokenizer. */
export class TextTokenizer {
  readonly #tok: HfTokenizer;
  /** BOS token id, if the tokenizer has one. */
  readonly bosId: number | undefined;
  /** EOS token id, if the tokenizer has one. */
  readonly eosId: number | undefined;
  /** Vocabulary size including added tokens. */
  readonly vocabSize: number;
  /** Largest token id the tokenizer can produce (vocabulary and added tokens). */
  readonly maxId: number;

  /** Use {@link loadTokenizer}. */
  constructor(
    tok: HfTokenizer,
    bosId: number | undefined,
    eosId: number | undefined,
    vocabSize: number,
    maxId = vocabSize - 1,
  ) {
    this.#tok = tok;
    this.bosId = bosId;
    this.eosId = eosId;
    this.vocabSize = vocabSize;
    this.maxId = maxId;
  }

  /**
   * Token ids of `text`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { DEFAULT_MODEL_DIR, loadTokenizer } from "@sprint-wgpu/toolkit/model";
   * const tok = await loadTokenizer(DEFAULT_MODEL_DIR); // the embedded model's byte-level BPE
   * const ids = tok.encode("Once upon a time"); // [0, 81, 112, 320, 488, 260, 661]
   * assert.equal(ids[0], tok.bosId); // tokenizer_config.json: add_bos_token
   * assert.equal(tok.decode(ids), "Once upon a time");
   * ```
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const enc = this.#tok.encode(text, { add_special_tokens: options.addSpecialTokens ?? true });
    return enc.ids;
  }

  /** Text of `ids` (special tokens skipped by default). */
  decode(ids: readonly number[], skipSpecialTokens = true): string {
    return this.#tok.decode([...ids], { skip_special_tokens: skipSpecialTokens });
  }
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new ToolkitError(`${path}: cannot read (${(e as Error).message})`);
  }
  try {
    const v = JSON.parse(text);
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v;
  } catch (e) {
    throw new ToolkitError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

function tokenId(json: Record<string, unknown>, token: unknown): number | undefined {
  const content = typeof token === "string"
    ? token
    : (token as { content?: string } | null)?.content;
  if (!content) return undefined;
  const added = (json.added_tokens as { id: number; content: string }[] | undefined) ?? [];
  const hit = added.find((t) => t.content === content);
  if (hit) return hit.id;
  const vocab = (json.model as { vocab?: Record<string, number> } | undefined)?.vocab;
  return vocab && typeof vocab === "object" && !Array.isArray(vocab) ? vocab[content] : undefined;
}

/**
 * Loads `<dir>/tokenizer.json` and `<dir>/tokenizer_config.json` (the latter optional).
 */
export async function loadTokenizer(dir: string): Promise<TextTokenizer> {
  const tjPath = join(dir, "tokenizer.json");
  const tj = await readJson(tjPath);
  const tcPath = join(dir, "tokenizer_config.json");
  let tc: Record<string, unknown> = {};
  let hasConfig = true;
  try {
    await Deno.stat(tcPath);
  } catch {
    hasConfig = false;
  }
  if (hasConfig) tc = await readJson(tcPath);
  let tok: HfTokenizer;
  try {
    tok = new HfTokenizer(tj, tc);
    tok.encode("a");
  } catch (e) {
    throw new ToolkitError(`${tjPath}: the tokenizer does not load (${(e as Error).message})`);
  }
  const maxId = checkIds(tj, tjPath);
  const model = tj.model as { vocab?: Record<string, number> | unknown[] } | undefined;
  const vocab = model?.vocab;
  let size = Array.isArray(vocab) ? vocab.length : vocab ? Object.keys(vocab).length : 0;
  for (const t of (tj.added_tokens as { id: number }[] | undefined) ?? []) {
    size = Math.max(size, t.id + 1);
  }
  return new TextTokenizer(
    tok,
    tokenId(tj, tc.bos_token),
    tokenId(tj, tc.eos_token),
    size,
    maxId,
  );
}

/**
 * Checks the id fields of tokenizer.json (`model.vocab` values or list length, `added_tokens[i].id`)
 * and returns the largest id.
 */
function checkIds(tj: Record<string, unknown>, file: string): number {
  const model = tj.model;
  if (!model || typeof model !== "object" || Array.isArray(model)) {
    throw new ToolkitError(`${file}: field model is missing (expected an object)`);
  }
  const vocab = (model as { vocab?: unknown }).vocab;
  const type = (model as { type?: unknown }).type;
  const KNOWN = ["BPE", "Unigram", "WordPiece", "WordLevel"];
  if (type !== undefined && (typeof type !== "string" || !KNOWN.includes(type))) {
    throw new ToolkitError(
      `${file}: field model.type is ${JSON.stringify(type)} (expected one of ${KNOWN.join(", ")})`,
    );
  }
  if (type !== undefined && type !== "Unigram" && Array.isArray(vocab)) {
    throw new ToolkitError(`${file}: field model.vocab must be an object for a ${type} model`);
  }
  if (type === "Unigram" && vocab !== undefined && !Array.isArray(vocab)) {
    throw new ToolkitError(`${file}: field model.vocab must be a list for a Unigram model`);
  }
  let maxId = -1;
  if (Array.isArray(vocab)) {
    maxId = vocab.length - 1; // Unigram: [[piece, score], …], the id is the position
  } else if (vocab && typeof vocab === "object") {
    for (const [piece, id] of Object.entries(vocab)) {
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
        throw new ToolkitError(
          `${file}: field model.vocab[${JSON.stringify(piece)}] is ${
            JSON.stringify(id)
          } (expected a token id ≥ 0)`,
        );
      }
      maxId = Math.max(maxId, id);
    }
  } else if (vocab !== undefined) {
    throw new ToolkitError(`${file}: field model.vocab must be an object or a list`);
  }
  const added = tj.added_tokens ?? [];
  if (!Array.isArray(added)) {
    throw new ToolkitError(`${file}: field added_tokens must be a list`);
  }
  added.forEach((t, i) => {
    const id = (t as { id?: unknown } | null)?.id;
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new ToolkitError(
        `${file}: field added_tokens[${i}].id is ${JSON.stringify(id)} (expected a token id ≥ 0)`,
      );
    }
    if (typeof (t as { content?: unknown }).content !== "string") {
      throw new ToolkitError(`${file}: field added_tokens[${i}].content must be a string`);
    }
    maxId = Math.max(maxId, id);
  });
  if (maxId < 0) throw new ToolkitError(`${file}: the tokenizer has no tokens`);
  return maxId;
}
