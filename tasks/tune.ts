/**
 * `deno task tune --model DIR --out DIR [--rank 8] [--alpha 16] [--targets q,k,v,o,gate,up,down]
 *   [--steps N] [--lr X] [--batch B] [--seq-len T] [--data FILE] [--seed S] [--overwrite]`
 *
 * LoRA fast tuning on the sublayers that are present, merged into the weights, saved as a normal
 * model directory. Data defaults to the model's calibration.txt; its last 10 % is held out.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { runCli, ToolkitError } from "../src/errors.ts";
import { getGpu } from "../src/gpu/device.ts";
import { loadModel } from "../src/model/model.ts";
import { saveModel } from "../src/model/save.ts";
import { loraTune } from "../src/train/lora.ts";

await runCli(async () => {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string" },
      out: { type: "string" },
      rank: { type: "string", default: "8" },
      alpha: { type: "string", default: "16" },
      targets: { type: "string", default: "q,k,v,o,gate,up,down" },
      steps: { type: "string", default: "100" },
      lr: { type: "string", default: "0.001" },
      batch: { type: "string", default: "4" },
      "seq-len": { type: "string", default: "128" },
      data: { type: "string" },
      seed: { type: "string", default: "0" },
      overwrite: { type: "boolean", default: false },
    },
  });
  if (!values.model) throw new ToolkitError("--model DIR is required");
  if (!values.out) throw new ToolkitError("--out DIR is required");
  const num = (name: string, int = true) => {
    const v = (values as unknown as Record<string, string>)[name];
    const x = Number(v);
    if (!Number.isFinite(x) || x <= 0 || (int && !Number.isInteger(x))) {
      throw new ToolkitError(
        `--${name}: expected a positive ${int ? "integer" : "number"}, got ${JSON.stringify(v)}`,
      );
    }
    return x;
  };
  const gpu = await getGpu();
  const model = await loadModel(gpu, values.model);
  if (!model.tokenizer) throw new ToolkitError(`${values.model}: tokenizer.json is missing`);
  const dataPath = values.data ?? join(values.model, "calibration.txt");
  let text: string;
  try {
    text = await Deno.readTextFile(dataPath);
  } catch (e) {
    throw new ToolkitError(`${dataPath}: cannot read training text (${(e as Error).message})`);
  }
  const ids = model.tokenizer.encode(text);
  const seqLen = num("seq-len");
  if (seqLen > model.config.maxPositions) {
    throw new ToolkitError(
      `--seq-len ${seqLen} exceeds the model's ${model.config.maxPositions} positions`,
    );
  }
  const cut = Math.floor(ids.length * 0.9);
  if (ids.length - cut < seqLen || cut < seqLen + 2) {
    throw new ToolkitError(
      `${dataPath}: ${ids.length} tokens, too short for --seq-len ${seqLen} (need ≥ ${
        Math.ceil((seqLen + 2) / 0.1)
      })`,
    );
  }
  const r = await loraTune(model, ids.slice(0, cut), ids.slice(cut), {
    rank: num("rank"),
    alpha: num("alpha", false),
    targets: values.targets!.split(",").map((t) => t.trim()).filter(Boolean),
    seed: Number(values.seed),
  }, {
    steps: num("steps"),
    lr: num("lr", false),
    batch: num("batch"),
    seqLen,
    seed: Number(values.seed),
    evalEvery: Math.max(1, Math.floor(num("steps") / 4)),
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
        rank: num("rank"),
        alpha: num("alpha", false),
        steps: num("steps"),
        adapters: r.adapters,
      },
    },
  });
  console.error(
    `merged ${r.adapters} adapters; validation loss ${r.finalValLoss?.toFixed(4)} → ${values.out}`,
  );
});
