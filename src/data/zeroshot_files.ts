/**
 * Readers of the zero-shot benchmark files laid out like `../shared/data/bench/` (llm-foundry's
 * copies of the lm-evaluation-harness datasets, see `../shared/data/README.md`). They only parse
 * and validate the fields; the lm-eval prompts are built in `src/eval/tasks.ts`.
 *
 * | file | fields |
 * |---|---|
 * | `piqa.jsonl`, `arc_easy.jsonl`, `arc_challenge.jsonl`, `boolq.jsonl`, `openbook_qa.jsonl` | `query`, `choices[]`, `gold` |
 * | `winogrande.jsonl` | `context_options[2]`, `continuation`, `gold` |
 * | `lambada_openai.jsonl` | `context`, `continuation` |
 * | `hellaswag_val.txt` | 6 lines per item: `activity_label: ctx`, gold index, 4 endings |
 *
 * Every reader takes a `limit` (first N items; later lines are not read) and reports malformed
 * input as a one-line {@link ToolkitError} with the file and line number.
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import { Fields, readJsonl, readText } from "./jsonl.ts";

/** A multiple-choice item: `query`, `choices`, `gold`. */
export interface ChoiceRecord {
  /** 1-based line of the item in its file. */
  line: number;
  /** The question or prompt. */
  query: string;
  /** The answer options. */
  choices: string[];
  /** Index of the correct option. */
  gold: number;
}

/** A WinoGrande item: the sentence up to the blank with each option filled in, and the rest. */
export interface WinograndeRecord {
  /** 1-based line of the item in its file. */
  line: number;
  /** The sentence up to the blank, once with each option filled in. */
  contextOptions: string[];
  /** The sentence after the blank. */
  continuation: string;
  /** Index of the correct option. */
  gold: number;
}

/** A LAMBADA item: the passage without its last word, and the last word. */
export interface LambadaRecord {
  /** 1-based line of the item in its file. */
  line: number;
  /** The passage without its last word. */
  context: string;
  /** The last word (with its leading space). */
  continuation: string;
}

/** A HellaSwag item as stored in `hellaswag_val.txt`. */
export interface HellaswagRecord {
  /** Line of the item's first line (`activity_label: ctx`). */
  line: number;
  /** `activity_label + ": " + ctx` with the dataset's `ctx` (ctx_b not capitalised). */
  ctx: string;
  /** Index of the correct ending. */
  gold: number;
  /** The four candidate endings. */
  endings: string[];
}

/**
 * Reads a `query` / `choices` / `gold` JSONL file (PIQA, ARC, BoolQ, OpenBookQA).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readChoiceFile } from "@sprint-wgpu/toolkit/data";
 * const path = await Deno.makeTempFile({ suffix: ".jsonl" });
 * await Deno.writeTextFile(
 *   path,
 *   '{"query": "Q: sky?", "choices": [" red", " blue"], "gold": 1}\n' +
 *     '{"query": "Q: grass?", "choices": [" green", " pink"], "gold": 0}\n',
 * );
 * const items = await readChoiceFile(path, 1); // only the first record
 * assert.deepEqual(items, [{ line: 1, query: "Q: sky?", choices: [" red", " blue"], gold: 1 }]);
 * await Deno.remove(path);
 * ```
 */
export async function readChoiceFile(path: string, limit = Infinity): Promise<ChoiceRecord[]> {
  return (await readJsonl(path, limit)).map((rec) => {
    const f = new Fields(rec, path);
    const query = f.string("query");
    const choices = f.strings("choices", 2);
    const gold = f.index("gold", choices.length);
    return { line: rec.line, query, choices, gold };
  });
}

/** Reads `winogrande.jsonl` (`context_options`, `continuation`, `gold`). */
export async function readWinogrande(path: string, limit = Infinity): Promise<WinograndeRecord[]> {
  return (await readJsonl(path, limit)).map((rec) => {
    const f = new Fields(rec, path);
    const contextOptions = f.strings("context_options", 2);
    const continuation = f.string("continuation", true);
    const gold = f.index("gold", contextOptions.length);
    return { line: rec.line, contextOptions, continuation, gold };
  });
}

/** Reads `lambada_openai.jsonl` (`context`, `continuation`). */
export async function readLambada(path: string, limit = Infinity): Promise<LambadaRecord[]> {
  return (await readJsonl(path, limit)).map((rec) => {
    const f = new Fields(rec, path);
    return {
      line: rec.line,
      context: f.string("context"),
      // The scored last word: an empty one would count as correct for any model.
      continuation: f.string("continuation", true),
    };
  });
}

/**
 * Parses the HellaSwag text layout: 6 lines per item (`activity_label: ctx`, the gold index 0–3,
 * the 4 endings). A trailing newline is allowed; anything else that breaks the layout is an error
 * naming the line.
 */
export function parseHellaswag(text: string, file: string, limit = Infinity): HellaswagRecord[] {
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const out: HellaswagRecord[] = [];
  for (let i = 0; i < lines.length && out.length < limit; i += 6) {
    if (i + 6 > lines.length) {
      throw new ToolkitError(
        `${file}:${i + 1}: incomplete item (${
          lines.length - i
        } of 6 lines: context, gold index, 4 endings)`,
      );
    }
    const goldLine = lines[i + 1].trim();
    if (!/^[0-3]$/.test(goldLine)) {
      throw new ToolkitError(
        `${file}:${i + 2}: expected the gold index (0–3) of the item starting on line ${
          i + 1
        }, got ${JSON.stringify(goldLine.slice(0, 40))}`,
      );
    }
    if (lines[i].trim() === "") throw new ToolkitError(`${file}:${i + 1}: empty context line`);
    out.push({
      line: i + 1,
      ctx: lines[i],
      gold: Number(goldLine),
      endings: lines.slice(i + 2, i + 6),
    });
  }
  return out;
}

/** Reads `hellaswag_val.txt` (see {@link parseHellaswag}). */
export async function readHellaswag(path: string, limit = Infinity): Promise<HellaswagRecord[]> {
  const items = parseHellaswag(await readText(path, "HellaSwag file"), path, limit);
  if (items.length === 0 && limit > 0) {
    throw new ToolkitError(`${path}: HellaSwag file has no items (it is empty)`);
  }
  return items;
}
