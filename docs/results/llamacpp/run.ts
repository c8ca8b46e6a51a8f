/**
 * Experiment of issue 11 (deliverable 4): the default model pruned by SPRINT to 1.25× with the
 * sublayer latency measured in llama.cpp (1 thread by default) and with the toolkit's WebGPU
 * latency; which sublayers each removes; estimated vs measured speedup in llama.cpp (prefill,
 * decode, whole workload); held-out perplexity by the toolkit's eval and by llama.cpp.
 *
 *   deno run -A docs/results/llamacpp/run.ts [--threads 1] [--out out/llamacpp-exp]
 *     [--latency-iters 60] [--speed-rounds 15] [--ppl-windows 64] [--results docs/results/llamacpp]
 *     [--latency-clock wall|cpu] [--latency-estimator median|min]
 *
 * Resumable: finished pruned models (out dir) and cached latency tables are reused; pass
 * `--fresh` to re-measure the llama.cpp latency table (a new cache file in the out dir).
 * Writes results.json and README.md into `--results`.
 */
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import { median } from "../../../src/deps.ts";
import { getGpu } from "../../../src/gpu/device.ts";
import { loadModel } from "../../../src/model/model.ts";
import { loadTokenizer } from "../../../src/model/tokenizer.ts";
import { exportGguf } from "../../../src/export/gguf.ts";
import { LlamaCppEngine } from "../../../src/engines/llamacpp.ts";
import { enginePerplexity } from "../../../src/engines/eval.ts";
import { perplexity } from "../../../src/eval/perplexity.ts";
import {
  cachedLatencyLlamaCpp,
  type LlamaCppLatencyTable,
} from "../../../src/sprint/latency_llamacpp.ts";
import { defaultLatencyWorkload } from "../../../src/sprint/cli.ts";
import { estimatedSpeedup } from "../../../src/sprint/rules.ts";
import type { LatencyTable } from "../../../src/sprint/latency.ts";
import { writeJsonAtomic } from "../../../src/report/json.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    threads: { type: "string", default: "1" },
    out: { type: "string", default: "out/llamacpp-exp" },
    results: { type: "string", default: "docs/results/llamacpp" },
    "latency-iters": { type: "string", default: "60" },
    "speed-rounds": { type: "string", default: "15" },
    "ppl-windows": { type: "string", default: "64" },
    "latency-clock": { type: "string", default: "wall" },
    "latency-estimator": { type: "string", default: "median" },
    fresh: { type: "boolean", default: false },
  },
});
const threads = Number(values.threads);
const out = values.out!;
const MODEL = "data/models/default";
const HELDOUT = join(MODEL, "heldout.txt");
const t0 = performance.now();
const say = (s: string) => console.error(`[${((performance.now() - t0) / 1e3).toFixed(0)} s] ${s}`);
await Deno.mkdir(out, { recursive: true });

// 1. Latency table in llama.cpp (f32 GGUFs, `threads` threads), same workload as `prune`'s default.
const gpu = await getGpu();
const dense = await loadModel(gpu, MODEL, { dtype: "f32" });
const c = dense.config;
const w = { ...defaultLatencyWorkload(c.maxPositions), iterations: Number(values["latency-iters"]) };
const modelId = `${basename(MODEL)}:${
  JSON.stringify([c.numLayers, c.hiddenSize, c.intermediateSize, c.vocabSize, "f32"])
}`;
const cacheFile = join(out, values.fresh ? `latency_cache.${Date.now()}.json` : "latency_cache.json");
const clock = values["latency-clock"] as "wall" | "cpu";
const estimator = values["latency-estimator"] as "median" | "min";
const dirCpp = join(out, "sprint-llamacpp");
const dirGpu = join(out, "sprint-webgpu");
const latCppFile = join(out, "latency_llamacpp.json");
const exists = (f: string) => Deno.stat(f).then(() => true, () => false);
// A finished llama.cpp-latency prune is reused with the table it was pruned with.
const reuse = await exists(join(dirCpp, "prune_log.json")) && await exists(latCppFile);
const latCpp: LlamaCppLatencyTable = reuse
  ? JSON.parse(await Deno.readTextFile(latCppFile))
  : await (async () => {
    say(`llama.cpp latency (${threads} thread(s), ${w.iterations} rounds, ${clock}, ${estimator})…`);
    const t = await cachedLatencyLlamaCpp(dense, modelId, w, cacheFile, { threads, clock, estimator });
    await writeJsonAtomic(latCppFile, t);
    return t;
  })();
dense.destroy();
say(`llama.cpp: attention ${latCpp.attention.toFixed(2)} ms, MLP ${latCpp.mlp.toFixed(2)} ms, dense ${latCpp.dense.toFixed(1)} ms`);

// 2. Prune with each table through the prune task (its defaults: target 1.25, speedup model total).
async function prune(dir: string, extra: string[]): Promise<void> {
  try {
    await Deno.stat(join(dir, "prune_log.json"));
    say(`${dir}: exists, reused`);
    return;
  } catch { /* run it */ }
  say(`deno task prune ${extra.join(" ")} → ${dir}`);
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "tasks/prune.ts", "--target-speedup", "1.25", "--out", dir, "--quiet", ...extra],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!r.success) throw new Error(`prune failed (${dir})`);
}
await prune(dirCpp, ["--latency-table", latCppFile]);
await prune(dirGpu, []);
const logOf = async (d: string) => JSON.parse(await Deno.readTextFile(join(d, "prune_log.json")));
const logCpp = await logOf(dirCpp);
const logGpu = await logOf(dirGpu);
const latGpu: LatencyTable = logGpu.latency;

// 3. GGUFs (f32) of the dense and both pruned models.
const ggufs: Record<string, string> = {};
for (const [name, dir] of [["dense", MODEL], ["sprint-llamacpp", dirCpp], ["sprint-webgpu", dirGpu]]) {
  ggufs[name] = join(out, `${name}.f32.gguf`);
  await exportGguf(dir, ggufs[name], { dtype: "f32", overwrite: true });
}

// 4. Measured speedup in llama.cpp: the latency workload, rounds interleaved dense / A / B.
const names = ["dense", "sprint-llamacpp", "sprint-webgpu"];
const engines = [];
for (const n of names) engines.push(await LlamaCppEngine.load(ggufs[n], { threads }));
const decodeSteps = w.generationLength - 1;
const rounds = Number(values["speed-rounds"]);
interface Run {
  prefill: number;
  decode: number;
  prefillCpu: number;
  decodeCpu: number;
}
const runs: Run[][] = names.map(() => []);
say(`llama.cpp speed: ${rounds} rounds of prefill ${w.promptLength} + ${decodeSteps} decode steps…`);
for (let r = 0; r < rounds + 1; r++) {
  for (let j = 0; j < names.length; j++) {
    const t = await engines[j].time({ promptTokens: w.promptLength, newTokens: decodeSteps, warmup: 0, reps: 1 });
    if (r > 0) {
      runs[j].push({
        prefill: t.prefillMs[0],
        decode: t.decodeMs[0],
        prefillCpu: t.prefillCpuMs![0],
        decodeCpu: t.decodeCpuMs![0],
      });
    }
  }
}
const engineDesc = engines[0].description;
for (const e of engines) await e.dispose();
/** Dense ÷ pruned time: median of per-round ratios, or ratio of the fastest runs. */
const ratio = (j: number, f: (x: Run) => number, e: "median" | "min" = "median") =>
  e === "min"
    ? Math.min(...runs[0].map(f)) / Math.min(...runs[j].map(f))
    : median(runs[0].map((d, i) => f(d) / f(runs[j][i])))!;
const ups = (j: number, e: "median" | "min") => ({
  prefill: ratio(j, (x) => x.prefill, e),
  decode: ratio(j, (x) => x.decode, e),
  workload: ratio(j, (x) => x.prefill + x.decode, e),
  workloadCpu: ratio(j, (x) => x.prefillCpu + x.decodeCpu, e),
});
const speed = names.map((n, j) => ({
  model: n,
  prefillMs: median(runs[j].map((x) => x.prefill))!,
  decodeMs: median(runs[j].map((x) => x.decode))!,
  totalMs: median(runs[j].map((x) => x.prefill + x.decode))!,
  measuredSpeedup: j === 0 ? undefined : ups(j, "median"),
  measuredSpeedupMin: j === 0 ? undefined : ups(j, "min"),
  runs: runs[j],
}));

// 5. Held-out perplexity: the toolkit's eval (WebGPU, f32) and llama.cpp's log-probs, same windows.
const text = await Deno.readTextFile(HELDOUT);
const limit = Number(values["ppl-windows"]);
const ppl: Record<string, { toolkit: number; llamacpp: number; relDiff: number; tokens: number; windows: number }> = {};
for (const [n, dir] of [["dense", MODEL], ["sprint-llamacpp", dirCpp], ["sprint-webgpu", dirGpu]]) {
  say(`perplexity ${n}…`);
  const m = await loadModel(gpu, dir, { dtype: "f32" });
  const a = await perplexity(m, text, { limit });
  m.destroy();
  const e = await LlamaCppEngine.load(ggufs[n], { threads });
  const b = await enginePerplexity(e, await loadTokenizer(dir), text, { limit });
  await e.dispose();
  ppl[n] = { toolkit: a.ppl, llamacpp: b.ppl, relDiff: Math.abs(a.ppl / b.ppl - 1), tokens: a.tokens, windows: a.windows };
}

// 6. Results.
const est = (mask: boolean[], lat: LatencyTable) => ({
  sublayers: estimatedSpeedup(lat, mask, false),
  withFixedCost: estimatedSpeedup(lat, mask, true),
});
const describe = (log: { final: { mask: boolean[]; pruned: number[]; estimatedSpeedup: number } }) => ({
  pruned: log.final.pruned.map((s) => `${s % 2 === 0 ? "attention" : "MLP"} ${s >> 1} (sublayer ${s})`),
  estimatedByOwnTable: log.final.estimatedSpeedup,
  estimatedByLlamaCppTable: est(log.final.mask, latCpp),
  estimatedByWebGpuTable: est(log.final.mask, latGpu),
});
const result = {
  protocol: {
    model: MODEL,
    target: 1.25,
    speedupModel: "total (fixed cost = dense − Σ sublayers kept in the denominator), prune's default",
    latencyWorkload: w,
    latencyClock: latCpp.clock ?? "wall",
    latencyEstimator: latCpp.estimator ?? "median",
    threads,
    gguf: "f32 (toolkit export), F32 KV cache, flash attention off",
    speedWorkload: `prefill ${w.promptLength} synthetic tokens + ${decodeSteps} greedy steps, batch 1, ${rounds} interleaved rounds (dense, sprint-llamacpp, sprint-webgpu) after 1 warm-up; speedup = median of per-round time ratios (measuredSpeedupMin: ratio of the fastest runs)`,
    perplexity: `${HELDOUT}, BOS + non-overlapping 512-token windows, first ${limit} windows; toolkit: WebGPU f32; llama.cpp: f32 GGUF`,
    engine: engineDesc,
    adapter: gpu.description,
    deno: Deno.version.deno,
    machine: "2 cores shared with other jobs during the run: timings are noisy",
    date: new Date().toISOString(),
  },
  latency: { llamacpp: latCpp, webgpu: latGpu },
  models: {
    "sprint-llamacpp": describe(logCpp),
    "sprint-webgpu": describe(logGpu),
  },
  speed,
  perplexity: ppl,
};
await Deno.mkdir(values.results!, { recursive: true });
await writeJsonAtomic(join(values.results!, "results.json"), result);

const f3 = (x: number) => x.toFixed(3);
const sp = (n: string) => speed.find((s) => s.model === n)!.measuredSpeedup!;
const row = (n: "sprint-llamacpp" | "sprint-webgpu", label: string) => {
  const m = result.models[n];
  const s = sp(n);
  const smin = speed.find((x) => x.model === n)!.measuredSpeedupMin!;
  const est = m.estimatedByLlamaCppTable.withFixedCost;
  const pct = (x: number) => `${((est / x - 1) * 100).toFixed(1)} %`;
  return `| ${label} | ${m.pruned.join(", ")} | ${f3(m.estimatedByOwnTable)} | ${f3(est)} | ${
    f3(s.workload)
  } (${pct(s.workload)}) | ${f3(smin.workload)} (${pct(smin.workload)}) | ${f3(s.prefill)} | ${f3(s.decode)} | ${ppl[n].toolkit.toFixed(4)} | ${ppl[n].llamacpp.toFixed(4)} | ${ppl[n].relDiff.toExponential(1)} |`;
};
const readme = `# SPRINT with llama.cpp as the latency engine (issue 11, experiment)

The default model (\`${MODEL}\`, ${c.numLayers} blocks, d ${c.hiddenSize}, ffn ${c.intermediateSize}, vocab ${c.vocabSize})
pruned by SPRINT to an estimated 1.25× with the per-type sublayer latency measured **in llama.cpp**
(${threads} thread(s), f32 GGUFs) and with the toolkit's **WebGPU** latency (today's default), then
both pruned models measured in llama.cpp.

**Noise warning.** This run was made on the 2-core machine while other jobs shared the cores: the
latency tables and measured speedups carry that noise (rounds are interleaved and paired to cancel
slow drifts, medians throughout). Rerun on a quiet machine with the command below.

## Latency tables (ms per workload: prefill ${w.promptLength} + ${w.generationLength} generated tokens, batch 1)

llama.cpp table: ${latCpp.clock ?? "wall"} clock, ${latCpp.estimator ?? "median"} estimator, ${latCpp.workload?.iterations} interleaved rounds (every
clock × estimator of the same rounds is in \`results.json\`, \`latency.llamacpp.alternatives\`).

| engine | attention ℓ_MHA | MLP ℓ_MLP | dense T1 | fixed cost (T1 − L·(ℓ_MHA+ℓ_MLP)) |
|---|---:|---:|---:|---:|
| llama.cpp (${threads} thread(s)) | ${latCpp.attention.toFixed(2)} | ${latCpp.mlp.toFixed(2)} | ${latCpp.dense.toFixed(1)} | ${(latCpp.dense - c.numLayers * (latCpp.attention + latCpp.mlp)).toFixed(1)} |
| WebGPU (lavapipe) | ${latGpu.attention.toFixed(2)} | ${latGpu.mlp.toFixed(2)} | ${latGpu.dense.toFixed(1)} | ${(latGpu.dense - c.numLayers * (latGpu.attention + latGpu.mlp)).toFixed(1)} |

## Pruned models, measured in llama.cpp (${threads} thread(s), f32 GGUF)

| latency from | removed sublayers | est. (own table) | est. by llama.cpp table | measured workload speedup, median of rounds (est. error) | same, fastest runs (est. error) | measured prefill | measured decode | held-out ppl (toolkit) | held-out ppl (llama.cpp) | rel. diff |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${row("sprint-llamacpp", "llama.cpp")}
${row("sprint-webgpu", "WebGPU")}
| (dense) | – | 1 | 1 | 1 | 1 | 1 | 1 | ${ppl.dense.toolkit.toFixed(4)} | ${ppl.dense.llamacpp.toFixed(4)} | ${ppl.dense.relDiff.toExponential(1)} |

- Estimates use prune's default speedup model \`total\` (the fixed cost stays in the denominator).
  "est. by llama.cpp table" applies the llama.cpp table to each model's mask; the bar compares it
  with the measured workload speedup (±10 %).
- Measured: ${result.protocol.speedWorkload}.
- Perplexity: ${result.protocol.perplexity}. Bar: relative difference ≤ 1e-3.
- Engine: ${engineDesc.version}; build ${engineDesc.build.split(";")[0]}. Toolkit: ${gpu.description}, Deno ${Deno.version.deno}.

Full figures and protocols: \`results.json\` (both latency tables, per-model estimates by both tables, timings).

## Rerun

\`\`\`sh
npm i -E --omit=optional node-llama-cpp@3.21.1 @node-llama-cpp/linux-x64@3.21.1   # once
deno run -A docs/results/llamacpp/run.ts --threads 1 --out out/llamacpp-exp-quiet
\`\`\`
A new \`--out\` directory re-measures the llama.cpp table and re-prunes both models; the WebGPU table
is cached by \`prune\` in \`out/latency_cache.json\` (delete it to re-measure that one too).
`;
await Deno.writeTextFile(join(values.results!, "README.md"), readme);
say("done");
