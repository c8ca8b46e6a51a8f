/**
 * A small GGUF v3 writer: header, typed key/value metadata (scalars, strings, arrays), tensor
 * infos and F32/F16 tensor data aligned to `general.alignment` (32 bytes).
 *
 * Layout (all little-endian): magic `GGUF`, version u32 = 3, tensor count u64, KV count u64; each
 * KV: key (u64 length + UTF-8 bytes), value type u32, value (arrays: item type u32, count u64,
 * items); each tensor info: name, n_dims u32, dims u64 (ggml order: the fastest-varying dimension
 * first), ggml type u32, data offset u64 (relative to the data section, a multiple of the
 * alignment); zero padding to the alignment; the data section.
 *
 * Tensor data is produced lazily, one tensor at a time, so a large model is never held whole.
 *
 * @module
 */
import { f32ToF16Bits } from "../gpu/f16.ts";

/** GGUF metadata value types (the numbers are the format's). */
export const GGUF_TYPE = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

/** A scalar metadata type name. */
export type GgufScalarType = Exclude<keyof typeof GGUF_TYPE, "array">;

/** A metadata value: a typed scalar or a typed array. */
export type GgufValue =
  | { type: Exclude<GgufScalarType, "string" | "bool" | "u64" | "i64">; value: number }
  | { type: "u64" | "i64"; value: number | bigint }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "array"; itemType: "string"; value: readonly string[] }
  | {
    type: "array";
    itemType: Exclude<GgufScalarType, "string" | "bool">;
    value: ArrayLike<number>;
  }
  | { type: "array"; itemType: "bool"; value: readonly boolean[] };

/** Tensor storage types written (ggml type ids: F32 = 0, F16 = 1). */
export type GgufTensorType = "F32" | "F16";

const GGML_TYPE: Record<GgufTensorType, number> = { F32: 0, F16: 1 };
const GGML_SIZE: Record<GgufTensorType, number> = { F32: 4, F16: 2 };

/** A tensor to write: its shape in row-major (PyTorch/safetensors) order and a data producer. */
export interface GgufTensor {
  /** Tensor name, e.g. `blk.0.attn_q.weight`. */
  name: string;
  /** Row-major shape (outermost first), e.g. HF `[out, in]`; written reversed as ggml dims. */
  shape: readonly number[];
  /** Storage type. */
  type: GgufTensorType;
  /** Produces the values (row-major, `prod(shape)` of them) when the data section is written. */
  data: () => Promise<Float32Array> | Float32Array;
}

/** Default and toolkit alignment of tensor data (bytes). */
export const GGUF_ALIGNMENT = 32;

class ByteSink {
  #chunks: Uint8Array[] = [];
  #size = 0;
  get size(): number {
    return this.#size;
  }
  bytes(b: Uint8Array): void {
    this.#chunks.push(b);
    this.#size += b.byteLength;
  }
  #view(n: number, f: (v: DataView) => void): void {
    const b = new Uint8Array(n);
    f(new DataView(b.buffer));
    this.bytes(b);
  }
  u32(v: number): void {
    this.#view(4, (d) => d.setUint32(0, v, true));
  }
  u64(v: number | bigint): void {
    this.#view(8, (d) => d.setBigUint64(0, BigInt(v), true));
  }
  scalar(type: GgufScalarType, v: number | bigint | boolean | string): void {
    switch (type) {
      case "u8":
        return this.#view(1, (d) => d.setUint8(0, v as number));
      case "i8":
        return this.#view(1, (d) => d.setInt8(0, v as number));
      case "u16":
        return this.#view(2, (d) => d.setUint16(0, v as number, true));
      case "i16":
        return this.#view(2, (d) => d.setInt16(0, v as number, true));
      case "u32":
        return this.u32(v as number);
      case "i32":
        return this.#view(4, (d) => d.setInt32(0, v as number, true));
      case "f32":
        return this.#view(4, (d) => d.setFloat32(0, v as number, true));
      case "f64":
        return this.#view(8, (d) => d.setFloat64(0, v as number, true));
      case "u64":
        return this.u64(v as number | bigint);
      case "i64":
        return this.#view(8, (d) => d.setBigInt64(0, BigInt(v as number | bigint), true));
      case "bool":
        return this.#view(1, (d) => d.setUint8(0, v ? 1 : 0));
      case "string": {
        const b = new TextEncoder().encode(v as string);
        this.u64(b.byteLength);
        return this.bytes(b);
      }
    }
  }
  concat(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(this.#size);
    let o = 0;
    for (const c of this.#chunks) {
      out.set(c, o);
      o += c.byteLength;
    }
    return out;
  }
}

function checkInt(key: string, type: GgufScalarType, v: number | bigint): void {
  if (type === "f32" || type === "f64") {
    if (typeof v !== "number") throw new Error(`gguf: ${key}: ${type} value must be a number`);
    return;
  }
  const n = typeof v === "bigint" ? v : Number.isInteger(v) ? BigInt(v) : undefined;
  if (n === undefined) throw new Error(`gguf: ${key}: ${type} value ${v} is not an integer`);
  const bits = { u8: 8, i8: 8, u16: 16, i16: 16, u32: 32, i32: 32, u64: 64, i64: 64 }[
    type as "u8"
  ];
  const signed = type.startsWith("i");
  const lo = signed ? -(1n << BigInt(bits - 1)) : 0n;
  const hi = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  if (n < lo || n > hi) throw new Error(`gguf: ${key}: ${type} value ${v} out of range`);
}

/**
 * Collects metadata and tensors, then writes a GGUF v3 file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GgufWriter } from "@sprint-wgpu/toolkit/export";
 * const file = `${await Deno.makeTempDir()}/model.gguf`;
 * const w = new GgufWriter();
 * w.add("general.architecture", { type: "string", value: "llama" });
 * w.add("llama.attention.head_count", { type: "array", itemType: "i32", value: [4, 0, 4] });
 * w.addTensor({
 *   name: "output_norm.weight",
 *   shape: [64],
 *   type: "F32",
 *   data: () => new Float32Array(64).fill(1),
 * });
 * await w.write(file);
 * const head = new Uint8Array(await Deno.readFile(file)).subarray(0, 4);
 * assert.equal(new TextDecoder().decode(head), "GGUF");
 * await Deno.remove(file);
 * ```
 */
export class GgufWriter {
  readonly #kv = new Map<string, GgufValue>();
  readonly #tensors: GgufTensor[] = [];
  /** Alignment of the tensor data in bytes (`general.alignment`). */
  readonly alignment: number;

  /** `alignment` (default 32) is also written as the `general.alignment` (u32) key. */
  constructor(alignment = GGUF_ALIGNMENT) {
    if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) {
      throw new Error(`gguf: alignment ${alignment} must be a positive multiple of 8`);
    }
    this.alignment = alignment;
    this.add("general.alignment", { type: "u32", value: alignment });
  }

  /** Adds (or replaces) a metadata key. */
  add(key: string, value: GgufValue): this {
    if (!key) throw new Error("gguf: empty metadata key");
    if (value.type === "array") {
      if (value.itemType !== "string" && value.itemType !== "bool") {
        const arr = value.value as ArrayLike<number>;
        for (let i = 0; i < arr.length; i++) checkInt(key, value.itemType, arr[i]);
      }
    } else if (value.type !== "string" && value.type !== "bool") {
      checkInt(key, value.type, value.value);
    }
    this.#kv.set(key, value);
    return this;
  }

  /** Adds a tensor (names must be unique). */
  addTensor(t: GgufTensor): this {
    if (this.#tensors.some((x) => x.name === t.name)) {
      throw new Error(`gguf: duplicate tensor ${t.name}`);
    }
    if (t.shape.length < 1 || t.shape.length > 4 || t.shape.some((d) => !(d >= 1))) {
      throw new Error(`gguf: tensor ${t.name}: shape [${t.shape}] must have 1-4 positive dims`);
    }
    this.#tensors.push(t);
    return this;
  }

  /** Tensor names in file order. */
  get tensorNames(): string[] {
    return this.#tensors.map((t) => t.name);
  }

  /** The header, metadata, tensor infos and padding (everything before the data section). */
  header(): { bytes: Uint8Array<ArrayBuffer>; offsets: number[]; dataSize: number } {
    const s = new ByteSink();
    s.bytes(new TextEncoder().encode("GGUF"));
    s.u32(3);
    s.u64(this.#tensors.length);
    s.u64(this.#kv.size);
    for (const [key, v] of this.#kv) {
      s.scalar("string", key);
      s.u32(GGUF_TYPE[v.type]);
      if (v.type === "array") {
        s.u32(GGUF_TYPE[v.itemType]);
        const items = v.value as ArrayLike<number | string | boolean>;
        s.u64(items.length);
        for (let i = 0; i < items.length; i++) s.scalar(v.itemType, items[i]);
      } else {
        s.scalar(v.type, v.value);
      }
    }
    const offsets: number[] = [];
    let offset = 0;
    for (const t of this.#tensors) {
      s.scalar("string", t.name);
      s.u32(t.shape.length);
      for (let i = t.shape.length - 1; i >= 0; i--) s.u64(t.shape[i]);
      s.u32(GGML_TYPE[t.type]);
      s.u64(offset);
      offsets.push(offset);
      offset += this.#padded(this.#nbytes(t));
    }
    const pad = this.#padded(s.size) - s.size;
    if (pad) s.bytes(new Uint8Array(pad));
    return { bytes: s.concat(), offsets, dataSize: offset };
  }

  #nbytes(t: GgufTensor): number {
    return t.shape.reduce((a, b) => a * b, 1) * GGML_SIZE[t.type];
  }

  #padded(n: number): number {
    return Math.ceil(n / this.alignment) * this.alignment;
  }

  /** Encodes one tensor's values in its storage type (with trailing alignment padding). */
  async #encode(t: GgufTensor): Promise<Uint8Array> {
    const values = await t.data();
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (values.length !== n) {
      throw new Error(`gguf: tensor ${t.name}: got ${values.length} values, shape needs ${n}`);
    }
    const out = new Uint8Array(this.#padded(this.#nbytes(t)));
    const view = new DataView(out.buffer);
    if (t.type === "F32") {
      for (let i = 0; i < n; i++) view.setFloat32(4 * i, values[i], true);
    } else {
      for (let i = 0; i < n; i++) view.setUint16(2 * i, f32ToF16Bits(values[i]), true);
    }
    return out;
  }

  /**
   * Writes the file at `path` directly (callers wanting atomicity write a temporary name and
   * rename it). Returns the number of bytes written.
   */
  async write(path: string): Promise<number> {
    const { bytes } = this.header();
    using f = await Deno.open(path, { write: true, create: true, truncate: true });
    const writeAll = async (b: Uint8Array) => {
      let o = 0;
      while (o < b.byteLength) o += await f.write(b.subarray(o));
    };
    await writeAll(bytes);
    let total = bytes.byteLength;
    for (const t of this.#tensors) {
      const b = await this.#encode(t);
      await writeAll(b);
      total += b.byteLength;
    }
    return total;
  }
}
