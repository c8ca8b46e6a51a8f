/**
 * `deno task generate [--model DIR] [--prompt TEXT] [--max-new-tokens N] [--temperature T]
 *  [--top-p P] [--seed S] [--f32]` (`--help`: the table in src/cli/commands.ts)
 *
 * Prints the continuation and prefill / decode tokens per second.
 */
import { runCli, ToolkitError } from "../src/errors.ts";
import { parseTaskArgs } from "../src/cli/flags.ts";
import { GENERATE_COMMAND } from "../src/cli/commands.ts";
import { checkModelDir } from "../src/cli/paths.ts";
import { getGpu } from "../src/gpu/device.ts";
import { loadModel } from "../src/model/model.ts";
import { generate } from "../src/model/generate.ts";
import { DEFAULT_MODEL_DIR } from "../src/model/default.ts";

await runCli(async () => {
  const values = parseTaskArgs(GENERATE_COMMAND, Deno.args);
  if (!values) return;
  const dir = values.model ?? DEFAULT_MODEL_DIR;
  await checkModelDir(dir, values.model !== undefined);
  const gpu = await getGpu();
  const model = await loadModel(gpu, dir, {
    weightLayout: "tiled",
    ...(values.f32 ? { dtype: "f32" } : {}),
  });
  if (!model.tokenizer) throw new ToolkitError(`${dir}: tokenizer.json is missing`);
  const ids = model.tokenizer.encode(values.prompt);
  const ctx = model.config.maxPositions;
  if (ids.length > ctx || (ids.length === ctx && values["max-new-tokens"] > 0)) {
    throw new ToolkitError(
      `--prompt: ${ids.length} tokens leave no room in the model's ${ctx} positions ` +
        `(max_position_embeddings in ${dir}/config.json); shorten it below ${ctx} tokens`,
    );
  }
  if (ids.length + values["max-new-tokens"] > ctx) {
    throw new ToolkitError(
      `--max-new-tokens ${values["max-new-tokens"]}: the prompt's ${ids.length} tokens plus ` +
        `the new ones exceed the model's ${ctx} positions (max_position_embeddings in ` +
        `${dir}/config.json); the largest allowed value is ${Math.max(0, ctx - ids.length)}`,
    );
  }
  const r = await generate(model, ids, {
    maxNewTokens: values["max-new-tokens"],
    temperature: values.temperature,
    topP: values["top-p"],
    seed: values.seed,
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
