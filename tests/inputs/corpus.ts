/**
 * A malformed-input corpus, generated into a temporary folder (no binary file is checked in):
 * broken safetensors headers and data, non-finite and unaccounted weights, bad config.json fields,
 * shard indexes that point outside the model folder (including through a symlink), bad
 * tokenizers, calibration text that is not text, bad latency tables and empty or malformed
 * benchmark files — plus a few well-formed controls that must load.
 *
 * Each case knows how to run through the library (`lib`, fast, used by the test) and which CLI
 * invocation exercises it (`cli`, used by the subprocess tests and by `tests/inputs/hostile.ts`).
 *
 * @module
 */
import { join } from "node:path";
import { readConfig } from "../../src/model/config.ts";
import { expectedTensors, loadModel, readHostWeights } from "../../src/model/model.ts";
import { openCheckpoint, openSafetensors, writeSafetensors } from "../../src/model/safetensors.ts";
import { loadTokenizer } from "../../src/model/tokenizer.ts";
import { calibrationFromFile } from "../../src/sprint/calibration.ts";
import { readLatencyTable } from "../../src/sprint/latency.ts";
import { readChoiceFile, readHellaswag } from "../../src/data/zeroshot_files.ts";
import { readPlainText, readWikitext2 } from "../../src/data/corpus.ts";
import { testGpuF32 } from "../util.ts";
import { writeTinyData, writeTinyEvalModel } from "../eval/helpers.ts";

/** One generated input and what must happen with it. */
export interface InputCase {
  /** Class of the case (safetensors, weights, config, shards, tokenizer, calibration, latency, bench). */
  cls: string;
  /** Short description. */
  name: string;
  /** The error message must match (file and field); `null` for a control that must succeed. */
  expect: RegExp | null;
  /** Runs the case through the library. */
  lib: () => Promise<unknown>;
  /** Arguments of `deno run -A tasks/<task>.ts` that exercise the case from the command line. */
  cli: { task: "prune" | "eval"; args: string[] };
}

/** Paths of the shared, well-formed inputs of a corpus. */
export interface CorpusBase {
  root: string;
  model: string;
  calib: string;
  data: string;
}

const enc = new TextEncoder();

/** Raw safetensors bytes: u64 header length, the header text, `data` bytes of data. */
export function rawSafetensors(
  headerText: string,
  data: number | Uint8Array = 0,
  lenOverride?: bigint,
): Uint8Array<ArrayBuffer> {
  const json = enc.encode(headerText);
  const body = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isFile) await Deno.copyFile(join(from, e.name), join(to, e.name));
  }
}

/** Reads a safetensors file's header object and data section. */
async function splitSafetensors(
  path: string,
): Promise<{ header: Record<string, unknown>; data: Uint8Array }> {
  const st = await Deno.readFile(path);
  const n = Number(new DataView(st.buffer).getBigUint64(0, true));
  return {
    header: JSON.parse(new TextDecoder().decode(st.subarray(8, 8 + n))),
    data: st.subarray(8 + n),
  };
}

/**
 * Writes the corpus under `root` and returns its cases.
 *
 * @example
 * ```ts
 * const { cases } = await buildCorpus(await Deno.makeTempDir());
 * ```
 */
export async function buildCorpus(root: string): Promise<{ base: CorpusBase; cases: InputCase[] }> {
  const model = join(root, "base-model");
  const { config } = await writeTinyEvalModel(model);
  const data = join(root, "base-data");
  await writeTinyData(data);
  const calib = join(data, "corpus", "tinystories_val_subset.txt");
  const base: CorpusBase = { root, model, calib, data };
  const cases: InputCase[] = [];
  let n = 0;
  let outs = 0;
  const fresh = async (): Promise<string> => {
    const dir = join(root, `case-${++n}`);
    await copyDir(model, dir);
    return dir;
  };
  const pruneArgs = (m: string, extra: string[] = [], c = calib) => [
    "--model",
    m,
    "--calib",
    c,
    "--out",
    join(root, `out-${++outs}`),
    "--nsamples",
    "2",
    "--seq-len",
    "8",
    "--num-sublayers",
    "1",
    "--no-tuning",
    "--quiet",
    ...(extra.length ? extra : ["--no-latency-aware"]),
  ];
  const loadAll = async (dir: string) =>
    readHostWeights(
      await readConfig(dir),
      await openCheckpoint(dir),
      join(dir, "model.safetensors"),
    );

  // --- safetensors headers: openSafetensors on a file written byte by byte.
  const pending: Promise<void>[] = [];
  const header = (name: string, bytes: Uint8Array, expect: RegExp) => {
    const dir = join(root, `case-${++n}`);
    const file = join(dir, "model.safetensors");
    pending.push(copyDir(model, dir).then(() => Deno.writeFile(file, bytes)));
    cases.push({
      cls: "safetensors",
      name,
      expect,
      lib: () => openSafetensors(file),
      cli: { task: "prune", args: pruneArgs(dir) },
    });
  };
  const one = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  header("empty file", new Uint8Array(0), /model\.safetensors: file is 0 bytes/);
  header("3-byte file", new Uint8Array(3), /model\.safetensors: file is 3 bytes/);
  header(
    "header length beyond file size",
    rawSafetensors(one, 8, 1000n),
    /model\.safetensors: header length 1000 exceeds file size/,
  );
  header(
    "header length 2^63",
    rawSafetensors(one, 8, 1n << 63n),
    /model\.safetensors: header length 9223372036854775808 exceeds file size/,
  );
  header(
    "header not JSON",
    rawSafetensors("{nope", 8),
    /model\.safetensors: header is not valid JSON/,
  );
  header(
    "header is an array",
    rawSafetensors("[1,2]", 8),
    /model\.safetensors: header must be a JSON object/,
  );
  header(
    "duplicated tensor name",
    rawSafetensors(
      '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}',
      16,
    ),
    /model\.safetensors: tensor a appears twice in the header/,
  );
  header(
    "data truncated",
    rawSafetensors(one, 4),
    /model\.safetensors: tensor a: data_offsets end 8 beyond the data section \(4 bytes\)/,
  );
  header(
    "span does not match shape",
    rawSafetensors('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 8),
    /tensor a: data_offsets span 8 bytes, shape \[3\] F32 needs 12/,
  );
  header(
    "overlapping tensors",
    rawSafetensors(
      '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}',
      12,
    ),
    /tensors a and b overlap/,
  );
  header(
    "unknown dtype",
    rawSafetensors('{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}', 8),
    /tensor a: dtype "Q4" unsupported/,
  );
  header(
    "negative dimension",
    rawSafetensors('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', 8),
    /tensor a: shape must be an array of non-negative integers/,
  );
  header(
    "oversized dimension",
    rawSafetensors('{"a":{"dtype":"F32","shape":[1e300],"data_offsets":[0,8]}}', 8),
    /tensor a: shape must be an array of non-negative integers/,
  );
  header(
    "entry is null",
    rawSafetensors('{"a":null}', 0),
    /tensor a: entry must be an object/,
  );
  header(
    "metadata not strings",
    rawSafetensors('{"__metadata__":{"format":1}}', 0),
    /__metadata__ must map names to strings/,
  );
  await Promise.all(pending);

  const mutate = async (
    cls: string,
    name: string,
    expect: RegExp | null,
    edit: (dir: string) => Promise<void>,
    lib: (dir: string) => Promise<unknown> = loadAll,
    cliExtra: (dir: string) => string[] = () => [],
  ) => {
    const dir = await fresh();
    await edit(dir);
    cases.push({
      cls,
      name,
      expect,
      lib: () => lib(dir),
      cli: { task: "prune", args: pruneArgs(dir, cliExtra(dir)) },
    });
  };
  const rewrite = async (
    dir: string,
    fn: (h: Record<string, Record<string, unknown>>, data: Uint8Array) => Uint8Array | void,
  ) => {
    const p = join(dir, "model.safetensors");
    const { header, data } = await splitSafetensors(p);
    const out = fn(header as Record<string, Record<string, unknown>>, data) ?? data;
    await Deno.writeFile(p, rawSafetensors(JSON.stringify(header), out));
  };
  const setF32 = (
    h: Record<string, Record<string, unknown>>,
    data: Uint8Array,
    name: string,
    i: number,
    v: number,
  ) => {
    const off = (h[name].data_offsets as number[])[0];
    new DataView(data.buffer, data.byteOffset).setFloat32(off + 4 * i, v, true);
  };

  // --- weights: values and names the config does not account for.
  await mutate(
    "weights",
    "model.safetensors is a folder",
    /model\.safetensors: is a directory/,
    async (d) => {
      await Deno.remove(join(d, "model.safetensors"));
      await Deno.mkdir(join(d, "model.safetensors"));
    },
  );
  await mutate(
    "weights",
    "file cut in the data",
    /data_offsets end \d+ beyond the data section/,
    async (d) => {
      const p = join(d, "model.safetensors");
      const b = await Deno.readFile(p);
      await Deno.writeFile(p, b.subarray(0, b.length - 100));
    },
  );
  await mutate(
    "weights",
    "NaN weight",
    /model\.safetensors: tensor model\.layers\.1\.mlp\.down_proj\.weight has a non-finite value \(NaN\) at element 7/,
    (d) => rewrite(d, (h, data) => setF32(h, data, "model.layers.1.mlp.down_proj.weight", 7, NaN)),
  );
  await mutate(
    "weights",
    "Inf weight",
    /tensor model\.norm\.weight has a non-finite value \(Infinity\) at element 0/,
    (d) => rewrite(d, (h, data) => setF32(h, data, "model.norm.weight", 0, Infinity)),
  );
  await mutate(
    "weights",
    "tensor the config does not account for",
    /model\.safetensors: unexpected tensor model\.layers\.0\.mlp\.extra\.weight \(config\.json accounts for no such tensor\)/,
    (d) => addTensor(d, "model.layers.0.mlp.extra.weight"),
  );
  await mutate(
    "weights",
    "a fourth block with num_hidden_layers 3",
    /unexpected tensor model\.layers\.3\.input_layernorm\.weight \(config\.json field num_hidden_layers is 3\)/,
    (d) => addTensor(d, "model.layers.3.input_layernorm.weight"),
  );
  await mutate(
    "weights",
    "lm_head with tied embeddings",
    /unexpected tensor lm_head\.weight \(config\.json field tie_word_embeddings is true/,
    (d) => editConfig(d, { tie_word_embeddings: true }),
  );
  await mutate(
    "weights",
    "missing tensor",
    /model\.safetensors: tensor model\.layers\.2\.self_attn\.q_proj\.weight is missing/,
    async (d) => {
      const cfg = await readConfig(d);
      const ck = await openCheckpoint(d);
      const shapes = expectedTensors(cfg);
      const keep = [...shapes.keys()].filter((k) => k !== "model.layers.2.self_attn.q_proj.weight");
      const tensors = [];
      for (const k of keep) {
        tensors.push({
          name: k,
          shape: shapes.get(k)!,
          dtype: "F32" as const,
          data: await ck.float32(k),
        });
      }
      await writeSafetensors(join(d, "model.safetensors"), tensors);
    },
  );
  await mutate(
    "weights",
    "integer dtype",
    /tensor model\.norm\.weight has dtype I32, expected F32, F16 or BF16/,
    (d) => rewrite(d, (h) => void (h["model.norm.weight"].dtype = "I32")),
  );

  // --- config.json fields.
  const cfgCase = (name: string, patch: Record<string, unknown>, expect: RegExp) =>
    mutate("config", name, expect, (d) => editConfig(d, patch), (d) => readConfig(d));
  await cfgCase(
    "max_position_embeddings 1e12",
    { max_position_embeddings: 1e12 },
    /config\.json: field max_position_embeddings is 1000000000000, implausibly large/,
  );
  await cfgCase(
    "hidden_size a string",
    { hidden_size: "24" },
    /config\.json: field hidden_size is "24" \(expected a positive integer\)/,
  );
  await cfgCase("hidden_size negative", { hidden_size: -24 }, /field hidden_size is -24/);
  await cfgCase(
    "intermediate_size fractional",
    { intermediate_size: 40.5 },
    /field intermediate_size is 40\.5/,
  );
  await cfgCase("num_hidden_layers 0", { num_hidden_layers: 0 }, /field num_hidden_layers is 0/);
  await cfgCase("vocab_size null", { vocab_size: null }, /field vocab_size is missing/);
  await cfgCase(
    "vocab_size 1e9",
    { vocab_size: 1e9 },
    /field vocab_size is 1000000000, implausibly large/,
  );
  await cfgCase(
    "rms_norm_eps a string",
    { rms_norm_eps: "1e-5" },
    /field rms_norm_eps is "1e-5" \(expected a positive number/,
  );
  await cfgCase("rope_theta 1e300", { rope_theta: 1e300 }, /field rope_theta is 1e\+300/);
  await cfgCase(
    "tie_word_embeddings a string",
    { tie_word_embeddings: "false" },
    /field tie_word_embeddings is "false" \(expected true or false\)/,
  );
  await cfgCase(
    "eos_token_id a string",
    { eos_token_id: "2" },
    /field eos_token_id is "2" \(expected a token id/,
  );
  await cfgCase(
    "eos_token_id beyond vocab",
    { eos_token_id: 500 },
    /field eos_token_id 500 is outside the vocabulary \(vocab_size \d+\)/,
  );
  await cfgCase("bos_token_id negative", { bos_token_id: -1 }, /field bos_token_id is -1/);
  await cfgCase("model_type gpt2", { model_type: "gpt2" }, /field model_type is "gpt2"; supported/);
  await cfgCase("rope_scaling factor a string", {
    rope_scaling: { rope_type: "linear", factor: "2" },
  }, /field rope_scaling\.factor is "2"/);
  await cfgCase("head_dim odd", { head_dim: 3, hidden_size: 18 }, /field head_dim 3 must be even/);
  await cfgCase(
    "block_configs entry null",
    { model_type: "nemotron-nas", block_configs: [null, null, null] },
    /block_configs\[0\] needs attention and ffn objects/,
  );
  await cfgCase(
    "block_configs no_op a string",
    {
      model_type: "nemotron-nas",
      block_configs: [0, 1, 2].map(() => ({ attention: { no_op: "yes" }, ffn: {} })),
    },
    /block_configs\[0\]\.attention\.no_op is "yes" \(expected true or false\)/,
  );
  await mutate(
    "config",
    "config.json not JSON",
    /config\.json: not valid JSON/,
    (d) => Deno.writeTextFile(join(d, "config.json"), '{"model_type": '),
    (d) => readConfig(d),
  );
  await mutate(
    "config",
    "config.json an array",
    /config\.json: expected a JSON object/,
    (d) => Deno.writeTextFile(join(d, "config.json"), "[]"),
    (d) => readConfig(d),
  );

  // --- shard indexes: confined to the model folder.
  const outside = join(root, "outside.safetensors");
  await Deno.copyFile(join(model, "model.safetensors"), outside);
  const shard = (
    name: string,
    weightMap: (names: string[]) => unknown,
    expect: RegExp | null,
    extra?: (d: string) => Promise<void>,
  ) =>
    mutate("shards", name, expect, async (d) => {
      const names = [...expectedTensors(config).keys()];
      await Deno.rename(join(d, "model.safetensors"), join(d, "model-00001-of-00001.safetensors"));
      await extra?.(d);
      await Deno.writeTextFile(
        join(d, "model.safetensors.index.json"),
        JSON.stringify({ metadata: {}, weight_map: weightMap(names) }),
      );
    }, (d) => openCheckpoint(d));
  const all = (file: string) => (names: string[]) =>
    Object.fromEntries(names.map((k) => [k, file]));
  await shard("well-formed index (control)", all("model-00001-of-00001.safetensors"), null);
  await shard(
    "../ in a shard path",
    all("../outside.safetensors"),
    /model\.safetensors\.index\.json: weight_map\["[^"]+"\]: shard path "\.\.\/outside\.safetensors" must be a file name inside the model folder/,
  );
  await shard(
    "../../../etc/passwd",
    all("../../../etc/passwd"),
    /shard path "\.\.\/\.\.\/\.\.\/etc\/passwd" must be a file name inside the model folder/,
  );
  await shard(
    "absolute shard path",
    all(outside),
    /shard path ".*outside\.safetensors" must be a file name inside the model folder/,
  );
  await shard(
    "symlink out of the folder",
    all("link.safetensors"),
    /shard link\.safetensors resolves outside the model folder/,
    (d) => Deno.symlink(outside, join(d, "link.safetensors")),
  );
  await shard(
    "missing shard",
    all("model-00002-of-00002.safetensors"),
    /shard model-00002-of-00002\.safetensors cannot be opened/,
  );
  await shard(
    "weight_map a list",
    () => ["model-00001-of-00001.safetensors"],
    /field weight_map is missing \(expected an object\)/,
  );
  await shard(
    "weight_map value a number",
    (names) => ({ [names[0]]: 1 }),
    /weight_map\["model\.embed_tokens\.weight"\] must be a file name, got 1/,
  );
  await shard(
    "tensor listed in the wrong shard",
    (names) => ({
      ...all("model-00001-of-00001.safetensors")(names),
      "model.norm.weight": "other.safetensors",
    }),
    /weight_map says tensor model\.norm\.weight is in other\.safetensors, it is not/,
    (d) => Deno.writeFile(join(d, "other.safetensors"), rawSafetensors("{}")),
  );
  await shard(
    "tensor in two shards",
    (names) => ({ ...all("model-00001-of-00001.safetensors")(names), x: "copy.safetensors" }),
    /model\.safetensors\.index\.json: tensor \S+ is in two shards, model-00001-of-00001\.safetensors and copy\.safetensors/,
    (d) => Deno.copyFile(join(d, "model-00001-of-00001.safetensors"), join(d, "copy.safetensors")),
  );
  await shard(
    "tensor not listed in weight_map",
    (names) =>
      Object.fromEntries(names.slice(1).map((k) => [k, "model-00001-of-00001.safetensors"])),
    /tensor model\.embed_tokens\.weight of model-00001-of-00001\.safetensors is not listed in weight_map/,
  );
  {
    // A Hugging Face hub cache snapshot links its shards to ../../blobs/: accepted.
    const hub = join(root, "hub", "models--x--tiny");
    const snap = join(hub, "snapshots", "abc123");
    await copyDir(model, snap);
    await Deno.mkdir(join(hub, "blobs"), { recursive: true });
    await Deno.rename(join(snap, "model.safetensors"), join(hub, "blobs", "f00d"));
    await Deno.symlink("../../blobs/f00d", join(snap, "model-00001-of-00001.safetensors"));
    const names = [...expectedTensors(config).keys()];
    await Deno.writeTextFile(
      join(snap, "model.safetensors.index.json"),
      JSON.stringify({ weight_map: all("model-00001-of-00001.safetensors")(names) }),
    );
    cases.push({
      cls: "shards",
      name: "hub cache snapshot linking to ../../blobs (control)",
      expect: null,
      lib: () => loadAll(snap),
      cli: { task: "prune", args: pruneArgs(snap) },
    });
  }
  await mutate(
    "shards",
    "index not JSON",
    /model\.safetensors\.index\.json: not valid JSON/,
    (d) => Deno.writeTextFile(join(d, "model.safetensors.index.json"), "{"),
    (d) => openCheckpoint(d),
  );

  // --- tokenizers.
  const tok = (
    name: string,
    expect: RegExp,
    edit: (tj: Record<string, unknown>) => unknown,
    gpu = false,
  ) =>
    mutate(
      "tokenizer",
      name,
      expect,
      async (d) => {
        const p = join(d, "tokenizer.json");
        const tj = JSON.parse(await Deno.readTextFile(p));
        const out = edit(tj) ?? tj;
        await Deno.writeTextFile(p, typeof out === "string" ? out : JSON.stringify(out));
      },
      gpu
        ? async (d) => loadModel(await testGpuF32(), d, { dtype: "f32" })
        : (d) => loadTokenizer(d),
    );
  await tok(
    "added token id beyond vocab_size",
    /tokenizer\.json: token id 300 is outside the model's vocabulary \(.*config\.json field vocab_size is \d+\)/,
    (tj) =>
      void (tj.added_tokens as unknown[]).push({
        id: 300,
        content: "<extra>",
        special: true,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
      }),
    true,
  );
  await tok("tokenizer.json not JSON", /tokenizer\.json: not valid JSON/, () => "{");
  await tok(
    "tokenizer.json an array",
    /tokenizer\.json: not valid JSON \(not an object\)/,
    () => "[]",
  );
  await tok(
    "vocab id a string",
    /tokenizer\.json: field model\.vocab\["a"\] is "x"|tokenizer\.json: the tokenizer does not load/,
    (tj) => {
      (tj.model as { vocab: Record<string, unknown> }).vocab.a = "x";
    },
  );
  await tok(
    "vocab id negative",
    /tokenizer\.json: field model\.vocab\["a"\] is -5|tokenizer\.json: the tokenizer does not load/,
    (tj) => {
      (tj.model as { vocab: Record<string, unknown> }).vocab.a = -5;
    },
  );
  await tok(
    "added_tokens not a list",
    /tokenizer\.json: (field added_tokens must be a list|the tokenizer does not load)/,
    (tj) => {
      tj.added_tokens = { id: 1 };
    },
  );
  await tok(
    "unknown model type",
    /tokenizer\.json: the tokenizer does not load/,
    () => ({ model: { type: "Nope" } }),
  );
  await mutate(
    "tokenizer",
    "tokenizer_config.json not JSON",
    /tokenizer_config\.json: not valid JSON/,
    (d) => Deno.writeTextFile(join(d, "tokenizer_config.json"), "{"),
    (d) => loadTokenizer(d),
  );

  // --- calibration text.
  const calibCase = (name: string, bytes: Uint8Array | "dir" | "missing", expect: RegExp) => {
    const p = join(root, `calib-${cases.length}.txt`);
    const made = bytes === "dir"
      ? Deno.mkdir(p)
      : bytes === "missing"
      ? Promise.resolve()
      : Deno.writeFile(p, bytes);
    cases.push({
      cls: "calibration",
      name,
      expect,
      lib: async () => {
        await made;
        return calibrationFromFile(p, await loadTokenizer(model), { nsamples: 2, seqLen: 8 });
      },
      cli: { task: "prune", args: pruneArgs(model, [], p) },
    });
    return made;
  };
  const text = enc.encode("the cat is hot. the cat is a cat. is the hat hot?\n".repeat(4));
  await calibCase(
    "NUL bytes (binary)",
    new Uint8Array([...text.subarray(0, 10), 0, 1, 2, 3]),
    /calib-\d+\.txt: calibration text is not text \(binary byte 0x00 at byte offset 10\)/,
  );
  await calibCase(
    "invalid UTF-8",
    new Uint8Array([...text.subarray(0, 20), 0xff, 0xfe, ...text]),
    /calibration text is not valid UTF-8 \(at byte offset 20\)/,
  );
  await calibCase(
    "truncated UTF-8 sequence",
    new Uint8Array([...text, 0xe2, 0x82]),
    new RegExp(`not valid UTF-8 \\(at byte offset ${text.length}\\)`),
  );
  await calibCase(
    "overlong encoding",
    new Uint8Array([...text.subarray(0, 5), 0xc0, 0xaf]),
    /not valid UTF-8 \(at byte offset 5\)/,
  );
  await calibCase(
    "a PNG header",
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    /calibration text is not text \(binary byte 0x1a at byte offset 6\)|not valid UTF-8 \(at byte offset 0\)/,
  );
  await calibCase("empty", new Uint8Array(0), /calibration text is empty/);
  await calibCase("whitespace only", enc.encode(" \n\t\n"), /calibration text is empty/);
  await calibCase("a folder", "dir", /calibration text is a directory/);
  await calibCase("missing", "missing", /calibration text not found/);
  await calibCase(
    "too short for the windows",
    enc.encode("the cat"),
    /calib-\d+\.txt: \d+ tokens, random sampling of 2×8 needs at least 9/,
  );

  // --- latency tables (--latency-table).
  const lat = (name: string, body: string, expect: RegExp | null) => {
    const p = join(root, `latency-${cases.length}.json`);
    cases.push({
      cls: "latency",
      name,
      expect,
      lib: async () => {
        await Deno.writeTextFile(p, body);
        return readLatencyTable(p);
      },
      cli: { task: "prune", args: pruneArgs(model, ["--latency-table", p]) },
    });
    return Deno.writeTextFile(p, body);
  };
  await lat("well-formed table (control)", '{"attention":1.5,"mlp":2,"dense":20,"t1":20}', null);
  await lat(
    "attention null",
    '{"attention":null,"mlp":2}',
    /latency-\d+\.json: field attention is null \(expected a positive number of milliseconds/,
  );
  await lat("mlp missing", '{"attention":1}', /field mlp is missing/);
  await lat("mlp negative", '{"attention":1,"mlp":-2}', /field mlp is -2/);
  await lat(
    "huge values",
    '{"attention":1e300,"mlp":1e300,"dense":1e301}',
    /field attention is 1e\+300/,
  );
  await lat("string value", '{"attention":"1","mlp":2}', /field attention is "1"/);
  await lat(
    "dense null",
    '{"attention":1,"mlp":2,"dense":null}',
    /field dense is null .*or omit the field/,
  );
  await lat("dense 0", '{"attention":1,"mlp":2,"dense":0}', /field dense is 0/);
  await lat(
    "t1 and dense disagree",
    '{"attention":1,"mlp":2,"dense":20,"t1":30}',
    /fields t1 \(30\) and dense \(20\) disagree/,
  );
  await lat(
    "probeBlocks not indices",
    '{"attention":1,"mlp":2,"probeBlocks":[0.5]}',
    /field probeBlocks must be a list of block indices/,
  );
  await lat("not JSON", "{", /latency table is not valid JSON/);
  await lat("an array", "[1,2]", /latency table must be a JSON object/);
  await lat("null", "null", /latency table must be a JSON object/);

  // --- benchmark and corpus files.
  const bench = (
    name: string,
    file: string,
    body: Uint8Array | string,
    task: string,
    read: (p: string) => Promise<unknown>,
    expect: RegExp,
  ) => {
    const d = join(root, `data-${cases.length}`);
    const p = join(d, file);
    const made = (async () => {
      await Deno.mkdir(join(d, "bench"), { recursive: true });
      await Deno.mkdir(join(d, "corpus"), { recursive: true });
      await Deno.writeFile(p, typeof body === "string" ? enc.encode(body) : body);
    })();
    cases.push({
      cls: "bench",
      name,
      expect,
      lib: async () => {
        await made;
        return read(p);
      },
      cli: {
        task: "eval",
        args: ["--model", model, "--data", d, "--tasks", task, "--limit", "2", "--quiet"],
      },
    });
    return made;
  };
  const choice = (p: string) => readChoiceFile(p);
  await bench(
    "empty piqa.jsonl",
    "bench/piqa.jsonl",
    "",
    "piqa",
    choice,
    /piqa\.jsonl: JSONL file has no records/,
  );
  await bench(
    "blank-line piqa.jsonl",
    "bench/piqa.jsonl",
    "\n \n\n",
    "piqa",
    choice,
    /piqa\.jsonl: JSONL file has no records/,
  );
  await bench(
    "line not JSON",
    "bench/piqa.jsonl",
    '{"query":"q","choices":["a","b"],"gold":0}\n{oops\n',
    "piqa",
    choice,
    /piqa\.jsonl:2: not valid JSON/,
  );
  await bench(
    "gold out of range",
    "bench/piqa.jsonl",
    '{"query":"q","choices":["a","b"],"gold":2}\n',
    "piqa",
    choice,
    /piqa\.jsonl:1: field "gold" is number 2 \(expected an integer in \[0, 2\)\)/,
  );
  await bench(
    "choices a string",
    "bench/arc_easy.jsonl",
    '{"query":"q","choices":"ab","gold":0}\n',
    "arc_easy",
    choice,
    /arc_easy\.jsonl:1: field "choices" is a string/,
  );
  await bench(
    "binary JSONL",
    "bench/boolq.jsonl",
    new Uint8Array([0x7b, 0x00, 0x7d]),
    "boolq",
    choice,
    /boolq\.jsonl: JSONL file is not text \(binary byte 0x00 at byte offset 1\)/,
  );
  await bench(
    "empty hellaswag",
    "bench/hellaswag_val.txt",
    "",
    "hellaswag",
    (p) => readHellaswag(p),
    /hellaswag_val\.txt: HellaSwag file has no items/,
  );
  await bench(
    "empty wikitext",
    "corpus/wikitext2_test.raw",
    "",
    "wikitext2",
    (p) => readWikitext2(p),
    /wikitext2_test\.raw: WikiText-2 file is empty/,
  );
  await bench(
    "invalid UTF-8 tinystories",
    "corpus/tinystories_val_subset.txt",
    new Uint8Array([0x61, 0x62, 0xc3]),
    "tinystories",
    (p) => readPlainText(p),
    /tinystories_val_subset\.txt: text file is not valid UTF-8 \(at byte offset 2\)/,
  );

  // Control: the untouched model loads.
  cases.push({
    cls: "weights",
    name: "untouched model (control)",
    expect: null,
    lib: () => loadAll(model),
    cli: { task: "prune", args: pruneArgs(model) },
  });
  return { base, cases };
}

async function editConfig(dir: string, patch: Record<string, unknown>): Promise<void> {
  const p = join(dir, "config.json");
  const cfg = JSON.parse(await Deno.readTextFile(p));
  await Deno.writeTextFile(p, JSON.stringify({ ...cfg, ...patch }));
}

/** Adds a 2-element F32 tensor `name` to the checkpoint of `dir`. */
async function addTensor(dir: string, name: string): Promise<void> {
  const cfg = await readConfig(dir);
  const ck = await openCheckpoint(dir);
  const tensors = [];
  for (const [k, shape] of expectedTensors(cfg)) {
    tensors.push({ name: k, shape, dtype: "F32" as const, data: await ck.float32(k) });
  }
  tensors.push({ name, shape: [24], dtype: "F32" as const, data: new Float32Array(24).fill(1) });
  await writeSafetensors(join(dir, "model.safetensors"), tensors);
}
