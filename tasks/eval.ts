/**
 * `deno task eval [--model DIR] [--tasks LIST] [--data DIR] [--limit N] [--seq-len T]
 * [--speed] [--baseline DIR] [--json FILE] …`
 *
 * Perplexity, lm-evaluation-harness-compatible zero-shot accuracy and measured speed of a model
 * (and of its dense baseline side by side). See `src/eval/cli.ts` for every flag.
 */
import { runCli } from "../src/errors.ts";
import { runEval } from "../src/cli/eval.ts";

await runCli(async () => {
  await runEval(Deno.args);
});
