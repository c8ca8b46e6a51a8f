/**
 * `deno task prune [--method sprint|sleb|shortgpt|blockpruner] [--model DIR] [--out DIR]
 *   [--target-speedup X | --num-sublayers N]
 *   [--calib FILE] [--nsamples N] [--seq-len T] [--batch B] [--seed S] [--calib-sampling random|sequential]
 *   [--metric M] [--candidates K] [--checkpoints C] [--tuning-ratio R] [--damping L]
 *   [--no-latency-aware] [--no-tuning] [--speedup-model total|sublayers]
 *   [--latency-table FILE] [--latency-mode generation|prefill] [--latency-prompt P] [--latency-gen G]
 *   [--latency-batch B] [--latency-iters I] [--f32] [--resume] [--overwrite]`
 *
 * Runs SPRINT and writes the pruned model directory (per-block no_op config + safetensors with the
 * re-fitted rows), prune_log.json, tuned_rows.safetensors, latency.json, report.md and report.svg.
 * `--method` selects a baseline instead (src/baselines): the same calibration, latency table,
 * stopping rule and outputs (no re-fitted rows).
 */
import { parseArgs } from "node:util";
import { runCli } from "../src/errors.ts";
import { pruneCommand } from "../src/sprint/cli.ts";

await runCli(async () => {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      method: { type: "string", default: "sprint" },
      model: { type: "string" },
      out: { type: "string" },
      "target-speedup": { type: "string" },
      "num-sublayers": { type: "string" },
      calib: { type: "string" },
      nsamples: { type: "string" },
      "seq-len": { type: "string" },
      batch: { type: "string" },
      seed: { type: "string", default: "0" },
      "calib-sampling": { type: "string", default: "random" },
      metric: { type: "string", default: "l2_sentence" },
      candidates: { type: "string", default: "5" },
      checkpoints: { type: "string", default: "8" },
      "tuning-ratio": { type: "string", default: "1" },
      damping: { type: "string", default: "0" },
      "no-latency-aware": { type: "boolean", default: false },
      "no-tuning": { type: "boolean", default: false },
      "speedup-model": { type: "string", default: "total" },
      "latency-table": { type: "string" },
      "latency-mode": { type: "string", default: "generation" },
      "latency-prompt": { type: "string" },
      "latency-gen": { type: "string" },
      "latency-batch": { type: "string", default: "1" },
      "latency-iters": { type: "string", default: "5" },
      f32: { type: "boolean", default: false },
      resume: { type: "boolean", default: false },
      overwrite: { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
    },
  });
  await pruneCommand(values);
});
