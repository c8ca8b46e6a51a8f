/**
 * `deno task export --model DIR --out FILE.gguf [--dtype f32|f16] [--overwrite]`
 *
 * Writes a GGUF v3 file for llama.cpp: a dense model as `llama`, a pruned one (saved by
 * `deno task prune`) as `deci`, with the tokenizer embedded.
 */
import { parseArgs } from "node:util";
import { runCli, ToolkitError } from "../src/errors.ts";
import { exportGguf } from "../src/export/gguf.ts";

await runCli(async () => {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: "string" },
        out: { type: "string" },
        dtype: { type: "string", default: "f32" },
        overwrite: { type: "boolean", default: false },
      },
    }));
  } catch (e) {
    throw new ToolkitError(`export: ${(e as Error).message.split("\n")[0]}`);
  }
  if (!values.model) throw new ToolkitError("export: --model DIR is required");
  if (!values.out) throw new ToolkitError("export: --out FILE.gguf is required");
  const dtype = values.dtype;
  if (dtype !== "f32" && dtype !== "f16") {
    throw new ToolkitError(`--dtype: expected f32 or f16, got ${JSON.stringify(dtype)}`);
  }
  const r = await exportGguf(values.model, values.out, { dtype, overwrite: values.overwrite });
  console.log(`${r.file}: GGUF v3, architecture ${r.arch}, ${r.tensors} tensors, ${r.bytes} bytes`);
});
