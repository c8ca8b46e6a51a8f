/**
 * SPRINT's latency table measured in llama.cpp: the shape of `measureLatency`'s table, positive
 * per-type latencies, the probe blocks of the 25 % rule, and the cache (same file, a key naming
 * engine, threads and dtype). No timing assertions beyond positivity, which the function itself
 * enforces (it throws when a paired difference is not positive).
 */
import { join } from "node:path";
import { loadModel } from "../../src/model/model.ts";
import {
  cachedLatencyLlamaCpp,
  latencyKeyLlamaCpp,
  latencyMasks,
} from "../../src/sprint/latency_llamacpp.ts";
import type { LatencyWorkload } from "../../src/sprint/latency.ts";
import { writeTinyModel } from "../fixtures.ts";
import { writeTinyTokenizer } from "../export/helpers.ts";
import { testGpuF32 } from "../util.ts";
import { llamaCppTest } from "./helpers.ts";

Deno.test("latency masks: dense, minus the probe MLPs, minus the probe attentions", () => {
  const { blocks, masks } = latencyMasks(8);
  if (blocks.join() !== "6,5") throw new Error(`probe blocks ${blocks}`);
  const off = masks.map((m) => m.flatMap((a, s) => (a ? [] : [s])).join());
  if (off.join("|") !== "|11,13|10,12") throw new Error(`removed ${off.join("|")}`);
});

Deno.test("latency cache key names engine, threads and dtype", () => {
  const w: LatencyWorkload = {
    mode: "generation",
    promptLength: 64,
    generationLength: 16,
    batch: 1,
    iterations: 3,
  };
  const keys = new Set([
    latencyKeyLlamaCpp("m", w, 1, "f32"),
    latencyKeyLlamaCpp("m", w, 2, "f32"),
    latencyKeyLlamaCpp("m", w, 1, "f16"),
    latencyKeyLlamaCpp("m", w, 1, "f32", "cpu"),
    latencyKeyLlamaCpp("m", w, 1, "f32", "wall", "min"),
  ]);
  if (keys.size !== 5) throw new Error("keys collide");
  if (!latencyKeyLlamaCpp("m", w, 1, "f32").includes("llama.cpp")) throw new Error("no engine");
});

Deno.test(llamaCppTest("llama.cpp latency table: shape, positive entries, cached", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Sublayers large enough that their cost stands out of a shared machine's noise.
    const { config } = await writeTinyModel(dir, {
      hidden_size: 384,
      intermediate_size: 1536,
      num_attention_heads: 6,
      num_key_value_heads: 6,
      head_dim: 64,
      max_position_embeddings: 256,
    }, 4);
    await writeTinyTokenizer(dir, config.vocabSize);
    const model = await loadModel(await testGpuF32(), dir, { dtype: "f32" });
    const w: LatencyWorkload = {
      mode: "prefill",
      promptLength: 128,
      generationLength: 0,
      batch: 1,
      iterations: 7,
    };
    const cacheFile = join(dir, "cache", "latency_cache.json");
    const opts = { threads: 1, clock: "cpu" } as const; // CPU time: robust on a busy machine
    const t = await cachedLatencyLlamaCpp(model, "tiny", w, cacheFile, opts);
    for (const k of ["attention", "mlp", "dense", "t1", "t2", "t3"] as const) {
      if (!(typeof t[k] === "number" && t[k]! > 0)) throw new Error(`${k} = ${t[k]}`);
    }
    if (t.source !== "measured" || t.probeBlocks?.join() !== "1" || t.threads !== 1) {
      throw new Error(`table fields: ${JSON.stringify({ ...t, engine: undefined })}`);
    }
    if (t.clock !== "cpu" || t.estimator !== "median" || t.alternatives.length !== 4) {
      throw new Error("clocks / estimators");
    }
    if (t.rounds.wall.length !== 7 || t.rounds.cpu[0].length !== 3) throw new Error("rounds");
    if (t.engine.engine !== "llama.cpp" || t.workload !== w || t.model !== "tiny") {
      throw new Error("engine / workload / model missing");
    }
    const again = await cachedLatencyLlamaCpp(model, "tiny", w, cacheFile, opts);
    if (again.source !== "cache" || again.attention !== t.attention) throw new Error("not cached");
    const file = JSON.parse(await Deno.readTextFile(cacheFile));
    if (!file[latencyKeyLlamaCpp("tiny", w, 1, "f32", "cpu")]) throw new Error("cache key missing");
    model.destroy();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}));
