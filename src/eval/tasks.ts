/**
 * The evaluation tasks: names, where their data lives under a data directory laid out like
 * `../shared/data`, and the exact lm-evaluation-harness v0.4.1 prompts built from the stored
 * fields. Every request is `(context, continuation)` scored by log-likelihood; for multiple
 * choice the continuation is lm-eval's `target_delimiter` `" "` followed by the choice.
 *
 * | task | lm-eval dataset / split | context | continuations | metrics |
 * |---|---|---|---|---|
 * | piqa | piqa / validation | `"Question: {goal}\nAnswer:"` | `" {sol1}"`, `" {sol2}"` | acc, acc_norm |
 * | arc_easy | ai2_arc ARC-Easy / test | `"Question: {question}\nAnswer:"` | `" {choice}"` | acc, acc_norm |
 * | arc_challenge | ai2_arc ARC-Challenge / test | as arc_easy | `" {choice}"` | acc, acc_norm |
 * | boolq | super_glue boolq / validation | `"{passage}\nQuestion: {question}?\nAnswer:"` | `" no"`, `" yes"` | acc |
 * | hellaswag | hellaswag / validation | `preprocess("{activity_label}: {ctx_a} {ctx_b.capitalize()}")` | `" " + preprocess(ending)` | acc, acc_norm |
 * | openbookqa | openbookqa main / test | `"{question_stem}"` | `" {choice}"` | acc, acc_norm |
 * | winogrande | winogrande_xl / validation | sentence up to the blank with option i filled in (one context per option) | `" {rest of the sentence}"` (shared) | acc |
 * | lambada | EleutherAI/lambada_openai / test | the passage without its last word | `" {last word}"` | acc (greedy), ppl |
 *
 * How the stored fields (llm-foundry's copies) map to those prompts is documented on each
 * builder below; each has a test on hand-made items.
 *
 * Perplexity tasks: `wikitext2` (`corpus/wikitext2_test.raw`, HF rows joined with `"\n\n"`),
 * `tinystories` (`corpus/tinystories_val_subset.txt`, plain text), `text:PATH` (any plain-text
 * file), and `heldout` (`heldout.txt` in the model's directory; for the embedded default model
 * {@link DEFAULT_HELDOUT_TEXT}).
 *
 * @module
 */
import { join } from "node:path";
import { ToolkitError } from "../errors.ts";
import {
  type ChoiceRecord,
  type HellaswagRecord,
  type LambadaRecord,
  readChoiceFile,
  readHellaswag,
  readLambada,
  readWinogrande,
  type WinograndeRecord,
} from "../data/zeroshot_files.ts";
import { DEFAULT_MODEL_DIR } from "../model/default.ts";

/** Held-out text of the embedded default model (what `deno task eval` scores with no flags). */
export const DEFAULT_HELDOUT_TEXT: string = join(DEFAULT_MODEL_DIR, "heldout.txt");

/** Zero-shot tasks, in the order the SPRINT paper reports them. */
export const ZERO_SHOT_TASKS = [
  "piqa",
  "arc_easy",
  "arc_challenge",
  "boolq",
  "hellaswag",
  "winogrande",
  "openbookqa",
  "lambada",
] as const;

/** Named perplexity tasks (plus `text:PATH`). */
export const PERPLEXITY_TASKS = ["wikitext2", "tinystories", "heldout"] as const;

/** A zero-shot task name. */
export type ZeroShotTask = typeof ZERO_SHOT_TASKS[number];

/** Every task name the CLI accepts, for error messages. */
export function knownTaskNames(): string[] {
  return [...ZERO_SHOT_TASKS, ...PERPLEXITY_TASKS, "text:PATH"];
}

/** Whether `name` is a zero-shot task. */
export function isZeroShotTask(name: string): name is ZeroShotTask {
  return (ZERO_SHOT_TASKS as readonly string[]).includes(name);
}

/** Whether `name` is a perplexity task (`wikitext2`, `tinystories`, `heldout`, `text:PATH`). */
export function isPerplexityTask(name: string): boolean {
  return (PERPLEXITY_TASKS as readonly string[]).includes(name) || name.startsWith("text:");
}

/**
 * Parses a comma-separated task list; an unknown name is an error listing the known ones.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTaskList } from "@sprint-wgpu/toolkit/eval";
 * assert.deepEqual(parseTaskList("piqa, arc_easy,text:notes.txt"), ["piqa", "arc_easy", "text:notes.txt"]);
 * ```
 */
export function parseTaskList(list: string): string[] {
  const out: string[] = [];
  for (const raw of list.split(",")) {
    const name = raw.trim();
    if (name === "") continue;
    if (name === "text:") throw new ToolkitError(`task "text:" needs a path (text:PATH)`);
    if (!isZeroShotTask(name) && !isPerplexityTask(name)) {
      throw new ToolkitError(`unknown task "${name}"; known tasks: ${knownTaskNames().join(", ")}`);
    }
    if (!out.includes(name)) out.push(name);
  }
  if (out.length === 0) {
    throw new ToolkitError(`--tasks: no task given; known tasks: ${knownTaskNames().join(", ")}`);
  }
  return out;
}

/** One scored request of a document. */
export interface DocRequest {
  /** Context text. */
  context: string;
  /** Continuation text (scored). */
  continuation: string;
}

/** A document turned into requests. */
export interface TaskDoc {
  /** 1-based line of the item in its file. */
  line: number;
  /** One request per choice (one in all for LAMBADA). */
  requests: DocRequest[];
  /** Choice texts whose lengths normalise `acc_norm` (the raw choices, no leading space). */
  choices: string[];
  /** Gold choice index (0 for LAMBADA, unused). */
  gold: number;
}

/** What a task is and how its documents are built. */
export interface TaskSpec {
  /** The task's name. */
  name: ZeroShotTask;
  /** `choice` (acc by argmax of log-likelihoods) or `lambada` (greedy accuracy + perplexity). */
  kind: "choice" | "lambada";
  /** File under the data directory. */
  file: string;
  /** The lm-eval dataset and split the file copies. */
  dataset: string;
  /** The lm-eval split the file copies. */
  split: string;
  /** Number of documents in the full split (lm-eval's count). */
  size: number;
  /** Context template (lm-eval `doc_to_text`). */
  prompt: string;
  /** Continuation template (target delimiter + lm-eval `doc_to_target` / choice). */
  continuation: string;
  /** Metrics lm-eval reports for the task. */
  metrics: ("acc" | "acc_norm" | "ppl")[];
  /** Reads the first `limit` documents from `path`. */
  load(path: string, limit?: number): Promise<TaskDoc[]>;
}

function bad(file: string, line: number, what: string): never {
  throw new ToolkitError(`${file}:${line}: ${what}`);
}

/** lm-eval's target delimiter for every task here. */
const DELIM = " ";

function choiceDoc(rec: ChoiceRecord, context: string): TaskDoc {
  return {
    line: rec.line,
    requests: rec.choices.map((c) => ({ context, continuation: DELIM + c })),
    choices: rec.choices,
    gold: rec.gold,
  };
}

/**
 * PIQA. The file's query is `"Question: {goal}\n"`; lm-eval's `doc_to_text` is
 * `"Question: {{goal}}\nAnswer:"`, so the context is the query with `"Answer:"` appended.
 * Choices: `sol1`, `sol2`.
 */
export function piqaDoc(rec: ChoiceRecord, file = "piqa.jsonl"): TaskDoc {
  if (!rec.query.startsWith("Question: ") || !rec.query.endsWith("\n")) {
    bad(file, rec.line, `field "query" is not "Question: {goal}\\n"`);
  }
  return choiceDoc(rec, rec.query + "Answer:");
}

/** ARC-Easy / ARC-Challenge. The file's query is `"Question: {question}"`; context `query + "\nAnswer:"`. */
export function arcDoc(rec: ChoiceRecord, file = "arc.jsonl"): TaskDoc {
  if (!rec.query.startsWith("Question: ")) {
    bad(file, rec.line, `field "query" is not "Question: {question}"`);
  }
  return choiceDoc(rec, rec.query + "\nAnswer:");
}

/**
 * BoolQ. The file's query is `"Passage: {passage}\nQuestion: {question}?"`; lm-eval's prompt is
 * `"{{passage}}\nQuestion: {{question}}?\nAnswer:"`: the `"Passage: "` label is dropped and
 * `"\nAnswer:"` appended. Choices `["no", "yes"]` (gold 1 = yes).
 */
export function boolqDoc(rec: ChoiceRecord, file = "boolq.jsonl"): TaskDoc {
  const q = rec.query;
  if (!q.startsWith("Passage: ") || !q.includes("\nQuestion: ") || !q.endsWith("?")) {
    bad(file, rec.line, `field "query" is not "Passage: {passage}\\nQuestion: {question}?"`);
  }
  if (rec.choices.length !== 2 || rec.choices[0] !== "no" || rec.choices[1] !== "yes") {
    bad(file, rec.line, `field "choices" is ${JSON.stringify(rec.choices)}, expected ["no","yes"]`);
  }
  return choiceDoc(rec, q.slice("Passage: ".length) + "\nAnswer:");
}

/** OpenBookQA. The query is the bare `question_stem` (lm-eval `doc_to_text: question_stem`). */
export function openbookqaDoc(rec: ChoiceRecord): TaskDoc {
  return choiceDoc(rec, rec.query);
}

/**
 * lm-eval's HellaSwag `preprocess`: strip, `" [title]"` → `". "`, remove `[...]` spans
 * (non-greedy, within a line), then replace double spaces with one (a single left-to-right pass,
 * as Python's `str.replace`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hellaswagPreprocess } from "@sprint-wgpu/toolkit/eval";
 * const t = hellaswagPreprocess("Label: [header] How to x [title] Do y. [step] Z ");
 * assert.equal(t, "Label: How to x. Do y. Z");
 * ```
 */
export function hellaswagPreprocess(text: string): string {
  let t = text.trim();
  t = t.replaceAll(" [title]", ". ");
  t = t.replace(/\[.*?\]/g, "");
  t = t.replaceAll("  ", " ");
  return t;
}

/** Python's `str.capitalize`: first character upper case, the rest lower case. */
export function pyCapitalize(s: string): string {
  if (s === "") return s;
  const first = [...s][0];
  return first.toUpperCase() + s.slice(first.length).toLowerCase();
}

/**
 * Restores lm-eval's `ctx_a + " " + ctx_b.capitalize()` from the stored line.
 *
 * What the stored file holds (checked on `../shared/data/bench/hellaswag_val.txt`): its first
 * line is `"{activity_label}: {ctx}"` with the dataset's `ctx` field, which is
 * `ctx_a + " " + ctx_b` with ctx_b NOT capitalised (e.g. `"…sitting on a roof. he"`), and the
 * WikiHow `[header]`/`[title]`/`[step]` markers already replaced (other `[...]` spans are still
 * there, and lm-eval's `preprocess` removes them). ctx_b is the lower-case sentence fragment
 * after the last sentence end (`. `, `! `, `? `): when the text after the last sentence end starts
 * with a lower-case letter, it is taken as ctx_b and capitalised with Python's semantics (first
 * letter upper, the rest lower). This is exact unless ctx_b itself contains a sentence end or
 * starts with an upper-case letter while containing more upper case (not recoverable from the
 * file; lm-eval would lower-case it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { restoreHellaswagCtx } from "@sprint-wgpu/toolkit/eval";
 * const ctx = restoreHellaswagCtx("Roof shingle removal: A man is sitting on a roof. he");
 * assert.equal(ctx, "Roof shingle removal: A man is sitting on a roof. He");
 * ```
 */
export function restoreHellaswagCtx(line: string): string {
  const re = /[.!?] /g;
  let cut = -1;
  for (let m = re.exec(line); m; m = re.exec(line)) cut = m.index + 2;
  if (cut < 0) {
    const colon = line.indexOf(": ");
    if (colon < 0) return line;
    cut = colon + 2;
  }
  const frag = line.slice(cut);
  if (!/^\p{Ll}/u.test(frag)) return line;
  return line.slice(0, cut) + pyCapitalize(frag);
}

/**
 * HellaSwag. Context `preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize())`
 * (see {@link restoreHellaswagCtx} for how the stored line maps to it), choices
 * `preprocess(ending)` for the 4 endings.
 */
export function hellaswagDoc(rec: HellaswagRecord): TaskDoc {
  const choices = rec.endings.map(hellaswagPreprocess);
  const context = hellaswagPreprocess(restoreHellaswagCtx(rec.ctx));
  return {
    line: rec.line,
    requests: choices.map((c) => ({ context, continuation: DELIM + c })),
    choices,
    gold: rec.gold,
  };
}

/**
 * WinoGrande, partial evaluation (lm-eval `winogrande`): for each option the context is the
 * sentence up to the blank with the option filled in (`context_options[i]`) and the continuation
 * is `" " + the rest of the sentence after the blank, stripped` (`continuation`), scored after
 * every context; acc only.
 */
export function winograndeDoc(rec: WinograndeRecord): TaskDoc {
  return {
    line: rec.line,
    requests: rec.contextOptions.map((c) => ({
      context: c,
      continuation: DELIM + rec.continuation,
    })),
    choices: rec.contextOptions,
    gold: rec.gold,
  };
}

/**
 * LAMBADA (OpenAI). lm-eval: context `text.split(' ')[:-1].join(' ')`, continuation
 * `' ' + text.split(' ')[-1]`; the file stores the two parts without the joining space.
 */
export function lambadaDoc(rec: LambadaRecord): TaskDoc {
  return {
    line: rec.line,
    requests: [{ context: rec.context, continuation: " " + rec.continuation }],
    choices: [rec.continuation],
    gold: 0,
  };
}

const CHOICE_METRICS: TaskSpec["metrics"] = ["acc", "acc_norm"];

/** The zero-shot task table (see the module doc). */
export const TASKS: Readonly<Record<ZeroShotTask, TaskSpec>> = {
  piqa: {
    name: "piqa",
    kind: "choice",
    file: "bench/piqa.jsonl",
    dataset: "piqa",
    split: "validation",
    size: 1838,
    prompt: "Question: {goal}\\nAnswer:",
    continuation: " {sol1} | {sol2}",
    metrics: CHOICE_METRICS,
    load: async (p, limit) => (await readChoiceFile(p, limit)).map((r) => piqaDoc(r, p)),
  },
  arc_easy: {
    name: "arc_easy",
    kind: "choice",
    file: "bench/arc_easy.jsonl",
    dataset: "allenai/ai2_arc ARC-Easy",
    split: "test",
    size: 2376,
    prompt: "Question: {question}\\nAnswer:",
    continuation: " {choices.text[i]}",
    metrics: CHOICE_METRICS,
    load: async (p, limit) => (await readChoiceFile(p, limit)).map((r) => arcDoc(r, p)),
  },
  arc_challenge: {
    name: "arc_challenge",
    kind: "choice",
    file: "bench/arc_challenge.jsonl",
    dataset: "allenai/ai2_arc ARC-Challenge",
    split: "test",
    size: 1172,
    prompt: "Question: {question}\\nAnswer:",
    continuation: " {choices.text[i]}",
    metrics: CHOICE_METRICS,
    load: async (p, limit) => (await readChoiceFile(p, limit)).map((r) => arcDoc(r, p)),
  },
  boolq: {
    name: "boolq",
    kind: "choice",
    file: "bench/boolq.jsonl",
    dataset: "super_glue boolq",
    split: "validation",
    size: 3270,
    prompt: "{passage}\\nQuestion: {question}?\\nAnswer:",
    continuation: " no | yes",
    metrics: ["acc"],
    load: async (p, limit) => (await readChoiceFile(p, limit)).map((r) => boolqDoc(r, p)),
  },
  hellaswag: {
    name: "hellaswag",
    kind: "choice",
    file: "bench/hellaswag_val.txt",
    dataset: "hellaswag",
    split: "validation",
    size: 10042,
    prompt: "preprocess({activity_label}: {ctx_a} {ctx_b.capitalize()})",
    continuation: " preprocess({endings[i]})",
    metrics: CHOICE_METRICS,
    load: async (p, limit) => (await readHellaswag(p, limit)).map(hellaswagDoc),
  },
  winogrande: {
    name: "winogrande",
    kind: "choice",
    file: "bench/winogrande.jsonl",
    dataset: "winogrande winogrande_xl",
    split: "validation",
    size: 1267,
    prompt: "{sentence up to _ with option i} (partial evaluation)",
    continuation: " {sentence after _, stripped}",
    metrics: ["acc"],
    load: async (p, limit) => (await readWinogrande(p, limit)).map(winograndeDoc),
  },
  openbookqa: {
    name: "openbookqa",
    kind: "choice",
    file: "bench/openbook_qa.jsonl",
    dataset: "openbookqa main",
    split: "test",
    size: 500,
    prompt: "{question_stem}",
    continuation: " {choices.text[i]}",
    metrics: CHOICE_METRICS,
    load: async (p, limit) => (await readChoiceFile(p, limit)).map(openbookqaDoc),
  },
  lambada: {
    name: "lambada",
    kind: "lambada",
    file: "bench/lambada_openai.jsonl",
    dataset: "EleutherAI/lambada_openai default",
    split: "test",
    size: 5153,
    prompt: "{text without its last word}",
    continuation: " {last word}",
    metrics: ["acc", "ppl"],
    load: async (p, limit) => (await readLambada(p, limit)).map(lambadaDoc),
  },
};

/** Where a perplexity task's text comes from and how it is read. */
export interface PerplexitySource {
  /** The task's name. */
  name: string;
  /** The text file read. */
  path: string;
  /** `wikitext2`: HF rows joined with "\n\n"; `plain`: the file as one string. */
  format: "wikitext2" | "plain";
}

/**
 * Resolves a perplexity task to its file: `wikitext2` and `tinystories` under `dataDir/corpus/`,
 * `text:PATH` as given, `heldout` as `heldout.txt` in `modelDir`.
 */
export function perplexitySource(
  name: string,
  dataDir: string,
  modelDir?: string,
): PerplexitySource {
  if (name === "wikitext2") {
    return { name, path: join(dataDir, "corpus", "wikitext2_test.raw"), format: "wikitext2" };
  }
  if (name === "tinystories") {
    return { name, path: join(dataDir, "corpus", "tinystories_val_subset.txt"), format: "plain" };
  }
  if (name === "heldout") {
    return {
      name,
      path: modelDir ? join(modelDir, "heldout.txt") : DEFAULT_HELDOUT_TEXT,
      format: "plain",
    };
  }
  if (name.startsWith("text:")) return { name, path: name.slice(5), format: "plain" };
  throw new ToolkitError(
    `unknown perplexity task "${name}"; known tasks: ${knownTaskNames().join(", ")}`,
  );
}
