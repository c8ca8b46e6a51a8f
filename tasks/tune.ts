/**
 * `deno task tune --model DIR --out DIR [--rank 8] [--alpha 16] [--targets q,k,v,o,gate,up,down]
 *   [--steps N] [--lr X] [--batch B] [--seq-len T] [--data FILE] [--seed S] [--overwrite]`
 *
 * LoRA fast tuning on the sublayers that are present, merged into the weights, saved as a normal
 * model directory. Data defaults to the model's calibration.txt; its last 10 % is held out.
 * `deno task tune --help` lists every flag (src/cli/commands.ts).
 */
import { join } from "node:path";
import { runCli, ToolkitError } from "../src/errors.ts";
import { parseTaskArgs } from "../src/cli/flags.ts";
import { TUNE_COMMAND } from "../src/cli/commands.ts";
import {
  checkModelDir,
  checkOutputApart,
  checkOutputDirParent,
  checkReadableFile,
  exists,
} from "../src/cli/paths.ts";
import { getGpu } from "../src/gpu/device.ts";
import { readConfig } from "../src/model/config.ts";
import { loadModel } from "../src/model/model.ts";
import { saveModel } from "../src/model/save.ts";
import { loraFineTune } from "../src/train/lora.ts";
import { readText } from "../src/data/jsonl.ts";

await runCli(async () => {
  const values = parseTaskArgs(TUNE_COMMAND, Deno.args);
  if (!values) return;
  // Every check that needs no weights happens before loading them.
  await checkModelDir(values.model, true);
  const dataPath = values.data ?? join(values.model, "calibration.txt");
  await checkReadableFile(dataPath, "--data");
  await checkOutputDirParent(values.out, "--out");
  await checkOutputApart(values.out, "--out", [["--model", values.model], ["--data", dataPath]]);
  if (!values.overwrite && await exists(values.out)) {
    throw new ToolkitError(`--out ${values.out}: output exists (use --overwrite to replace it)`);
  }
  const seqLen = values["seq-len"];
  const config = await readConfig(values.model);
  if (seqLen > config.maxPositions) {
    throw new ToolkitError(
      `--seq-len ${seqLen} exceeds the model's ${config.maxPositions} positions`,
    );
  }
  // The training text is checked (UTF-8 text, not binary, not empty) before the model is loaded.
  const text = await readText(dataPath, "training text");
  if (text.trim() === "") throw new ToolkitError(`${dataPath}: training text is empty`);
  const gpu = await getGpu();
  const model = await loadModel(gpu, values.model);
  if (!model.tokenizer) throw new ToolkitError(`${values.model}: tokenizer.json is missing`);
  const ids = model.tokenizer.encode(text);
  const cut = Math.floor(ids.length * 0.9);
  if (ids.length - cut < seqLen || cut < seqLen + 2) {
    throw new ToolkitError(
      `${dataPath}: ${ids.length} tokens, too short for --seq-len ${seqLen} (need ≥ ${
        Math.ceil((seqLen + 2) / 0.1)
      })`,
    );
  }
  const r = await loraFineTune(model, ids.slice(0, cut), ids.slice(cut), {
    rank: values.rank,
    alpha: values.alpha,
    targets: values.targets,
    seed: values.seed,
  }, {
    steps: values.steps,
    lr: values.lr,
    batch: values.batch,
    seqLen,
    seed: values.seed,
    evalEvery: Math.max(1, Math.floor(values.steps / 4)),
    onProgress: (p) => {
      if (p.loss !== undefined || p.valLoss !== undefined) {
        console.error(
          `step ${p.step}/${p.steps} ${p.loss !== undefined ? `loss ${p.loss.toFixed(4)} ` : ""}${
            p.valLoss !== undefined ? `val ${p.valLoss.toFixed(4)} ` : ""
          }${p.tokensPerSecond.toFixed(0)} tok/s`,
        );
      }
    },
  });
  await saveModel(model, values.out, {
    overwrite: values.overwrite,
    extraConfig: {
      lora_tuned: {
        rank: values.rank,
        alpha: values.alpha,
        steps: values.steps,
        adapters: r.adapters,
      },
    },
  });
  console.error(
    `merged ${r.adapters} adapters; validation loss ${r.finalValLoss?.toFixed(4)} → ${values.out}`,
  );
});
