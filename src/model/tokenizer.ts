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

  /** Use {@link loadTokenizer}. */
  constructor(
    tok: HfTokenizer,
    bosId: number | undefined,
    eosId: number | undefined,
    vocabSize: number,
  ) {
    this.#tok = tok;
    this.bosId = bosId;
    this.eosId = eosId;
    this.vocabSize = vocabSize;
  }

  /**
   * Token ids of `text`.
   *
   * @example
   * ```ts
   * const tok = await loadTokenizer("models/stories260K-hf");
   * tok.encode("Once upon a time"); // [1, 403, 407, 261, 378]
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
    if (typeof v !== "object" || v === null) throw new Error("not an object");
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
  let tc: Record<string, unknown> = {};
  try {
    await Deno.stat(join(dir, "tokenizer_config.json"));
    tc = await readJson(join(dir, "tokenizer_config.json"));
  } catch (e) {
    if (e instanceof ToolkitError) throw e;
  }
  let tok: HfTokenizer;
  try {
    tok = new HfTokenizer(tj, tc);
    tok.encode("a");
  } catch (e) {
    throw new ToolkitError(`${tjPath}: the tokenizer does not load (${(e as Error).message})`);
  }
  const model = tj.model as { vocab?: Record<string, number> | unknown[] } | undefined;
  const vocab = model?.vocab;
  let size = Array.isArray(vocab) ? vocab.length : vocab ? Object.keys(vocab).length : 0;
  for (const t of (tj.added_tokens as { id: number }[] | undefined) ?? []) {
    size = Math.max(size, t.id + 1);
  }
  return new TextTokenizer(tok, tokenId(tj, tc.bos_token), tokenId(tj, tc.eos_token), size);
}
