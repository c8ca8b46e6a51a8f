/**
 * `deno task bench [--json FILE] [--quick] [--filter TEXT] [--reps N] [--only kernels|forward]`
 * `deno task bench --vs llamacpp [--rounds N] [--threads 1,2] [--dtypes f32,f16] [--json FILE]`
 * `deno task bench --scale [--scale-depths 8,16,32] [--scale-steps K] [--scale-1b plan] [--json FILE]`
 *
 * Prints, per kernel and shape, the median time and GFLOP/s or GB/s after checking each output
 * against the f64 reference; then model-level prefill / decode tokens per second and decode
 * weight traffic for stories260K (when ../shared is present) and a generated ~20M-parameter
 * model. Every figure carries the adapter and Deno version. `--json` writes the same figures.
 */
import { runCli, ToolkitError } from "../src/errors.ts";
import { parseTaskArgs } from "../src/cli/flags.ts";
import { BENCH_COMMAND } from "../src/cli/commands.ts";
import { checkOutputFile } from "../src/cli/paths.ts";
import { getGpu } from "../src/gpu/device.ts";
import { allCases } from "../src/bench/cases.ts";
import { type BenchResult, runBench } from "../src/bench/harness.ts";
import { writeJsonAtomic } from "../src/report/json.ts";
import {
  benchForward,
  benchModelConfigJson,
  benchWeights,
  type ForwardBenchResult,
} from "../src/bench/forward_bench.ts";
import { readConfig } from "../src/model/config.ts";
import { openCheckpoint } from "../src/model/safetensors.ts";
import { loadModel, readHostWeights } from "../src/model/model.ts";
import { DEFAULT_MODEL_DIR } from "../src/model/default.ts";
import { train } from "../src/train/trainer.ts";
import { benchEvalPiqa } from "../src/bench/eval_bench.ts";
import { benchVsLlamaCppModels, formatVsLlamaCpp } from "../src/bench/vs_llamacpp.ts";
import { benchScale, formatScale, type ScaleMethod } from "../src/bench/scale.ts";

await runCli(async () => {
  const values = parseTaskArgs(BENCH_COMMAND, Deno.args);
  if (!values) return;
  if (values.json !== undefined) await checkOutputFile(values.json, "--json");
  if (values.vs === "llamacpp") {
    const r = await benchVsLlamaCppModels({
      rounds: values.rounds,
      threads: values.threads,
      dtypes: values.dtypes as ("f32" | "f16")[],
    });
    console.log(formatVsLlamaCpp(r));
    if (values.json !== undefined) await writeJsonAtomic(values.json, { vsLlamaCpp: r });
    return;
  }
  const scaleFlags = Object.keys(values).filter((k) => k.startsWith("scale-"));
  if (values.scale) {
    const gpu = await getGpu();
    const r = await benchScale(gpu, {
      depths: values["scale-depths"].filter((d) => d > 0),
      hidden: values["scale-hidden"],
      vocab: values["scale-vocab"],
      nsamples: values["scale-nsamples"],
      seqLen: values["scale-seq-len"],
      numSublayers: values["scale-sublayers"],
      methods: values["scale-methods"] as ScaleMethod[],
      steps: values["scale-steps"],
      checkSteps: values["scale-check-steps"],
      dtype: values["scale-dtype"],
      llama1b: values["scale-1b"],
      llama1bCalibration: scaleCalibration(values["scale-1b-calibration"]),
      log: (line) => console.log(line),
    });
    console.log(formatScale(r));
    if (values.json !== undefined) {
      await writeJsonAtomic(values.json, r);
      console.log(`wrote ${values.json}`);
    }
    return;
  }
  if (Deno.args.some((a) => scaleFlags.some((f) => a === `--${f}` || a.startsWith(`--${f}=`)))) {
    throw new ToolkitError("--scale-* flags need --scale");
  }
  const gpu = await getGpu();
  let cases = allCases(gpu);
  if (values.quick) cases = cases.filter((c) => c.quick);
  if (values.filter) cases = cases.filter((c) => `${c.kernel} ${c.label}`.includes(values.filter!));
  const env = {
    adapter: gpu.description,
    f16: gpu.caps.f16,
    timestamps: gpu.caps.timestamps,
    deno: Deno.version.deno,
    os: `${Deno.build.os}-${Deno.build.arch}`,
    date: new Date().toISOString(),
  };
  console.log(`adapter: ${env.adapter} | f16 ${env.f16} | timestamp-query ${env.timestamps}`);
  console.log(`deno ${env.deno} | ${cases.length} cases, outputs checked against f64 references`);
  const results = values.only === "forward" ? [] : await runBench(gpu, cases, {
    reps: values.reps,
    onResult: (r) => console.log(formatResult(r)),
  });
  const forward: ForwardBenchResult[] = [];
  if (values.only !== "kernels") {
    const models: [
      string,
      Record<string, unknown>,
      () => Promise<Parameters<typeof benchForward>[3]>,
    ][] = [];
    const stories = new URL("../../shared/data/models/stories260K-hf", import.meta.url).pathname;
    try {
      await Deno.stat(stories);
      const cfg = await readConfig(stories);
      models.push([
        "stories260K",
        cfg.raw,
        async () => readHostWeights(cfg, await openCheckpoint(stories)),
      ]);
    } catch {
      console.log("forward: ../shared/data/models/stories260K-hf absent, skipping stories260K");
    }
    const gen = benchModelConfigJson();
    models.push([
      "generated-20M (d512 L8 ffn1376 V8192)",
      gen,
      () => Promise.resolve(benchWeights(gen)),
    ]);
    for (const [name, json, weights] of models) {
      for (const dtype of gpu.caps.f16 ? ["f32", "f16"] as const : ["f32"] as const) {
        if (values.quick && dtype === "f32" && gpu.caps.f16) continue;
        for (const layout of values.quick ? ["tiled"] as const : ["rows", "tiled"] as const) {
          const r = await benchForward(gpu, name, json, await weights(), {
            dtype,
            layout,
            prefillLengths: values.quick ? [128] : [128, 512],
            newTokens: values.quick ? 32 : 64,
          });
          forward.push(r);
          for (const p of r.prefill) {
            console.log(
              `forward      ${`${name} ${dtype} ${layout} prefill T=${p.tokens}`.padEnd(58)} ${
                p.timing.medianMs.toFixed(1).padStart(9)
              } ms ${p.tokensPerSecond.toFixed(0).padStart(8)} tok/s`,
            );
          }
          console.log(
            `forward      ${`${name} ${dtype} ${layout} decode (16-token prompt)`.padEnd(58)} ${
              r.decode.msPerToken.toFixed(2).padStart(9)
            } ms ${r.decode.tokensPerSecond.toFixed(1).padStart(8)} tok/s` +
              ` | weights ${(r.weightBytesPerToken / 1e6).toFixed(2)} MB/token = ${
                r.weightGBps.toFixed(2)
              } GB/s`,
          );
        }
      }
    }
  }
  let training: unknown;
  if (values.only !== "kernels") {
    try {
      await Deno.stat(`${DEFAULT_MODEL_DIR}/model.safetensors`);
      const model = await loadModel(gpu, DEFAULT_MODEL_DIR, { dtype: "f32" });
      const text = Uint32Array.from(
        { length: 20000 },
        (_, i) => (i * 7919) % model.config.vocabSize,
      );
      const o = { batch: 8, seqLen: 128, lr: 1e-4, evalEvery: 0, logEvery: 1000 };
      await train(model, text, text.subarray(0, 256), { ...o, steps: 2 }); // warm-up: pipelines
      const steps = values.quick ? 3 : 8;
      const r = await train(model, text, text.subarray(0, 256), { ...o, steps });
      model.destroy();
      training = {
        model: "default",
        batch: o.batch,
        seqLen: o.seqLen,
        steps,
        tokensPerSecond: r.tokensSeen / r.seconds,
        secondsPerStep: r.seconds / steps,
        weights: "f32",
      };
      console.log(
        `train        ${"default model step (8×128 tokens, fwd+bwd+AdamW, f32)".padEnd(52)} ${
          (1e3 * r.seconds / steps).toFixed(0).padStart(9)
        } ms ${(r.tokensSeen / r.seconds).toFixed(0).padStart(8)} tok/s`,
      );
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      console.log("train        default model absent, skipping the training-step figure");
    }
  }
  let evalThroughput: unknown;
  if (values.only !== "kernels") {
    const r = await benchEvalPiqa(gpu, { items: values.quick ? 50 : 100 });
    evalThroughput = r;
    if ("skipped" in r) console.log(`eval         PIQA on stories260K skipped: ${r.skipped}`);
    else {
      console.log(
        `eval         ${"PIQA (lm-eval v0.4 protocol) on stories260K f32".padEnd(52)} ${
          r.itemsPerSecond.toFixed(1).padStart(9)
        } items/s (${r.requestsPerSecond.toFixed(1)} requests/s)`,
      );
    }
  }
  if (values.json) {
    await writeJsonAtomic(values.json, {
      protocol: env,
      results,
      forward,
      training,
      eval: evalThroughput,
    });
    console.log(`wrote ${values.json}`);
  }
});

function scaleCalibration(v: number[]): { nsamples: number; seqLen: number } {
  if (v.length !== 2) throw new ToolkitError("--scale-1b-calibration: expected N,T (two integers)");
  return { nsamples: v[0], seqLen: v[1] };
}

function formatResult(r: BenchResult): string {
  const rate = r.gflops !== undefined
    ? `${r.gflops.toFixed(1).padStart(7)} GFLOP/s`
    : `${(r.gbps ?? 0).toFixed(2).padStart(7)} GB/s   `;
  const spread = `[p10 ${r.timing.p10Ms.toFixed(3)}, p90 ${r.timing.p90Ms.toFixed(3)}]`;
  return `${r.kernel.padEnd(12)} ${r.label.padEnd(40)} ${
    r.ms.toFixed(3).padStart(9)
  } ms ${spread} ${rate}`;
}
