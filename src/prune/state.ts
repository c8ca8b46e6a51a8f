/**
 * The resumable state of a prune, for every method: ONE file `<out>.state`, written under a
 * temporary name and renamed into place, so it is always one whole step. Layout:
 *
 * ```
 * "SPRINTWGPU-STATE\n" | u64 LE header length | header JSON | part 0 | part 1 | …
 * ```
 *
 * The header is the manifest: format, method, step, the run {@link Fingerprint} and, for every
 * part, its name, byte length and SHA-256. Part 0 (`state.json`) is the method's state as JSON
 * (tensor values stripped); the other parts are the float32 values of re-fitted rows. Reading
 * checks the magic, every length and checksum, and that the parts agree with the header (the
 * step, the part names) — a state whose parts disagree is refused, never continued.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { ToolkitError } from "../errors.ts";
import { crashPoint } from "./crash.ts";
import { type Fingerprint, sha256 } from "./fingerprint.ts";

const MAGIC = new TextEncoder().encode("SPRINTWGPU-STATE\n");
/** Format tag in the header. */
export const STATE_FORMAT = "sprint-wgpu prune state v2";

/** The manifest of a state file. */
export interface StateHeader {
  /** Format tag. */
  format: typeof STATE_FORMAT;
  /** Pruning method of the run. */
  method: string;
  /** Steps done (= the steps in part 0). */
  step: number;
  /** The run fingerprint. */
  fingerprint: Fingerprint;
  /** Every part: name, byte length, SHA-256. */
  parts: { name: string; bytes: number; sha256: string }[];
  /** When the state was written (ISO 8601). */
  written: string;
}

/** A state as read or to be written. */
export interface PruneStateFile {
  /** Pruning method of the run. */
  method: string;
  /** Steps done. */
  step: number;
  /** The run fingerprint. */
  fingerprint: Fingerprint;
  /** JSON body (with a `steps` array of length `step`). */
  body: { steps: unknown[] } & Record<string, unknown>;
  /** Binary parts by name (float32 values). */
  tensors: Map<string, Float32Array<ArrayBuffer>>;
}

/** Name of the temporary file a state is written to before the rename. */
export function statePartialName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${Deno.pid}.partial`);
}

/**
 * Writes `state` to `path` atomically (temporary file, fsync, rename).
 *
 * @example
 * ```ts
 * import { readStateFile, writeStateFile } from "./state.ts";
 * const p = `${await Deno.makeTempDir()}/out.state`;
 * await writeStateFile(p, { method: "sprint", step: 0, fingerprint: {}, body: { steps: [] }, tensors: new Map() });
 * if ((await readStateFile(p)).step !== 0) throw new Error();
 * ```
 */
export async function writeStateFile(path: string, state: PruneStateFile): Promise<void> {
  const enc = new TextEncoder();
  const bodyBytes = enc.encode(JSON.stringify(state.body));
  const blobs: [string, Uint8Array][] = [["state.json", bodyBytes]];
  for (const [name, v] of state.tensors) {
    blobs.push([name, new Uint8Array(v.buffer, v.byteOffset, v.byteLength)]);
  }
  const header: StateHeader = {
    format: STATE_FORMAT,
    method: state.method,
    step: state.step,
    fingerprint: state.fingerprint,
    parts: blobs.map(([name, b]) => ({ name, bytes: b.byteLength, sha256: sha256(b) })),
    written: new Date().toISOString(),
  };
  const headerBytes = enc.encode(JSON.stringify(header));
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  const tmp = statePartialName(path);
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    for (const chunk of [MAGIC, len, headerBytes, ...blobs.map((b) => b[1])]) {
      let off = 0;
      while (off < chunk.byteLength) off += await f.write(chunk.subarray(off));
    }
    await f.sync();
  } finally {
    f.close();
  }
  crashPoint("state-written");
  await Deno.rename(tmp, path);
  crashPoint("state-renamed");
}

function bad(path: string, why: string): never {
  throw new ToolkitError(`${path}: not a usable prune state (${why}); it was left untouched`);
}

/**
 * Reads and verifies a state file; a folder, a foreign file, a truncated or corrupted one, or one
 * whose parts disagree with its manifest is a one-line ToolkitError (the file is not touched).
 */
export async function readStateFile(path: string): Promise<PruneStateFile> {
  const st = await Deno.lstat(path);
  if (!st.isFile) bad(path, "not a regular file");
  const data = await Deno.readFile(path);
  if (data.byteLength < MAGIC.byteLength + 8) bad(path, "too short");
  for (let i = 0; i < MAGIC.byteLength; i++) {
    if (data[i] !== MAGIC[i]) bad(path, "not written by sprint-wgpu prune");
  }
  const hlen = Number(new DataView(data.buffer, MAGIC.byteLength, 8).getBigUint64(0, true));
  const start = MAGIC.byteLength + 8;
  if (hlen > data.byteLength - start) bad(path, "truncated header");
  let header: StateHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(data.subarray(start, start + hlen)));
  } catch {
    bad(path, "header is not JSON");
  }
  if (
    typeof header !== "object" || header === null || header.format !== STATE_FORMAT ||
    !Array.isArray(header.parts) || typeof header.step !== "number" ||
    typeof header.method !== "string" || typeof header.fingerprint !== "object"
  ) bad(path, `header is not a ${STATE_FORMAT} manifest`);
  let off = start + hlen;
  const blobs = new Map<string, Uint8Array>();
  for (const p of header.parts) {
    if (!p || typeof p.name !== "string" || !Number.isSafeInteger(p.bytes) || p.bytes < 0) {
      bad(path, "malformed part entry");
    }
    if (off + p.bytes > data.byteLength) bad(path, `part ${p.name} is truncated`);
    const b = data.subarray(off, off + p.bytes);
    if (sha256(b) !== p.sha256) bad(path, `part ${p.name} does not match its checksum`);
    blobs.set(p.name, b);
    off += p.bytes;
  }
  if (off !== data.byteLength) bad(path, "trailing bytes after the last part");
  const json = blobs.get("state.json");
  if (!json) bad(path, "no state.json part");
  let body: PruneStateFile["body"];
  try {
    body = JSON.parse(new TextDecoder().decode(json));
  } catch {
    bad(path, "state.json part is not JSON");
  }
  if (typeof body !== "object" || body === null || !Array.isArray(body.steps)) {
    bad(path, "state.json part has no steps");
  }
  if (body.steps.length !== header.step) {
    bad(path, `the manifest pins step ${header.step} but the state holds ${body.steps.length}`);
  }
  const tensors = new Map<string, Float32Array<ArrayBuffer>>();
  for (const [name, b] of blobs) {
    if (name === "state.json") continue;
    if (b.byteLength % 4 !== 0) bad(path, `part ${name} is not float32 data`);
    tensors.set(name, new Float32Array(b.slice().buffer));
  }
  return {
    method: header.method,
    step: header.step,
    fingerprint: header.fingerprint,
    body,
    tensors,
  };
}
