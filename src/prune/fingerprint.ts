/**
 * The run fingerprint of a prune: named components (the model's config, weights and tokenizer by
 * content hash, the calibration text by content hash, the dtype and adapter, the latency table and
 * every setting that changes results). A state or a finished output is only continued or kept
 * when its fingerprint equals the run's; otherwise the differing components are named.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ToolkitError } from "../errors.ts";
import type { LatencyTable } from "../sprint/latency.ts";

/** Named components of a run; every value is a string (a hash or a JSON value). */
export type Fingerprint = Record<string, string>;

/**
 * SHA-256 (hex) of a file's content, read in 8 MiB chunks.
 *
 * @example
 * ```ts
 * import { sha256File } from "./fingerprint.ts";
 * const f = await Deno.makeTempFile();
 * await Deno.writeTextFile(f, "abc");
 * if (!(await sha256File(f)).startsWith("ba7816bf")) throw new Error();
 * ```
 */
export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw new ToolkitError(`${path}: cannot be read (${(e as Error).message})`);
  }
  try {
    const buf = new Uint8Array(8 << 20);
    for (;;) {
      const n = await file.read(buf);
      if (n === null) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    file.close();
  }
  return h.digest("hex");
}

/**
 * SHA-256 (hex) of bytes or a string.
 *
 * @example
 * ```ts
 * import { sha256 } from "./fingerprint.ts";
 * if (sha256("abc").slice(0, 8) !== "ba7816bf") throw new Error();
 * ```
 */
export function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Content hashes of a model directory: config.json, weight files (+ index) and tokenizer.json. */
export async function modelHashes(dir: string): Promise<Fingerprint> {
  const weights: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && /\.safetensors(\.index\.json)?$/.test(e.name)) weights.push(e.name);
  }
  weights.sort();
  const parts: string[] = [];
  for (const w of weights) parts.push(`${w}:${await sha256File(join(dir, w))}`);
  const out: Fingerprint = {
    "model config": await sha256File(join(dir, "config.json")),
    "model weights": sha256(parts.join("\n")),
  };
  try {
    out["tokenizer"] = await sha256File(join(dir, "tokenizer.json"));
  } catch {
    out["tokenizer"] = "none";
  }
  return out;
}

/** The latency table's numbers as one fingerprint component. */
export function latencyComponent(t: LatencyTable): string {
  return t.source === "unmeasured"
    ? "unmeasured"
    : JSON.stringify({ attention: t.attention, mlp: t.mlp, dense: t.dense });
}

/**
 * Names of the components in which `saved` and `now` differ (missing on either side counts).
 *
 * @example
 * ```ts
 * import { fingerprintDiff } from "./fingerprint.ts";
 * if (fingerprintDiff({ a: "1", b: "2" }, { a: "1", b: "3" })[0] !== "b") throw new Error();
 * ```
 */
export function fingerprintDiff(
  saved: Fingerprint,
  now: Fingerprint,
  only?: readonly string[],
): string[] {
  const keys = only ?? [...new Set([...Object.keys(saved), ...Object.keys(now)])];
  return keys.filter((k) => saved[k] !== now[k]);
}
