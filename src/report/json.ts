/**
 * Atomic JSON output: written to a temporary name beside the target, then renamed, so a crash
 * never leaves a partial file.
 *
 * @module
 */

/**
 * Writes `value` as pretty JSON to `path` atomically.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeJsonAtomic } from "./json.ts"; // internal: src/report/ has no package subpath
 * const dir = await Deno.makeTempDir();
 * await writeJsonAtomic(`${dir}/bench.json`, { results: [] });
 * assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["bench.json"]); // no temp left
 * assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/bench.json`)), { results: [] });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(value, null, 2) + "\n");
  await Deno.rename(tmp, path);
}
