import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
  rejects,
} from "node:assert";
import { join } from "node:path";
import { ToolkitError } from "../../src/errors.ts";
import { parseConfig } from "../../src/model/config.ts";
import { openSafetensors, writeSafetensors } from "../../src/model/safetensors.ts";
import { loadModel } from "../../src/model/model.ts";
import { tinyConfigJson, writeTinyModel } from "../fixtures.ts";
import { GPU_TEST, testGpuF32 } from "../util.ts";

async function expectToolkitError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await rejects(p, (e: unknown) => {
    if (!(e instanceof ToolkitError)) throw new Error(`expected ToolkitError, got ${e}`);
    assertMatch(e.message, pattern);
    assert(!e.message.includes("\n"), "message must be one line");
    return true;
  });
}

function header(obj: unknown, extraData = 0, lenOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(obj));
  const out = new Uint8Array(8 + json.length + extraData);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

Deno.test("safetensors: malformed headers are one-line errors naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const f = join(dir, "model.safetensors");
    await Deno.writeFile(f, new Uint8Array(3));
    await expectToolkitError(openSafetensors(f), /model\.safetensors: file is 3 bytes/);
    await Deno.writeFile(f, header({}, 0, 9_000_000_000_000_000_000n));
    await expectToolkitError(
      openSafetensors(f),
      /model\.safetensors: header length 9000000000000000000 exceeds file size/,
    );
    await Deno.writeFile(
      f,
      header({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }).subarray(0, 20),
    );
    await expectToolkitError(openSafetensors(f), /header length \d+ exceeds file size 20/);
    const bad = new Uint8Array([
      ...header({}).subarray(0, 8),
      ...new TextEncoder().encode("{nope"),
    ]);
    new DataView(bad.buffer).setBigUint64(0, 5n, true);
    await Deno.writeFile(f, bad);
    await expectToolkitError(openSafetensors(f), /header is not valid JSON/);
    await Deno.writeFile(f, header({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8));
    await expectToolkitError(
      openSafetensors(f),
      /tensor a: data_offsets span 8 bytes, shape \[3\] F32 needs 12/,
    );
    await Deno.writeFile(f, header({ a: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, 8));
    await expectToolkitError(
      openSafetensors(f),
      /tensor a: data_offsets end 16 beyond the data section \(8 bytes\)/,
    );
    await Deno.writeFile(f, header({ a: { dtype: "Q4", shape: [2], data_offsets: [0, 8] } }, 8));
    await expectToolkitError(openSafetensors(f), /tensor a: dtype "Q4" unsupported/);
    await Deno.writeFile(
      f,
      header({
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
      }, 12),
    );
    await expectToolkitError(openSafetensors(f), /tensors a and b overlap/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("safetensors: write/read round trip in F32, F16 and BF16", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const f = join(dir, "x.safetensors");
    await writeSafetensors(f, [
      { name: "b", shape: [2, 2], dtype: "F32", data: new Float32Array([1, -2, 3.5, 0.25]) },
      { name: "a", shape: [3], dtype: "F16", data: new Uint16Array([0x3c00, 0xc000, 0x3800]) },
      { name: "c", shape: [1], dtype: "BF16", data: new Uint16Array([0x3fc0]) },
    ]);
    const ck = await openSafetensors(f);
    assertEquals([...ck.tensors.keys()], ["a", "b", "c"]);
    assertEquals([...await ck.float32("b")], [1, -2, 3.5, 0.25]);
    assertEquals([...await ck.float32("a")], [1, -2, 0.5]);
    assertEquals([...await ck.float32("c")], [1.5]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config.json: unknown model_type and missing or bad fields", () => {
  const err = (raw: unknown, pattern: RegExp) => {
    try {
      parseConfig(raw, "m/config.json");
    } catch (e) {
      if (!(e instanceof ToolkitError)) throw e;
      assertMatch(e.message, pattern);
      return;
    }
    throw new Error("expected an error");
  };
  err(
    tinyConfigJson({ model_type: "gpt2" }),
    /m\/config\.json: field model_type is "gpt2"; supported: llama, mistral, qwen2/,
  );
  const missing = tinyConfigJson();
  delete missing.hidden_size;
  err(missing, /field hidden_size is missing/);
  err(tinyConfigJson({ num_key_value_heads: 4 }), /not a multiple of num_key_value_heads 4/);
  err(tinyConfigJson({ hidden_act: "gelu" }), /field hidden_act is "gelu"/);
  err(
    tinyConfigJson({ rope_scaling: { rope_type: "yarn", factor: 4 } }),
    /rope_scaling.rope_type "yarn" is not supported/,
  );
  err(
    tinyConfigJson({ model_type: "nemotron-nas", block_configs: [] }),
    /block_configs must be an array of num_hidden_layers \(3\)/,
  );
});

Deno.test({
  name: "model directory: missing tensor, shape mismatch, bad dtype, broken tokenizer",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const dir = await Deno.makeTempDir();
    try {
      const { config, weights } = await writeTinyModel(dir);
      // Missing tensor.
      const kept = [...weights].filter(([n]) => n !== "model.layers.1.mlp.up_proj.weight");
      const { expectedTensors } = await import("../../src/model/model.ts");
      const shapes = expectedTensors(config);
      await writeSafetensors(
        join(dir, "model.safetensors"),
        kept.map(([name, data]) => ({ name, shape: shapes.get(name)!, dtype: "F32", data })),
      );
      await expectToolkitError(
        loadModel(gpu, dir),
        /model\.safetensors: tensor model\.layers\.1\.mlp\.up_proj\.weight is missing/,
      );
      // Shape mismatch (config says 40 intermediate, tensors say otherwise).
      await writeTinyModel(dir);
      const cfg = JSON.parse(await Deno.readTextFile(join(dir, "config.json")));
      await Deno.writeTextFile(
        join(dir, "config.json"),
        JSON.stringify({ ...cfg, intermediate_size: 44 }),
      );
      await expectToolkitError(
        loadModel(gpu, dir),
        /model\.safetensors: tensor model\.layers\.0\.mlp\.gate_proj\.weight has shape \[40,24\], config\.json implies \[44,24\]/,
      );
      // Integer dtype where a float weight is expected.
      await writeTinyModel(dir);
      const st = await Deno.readFile(join(dir, "model.safetensors"));
      const n = Number(new DataView(st.buffer).getBigUint64(0, true));
      const h = JSON.parse(new TextDecoder().decode(st.subarray(8, 8 + n)));
      h["model.norm.weight"].dtype = "I32";
      const json = new TextEncoder().encode(JSON.stringify(h).padEnd(n, " "));
      st.set(json, 8);
      await Deno.writeFile(join(dir, "model.safetensors"), st);
      await expectToolkitError(
        loadModel(gpu, dir),
        /tensor model\.norm\.weight has dtype I32, expected F32, F16 or BF16/,
      );
      // Tokenizer that does not load.
      await writeTinyModel(dir);
      await Deno.writeTextFile(
        join(dir, "tokenizer.json"),
        JSON.stringify({ model: { type: "Nope" } }),
      );
      await expectToolkitError(loadModel(gpu, dir), /tokenizer\.json: the tokenizer does not load/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "generate CLI: bad model directory exits 2 with one line, no stack trace",
  ...GPU_TEST,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(
        join(dir, "config.json"),
        JSON.stringify(tinyConfigJson({ model_type: "bert" })),
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../../tasks/generate.ts", import.meta.url).pathname,
          "--model",
          dir,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(out.stderr).trim();
      assertEquals(out.code, 2);
      assertEquals(err.split("\n").length, 1, err);
      assertMatch(err, /^error: .*config\.json: field model_type is "bert"/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
