/**
 * `deno task export --model DIR --out FILE.gguf [--dtype f32|f16] [--overwrite]`
 * (`--help`: the table in src/cli/commands.ts)
 *
 * Writes a GGUF v3 file for llama.cpp: a dense model as `llama`, a pruned one (saved by
 * `deno task prune`) as `deci`, with the tokenizer embedded.
 */
import { runCli, ToolkitError } from "../src/errors.ts";
import { parseTaskArgs } from "../src/cli/flags.ts";
import { EXPORT_COMMAND } from "../src/cli/commands.ts";
import { checkModelDir, checkOutputApart, checkOutputFile, exists } from "../src/cli/paths.ts";
import { exportGguf } from "../src/export/gguf.ts";

await runCli(async () => {
  const values = parseTaskArgs(EXPORT_COMMAND, Deno.args);
  if (!values) return;
  await checkModelDir(values.model, true);
  await checkOutputFile(values.out, "--out");
  await checkOutputApart(values.out, "--out", [["--model", values.model]]);
  if (!values.overwrite && await exists(values.out)) {
    throw new ToolkitError(`--out ${values.out}: exists (use --overwrite to replace it)`);
  }
  const r = await exportGguf(values.model, values.out, {
    dtype: values.dtype,
    overwrite: values.overwrite,
  });
  console.log(`${r.file}: GGUF v3, architecture ${r.arch}, ${r.tensors} tensors, ${r.bytes} bytes`);
});
