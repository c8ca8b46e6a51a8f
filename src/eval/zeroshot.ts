/**
 * Zero-shot evaluation with lm-evaluation-harness v0.4.1 semantics: documents of a task
 * (`src/eval/tasks.ts`) become log-likelihood requests (`src/eval/loglikelihood.ts`), all
 * requests of a task are scored in GPU batches (a document's choices share their context), and
 * the per-document outcomes are aggregated into lm-eval's metrics (`src/eval/accuracy.ts`).
 *
 * @module
 */
import { join } from "node:path";
import { ToolkitError } from "../errors.ts";
import type { LlamaModel } from "../model/model.ts";
import {
  encodePair,
  type EncodePairOptions,
  loglikelihoodTokens,
  modelMaxLength,
  type ScoreOptions,
} from "./loglikelihood.ts";
import { docPerplexity, mean, meanStderr, scoreChoices } from "./accuracy.ts";
import { isZeroShotTask, knownTaskNames, type TaskDoc, TASKS, type TaskSpec } from "./tasks.ts";

/** Options for {@link zeroShot}. */
export interface ZeroShotOptions extends ScoreOptions, EncodePairOptions {
  /** Directory laid out like `../shared/data` (`bench/*.jsonl`, `bench/hellaswag_val.txt`). */
  dataDir: string;
  /** Evaluate only the first N documents of each task. */
  limit?: number;
  /** Keep per-document log-likelihoods and predictions in the result. */
  samples?: boolean;
  /** Called when a task starts, with its number of documents. */
  onTask?: (task: string, docs: number) => void;
}

/** Per-document record (with `samples: true`). */
export interface DocSample {
  /** Index of the document in the evaluated list (0-based). */
  doc: number;
  /** 1-based line of the document in its task file. */
  line: number;
  /** Log-likelihood (nats) of each request's continuation, one per choice. */
  lls: number[];
  /** Per request: the continuation is what greedy decoding produces. */
  isGreedy: boolean[];
  /** Index of the right choice (0 for LAMBADA). */
  gold: number;
  /** Choice picked by raw log-likelihood (0 for LAMBADA). */
  pred: number;
  /** Choice picked by log-likelihood per character (0 for LAMBADA). */
  predNorm: number;
  /** 1 when `pred` is `gold` (LAMBADA: when the continuation is greedy), else 0. */
  acc: number;
  /** 1 when `predNorm` is `gold` (LAMBADA: equal to `acc`), else 0. */
  accNorm: number;
}

/** How a task's figures were obtained. */
export interface ZeroShotProtocol {
  /** Task name, e.g. `piqa`. */
  task: string;
  /** The lm-eval dataset the task file copies. */
  dataset: string;
  /** The dataset split the task file copies. */
  split: string;
  /** Path of the task file that was read. */
  file: string;
  /** Documents evaluated (of `size` in the full split). */
  n: number;
  /** Documents in the full split (lm-eval's count). */
  size: number;
  /** Context template (lm-eval `doc_to_text`). */
  prompt: string;
  /** Continuation template (target delimiter + `doc_to_target` / choice). */
  continuation: string;
  /** lm-eval's target delimiter between context and continuation. */
  targetDelimiter: " ";
  /** The lm-eval version and request type whose semantics are reproduced. */
  semantics: "lm-evaluation-harness v0.4.1 (HFLM loglikelihood)";
  /** BOS added to every request (false in v0.4.1). */
  bos: boolean;
  /** lm-eval max_length; longer inputs keep their last maxLength + 1 tokens. */
  maxLength: number;
  /** Requests whose input was truncated on the left. */
  truncatedRequests: number;
  /** Metrics lm-eval reports for the task (`acc`, `acc_norm`, `ppl`). */
  metrics: string[];
}

/** Figures of one zero-shot task (field names as lm-eval reports them). */
export interface ZeroShotResult {
  /** Task name, e.g. `piqa`. */
  task: string;
  /** Documents evaluated. */
  n: number;
  /** Accuracy: mean over documents of the per-document `acc` (0 … 1). */
  acc: number;
  /** Standard error of `acc`: sample standard deviation / √n (NaN for n < 2). */
  acc_stderr: number;
  /** Accuracy by log-likelihood per character, for tasks that report it. */
  acc_norm?: number;
  /** Standard error of `acc_norm`. */
  acc_norm_stderr?: number;
  /** LAMBADA: `exp(−mean log-likelihood of the last word)`. */
  ppl?: number;
  /** How the figures were obtained. */
  protocol: ZeroShotProtocol;
  /** Per-document records (with `samples: true`). */
  samples?: DocSample[];
}

/**
 * Scores documents already in memory as task `spec` (the building block of {@link zeroShot};
 * tests use it on hand-made items).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { evaluateDocs, piqaDoc, TASKS } from "@sprint-wgpu/toolkit/eval";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const query = "Question: Who signs a bill into law?\n";
 * const docs = [piqaDoc({ line: 1, query, choices: ["The President.", "The weather."], gold: 0 })];
 * const r = await evaluateDocs(model, TASKS.piqa, docs);
 * assert.ok(r.n === 1 && (r.acc === 0 || r.acc === 1) && r.acc_norm !== undefined);
 * model.destroy();
 * ```
 */
export async function evaluateDocs(
  model: LlamaModel,
  spec: TaskSpec,
  docs: readonly TaskDoc[],
  options: Omit<ZeroShotOptions, "dataDir"> & { file?: string } = {},
): Promise<ZeroShotResult> {
  const tok = model.tokenizer;
  if (!tok) {
    throw new ToolkitError("the model has no tokenizer (tokenizer.json) to encode the prompts");
  }
  const maxLength = modelMaxLength(model, options.maxLength);
  const requests = docs.flatMap((d, i) =>
    d.requests.map((r) => ({ ...encodePair(tok, r.context, r.continuation, options), group: i }))
  );
  const results = await loglikelihoodTokens(model, requests, { ...options, maxLength });
  const { accs, accNorms, lambadaLls, samples } = scoreDocs(spec, docs, results, options.samples);
  const res: ZeroShotResult = {
    task: spec.name,
    n: docs.length,
    acc: mean(accs),
    acc_stderr: meanStderr(accs),
    protocol: {
      task: spec.name,
      dataset: spec.dataset,
      split: spec.split,
      file: options.file ?? spec.file,
      n: docs.length,
      size: spec.size,
      prompt: spec.prompt,
      continuation: spec.continuation,
      targetDelimiter: " ",
      semantics: "lm-evaluation-harness v0.4.1 (HFLM loglikelihood)",
      bos: options.bos ?? false,
      maxLength,
      truncatedRequests: results.filter((r) => r.truncated > 0).length,
      metrics: spec.metrics,
    },
  };
  if (spec.metrics.includes("acc_norm")) {
    res.acc_norm = mean(accNorms);
    res.acc_norm_stderr = meanStderr(accNorms);
  }
  if (spec.kind === "lambada") res.ppl = docPerplexity(lambadaLls);
  if (options.samples) res.samples = samples;
  return res;
}

/**
 * Throws a one-line error unless `dir` is an existing directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkDataDir } from "@sprint-wgpu/toolkit/eval";
 * const dir = await Deno.makeTempDir();
 * await checkDataDir(dir); // a directory: passes
 * await assert.rejects(checkDataDir(`${dir}/nowhere`), /data directory not found/); // one line
 * await Deno.remove(dir);
 * ```
 */
export async function checkDataDir(dir: string): Promise<void> {
  try {
    const st = await Deno.stat(dir);
    if (!st.isDirectory) throw new ToolkitError(`--data ${dir}: not a directory`);
  } catch (e) {
    if (e instanceof ToolkitError) throw e;
    throw new ToolkitError(
      `--data ${dir}: data directory not found (expected a directory laid out like ../shared/data, with bench/ and corpus/)`,
    );
  }
}

/**
 * Evaluates zero-shot tasks (names from {@link ZERO_SHOT_TASKS}) on the model, reading each
 * task's file under `options.dataDir`. Returns the results by task name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { zeroShot } from "@sprint-wgpu/toolkit/eval";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * // A data directory laid out like ../shared/data, with a two-item PIQA file:
 * const dataDir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dataDir}/bench`);
 * const item = (goal: string, sol1: string, sol2: string) =>
 *   JSON.stringify({ query: `Question: ${goal}\n`, choices: [sol1, sol2], gold: 0 });
 * await Deno.writeTextFile(
 *   `${dataDir}/bench/piqa.jsonl`,
 *   [item("Open a jar?", "Twist the lid.", "Eat the lid."), item("Dry a towel?", "Hang it.", "Boil it.")]
 *     .join("\n") + "\n",
 * );
 * const r = await zeroShot(model, ["piqa"], { dataDir, limit: 2 });
 * assert.ok(r.piqa.n === 2 && [0, 0.5, 1].includes(r.piqa.acc));
 * await Deno.remove(dataDir, { recursive: true });
 * model.destroy();
 * ```
 */
export async function zeroShot(
  model: LlamaModel,
  tasks: string | readonly string[],
  options: ZeroShotOptions,
): Promise<Record<string, ZeroShotResult>> {
  const names = typeof tasks === "string" ? [tasks] : [...tasks];
  for (const n of names) {
    if (!isZeroShotTask(n)) {
      throw new ToolkitError(
        `unknown zero-shot task "${n}"; known tasks: ${knownTaskNames().join(", ")}`,
      );
    }
  }
  if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit < 1)) {
    throw new ToolkitError(`--limit must be a positive integer, got ${options.limit}`);
  }
  await checkDataDir(options.dataDir);
  const out: Record<string, ZeroShotResult> = {};
  for (const name of names) {
    const spec = TASKS[name as keyof typeof TASKS];
    const path = join(options.dataDir, spec.file);
    const docs = await spec.load(path, options.limit);
    options.onTask?.(name, docs.length);
    out[name] = await evaluateDocs(model, spec, docs, { ...options, file: path });
  }
  return out;
}

/** Per-document scores of a task from its requests' log-likelihoods (in document order). */
export interface DocScores {
  /** `acc` of every document. */
  accs: number[];
  /** `acc_norm` of every document (= `acc` for LAMBADA). */
  accNorms: number[];
  /** LAMBADA: each document's continuation log-likelihood (for perplexity). */
  lambadaLls: number[];
  /** Per-document details (when asked for). */
  samples: DocSample[];
}

/**
 * Scores documents from the log-likelihoods of their requests, laid out document after document
 * (`choice` tasks: lm-eval's `acc` / `acc_norm`; LAMBADA: greedy accuracy, log-likelihoods kept).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { piqaDoc, scoreDocs, TASKS } from "@sprint-wgpu/toolkit/eval";
 * const docs = [piqaDoc({ line: 1, query: "Question: Open a jar?\n", choices: ["Twist it.", "Eat it."], gold: 0 })];
 * // one log-likelihood per choice (from loglikelihoodTokens): the gold choice scores higher
 * const s = scoreDocs(TASKS.piqa, docs, [{ logLikelihood: -2, isGreedy: false }, { logLikelihood: -5, isGreedy: false }]);
 * assert.deepEqual(s.accs, [1]);
 * ```
 */
export function scoreDocs(
  spec: TaskSpec,
  docs: readonly TaskDoc[],
  results: readonly { logLikelihood: number; isGreedy: boolean }[],
  keepSamples = false,
): DocScores {
  const accs: number[] = [];
  const accNorms: number[] = [];
  const lambadaLls: number[] = [];
  const samples: DocSample[] = [];
  let at = 0;
  docs.forEach((d, i) => {
    const rs = results.slice(at, at + d.requests.length);
    at += d.requests.length;
    const lls = rs.map((r) => r.logLikelihood);
    const greedy = rs.map((r) => r.isGreedy);
    let out: { pred: number; predNorm: number; acc: number; accNorm: number };
    if (spec.kind === "lambada") {
      const acc = greedy[0] ? 1 : 0;
      lambadaLls.push(lls[0]);
      out = { pred: 0, predNorm: 0, acc, accNorm: acc };
    } else {
      out = scoreChoices(lls, d.choices, d.gold);
    }
    accs.push(out.acc);
    accNorms.push(out.accNorm);
    if (keepSamples) {
      samples.push({ doc: i, line: d.line, lls, isGreedy: greedy, gold: d.gold, ...out });
    }
  });
  return { accs, accNorms, lambadaLls, samples };
}
