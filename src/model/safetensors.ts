/**
 * safetensors reading and writing (the format: u64 little-endian header length, a JSON header
 * mapping tensor names to `{dtype, shape, data_offsets}`, then raw little-endian data).
 *
 * Reading is lazy: only the header is read when a file is opened, and each tensor's bytes are read
 * from disk when asked for, so a multi-GB checkpoint is never held in memory whole. Sharded
 * checkpoints (`model.safetensors.index.json`) are opened through {@link openCheckpoint}.
 *
 * @module
 */
import { basename, dirname, isAbsolute, join, sep } from "node:path";
import { ToolkitError } from "../errors.ts";
import { bf16BitsToF32, f16BitsToF32 } from "../gpu/f16.ts";

/** Tensor element types the toolkit reads and writes. */
export type SafetensorsDType = "F32" | "F16" | "BF16" | "I32" | "I64" | "U8";

const DTYPE_SIZE: Record<SafetensorsDType, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  I32: 4,
  I64: 8,
  U8: 1,
};

/** A tensor's entry in a safetensors header. */
export interface TensorInfo {
  /** Element type. */
  dtype: SafetensorsDType;
  /** Dimensions. */
  shape: number[];
  /** Byte range within the data section `[begin, end)`. */
  offsets: [number, number];
  /** The file holding it. */
  file: string;
}

/** Largest header we accept (the format's reference implementation uses 100 MB). */
const MAX_HEADER = 100_000_000;

/** An opened checkpoint: one or more safetensors files with a combined tensor index. */
export class Checkpoint {
  /** Tensor name → where it is. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** `__metadata__` of the first file, if any. */
  readonly metadata: Record<string, string>;
  readonly #dataStart: Map<string, number>;

  /** Use {@link openSafetensors} or {@link openCheckpoint}. */
  constructor(
    tensors: Map<string, TensorInfo>,
    dataStart: Map<string, number>,
    metadata: Record<string, string>,
  ) {
    this.tensors = tensors;
    this.#dataStart = dataStart;
    this.metadata = metadata;
  }

  /** Whether a tensor is present. */
  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** The header entry of `name`; throws a ToolkitError naming the file when it is missing. */
  info(name: string, where = "checkpoint"): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new ToolkitError(`${where}: tensor ${name} is missing`);
    return t;
  }

  /** Raw bytes of a tensor, read from disk. */
  async bytes(name: string): Promise<Uint8Array<ArrayBuffer>> {
    const t = this.info(name);
    const start = this.#dataStart.get(t.file)! + t.offsets[0];
    const length = t.offsets[1] - t.offsets[0];
    const out = new Uint8Array(length);
    using f = await Deno.open(t.file, { read: true });
    await f.seek(start, Deno.SeekMode.Start);
    let got = 0;
    while (got < length) {
      const n = await f.read(out.subarray(got));
      if (n === null) {
        throw new ToolkitError(`${basename(t.file)}: tensor ${name}: file ends before its data`);
      }
      got += n;
    }
    return out;
  }

  /**
   * A floating-point tensor's values as f32 (F32, F16 and BF16 are converted).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { DEFAULT_MODEL_DIR, openCheckpoint } from "@sprint-wgpu/toolkit/model";
   * const ckpt = await openCheckpoint(DEFAULT_MODEL_DIR); // the embedded model, stored in F16
   * assert.equal(ckpt.info("model.embed_tokens.weight").dtype, "F16");
   * const emb = await ckpt.float32("model.embed_tokens.weight");
   * assert.equal(emb.length, 4096 * 128); // [V, D], converted to f32
   * ```
   */
  async float32(name: string): Promise<Float32Array<ArrayBuffer>> {
    const t = this.info(name);
    const raw = await this.bytes(name);
    const n = raw.byteLength / DTYPE_SIZE[t.dtype];
    const view = new DataView(raw.buffer);
    const out = new Float32Array(n);
    switch (t.dtype) {
      case "F32":
        for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
        break;
      case "F16":
        for (let i = 0; i < n; i++) out[i] = f16BitsToF32(view.getUint16(2 * i, true));
        break;
      case "BF16":
        for (let i = 0; i < n; i++) out[i] = bf16BitsToF32(view.getUint16(2 * i, true));
        break;
      default:
        throw new ToolkitError(
          `${basename(t.file)}: tensor ${name} has dtype ${t.dtype}, expected F32, F16 or BF16`,
        );
    }
    const bad = firstNonFinite(out);
    if (bad >= 0) {
      throw new ToolkitError(
        `${basename(t.file)}: tensor ${name} has a non-finite value (${
          out[bad]
        }) at element ${bad}` +
          ` of ${n}; the checkpoint is corrupt`,
      );
    }
    return out;
  }
}

/**
 * Index of the first NaN or ±Infinity in `v`, or -1. One pass: a running sum is finite iff every
 * term is (with f32 values and an f64 sum, no overflow is possible below 2^993 elements), so the
 * element-by-element search runs only when something is wrong.
 */
function firstNonFinite(v: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i];
  if (Number.isFinite(sum)) return -1;
  return v.findIndex((x) => !Number.isFinite(x));
}

/**
 * Names of the top-level keys of a JSON object text, in order, duplicates kept (`JSON.parse`
 * silently keeps the last of duplicated keys). The text must already parse as an object.
 */
export function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (depth === 1 && expectKey) {
        keys.push(JSON.parse(text.slice(i, j + 1)));
        expectKey = false;
      }
      i = j;
    } else if (c === "{" || c === "[") {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (c === "}" || c === "]") {
      depth--;
    } else if (c === "," && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

async function readExactly(
  f: Deno.FsFile,
  n: number,
  file: string,
  what: string,
): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await f.read(buf.subarray(got));
    if (r === null) throw new ToolkitError(`${file}: truncated ${what} (${got} of ${n} bytes)`);
    got += r;
  }
  return buf;
}

/** Parses and validates the header of one safetensors file. */
async function readHeader(path: string): Promise<{
  tensors: Map<string, TensorInfo>;
  dataStart: number;
  metadata: Record<string, string>;
}> {
  const name = basename(path);
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch (e) {
    throw new ToolkitError(`${path}: cannot open (${(e as Error).message})`);
  }
  try {
    const st = await f.stat();
    if (!st.isFile) {
      throw new ToolkitError(
        `${path}: is a ${
          st.isDirectory ? "directory" : "special file"
        }, expected a safetensors file`,
      );
    }
    const size = st.size;
    if (size < 8) {
      throw new ToolkitError(`${name}: file is ${size} bytes, too short for a header length`);
    }
    const lenBytes = await readExactly(f, 8, name, "header length");
    const headerLen = new DataView(lenBytes.buffer).getBigUint64(0, true);
    if (headerLen > BigInt(size - 8)) {
      throw new ToolkitError(`${name}: header length ${headerLen} exceeds file size ${size}`);
    }
    if (headerLen > BigInt(MAX_HEADER)) {
      throw new ToolkitError(
        `${name}: header length ${headerLen} exceeds the ${MAX_HEADER}-byte limit`,
      );
    }
    const n = Number(headerLen);
    const text = new TextDecoder().decode(await readExactly(f, n, name, "header"));
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(text);
    } catch (e) {
      throw new ToolkitError(`${name}: header is not valid JSON (${(e as Error).message})`);
    }
    if (typeof header !== "object" || header === null || Array.isArray(header)) {
      throw new ToolkitError(`${name}: header must be a JSON object`);
    }
    const seen = new Set<string>();
    for (const key of topLevelKeys(text)) {
      if (seen.has(key)) {
        throw new ToolkitError(`${name}: tensor ${key} appears twice in the header`);
      }
      seen.add(key);
    }
    const dataStart = 8 + n;
    const dataSize = size - dataStart;
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    const ranges: [number, number, string][] = [];
    for (const [key, value] of Object.entries(header)) {
      if (key === "__metadata__") {
        if (
          value !== null && (typeof value !== "object" || Array.isArray(value) ||
            Object.values(value).some((x) => typeof x !== "string"))
        ) {
          throw new ToolkitError(`${name}: __metadata__ must map names to strings`);
        }
        metadata = (value ?? {}) as Record<string, string>;
        continue;
      }
      const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof v !== "object" || v === null) {
        throw new ToolkitError(`${name}: tensor ${key}: entry must be an object`);
      }
      if (typeof v.dtype !== "string" || !(v.dtype in DTYPE_SIZE)) {
        throw new ToolkitError(
          `${name}: tensor ${key}: dtype ${
            JSON.stringify(v.dtype)
          } unsupported (F32, F16, BF16, I32, I64, U8)`,
        );
      }
      const dtype = v.dtype as SafetensorsDType;
      if (
        !Array.isArray(v.shape) ||
        !v.shape.every((d) => Number.isSafeInteger(d) && d >= 0 && d <= Number.MAX_SAFE_INTEGER)
      ) {
        throw new ToolkitError(
          `${name}: tensor ${key}: shape must be an array of non-negative integers`,
        );
      }
      const off = v.data_offsets;
      if (
        !Array.isArray(off) || off.length !== 2 || !off.every((d) =>
          Number.isSafeInteger(d) && d >= 0
        ) ||
        off[1] < off[0]
      ) {
        throw new ToolkitError(
          `${name}: tensor ${key}: data_offsets must be [begin, end] with begin <= end`,
        );
      }
      const shape = v.shape as number[];
      const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[dtype];
      if (off[1] - off[0] !== expected) {
        throw new ToolkitError(
          `${name}: tensor ${key}: data_offsets span ${
            off[1] - off[0]
          } bytes, shape [${shape}] ${dtype} needs ${expected}`,
        );
      }
      if (off[1] > dataSize) {
        throw new ToolkitError(
          `${name}: tensor ${key}: data_offsets end ${
            off[1]
          } beyond the data section (${dataSize} bytes)`,
        );
      }
      ranges.push([off[0], off[1], key]);
      tensors.set(key, { dtype, shape, offsets: [off[0], off[1]], file: path });
    }
    ranges.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) {
      if (ranges[i][0] < ranges[i - 1][1]) {
        throw new ToolkitError(`${name}: tensors ${ranges[i - 1][2]} and ${ranges[i][2]} overlap`);
      }
    }
    return { tensors, dataStart, metadata };
  } finally {
    f.close();
  }
}

/**
 * Opens one `.safetensors` file (header only).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openSafetensors, writeSafetensors } from "@sprint-wgpu/toolkit/model";
 * import { ToolkitError } from "@sprint-wgpu/toolkit/errors";
 * const dir = await Deno.makeTempDir();
 * await writeSafetensors(`${dir}/w.safetensors`, [
 *   { name: "b", shape: [3], dtype: "F32", data: new Float32Array([1, 2, 3]) },
 *   { name: "a", shape: [1, 2], dtype: "F32", data: new Float32Array([4, 5]) },
 * ]);
 * const ckpt = await openSafetensors(`${dir}/w.safetensors`);
 * assert.deepEqual([...ckpt.tensors.keys()], ["a", "b"]); // header sorted by name
 * assert.deepEqual(ckpt.info("a").shape, [1, 2]);
 * await Deno.writeFile(`${dir}/bad.safetensors`, new Uint8Array([1, 2, 3])); // < 8 bytes
 * await assert.rejects(openSafetensors(`${dir}/bad.safetensors`), ToolkitError);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openSafetensors(path: string): Promise<Checkpoint> {
  const h = await readHeader(path);
  return new Checkpoint(h.tensors, new Map([[path, h.dataStart]]), h.metadata);
}

/**
 * Opens the weights of a Hugging Face model directory: `model.safetensors`, or the shards listed
 * in `model.safetensors.index.json`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MODEL_DIR, openCheckpoint } from "@sprint-wgpu/toolkit/model";
 * const ckpt = await openCheckpoint(DEFAULT_MODEL_DIR); // one model.safetensors, no index
 * assert.deepEqual(ckpt.info("model.norm.weight").shape, [128]); // [D]
 * assert.equal(ckpt.has("model.layers.8.mlp.up_proj.weight"), false); // 8 blocks: 0 … 7
 * ```
 */
export async function openCheckpoint(dir: string): Promise<Checkpoint> {
  const indexPath = join(dir, "model.safetensors.index.json");
  const single = join(dir, "model.safetensors");
  let indexText: string | undefined;
  try {
    indexText = await Deno.readTextFile(indexPath);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new ToolkitError(`${indexPath}: cannot read (${(e as Error).message})`);
    }
    indexText = undefined;
  }
  if (indexText === undefined) {
    try {
      await Deno.stat(single);
    } catch {
      throw new ToolkitError(`${dir}: no model.safetensors or model.safetensors.index.json`);
    }
    // The same confinement as an index's shards: a symlink out of the folder is not followed.
    await confinedShard(await Deno.realPath(dir), dir, "model.safetensors", single);
    return openSafetensors(single);
  }
  let index: unknown;
  try {
    index = JSON.parse(indexText);
  } catch (e) {
    throw new ToolkitError(`${indexPath}: not valid JSON (${(e as Error).message})`);
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (!weightMap || typeof weightMap !== "object" || Array.isArray(weightMap)) {
    throw new ToolkitError(`${indexPath}: field weight_map is missing (expected an object)`);
  }
  const entries = Object.entries(weightMap as Record<string, unknown>);
  if (entries.length === 0) throw new ToolkitError(`${indexPath}: field weight_map is empty`);
  const root = await Deno.realPath(dir);
  const shardPaths = new Map<string, string>(); // name in the index → path checked to lie in dir
  for (const [tensor, file] of entries) {
    if (typeof file !== "string" || file === "") {
      throw new ToolkitError(
        `${indexPath}: weight_map[${JSON.stringify(tensor)}] must be a file name, got ${
          JSON.stringify(file)
        }`,
      );
    }
    if (!shardPaths.has(file)) {
      shardPaths.set(
        file,
        await confinedShard(root, dir, file, `${indexPath}: weight_map[${JSON.stringify(tensor)}]`),
      );
    }
  }
  const tensors = new Map<string, TensorInfo>();
  const starts = new Map<string, number>();
  let metadata: Record<string, string> = {};
  for (const path of new Set(shardPaths.values())) {
    const h = await readHeader(path);
    if (starts.size === 0) metadata = h.metadata;
    starts.set(path, h.dataStart);
    for (const [k, v] of h.tensors) {
      const prev = tensors.get(k);
      if (prev) {
        throw new ToolkitError(
          `${indexPath}: tensor ${k} is in two shards, ${basename(prev.file)} and ${
            basename(path)
          }`,
        );
      }
      tensors.set(k, v);
    }
  }
  for (const [k, file] of entries) {
    const t = tensors.get(k);
    if (!t || t.file !== shardPaths.get(file as string)) {
      throw new ToolkitError(`${indexPath}: weight_map says tensor ${k} is in ${file}, it is not`);
    }
  }
  for (const [k, t] of tensors) {
    if (!(k in (weightMap as Record<string, unknown>))) {
      throw new ToolkitError(
        `${indexPath}: tensor ${k} of ${basename(t.file)} is not listed in weight_map`,
      );
    }
  }
  return new Checkpoint(tensors, starts, metadata);
}

/**
 * Resolves a shard name of an index inside the model folder: a relative path without `..` whose
 * real path (symlinks followed) lies under the folder's real path — or, for a Hugging Face hub
 * cache snapshot (`…/snapshots/<rev>/`), under the cache's own `…/blobs/`.
 */
async function confinedShard(
  root: string,
  dir: string,
  file: string,
  where: string,
): Promise<string> {
  if (isAbsolute(file) || file.includes("\\") || file.split("/").includes("..")) {
    throw new ToolkitError(
      `${where}: shard path ${JSON.stringify(file)} must be a file name inside the model folder`,
    );
  }
  const path = join(dir, file);
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch (e) {
    throw new ToolkitError(`${where}: shard ${file} cannot be opened (${(e as Error).message})`);
  }
  const inside = (base: string) => real.startsWith(base.endsWith(sep) ? base : base + sep);
  // A Hugging Face hub cache snapshot (…/snapshots/<rev>/) links its files to …/blobs/.
  const hubBlobs = basename(dirname(root)) === "snapshots" ? join(root, "..", "..", "blobs") : "";
  if (!inside(root) && !(hubBlobs && inside(hubBlobs))) {
    throw new ToolkitError(
      `${where}: shard ${file} resolves outside the model folder (a symlink to ${real}); refused`,
    );
  }
  return path;
}

/** A tensor to write: values converted to `dtype` on output. */
export interface TensorToWrite {
  /** Tensor name in the header, e.g. `model.norm.weight`. */
  name: string;
  /** Dimensions; their product is the number of values in `data`. */
  shape: number[];
  /** Element type stored in the file. */
  dtype: "F32" | "F16" | "BF16";
  /** f32 values, or for F16/BF16 raw 16-bit patterns. */
  data: Float32Array | Uint16Array;
}

/**
 * Writes a safetensors file atomically (temp name, then rename). Tensors are streamed one by
 * one; the header is sorted by name as the reference implementation does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openSafetensors, writeSafetensors } from "@sprint-wgpu/toolkit/model";
 * const dir = await Deno.makeTempDir();
 * const path = `${dir}/model.safetensors`;
 * await writeSafetensors(path, [
 *   { name: "w", shape: [2], dtype: "F32", data: new Float32Array([1, 2]) },
 *   { name: "h", shape: [1], dtype: "F16", data: new Uint16Array([0x3c00]) }, // 1.0 in f16 bits
 * ]);
 * const ckpt = await openSafetensors(path);
 * assert.deepEqual([...await ckpt.float32("w"), ...await ckpt.float32("h")], [1, 2, 1]);
 * assert.deepEqual(ckpt.metadata, { format: "pt" });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string> = { format: "pt" },
): Promise<void> {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of sorted) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) {
      throw new Error(`writeSafetensors: ${t.name} has ${t.data.length} values, shape needs ${n}`);
    }
    if (t.dtype === "F32" && !(t.data instanceof Float32Array)) {
      throw new Error(`${t.name}: F32 needs a Float32Array`);
    }
    if (t.dtype !== "F32" && !(t.data instanceof Uint16Array)) {
      throw new Error(`${t.name}: ${t.dtype} needs raw Uint16Array bits`);
    }
    const bytes = n * (t.dtype === "F32" ? 4 : 2);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8); // align the data section to 8 bytes
  const headerBytes = new TextEncoder().encode(json);
  const tmp = join(dirname(path), `.${basename(path)}.${Deno.pid}.tmp`);
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
    await writeAll(f, len);
    await writeAll(f, headerBytes);
    for (const t of sorted) {
      const le = new Uint8Array(t.data.byteLength);
      const view = new DataView(le.buffer);
      if (t.data instanceof Float32Array) t.data.forEach((v, i) => view.setFloat32(4 * i, v, true));
      else t.data.forEach((v, i) => view.setUint16(2 * i, v, true));
      await writeAll(f, le);
    }
  } catch (e) {
    f.close();
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  f.close();
  await Deno.rename(tmp, path);
}

async function writeAll(f: Deno.FsFile, data: Uint8Array): Promise<void> {
  let done = 0;
  while (done < data.byteLength) done += await f.write(data.subarray(done));
}
