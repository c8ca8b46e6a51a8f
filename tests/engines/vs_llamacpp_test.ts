/**
 * The side-by-side bench on a generated model: one cell per (dtype, threads), the output check
 * made before timing, positive rates and ratios, a JSON-serialisable result; and the WebGPU engine
 * in a child process reports its lavapipe thread count.
 */
import { join } from "node:path";
import { benchVsLlamaCpp, formatVsLlamaCpp } from "../../src/bench/vs_llamacpp.ts";
import { WebGpuChildEngine } from "../../src/engines/webgpu_child.ts";
import { sequenceLogProbs } from "../../src/engines/engine.ts";
import { writeTinyModel } from "../fixtures.ts";
import { writeTinyTokenizer } from "../export/helpers.ts";
import { getGpu } from "../../src/gpu/device.ts";
import { GPU_TEST } from "../util.ts";
import { llamaCppTest } from "./helpers.ts";

Deno.test({
  name: "WebGPU engine in a child process: LP_NUM_THREADS in the description, scores come back",
  ...GPU_TEST,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await writeTinyModel(dir, {}, 8);
      const eng = await WebGpuChildEngine.load(dir, { threads: 1, dtype: "f32" });
      try {
        if (eng.description.threads !== 1 || eng.description.engine !== "webgpu") {
          throw new Error(`description ${JSON.stringify(eng.description)}`);
        }
        const lp = await sequenceLogProbs(eng, [1, 5, 9, 20, 3]);
        if (lp.length !== 4 || [...lp].some((x) => !(x < 0))) throw new Error(`log-probs ${lp}`);
      } finally {
        await eng.dispose();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test(llamaCppTest("bench --vs llamacpp: cells, check before timing, JSON result", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { config } = await writeTinyModel(dir, {}, 6);
    await writeTinyTokenizer(dir, config.vocabSize);
    // f16 weights need shader-f16 (absent on the GL back end): f32 alone there.
    const f16 = (await getGpu()).caps.f16;
    const dtypes: ("f32" | "f16")[] = f16 ? ["f32", "f16"] : ["f32"];
    const r = await benchVsLlamaCpp({
      models: [{ name: "tiny", dir }],
      threads: [1],
      dtypes,
      promptTokens: 16,
      newTokens: 4,
      rounds: 2,
      warmup: 0,
      workDir: join(dir, "gguf"),
    });
    if (r.cells.length !== dtypes.length) throw new Error(`${r.cells.length} cells`);
    for (const c of r.cells) {
      if (!(c.check.maxAbsLogProbDiff <= c.check.tolerance) || c.check.tokens !== 23) {
        throw new Error(`check ${JSON.stringify(c.check)}`);
      }
      for (const x of [c.ours, c.llamacpp, c.ratio]) {
        for (const s of [x.prefill, x.decode]) {
          if (!(s.median > 0 && s.p10 <= s.median && s.median <= s.p90)) {
            throw new Error(`spread ${JSON.stringify(s)}`);
          }
        }
      }
      if (c.engines.ours.threads !== 1 || c.engines.llamacpp.threads !== 1) {
        throw new Error("thread counts not recorded");
      }
    }
    // One thread count: each engine's best is that cell.
    if (r.best.length !== dtypes.length) throw new Error(`${r.best.length} best rows`);
    r.best.forEach((b, i) => {
      const c = r.cells[i];
      if (b.decode.ratio !== c.ours.decode.median / c.llamacpp.decode.median) {
        throw new Error(`best ${JSON.stringify(b)}`);
      }
    });
    const back = JSON.parse(JSON.stringify(r));
    const last = dtypes[dtypes.length - 1];
    if (back.cells[dtypes.length - 1].dtype !== last) throw new Error("not JSON-serialisable");
    if (!formatVsLlamaCpp(r).includes(`| tiny | ${last} | 1 | 16 |`)) throw new Error("table");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}));
