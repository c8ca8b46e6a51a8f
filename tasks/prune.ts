/**
 * `deno task prune [--method sprint|sleb|shortgpt|blockpruner] [--model DIR] [--out DIR]
 *   [--target-speedup X | --num-sublayers N] [--resume] [--overwrite] …` — every flag, its
 * range and default: `deno task prune --help` (the table is src/prune/flags.ts).
 *
 * Runs SPRINT (or a baseline) and writes the pruned model directory (per-block no_op config +
 * safetensors with the re-fitted rows), prune_log.json, tuned_rows.safetensors, latency.json,
 * report.md and report.svg (src/prune/command.ts).
 */
import { runCli } from "../src/errors.ts";
import { parsePruneArgs } from "../src/prune/flags.ts";
import { pruneCommand } from "../src/prune/command.ts";

await runCli(async () => {
  const args = parsePruneArgs(Deno.args);
  if (args) await pruneCommand(args);
});
