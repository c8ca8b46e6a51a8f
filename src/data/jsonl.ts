/**
 * JSON Lines input with line-numbered errors: every malformed line or field is reported as a
 * one-line {@link ToolkitError} naming the file, the 1-based line number and what was expected.
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";

/** One parsed line of a JSONL file. */
export interface JsonlRecord {
  /** 1-based line number in the file. */
  line: number;
  /** The parsed object. */
  value: Record<string, unknown>;
}

/**
 * Parses JSONL text: one JSON object per non-blank line. `file` names the source in errors. With
 * `limit`, parsing stops after that many records (later lines are not read or checked).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseJsonl } from "@sprint-wgpu/toolkit/data";
 * const recs = parseJsonl('{"a": 1}\n\n{"a": 2}\n', "x.jsonl"); // the blank line 2 is skipped
 * assert.deepEqual(recs, [{ line: 1, value: { a: 1 } }, { line: 3, value: { a: 2 } }]);
 * assert.throws(() => parseJsonl("[1]\n", "x.jsonl"), /x\.jsonl:1: expected a JSON object/);
 * ```
 */
export function parseJsonl(text: string, file: string, limit = Infinity): JsonlRecord[] {
  const out: JsonlRecord[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length && out.length < limit; i++) {
    const raw = lines[i].replace(/\r$/, "");
    if (raw.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw new ToolkitError(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new ToolkitError(`${file}:${i + 1}: expected a JSON object, got ${describe(value)}`);
    }
    out.push({ line: i + 1, value: value as Record<string, unknown> });
  }
  return out;
}

/**
 * Reads a text file, turning a missing or unreadable file into a one-line error, and refuses
 * what is not text: invalid UTF-8 or binary control bytes (NUL and the C0 controls other than
 * tab, line feed, vertical tab, form feed, carriage return and escape), naming the byte offset. A
 * leading UTF-8 byte-order mark is dropped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readText } from "@sprint-wgpu/toolkit/data";
 * const path = await Deno.makeTempFile({ suffix: ".txt" });
 * await Deno.writeFile(path, new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69])); // BOM + "hi"
 * assert.equal(await readText(path, "text file"), "hi");
 * await Deno.remove(path);
 * await assert.rejects(readText(path, "text file"), /: text file not found$/);
 * ```
 */
export async function readText(path: string, what = "file"): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new ToolkitError(`${path}: ${what} not found`);
    if (e instanceof Deno.errors.IsADirectory) {
      throw new ToolkitError(`${path}: ${what} is a directory`);
    }
    throw new ToolkitError(`${path}: cannot read ${what} (${(e as Error).message})`);
  }
  return decodeText(bytes, path, what);
}

/**
 * Decodes UTF-8 text, refusing invalid UTF-8 and binary control bytes with the byte offset (see
 * {@link readText}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeText } from "@sprint-wgpu/toolkit/data";
 * assert.equal(decodeText(new Uint8Array([0x68, 0x69]), "x.txt"), "hi");
 * assert.throws(
 *   () => decodeText(new Uint8Array([0x68, 0x00]), "x.txt"),
 *   /x\.txt: file is not text \(binary byte 0x00 at byte offset 1\)/,
 * );
 * ```
 */
export function decodeText(bytes: Uint8Array, file: string, what = "file"): string {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b < 0x20 && !(b >= 0x09 && b <= 0x0d) && b !== 0x1b) {
      throw new ToolkitError(
        `${file}: ${what} is not text (binary byte 0x${
          b.toString(16).padStart(2, "0")
        } at byte offset ${i})`,
      );
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ToolkitError(
      `${file}: ${what} is not valid UTF-8 (at byte offset ${firstInvalidUtf8(bytes)})`,
    );
  }
}

/** Offset of the first byte that does not start a valid UTF-8 sequence (RFC 3629). */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c < 0x80) n = 0;
    else if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= n; k++) {
      const x = b[i + k];
      if (x === undefined || x < (k === 1 ? lo : 0x80) || x > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return b.length;
}

/** Reads and parses a JSONL file (see {@link parseJsonl}); a file without records is an error. */
export async function readJsonl(path: string, limit = Infinity): Promise<JsonlRecord[]> {
  const records = parseJsonl(await readText(path, "JSONL file"), path, limit);
  if (records.length === 0 && limit > 0) {
    throw new ToolkitError(`${path}: JSONL file has no records (it is empty or blank)`);
  }
  return records;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") {
    return `a string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v)}`;
  }
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Field accessors that throw line-numbered errors. */
export class Fields {
  readonly #rec: JsonlRecord;
  readonly #file: string;

  /** Wraps record `rec` of `file` (its line number names errors). */
  constructor(rec: JsonlRecord, file: string) {
    this.#rec = rec;
    this.#file = file;
  }

  #fail(name: string, expected: string, got: unknown): never {
    const what = got === undefined ? "is missing" : `is ${describe(got)}`;
    throw new ToolkitError(
      `${this.#file}:${this.#rec.line}: field "${name}" ${what} (expected ${expected})`,
    );
  }

  /** A string field (`nonEmpty`: not "" or only whitespace). */
  string(name: string, nonEmpty = false): string {
    const v = this.#rec.value[name];
    if (typeof v !== "string") this.#fail(name, "a string", v);
    if (nonEmpty && v.trim() === "") this.#fail(name, "a non-empty string", v);
    return v;
  }

  /** An array of strings with at least `min` entries. */
  strings(name: string, min = 1): string[] {
    const v = this.#rec.value[name];
    if (!Array.isArray(v) || v.length < min || v.some((x) => typeof x !== "string")) {
      this.#fail(name, `an array of at least ${min} strings`, v);
    }
    return v as string[];
  }

  /** An integer in [0, `limit`). */
  index(name: string, limit: number): number {
    const v = this.#rec.value[name];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= limit) {
      this.#fail(name, `an integer in [0, ${limit})`, v);
    }
    return v;
  }
}
