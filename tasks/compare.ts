/**
 * `deno task compare [--model DIR] [--speedups 1.1,1.2,1.3] [--methods LIST] [--tasks LIST]
 *   [--data DIR] [--limit N] [--out DIR] [--calib FILE] [--heldout FILE] [--calib-fraction F]
 *   [--nsamples N] [--seq-len T] [--seed S] [--speedup-model total|sublayers]
 *   [--latency-table FILE | --latency-mode generation|prefill --latency-prompt P --latency-gen G
 *   --latency-iters I] [--ppl-seq-len T] [--ppl-windows N] [--speed-runs R]
 *   [--f32] [--quiet]`
 *
 * Prunes the model with every method (sprint, sleb, shortgpt, blockpruner, and the ablations
 * sprint-no-latency, sprint-no-tuning) at every target speedup, evaluates each pruned model
 * (held-out perplexity, zero-shot tasks when `--tasks` is given, measured speedup on the latency
 * table's workload) and writes OUT/compare.md, OUT/compare.json and OUT/compare.svg. Interrupted
 * runs resume: finished cells (OUT/cells/<method>-<speedup>/result.json) are skipped. See
 * src/compare/run.ts for the protocol; `deno task compare --help` lists every flag.
 */
import { runCli } from "../src/errors.ts";
import { showHelp } from "../src/cli/flags.ts";
import { checkCompareInputs, COMPARE_COMMAND, parseCompareArgs } from "../src/cli/compare.ts";
import { runCompare } from "../src/compare/run.ts";

await runCli(async () => {
  if (showHelp(COMPARE_COMMAND, Deno.args)) return;
  const args = parseCompareArgs(Deno.args);
  await checkCompareInputs(args); // every path, before anything is written or loaded
  await runCompare(args);
});
