/**
 * User-facing errors. A {@link ToolkitError} is bad input or an unusable environment: the CLI
 * prints its message on one line (naming the file and field) and exits with code 2, never a
 * stack trace.
 *
 * @module
 */

/** An error caused by the user's input or environment, reported as one line with exit code 2. */
export class ToolkitError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;

  /**
   * Creates the error; {@link runCli} prints `message` on one line and exits with `exitCode`.
   *
   * @param message One line: what was wrong, where (file, field) and what was expected.
   * @param exitCode Exit code for CLIs (default 2).
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ToolkitError } from "@sprint-wgpu/toolkit/errors";
   * const e = new ToolkitError("config.json: field hidden_size is missing (expected a positive integer)");
   * assert.equal(e.exitCode, 2);
   * ```
   */
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = "ToolkitError";
    this.exitCode = exitCode;
  }
}

/**
 * Runs a CLI entry point: a {@link ToolkitError} becomes a one-line message on stderr and its exit
 * code; anything else is a bug and keeps its stack trace.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runCli } from "@sprint-wgpu/toolkit/errors";
 * let ran = false;
 * await runCli(async () => { ran = true; }); // a ToolkitError thrown here: one line on stderr, exit 2
 * assert.equal(ran, true);
 * ```
 */
export async function runCli(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    if (e instanceof ToolkitError) {
      console.error(`error: ${e.message}`);
      Deno.exit(e.exitCode);
    }
    throw e;
  }
}
