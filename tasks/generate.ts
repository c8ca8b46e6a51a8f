/**
 * `deno task generate --model DIR --prompt TEXT [--max-new-tokens N] [--temperature T]
 *  [--top-p P] [--seed S] [--f32]`
 *
 * Prints the continuation and prefill / decode tokens per second.
 */
import { parseArgs } from "node:util";
import { runCli, ToolkitError } from "../src/errors.ts";
import { getGpu } from "../src/gpu/device.ts";
import { loadModel } from "../src/model/model.ts";
import { generate } from "../src/model/generate.ts";
import { DEFAULT_MODEL_DIR } from "../src/model/default.ts";

await runCli(async () => {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string" },
      prompt: { type: "string", default: "Once upon a time" },
      "max-new-tokens": { type: "string", default: "100" },
      temperature: { type: "string", default: "0" },
      "top-p": { type: "string", default: "1" },
      seed: { type: "string", default: "0" },
      f32: { type: "boolean", default: false },
    },
  });
  const num = (name: string, v: string, int = false): number => {
    const x = Number(v);
    if (!Number.isFinite(x) || x < 0 || (int && !Number.isInteger(x))) {
      throw new ToolkitError(
        `--${name}: expected a non-negative ${int ? "integer" : "number"}, got ${
          JSON.stringify(v)
        }`,
      );
    }
    return x;
  };
  const maxNewTokens = num("max-new-tokens", values["max-new-tokens"]!, true);
  const temperature = num("temperature", values.temperature!);
  const topP = num("top-p", values["top-p"]!);
  if (topP <= 0 || topP > 1) {
    throw new ToolkitError(`--top-p: expected a number in (0, 1], got ${topP}`);
  }
  const dir = values.model ?? DEFAULT_MODEL_DIR;
  const gpu = await getGpu();
  const model = await loadModel(gpu, dir, values.f32 ? { dtype: "f32" } : {});
  if (!model.tokenizer) throw new ToolkitError(`${dir}: tokenizer.json is missing`);
  const ids = model.tokenizer.encode(values.prompt!);
  const r = await generate(model, ids, {
    maxNewTokens,
    temperature,
    topP,
    seed: num("seed", values.seed!, true),
  });
  console.log(model.tokenizer.decode([...ids, ...r.tokens]));
  console.error(
    `prefill ${r.prefillTokens} tokens in ${r.prefillMs.toFixed(1)} ms (${
      r.prefillTokensPerSecond.toFixed(1)
    } tok/s); ` +
      `decode ${r.decodeTokens} tokens in ${r.decodeMs.toFixed(1)} ms (${
        r.decodeTokensPerSecond.toFixed(1)
      } tok/s); ` +
      `stopped: ${r.stopped}; weights ${model.dtype}; ${gpu.description}; deno ${Deno.version.deno}`,
  );
});
