/**
 * Independent check of `deno task eval` on stories260K: a plain-TypeScript float64
 * re-implementation (no code from `src/eval/` or `src/data/`: its own JSONL reading, lm-eval
 * prompts, `_encode_pair`, truncation, log-softmax, acc / acc_norm and perplexity windows, on
 * `refForward`), compared with the GPU implementation run as a subprocess on the same items.
 *
 *   deno run -A ref/eval_independent.ts [--items 30] [--windows 3] [--model DIR] [--data DIR]
 *
 * Prints per task: acc / acc_norm of both, the largest per-item log-likelihood difference and
 * the number of items whose prediction differs; and the TinyStories perplexity of both on the
 * first windows. Exits 1 when an accuracy or prediction differs or a difference exceeds 1e-3.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readConfig } from "../src/model/config.ts";
import { readHostWeights } from "../src/model/model.ts";
import { openCheckpoint } from "../src/model/safetensors.ts";
import { loadTokenizer, type TextTokenizer } from "../src/model/tokenizer.ts";
import { refForward } from "./forward.ts";

const root = new URL("../", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    items: { type: "string", default: "30" },
    windows: { type: "string", default: "3" },
    model: { type: "string", default: join(root, "../shared/data/models/stories260K-hf") },
    data: { type: "string", default: join(root, "../shared/data") },
  },
});
const N = Number(values.items);
const W = Number(values.windows);
const modelDir = values.model!;
const dataDir = values.data!;

const cfg = await readConfig(modelDir);
const weights = await readHostWeights(cfg, await openCheckpoint(modelDir));
const tok: TextTokenizer = await loadTokenizer(modelDir);
const V = cfg.vocabSize;
const maxLength = cfg.maxPositions;

function lines(file: string, n: number): Record<string, unknown>[] {
  return Deno.readTextFileSync(join(dataDir, "bench", file)).split("\n").filter((l) => l.trim())
    .slice(0, n)
    .map((l) => JSON.parse(l));
}

/** lm-eval v0.4.1 HFLM: encode pair (no special tokens), truncate, sum log-softmax, greedy. */
function score(context: string, continuation: string): { ll: number; greedy: boolean } {
  const m = context.match(/\s+$/);
  if (m) {
    continuation = m[0] + continuation;
    context = context.slice(0, context.length - m[0].length);
  }
  const whole = tok.encode(context + continuation, { addSpecialTokens: false });
  const ctx = tok.encode(context, { addSpecialTokens: false });
  const cont = whole.slice(ctx.length);
  const seq = [...ctx, ...cont].slice(-(maxLength + 1));
  const input = seq.slice(0, seq.length - 1);
  const logits = refForward(cfg, weights, input);
  let ll = 0;
  let greedy = true;
  for (let j = 0; j < cont.length; j++) {
    const p = input.length - cont.length + j;
    const row = logits.subarray(p * V, (p + 1) * V);
    let max = -Infinity;
    let arg = 0;
    for (let v = 0; v < V; v++) {
      if (row[v] > max) {
        max = row[v];
        arg = v;
      }
    }
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(row[v] - max);
    ll += row[cont[j]] - max - Math.log(z);
    if (arg !== cont[j]) greedy = false;
  }
  return { ll, greedy };
}

interface Item {
  reqs: [string, string][];
  choices: string[];
  gold: number;
}

const TASK_ITEMS: Record<string, () => Item[]> = {
  piqa: () =>
    lines("piqa.jsonl", N).map((d) => {
      const goal = (d.query as string).replace(/^Question: /, "").replace(/\n$/, "");
      const ctx = `Question: ${goal}\nAnswer:`;
      const ch = d.choices as string[];
      return {
        reqs: ch.map((c) => [ctx, " " + c] as [string, string]),
        choices: ch,
        gold: d.gold as number,
      };
    }),
  arc_easy: () =>
    lines("arc_easy.jsonl", N).map((d) => {
      const q = (d.query as string).replace(/^Question: /, "");
      const ctx = `Question: ${q}\nAnswer:`;
      const ch = d.choices as string[];
      return {
        reqs: ch.map((c) => [ctx, " " + c] as [string, string]),
        choices: ch,
        gold: d.gold as number,
      };
    }),
  winogrande: () =>
    lines("winogrande.jsonl", N).map((d) => {
      const opts = d.context_options as string[];
      return {
        reqs: opts.map((o) => [o, " " + (d.continuation as string)] as [string, string]),
        choices: opts,
        gold: d.gold as number,
      };
    }),
  lambada: () =>
    lines("lambada_openai.jsonl", N).map((d) => ({
      reqs: [[d.context as string, " " + (d.continuation as string)]],
      choices: [d.continuation as string],
      gold: 0,
    })),
};

function argmax(xs: number[]): number {
  let b = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[b]) b = i;
  return b;
}

// GPU run of the same items (subprocess).
const tmp = await Deno.makeTempDir({ prefix: "eval-independent-" });
async function gpuRun(tasks: string, limit: number, tag: string) {
  const json = join(tmp, `${tag}.json`);
  const samples = join(tmp, `${tag}.jsonl`);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(root, "tasks/eval.ts"),
      "--model",
      modelDir,
      "--data",
      dataDir,
      "--tasks",
      tasks,
      "--limit",
      String(limit),
      "--json",
      json,
      "--samples",
      samples,
      "--quiet",
    ],
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`deno task eval failed (${out.code})`);
  const doc = JSON.parse(await Deno.readTextFile(json));
  const s = (await Deno.readTextFile(samples)).split("\n").filter((l) => l).map((l) =>
    JSON.parse(l)
  );
  return { doc, samples: s };
}

const t0 = performance.now();
const gpu = await gpuRun("piqa,arc_easy,winogrande,lambada", N, "zs");
const gpuPpl = await gpuRun("tinystories", W, "ppl");
console.log(
  `GPU runs done in ${
    ((performance.now() - t0) / 1000).toFixed(1)
  } s; f64 reference on the first ${N} items…`,
);

let failed = false;
const rows: string[] = [];
for (const [task, build] of Object.entries(TASK_ITEMS)) {
  const items = build();
  const accs: number[] = [];
  const norms: number[] = [];
  const lls: number[] = [];
  let maxDiff = 0;
  let predDiff = 0;
  items.forEach((it, i) => {
    const r = it.reqs.map(([c, x]) => score(c, x));
    const ll = r.map((x) => x.ll);
    const g = gpu.samples.find((s) => s.task === task && s.doc === i);
    ll.forEach((x, j) => (maxDiff = Math.max(maxDiff, Math.abs(x - g.lls[j]))));
    if (task === "lambada") {
      accs.push(r[0].greedy ? 1 : 0);
      lls.push(ll[0]);
      if (r[0].greedy !== g.isGreedy[0]) predDiff++;
    } else {
      const pred = argmax(ll);
      const predNorm = argmax(ll.map((x, j) => x / it.choices[j].length));
      accs.push(pred === it.gold ? 1 : 0);
      if (task === "winogrande") {
        if (pred !== g.pred) predDiff++; // acc only (partial evaluation)
      } else {
        norms.push(predNorm === it.gold ? 1 : 0);
        if (pred !== g.pred || predNorm !== g.predNorm) predDiff++;
      }
    }
  });
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const ref = {
    acc: mean(accs),
    acc_norm: norms.length ? mean(norms) : undefined,
    ppl: lls.length ? Math.exp(-mean(lls)) : undefined,
  };
  const got = gpu.doc.tasks[task];
  const same = ref.acc === got.acc &&
    (ref.acc_norm === undefined || ref.acc_norm === got.acc_norm) && predDiff === 0 &&
    maxDiff < 1e-3 && (ref.ppl === undefined || Math.abs(ref.ppl - got.ppl) < 1e-4 * ref.ppl);
  if (!same) failed = true;
  const f = (x: number | undefined) => (x === undefined ? "-" : x.toFixed(4));
  rows.push(
    `${task.padEnd(11)} n=${items.length}  acc ${f(ref.acc)} / ${f(got.acc)}  acc_norm ${
      f(ref.acc_norm)
    } / ${f(got.acc_norm)}${
      ref.ppl !== undefined ? `  ppl ${ref.ppl.toPrecision(8)} / ${got.ppl.toPrecision(8)}` : ""
    }  max|Δll| ${maxDiff.toExponential(2)}  items with a different prediction ${predDiff}  ${
      same ? "OK" : "MISMATCH"
    }`,
  );
}

// TinyStories perplexity: the file as one string, BOS, non-overlapping windows of the context.
const text = await Deno.readTextFile(join(dataDir, "corpus", "tinystories_val_subset.txt"));
const ids = tok.encode(text, { addSpecialTokens: true });
const T = Math.min(maxLength, 2048);
let nllSum = 0;
let count = 0;
for (let w = 0; w < W && (w + 1) * T <= ids.length; w++) {
  const win = ids.slice(w * T, (w + 1) * T);
  const logits = refForward(cfg, weights, win.slice(0, T - 1));
  for (let p = 0; p < T - 1; p++) {
    const row = logits.subarray(p * V, (p + 1) * V);
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, row[v]);
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(row[v] - max);
    nllSum -= row[win[p + 1]] - max - Math.log(z);
    count++;
  }
}
const refPpl = Math.exp(nllSum / count);
const g = gpuPpl.doc.tasks.tinystories;
const pplOk = Math.abs(refPpl - g.ppl) < 1e-4 * refPpl && count === g.tokens;
if (!pplOk) failed = true;
rows.push(
  `tinystories ${W} windows × ${T}: ppl ${refPpl.toPrecision(8)} / ${
    g.ppl.toPrecision(8)
  }  tokens ${count} / ${g.tokens}  ${pplOk ? "OK" : "MISMATCH"}`,
);
console.log("task        f64 reference / GPU (deno task eval)");
for (const r of rows) console.log(r);
await Deno.remove(tmp, { recursive: true });
console.log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
if (failed) Deno.exit(1);
