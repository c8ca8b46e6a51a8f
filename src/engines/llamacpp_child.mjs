// Runs llama.cpp (npm node-llama-cpp, pinned 3.21.1) in a `node` child process: a crash inside
// llama.cpp kills only this process. Protocol: one JSON request per stdin line, one JSON reply per
// stdout line, `{ id, ok: true, result }` or `{ id, ok: false, error }`.
//   { op: "load", model, contextSize?, threads?, batchSize? }  -> { bos, eos }
//      (CPU only, flash attention off, F32 KV cache)
//   { op: "tokenize", text }                                  -> ids, without BOS
//   { op: "logprobs", tokens }                                -> { logprobs, argmax }: for i >= 1,
//      logprobs[i-1] = log p(tokens[i] | tokens[0..i-1]); argmax[i-1] the top token there
//   { op: "greedy", tokens, n }                               -> n greedy next tokens
//   { op: "close" }
import readline from "node:readline";

// Resolved by node from the repository's node_modules/ (a non-literal specifier, so that
// `deno check` does not try to resolve this node-only package).
const PACKAGE = process.env.NODE_LLAMA_CPP_PATH ?? "node-llama-cpp";
const { getLlama, LlamaLogLevel } = await import(PACKAGE);

// Keep stdout for replies: library logs go to stderr.
console.log =
  console.info =
  console.warn =
  console.debug =
    console.error;

let llama;
let model;
let context;

async function load(req) {
  llama ??= await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  await context?.dispose();
  await model?.dispose();
  model = await llama.loadModel({ modelPath: req.model, gpuLayers: 0 });
  context = await model.createContext({
    contextSize: req.contextSize ?? 256,
    batchSize: req.batchSize ?? req.contextSize ?? 256,
    threads: req.threads ?? 1,
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
    sequences: 1,
  });
  return { bos: model.tokens.bos ?? null, eos: model.tokens.eos ?? null };
}

async function withSequence(f) {
  const seq = context.getSequence();
  try {
    return await f(seq);
  } finally {
    seq.dispose();
  }
}

async function logprobs(tokens) {
  return await withSequence(async (seq) => {
    const input = tokens.map((t, i) =>
      i < tokens.length - 1 ? [t, { generateNext: { probabilities: true } }] : t
    );
    const out = await seq.controlledEvaluate(input);
    const lp = [];
    const argmax = [];
    for (let i = 0; i < tokens.length - 1; i++) {
      const probs = out[i]?.next?.probabilities;
      if (!probs) throw new Error(`no probabilities at position ${i}`);
      lp.push(Math.log(probs.get(tokens[i + 1]) ?? 0));
      argmax.push(probs.entries().next().value[0]);
    }
    return { logprobs: lp, argmax };
  });
}

async function greedy(tokens, n) {
  return await withSequence(async (seq) => {
    const out = [];
    for await (const t of seq.evaluate(tokens, { temperature: 0, yieldEogToken: true })) {
      out.push(t);
      if (out.length >= n) break;
    }
    return out;
  });
}

async function handle(req) {
  switch (req.op) {
    case "load":
      return await load(req);
    case "tokenize":
      return [...model.tokenize(req.text, false)];
    case "logprobs":
      return await logprobs(req.tokens);
    case "greedy":
      return await greedy(req.tokens, req.n);
    case "close":
      await context?.dispose();
      await model?.dispose();
      return null;
    default:
      throw new Error(`unknown op ${JSON.stringify(req.op)}`);
  }
}

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let req;
  try {
    req = JSON.parse(line);
    const result = await handle(req);
    process.stdout.write(JSON.stringify({ id: req.id, ok: true, result }) + "\n");
    if (req.op === "close") break;
  } catch (e) {
    process.stdout.write(
      JSON.stringify({ id: req?.id, ok: false, error: String(e?.message ?? e) }) + "\n",
    );
  }
}
process.exit(0);
