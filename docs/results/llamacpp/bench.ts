/**
 * Side-by-side speed, WebGPU forward vs llama.cpp (issue 14, deliverable 1), until the bench task
 * has its `--vs llamacpp` flag:
 *
 *   deno run -A docs/results/llamacpp/bench.ts [--rounds 5] [--threads 1,2] [--dtypes f32,f16]
 *     [--results docs/results/llamacpp]
 *
 * Models: the generated ~20M model of `deno task bench` (d 512, 8 layers, vocab 8192) and
 * stories260K when ../shared is present. Writes bench-vs-llamacpp.json and .md.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  benchVsLlamaCpp,
  formatVsLlamaCpp,
  type VsModel,
  writeBenchModelDir,
} from "../../../src/bench/vs_llamacpp.ts";
import { writeJsonAtomic } from "../../../src/report/json.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    threads: { type: "string", default: "1,2" },
    dtypes: { type: "string", default: "f32,f16" },
    results: { type: "string", default: "docs/results/llamacpp" },
  },
});
const tmp = await Deno.makeTempDir({ prefix: "bench20m_" });
try {
  await writeBenchModelDir(tmp);
  const models: VsModel[] = [{ name: "generated 20M", dir: tmp }];
  const stories = new URL("../../../../shared/data/models/stories260K-hf", import.meta.url).pathname;
  try {
    await Deno.stat(join(stories, "model.safetensors"));
    models.push({ name: "stories260K", dir: stories });
  } catch {
    console.error("stories260K absent (../shared): only the generated model");
  }
  const r = await benchVsLlamaCpp({
    models,
    threads: values.threads!.split(",").map(Number),
    dtypes: values.dtypes!.split(",") as ("f32" | "f16")[],
    promptTokens: 512,
    newTokens: 128,
    rounds: Number(values.rounds),
    log: (l) => console.error(l),
  });
  await Deno.mkdir(values.results!, { recursive: true });
  await writeJsonAtomic(join(values.results!, "bench-vs-llamacpp.json"), r);
  const md = `# WebGPU forward vs llama.cpp, same model, same CPU

Ratios are ours ÷ llama.cpp tokens/s per round (median, p10–p90 over ${r.protocol.rounds} rounds,
engines alternating). ${r.protocol.clock}; ${r.protocol.prompt}; ours with ${r.protocol.ourThreads},
llama.cpp with ${r.protocol.llamaThreads}. Each cell checked the two engines' log-probs before
timing. Deno ${r.protocol.deno}, ${r.protocol.date}. **The 2 cores were shared with other jobs.**

${formatVsLlamaCpp(r)}

Command: \`deno run -A docs/results/llamacpp/bench.ts --rounds ${r.protocol.rounds}\`
`;
  await Deno.writeTextFile(join(values.results!, "bench-vs-llamacpp.md"), md);
  console.log(md);
} finally {
  await Deno.remove(tmp, { recursive: true });
}
