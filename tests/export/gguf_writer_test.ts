import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { gguf } from "@huggingface/gguf";
import { GGUF_ALIGNMENT, GgufWriter } from "../../src/export/gguf_writer.ts";
import { f16BitsToF32 } from "../../src/gpu/f16.ts";
import { randn } from "../util.ts";
import { tempDir } from "./helpers.ts";

Deno.test("GgufWriter: metadata of every type, F32/F16 tensors at aligned offsets, parsed back by @huggingface/gguf", async () => {
  const dir = await tempDir();
  try {
    const file = `${dir}/t.gguf`;
    const w = new GgufWriter();
    w.add("general.architecture", { type: "string", value: "llama" });
    w.add("t.u8", { type: "u8", value: 255 });
    w.add("t.i8", { type: "i8", value: -128 });
    w.add("t.u16", { type: "u16", value: 65535 });
    w.add("t.i16", { type: "i16", value: -32768 });
    w.add("t.u32", { type: "u32", value: 4_000_000_000 });
    w.add("t.i32", { type: "i32", value: -2_000_000_000 });
    w.add("t.f32", { type: "f32", value: 1e-5 });
    w.add("t.f64", { type: "f64", value: Math.PI });
    w.add("t.bool", { type: "bool", value: true });
    w.add("t.u64", { type: "u64", value: 2n ** 40n + 7n });
    w.add("t.i64", { type: "i64", value: -(2n ** 40n) });
    w.add("t.str", { type: "string", value: "héllo ▁ wörld" });
    w.add("t.arr_i32", { type: "array", itemType: "i32", value: [4, 0, -3, 4] });
    w.add("t.arr_f32", { type: "array", itemType: "f32", value: new Float32Array([0.5, -2]) });
    w.add("t.arr_str", { type: "array", itemType: "string", value: ["<s>", "", "Ġthe"] });
    // Odd sizes, so that every tensor needs padding before the next.
    const a = randn(7 * 3, 1);
    const b = randn(5, 2);
    const c = randn(3 * 2 * 5, 3);
    w.addTensor({ name: "a", shape: [7, 3], type: "F32", data: () => a });
    w.addTensor({ name: "b", shape: [5], type: "F16", data: () => b });
    w.addTensor({ name: "c", shape: [3, 2, 5], type: "F16", data: () => Promise.resolve(c) });
    const bytes = await w.write(file);
    assertEquals((await Deno.stat(file)).size, bytes);

    const r = await gguf(file, { allowLocalFile: true });
    const m = r.metadata as unknown as Record<string, unknown>;
    assertEquals(m.version, 3);
    assertEquals(m.tensor_count, 3n);
    assertEquals(m.kv_count, 17n);
    assertEquals(m["general.alignment"], GGUF_ALIGNMENT);
    assertEquals(m["general.architecture"], "llama");
    assertEquals(
      [m["t.u8"], m["t.i8"], m["t.u16"], m["t.i16"], m["t.u32"], m["t.i32"]],
      [255, -128, 65535, -32768, 4_000_000_000, -2_000_000_000],
    );
    assertEquals(m["t.f32"], Math.fround(1e-5));
    assertEquals(m["t.f64"], Math.PI);
    assertEquals(m["t.bool"], true);
    assertEquals(BigInt(m["t.u64"] as bigint), 2n ** 40n + 7n);
    assertEquals(BigInt(m["t.i64"] as bigint), -(2n ** 40n));
    assertEquals(m["t.str"], "héllo ▁ wörld");
    assertEquals(m["t.arr_i32"], [4, 0, -3, 4]);
    assertEquals(m["t.arr_f32"], [0.5, -2]);
    assertEquals(m["t.arr_str"], ["<s>", "", "Ġthe"]);

    assertEquals(r.tensorInfos.map((t) => t.name), ["a", "b", "c"]);
    // ggml order: fastest-varying dimension first.
    assertEquals(r.tensorInfos.map((t) => t.shape.map(Number)), [[3, 7], [5], [5, 2, 3]]);
    assertEquals(r.tensorInfos.map((t) => t.dtype), [0, 1, 1]);
    assertEquals(r.tensorInfos.map((t) => Number(t.offset)), [0, 96, 128]);
    const dataStart = Number(r.tensorDataOffset);
    assertEquals(dataStart % GGUF_ALIGNMENT, 0);
    const raw = await Deno.readFile(file);
    const view = new DataView(raw.buffer);
    const at = (i: number) => dataStart + Number(r.tensorInfos[i].offset);
    for (let i = 0; i < a.length; i++) assertEquals(view.getFloat32(at(0) + 4 * i, true), a[i]);
    for (let i = 0; i < b.length; i++) {
      const v = f16BitsToF32(view.getUint16(at(1) + 2 * i, true));
      assert(Math.abs(v - b[i]) <= 1e-3 * Math.max(1, Math.abs(b[i])), `b[${i}] ${v} vs ${b[i]}`);
    }
    for (let i = 0; i < c.length; i++) {
      const v = f16BitsToF32(view.getUint16(at(2) + 2 * i, true));
      assert(Math.abs(v - c[i]) <= 1e-3 * Math.max(1, Math.abs(c[i])), `c[${i}] ${v} vs ${c[i]}`);
    }
    assertEquals(raw.byteLength, at(2) + 64); // 30 F16 values padded to 64 bytes
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GgufWriter: rejects out-of-range values, bad shapes, duplicates and wrong value counts", async () => {
  const w = new GgufWriter();
  const throws = async (f: () => unknown, part: string) => {
    try {
      await f();
    } catch (e) {
      assert((e as Error).message.includes(part), `${(e as Error).message} lacks ${part}`);
      return;
    }
    throw new Error(`expected an error containing ${part}`);
  };
  await throws(() => w.add("x", { type: "u32", value: -1 }), "out of range");
  await throws(() => w.add("x", { type: "i32", value: 1.5 }), "not an integer");
  await throws(
    () => w.add("x", { type: "array", itemType: "u8", value: [1, 256] }),
    "out of range",
  );
  await throws(
    () => w.addTensor({ name: "t", shape: [0], type: "F32", data: () => new Float32Array() }),
    "shape",
  );
  w.addTensor({ name: "t", shape: [2], type: "F32", data: () => new Float32Array(3) });
  await throws(
    () => w.addTensor({ name: "t", shape: [2], type: "F32", data: () => new Float32Array(2) }),
    "duplicate",
  );
  const dir = await tempDir();
  try {
    await throws(() => w.write(`${dir}/bad.gguf`), "got 3 values, shape needs 2");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
