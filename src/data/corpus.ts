/**
 * Perplexity corpora: the WikiText-2 test split rebuilt as the Hugging Face dataset sees it, and
 * plain-text files.
 *
 * WikiText-2 protocol (SparseGPT / Wanda / SPRINT): the HF `wikitext-2-raw-v1` test split has one
 * row per line of `wiki.test.raw` — the line with its trailing newline, or `""` for a blank line
 * (the HF loading script yields `row if row.strip() else ""`) — and the evaluation text is
 * `"\n\n".join(rows)`. With the Llama-2 tokenizer (BOS added) this is the published 341,469
 * tokens; reading the file as one string gives a different text.
 *
 * Plain-text protocol: the file is read as one string, unchanged.
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import { readText } from "./jsonl.ts";

async function readNonEmpty(path: string, what: string): Promise<string> {
  const text = await readText(path, what);
  if (text.trim() === "") throw new ToolkitError(`${path}: ${what} is empty`);
  return text;
}

/**
 * Rows of the HF WikiText dataset from the raw file: each line keeps its `"\n"`, blank lines
 * (whitespace only) become `""`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wikitextRows } from "@sprint-wgpu/toolkit/data";
 * assert.deepEqual(wikitextRows(" \n = A = \n \n B . \n"), ["", " = A = \n", "", " B . \n"]);
 * ```
 */
export function wikitextRows(raw: string): string[] {
  const rows: string[] = [];
  let start = 0;
  while (start < raw.length) {
    const nl = raw.indexOf("\n", start);
    const end = nl < 0 ? raw.length : nl + 1;
    const line = raw.slice(start, end);
    rows.push(line.trim() ? line : "");
    start = end;
  }
  return rows;
}

/**
 * The WikiText-2 evaluation text: the HF rows joined with `"\n\n"` (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wikitextText } from "@sprint-wgpu/toolkit/data";
 * assert.equal(wikitextText(" \n = A = \n"), "\n\n = A = \n"); // rows "" and " = A = \n"
 * ```
 */
export function wikitextText(raw: string): string {
  return wikitextRows(raw).join("\n\n");
}

/** Reads a plain-text corpus file as one string. */
export function readPlainText(path: string): Promise<string> {
  return readNonEmpty(path, "text file");
}

/** Reads `wikitext2_test.raw` and returns the evaluation text ({@link wikitextText}). */
export async function readWikitext2(path: string): Promise<string> {
  return wikitextText(await readNonEmpty(path, "WikiText-2 file"));
}
