// llama.cpp (node-llama-cpp) behind JSON lines on stdio, run by src/engines/llamacpp.ts in a
// `node` child process so that a crash inside llama.cpp ends this process, not the toolkit.
//
//   node llamacpp_server.mjs <file URL of node-llama-cpp's entry module>
//
// Each stdin line is a request {id, op, args}; each answer is one stdout line
// {id, ok: true, result} or {id, ok: false, error}. llama.cpp's own log goes to stderr.
// Ops: load, score, tokenize, generate, time, abort (test hook: a native-style crash), close.

import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const entry = process.argv[2];
if (!entry) {
  process.stderr.write("usage: node llamacpp_server.mjs <node-llama-cpp entry URL>\n");
  process.exit(2);
}
const nlc = await import(entry);

function packageVersion() {
  let dir = dirname(fileURLToPath(entry));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      if (pkg.name === "node-llama-cpp") return pkg.version;
    } catch { /* keep looking upward */ }
    dir = dirname(dir);
  }
  return "unknown";
}

let llama;
let model;
let context;
let sequence;
let info;

function send(msg) {
  process.stdout.write(JSON.stringify(msg) + "\n");
}

async function load(a) {
  // A second load replaces the model (the test-side client loads several files in one child).
  await context?.dispose();
  await model?.dispose();
  llama = await nlc.getLlama({
    gpu: false,
    build: "never",
    maxThreads: a.threads,
    logLevel: nlc.LlamaLogLevel.error,
    logger: (level, message) => process.stderr.write(`llama.cpp[${level}]: ${message}\n`),
  });
  model = await llama.loadModel({ modelPath: a.model, gpuLayers: 0 });
  const contextSize = a.contextSize ?? model.trainContextSize;
  context = await model.createContext({
    contextSize,
    batchSize: a.batchSize ?? contextSize,
    sequences: 1,
    threads: { ideal: a.threads, min: a.threads },
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
    ignoreMemorySafetyChecks: true,
  });
  sequence = context.getSequence();
  const meta = model.fileInfo.metadata;
  const tokens = meta?.tokenizer?.ggml?.tokens;
  info = {
    vocabSize: Array.isArray(tokens) ? tokens.length : undefined,
    contextSize: context.contextSize,
    trainContextSize: model.trainContextSize,
    architecture: model.fileInfo.metadata?.general?.architecture,
    typeDescription: model.typeDescription,
    eos: model.tokens.eos,
    bos: model.tokens.bos,
    threads: context.currentThreads,
    release: llama.llamaCppRelease,
    buildType: llama.buildType,
    systemInfo: llama.systemInfo,
    nodeLlamaCpp: packageVersion(),
    node: process.version,
  };
  return info;
}

function lcp(a, b) {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** Evaluates `input` in the sequence, reusing the cached prefix; returns outputs by input index. */
async function evaluate(input, wanted) {
  const have = sequence.contextTokens;
  let keep = lcp(have, input);
  let minWanted = input.length;
  for (const [p] of wanted) minWanted = Math.min(minWanted, p);
  keep = Math.min(keep, minWanted); // a scored position must be evaluated now, with logits
  if (keep < have.length) {
    if (keep === 0) await sequence.clearHistory();
    else await sequence.eraseContextTokenRanges([{ start: keep, end: have.length }]);
  }
  const items = [];
  for (let i = keep; i < input.length; i++) {
    const gen = wanted.get(i);
    items.push(gen ? [input[i], { generateNext: gen }] : input[i]);
  }
  const out = await sequence.controlledEvaluate(items);
  return (i) => out[i - keep];
}

async function score(a) {
  const results = [];
  for (const r of a.requests) {
    const wanted = new Map(r.positions.map((p) => [p, { probabilities: true }]));
    const at = await evaluate(r.input, wanted);
    const logProbs = [];
    const argmax = [];
    r.positions.forEach((p, j) => {
      const probs = at(p)?.next?.probabilities;
      if (!probs) throw new Error(`no probabilities at position ${p}`);
      const pt = probs.get(r.targets[j]) ?? 0;
      logProbs.push(pt > 0 ? Math.log(pt) : null); // null: underflow (−∞)
      argmax.push(probs.keys().next().value === r.targets[j] ? 1 : 0);
    });
    results.push({ logProbs, argmax });
  }
  return results;
}

async function nextToken(input) {
  const at = await evaluate(input, new Map([[input.length - 1, { token: true }]]));
  const t = at(input.length - 1)?.next?.token;
  if (t === undefined || t === null) throw new Error("llama.cpp returned no token");
  return t;
}

async function greedy(prompt, n, stopAtEos) {
  await sequence.clearHistory();
  const tokens = [];
  const seq = [...prompt];
  let prefillMs = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = await nextToken(seq);
    if (i === 0) prefillMs = performance.now() - t0;
    tokens.push(t);
    seq.push(t);
    if (stopAtEos && model.isEogToken(t)) break;
  }
  return { tokens, prefillMs, totalMs: performance.now() - t0 };
}

async function time(a) {
  const V = info.vocabSize;
  const prompt = Array.from({ length: a.promptTokens }, (_, i) => (7919 * i + 1) % V);
  const prefillMs = [];
  const decodeMs = [];
  // CPU time of this process (user + system, all its threads): with one llama.cpp thread it is
  // the compute time, insensitive to other processes sharing the cores.
  const prefillCpuMs = [];
  const decodeCpuMs = [];
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e3;
  };
  for (let rep = 0; rep < a.warmup + a.reps; rep++) {
    await sequence.clearHistory();
    const c0 = cpu();
    const t0 = performance.now();
    let tok = await nextToken(prompt);
    const t1 = performance.now();
    const c1 = cpu();
    const seq = [...prompt, tok];
    for (let i = 0; i < a.newTokens; i++) {
      tok = await nextToken(seq);
      seq.push(tok);
    }
    const t2 = performance.now();
    const c2 = cpu();
    if (rep >= a.warmup) {
      prefillMs.push(t1 - t0);
      decodeMs.push(t2 - t1);
      prefillCpuMs.push(c1 - c0);
      decodeCpuMs.push(c2 - c1);
    }
  }
  await sequence.clearHistory();
  return { prefillMs, decodeMs, prefillCpuMs, decodeCpuMs };
}

async function handle(op, a) {
  switch (op) {
    case "load":
      return await load(a);
    case "score":
      return await score(a);
    case "tokenize":
      return [...model.tokenize(a.text, false)]; // without BOS
    case "generate":
      return (await greedy(a.prompt, a.maxNewTokens, a.stopAtEos)).tokens;
    case "time":
      return await time(a);
    case "abort":
      process.abort(); // test hook: dies like a crash inside llama.cpp (SIGABRT)
      return null;
    case "close":
      await context?.dispose();
      await model?.dispose();
      await llama?.dispose();
      return null;
    default:
      throw new Error(`unknown op ${op}`);
  }
}

process.on("uncaughtException", (e) => {
  process.stderr.write(`llamacpp_server: ${e?.stack ?? e}\n`);
  process.exit(70);
});

const rl = createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on("line", (line) => {
  chain = chain.then(async () => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      send({ id: null, ok: false, error: "request is not JSON" });
      return;
    }
    try {
      const result = await handle(msg.op, msg.args ?? {});
      send({ id: msg.id, ok: true, result });
      if (msg.op === "close") process.exit(0);
    } catch (e) {
      send({ id: msg.id, ok: false, error: String(e?.message ?? e).split("\n")[0] });
    }
  });
});
rl.on("close", () => process.exit(0));
