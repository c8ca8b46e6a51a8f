/**
 * An independent converter: llama.cpp's own convert_hf_to_gguf.py (the commit bundled with
 * node-llama-cpp 3.21.1) run by tests/export/llamacpp_converter/convert.sh. Skipped unless its
 * Debian Python packages are installed (see convert.sh) and llama.cpp is available.
 *
 * - Dense stories260K: the converter's file gives llama.cpp log-probs equal to our export's.
 * - The toolkit's pruned (Nemotron-NAS `block_configs`) form: the converter ignores `no_op`
 *   (it reads attention-free blocks from `n_heads_in_group: null` and FFN widths from `ffn_mult`
 *   rounded up to a multiple of 256), so its file lists tensors the checkpoint lacks and
 *   llama.cpp refuses to load it. This test pins that gap; our exporter is the way to GGUF.
 */
import { ok as assert } from "node:assert";
import { join } from "node:path";
import { exportGguf } from "../../src/export/gguf.ts";
import { loadModel } from "../../src/model/model.ts";
import { saveModel } from "../../src/model/save.ts";
import { loadTokenizer } from "../../src/model/tokenizer.ts";
import { sharedModelDir } from "../fixtures.ts";
import { GPU_TEST, testGpuF32 } from "../util.ts";
import { maxAbsDiff, tempDir } from "./helpers.ts";
import { LlamaCppChild, skipWithoutLlamaCpp } from "./llamacpp.ts";

const SCRIPT = new URL("./llamacpp_converter/convert.sh", import.meta.url).pathname;

async function converterMissing(): Promise<string | undefined> {
  try {
    const r = await new Deno.Command("/usr/bin/python3", {
      args: ["-c", "import torch, numpy, yaml, tqdm, sentencepiece"],
      stdout: "null",
      stderr: "null",
    }).output();
    return r.success ? undefined : "Debian python3-torch/numpy/yaml/tqdm/sentencepiece missing";
  } catch {
    return "/usr/bin/python3 is absent";
  }
}

const noLlama = await skipWithoutLlamaCpp("independent converter tests");
const missing = await converterMissing();
if (missing) console.warn(`skipping independent converter tests: ${missing}`);
const storiesDir = await sharedModelDir();

async function convert(dir: string, out: string): Promise<void> {
  const r = await new Deno.Command(SCRIPT, { args: [dir, out], stdout: "null", stderr: "piped" })
    .output();
  if (!r.success) throw new Error(`convert.sh failed: ${new TextDecoder().decode(r.stderr)}`);
}

Deno.test({
  name:
    "llama.cpp's converter: dense stories260K equals our export; the toolkit's pruned form does not load",
  ignore: noLlama || missing !== undefined || !storiesDir,
  ...GPU_TEST,
  async fn() {
    const work = await tempDir();
    try {
      const ours = join(work, "ours.gguf");
      const theirs = join(work, "theirs.gguf");
      await exportGguf(storiesDir!, ours);
      await convert(storiesDir!, theirs);
      const ids = (await loadTokenizer(storiesDir!)).encode(
        "Once upon a time, there was a little girl named Lily. She loved to play outside.",
      );
      const llama = await LlamaCppChild.open(ours);
      try {
        const a = (await llama.logprobs(ids)).logprobs;
        await llama.request("load", { model: theirs });
        const b = (await llama.logprobs(ids)).logprobs;
        const d = maxAbsDiff(a, b);
        console.log(`dense: converter vs our export max |Δ log p| ${d}`);
        assert(d <= 1e-6, `dense: ${d}`);
      } finally {
        await llama.close();
      }
      const dense = await loadModel(await testGpuF32(), storiesDir!, { dtype: "f32" });
      const pruned = join(work, "pruned");
      await saveModel(dense, pruned, { mask: dense.alive.map((_, s) => ![0, 5, 9].includes(s)) });
      dense.destroy();
      const theirsPruned = join(work, "theirs_pruned.gguf");
      await convert(pruned, theirsPruned);
      let failure = "";
      try {
        const c = await LlamaCppChild.open(theirsPruned);
        await c.close();
      } catch (e) {
        failure = (e as Error).message;
      }
      console.log(`pruned via the converter: ${failure || "loaded"}`);
      assert(failure, "the converter's pruned file was expected not to load");
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});
