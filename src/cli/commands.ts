/**
 * Flag tables of the tasks that have no command module of their own (generate, tune, bench,
 * pretrain, corpus). prune, eval and compare keep theirs beside their code
 * (src/prune/flags.ts, src/eval/cli.ts, src/compare/args.ts). Adding a flag is one entry.
 *
 * @module
 */
import { defineCommand } from "./flags.ts";

/** `deno task generate`. */
export const GENERATE_COMMAND = defineCommand({
  name: "generate",
  summary:
    "Continue a prompt with the model (KV cache); prints prefill / decode tokens per second.",
  flags: [
    {
      name: "model",
      type: "path",
      valueName: "DIR",
      help: "model directory",
      defaultText: "the embedded default model",
    },
    { name: "prompt", type: "string", default: "Once upon a time", help: "prompt text" },
    {
      name: "max-new-tokens",
      type: "int",
      min: 0,
      default: 100,
      help: "tokens to generate (prompt + these must fit the context)",
    },
    { name: "temperature", type: "float", min: 0, default: 0, help: "0 = greedy" },
    {
      name: "top-p",
      type: "float",
      min: 0,
      minExclusive: true,
      max: 1,
      default: 1,
      help: "nucleus sampling mass",
    },
    { name: "seed", type: "int", min: 0, default: 0, help: "sampling seed" },
    { name: "f32", type: "bool", help: "keep weights in f32 on the GPU" },
  ],
});

/** `deno task tune`. */
export const TUNE_COMMAND = defineCommand({
  name: "tune",
  summary:
    "LoRA fast tuning of the present sublayers, merged into the weights, saved as a model directory.",
  flags: [
    { name: "model", type: "path", valueName: "DIR", required: true, help: "model directory" },
    { name: "out", type: "path", valueName: "DIR", required: true, help: "output model directory" },
    { name: "rank", type: "int", min: 1, default: 8, help: "LoRA rank" },
    { name: "alpha", type: "float", min: 0, minExclusive: true, default: 16, help: "LoRA alpha" },
    {
      name: "targets",
      type: "list",
      choices: ["q", "k", "v", "o", "gate", "up", "down"],
      default: ["q", "k", "v", "o", "gate", "up", "down"],
      help: "adapted projections",
    },
    { name: "steps", type: "int", min: 1, default: 100, help: "training steps" },
    {
      name: "lr",
      type: "float",
      min: 0,
      minExclusive: true,
      default: 0.001,
      help: "learning rate",
    },
    { name: "batch", type: "int", min: 1, default: 4, help: "sequences per step" },
    { name: "seq-len", type: "int", min: 1, default: 128, help: "tokens per sequence" },
    {
      name: "data",
      type: "path",
      valueName: "FILE",
      help: "training text (last 10 % held out)",
      defaultText: "<model>/calibration.txt",
    },
    { name: "seed", type: "int", min: 0, default: 0, help: "seed" },
    { name: "overwrite", type: "bool", help: "replace an existing --out" },
  ],
});

/** `deno task bench`. */
export const BENCH_COMMAND = defineCommand({
  name: "bench",
  summary:
    "Kernel GFLOP/s or GB/s (outputs checked first), forward prefill/decode tokens/s, PIQA items/s.",
  flags: [
    { name: "json", type: "path", valueName: "FILE", help: "also write the figures as JSON" },
    { name: "quick", type: "bool", help: "fewer cases and tokens" },
    { name: "filter", type: "string", help: "only kernel cases whose name contains TEXT" },
    { name: "reps", type: "int", min: 1, default: 7, help: "timed repetitions per case" },
    {
      name: "only",
      type: "choice",
      choices: ["kernels", "forward"],
      help: "run one part only",
    },
    {
      name: "vs",
      type: "choice",
      choices: ["llamacpp"],
      help: "side by side with llama.cpp instead: prefill 512 / decode 128, ratios with spread",
    },
    {
      name: "rounds",
      type: "int",
      min: 1,
      default: 5,
      help: "alternating rounds per cell (--vs)",
    },
    {
      name: "threads",
      type: "list",
      items: "int",
      min: 1,
      default: [1, 2],
      help: "thread counts (--vs)",
    },
    {
      name: "dtypes",
      type: "list",
      choices: ["f32", "f16"],
      default: ["f32", "f16"],
      help: "weight types (--vs)",
    },
    {
      name: "scale",
      type: "bool",
      help:
        "search time / syncs / memory of SPRINT vs the baselines on generated deep models instead",
    },
    {
      name: "scale-depths",
      type: "list",
      items: "int",
      min: 0,
      default: [8, 16, 32],
      help: "depths (blocks) of the generated models, 0 = none (--scale)",
    },
    { name: "scale-hidden", type: "int", min: 16, default: 128, help: "residual width (--scale)" },
    { name: "scale-vocab", type: "int", min: 16, default: 2048, help: "vocabulary (--scale)" },
    {
      name: "scale-nsamples",
      type: "int",
      min: 1,
      default: 16,
      help: "calibration windows (--scale)",
    },
    {
      name: "scale-seq-len",
      type: "int",
      min: 2,
      default: 128,
      help: "tokens per calibration window (--scale)",
    },
    {
      name: "scale-sublayers",
      type: "int",
      min: 1,
      default: 8,
      help: "sublayers each method removes (--scale)",
    },
    {
      name: "scale-methods",
      type: "list",
      choices: ["sprint", "blockpruner", "sleb", "shortgpt"],
      default: ["sprint", "blockpruner", "sleb", "shortgpt"],
      help: "methods (--scale)",
    },
    {
      name: "scale-steps",
      type: "int",
      min: 1,
      help: "measure only the first K steps of BlockPruner/SLEB, project the rest (--scale)",
      valueName: "K",
      defaultText: "all steps measured",
    },
    {
      name: "scale-check-steps",
      type: "int",
      min: 0,
      default: 1,
      help: "SPRINT steps rerun uninstrumented and compared (--scale)",
    },
    {
      name: "scale-dtype",
      type: "choice",
      choices: ["f32", "f16"],
      default: "f32",
      help: "weight type of the generated models (--scale)",
    },
    {
      name: "scale-1b",
      type: "choice",
      choices: ["none", "plan", "step"],
      default: "plan",
      help: "Llama-3.2-1B-shaped entry: memory plan only, or plan + one SPRINT step (--scale)",
    },
    {
      name: "scale-1b-calibration",
      type: "list",
      items: "int",
      min: 2,
      default: [4, 128],
      valueName: "N,T",
      help: "windows, tokens of the Llama-3.2-1B step (--scale-1b step)",
    },
  ],
  exclusive: [
    ["vs", "only"],
    ["vs", "filter"],
    ["vs", "quick"],
    ["vs", "scale"],
    ["scale", "only"],
    ["scale", "filter"],
    ["scale", "quick"],
  ],
});

/** `deno task pretrain`. */
export const PRETRAIN_COMMAND = defineCommand({
  name: "pretrain",
  summary:
    "Reproduce the embedded default model: corpus → BPE tokenizer → training → model directory.",
  flags: [
    {
      name: "out",
      type: "path",
      valueName: "DIR",
      help: "model directory",
      defaultText: "data/models/default",
    },
    { name: "seed", type: "int", min: 0, default: 0, help: "seed" },
    { name: "steps", type: "int", min: 0, default: 1500, help: "training steps" },
    { name: "batch", type: "int", min: 1, default: 8, help: "sequences per step" },
    { name: "seq-len", type: "int", min: 2, default: 128, help: "tokens per sequence" },
    { name: "lr", type: "float", min: 0, minExclusive: true, default: 0.003, help: "peak lr" },
    {
      name: "corpus-dir",
      type: "path",
      valueName: "DIR",
      help: "use DIR/train.txt and DIR/validation.txt",
    },
    { name: "resume", type: "bool", help: "continue an interrupted run" },
    { name: "overwrite", type: "bool", help: "replace an existing --out" },
  ],
});

/** `deno run -A tasks/corpus.ts`. */
export const CORPUS_COMMAND = defineCommand({
  name: "corpus",
  invocation: "deno run --allow-all tasks/corpus.ts",
  summary: "Build the default model's corpus (and optionally train its BPE tokenizer).",
  flags: [
    {
      name: "out",
      type: "path",
      valueName: "DIR",
      required: true,
      help: "where the corpus files go",
    },
    { name: "holdout-every", type: "int", min: 1, default: 20, help: "hold out every N-th doc" },
    {
      name: "sources",
      type: "list",
      choices: ["sotu", "moby-dick", "kjv"],
      help: "subset of the sources",
      defaultText: "all three",
    },
    { name: "tokenizer", type: "path", valueName: "TOKDIR", help: "also train the tokenizer" },
    { name: "vocab-size", type: "int", min: 1, default: 4096, help: "tokenizer vocabulary" },
    {
      name: "model-max-length",
      type: "int",
      min: 1,
      default: 2048,
      help: "tokenizer_config model_max_length",
    },
    { name: "fetch", type: "bool", help: "first put the npm data packages in Deno's cache" },
  ],
});

/** `deno task export`. */
export const EXPORT_COMMAND = defineCommand({
  name: "export",
  summary:
    "Write a model directory (dense or pruned) as a GGUF v3 file for llama.cpp, tokenizer embedded.",
  flags: [
    { name: "model", type: "path", valueName: "DIR", required: true, help: "model directory" },
    { name: "out", type: "path", valueName: "FILE.gguf", required: true, help: "output file" },
    {
      name: "dtype",
      type: "choice",
      choices: ["f32", "f16"],
      default: "f32",
      help: "tensor type of the weight matrices (norms stay f32)",
    },
    { name: "overwrite", type: "bool", help: "replace an existing --out file" },
  ],
});
