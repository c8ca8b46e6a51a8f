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
 * parseJsonl('{"a": 1}\n\n{"a": 2}\n', "x.jsonl"); // [{ line: 1, … }, { line: 3, … }]
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

/** Reads a text file, turning a missing or unreadable file into a one-line error. */
export async function readText(path: string, what = "file"): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new ToolkitError(`${path}: ${what} not found`);
    throw new ToolkitError(`${path}: cannot read ${what} (${(e as Error).message})`);
  }
}

/** Reads and parses a JSONL file (see {@link parseJsonl}). */
export async function readJsonl(path: string, limit = Infinity): Promise<JsonlRecord[]> {
  return parseJsonl(await readText(path, "JSONL file"), path, limit);
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

  /** A string field. */
  string(name: string): string {
    const v = this.#rec.value[name];
    if (typeof v !== "string") this.#fail(name, "a string", v);
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
