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
 * await writeJsonAtomic("out/bench.json", { results: [] });
 * ```
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(value, null, 2) + "\n");
  await Deno.rename(tmp, path);
}
