/** Checks of one corpus case (tests/inputs/corpus.ts) through the library and the CLI. */
import { ToolkitError } from "../../src/errors.ts";
import type { InputCase } from "./corpus.ts";

/** Runs one case through the library: `null` when it behaved, else what went wrong. */
export async function checkLib(c: InputCase): Promise<string | null> {
  try {
    await c.lib();
  } catch (e) {
    if (!(e instanceof ToolkitError)) return `not a ToolkitError: ${(e as Error)?.stack ?? e}`;
    if (e.message.includes("\n")) return `message has several lines: ${e.message}`;
    if (!c.expect) return `control failed: ${e.message}`;
    if (!c.expect.test(e.message)) return `message ${JSON.stringify(e.message)} !~ ${c.expect}`;
    return null;
  }
  return c.expect ? "no error" : null;
}

/** Runs a case's CLI form; `null` when it exited 2 with one clean line and wrote nothing. */
export async function checkCli(c: InputCase, root: string): Promise<string | null> {
  const before = new Set([...Deno.readDirSync(root)].map((e) => e.name));
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(`../../tasks/${c.cli.task}.ts`, import.meta.url).pathname,
      ...c.cli.args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? root },
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  const lines = stderr.split("\n").filter((l) => l.trim() !== "" && !isDriverNoise(l));
  const after = [...Deno.readDirSync(root)].map((e) => e.name).filter((n) => !before.has(n));
  if (!c.expect) return out.code === 0 ? null : `control exited ${out.code}: ${stderr}`;
  if (out.code !== 2) return `exit ${out.code}: ${stderr.slice(0, 2000)}`;
  if (lines.length !== 1) return `${lines.length} stderr lines: ${stderr}`;
  if (!lines[0].startsWith("error: ") || !c.expect.test(lines[0])) {
    return `stderr ${JSON.stringify(lines[0])} !~ ${c.expect}`;
  }
  if (stderr.includes("    at ")) return `stack trace: ${stderr}`;
  if (after.length) return `left behind: ${after.join(", ")}`;
  return null;
}

/** Lines the GPU driver itself prints (lavapipe's conformance warning), not the toolkit. */
function isDriverNoise(line: string): boolean {
  return /^WARNING: lavapipe is not a conformant vulkan implementation/.test(line) ||
    /^MESA: /.test(line);
}
