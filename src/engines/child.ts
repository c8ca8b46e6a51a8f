/**
 * A child process spoken to in JSON lines over stdio: request `{id, op, args}`, answer
 * `{id, ok, result | error}`. When the child dies (a crash inside native code, an abort, a kill),
 * every pending and later request fails with one {@link ToolkitError} line naming the operation,
 * the exit code or signal and the child's last stderr line; the parent keeps running.
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";

interface Pending {
  op: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/** Options of {@link JsonLineChild}. */
export interface ChildOptions {
  /** Name used in error messages, e.g. `llama.cpp`. */
  label: string;
  /** Extra environment variables of the child. */
  env?: Record<string, string>;
  /** Working directory of the child. */
  cwd?: string;
}

/**
 * A running child process (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsonLineChild } from "@sprint-wgpu/toolkit/engines";
 * // A child that answers every request with its op and arguments, and exits on "close".
 * const echo = `import { createInterface } from "node:readline";
 * import process from "node:process";
 * for await (const line of createInterface({ input: process.stdin })) {
 *   const { id, op, args } = JSON.parse(line);
 *   console.log(JSON.stringify({ id, ok: true, result: { op, args } }));
 *   if (op === "close") break;
 * }`;
 * const child = new JsonLineChild(Deno.execPath(), ["eval", echo], { label: "echo" });
 * assert.deepEqual(await child.request("load", { threads: 1 }), { op: "load", args: { threads: 1 } });
 * await child.close();
 * assert.ok(child.dead);
 * ```
 */
export class JsonLineChild {
  /** Names the child in error messages. */
  readonly label: string;
  #proc: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #stderr: string[] = [];
  #dead?: string;
  #done: Promise<void>;
  #closing = false;

  /** Spawns `command args…` and starts reading its answers. */
  constructor(command: string, args: string[], options: ChildOptions) {
    this.label = options.label;
    try {
      this.#proc = new Deno.Command(command, {
        args,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        env: options.env,
        cwd: options.cwd,
      }).spawn();
    } catch (e) {
      throw new ToolkitError(
        `${this.label}: cannot start \`${command}\` (${(e as Error).message.split("\n")[0]})`,
      );
    }
    this.#writer = this.#proc.stdin.getWriter();
    const out = this.#readLines(this.#proc.stdout, (line) => this.#onLine(line));
    const err = this.#readLines(this.#proc.stderr, (line) => {
      if (line.trim() === "") return;
      this.#stderr.push(line);
      if (this.#stderr.length > 50) this.#stderr.shift();
    });
    this.#done = Promise.all([out, err, this.#proc.status]).then(([, , status]) => {
      const how = status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
      this.#dead = `the ${this.label} child process ended (${how})`;
      const last = this.lastStderr();
      for (const [, p] of this.#pending) {
        p.reject(
          new ToolkitError(
            `${this.label}: child process died during "${p.op}" (${how})${last ? `: ${last}` : ""}`,
          ),
        );
      }
      this.#pending.clear();
    });
  }

  /**
   * The child's last informative stderr line (native stack frames and backtrace banners are
   * skipped), trimmed to 300 characters.
   */
  lastStderr(): string {
    const frame = /^\s*(\d+: |#\d+ |at |-+ ?(Native|JavaScript) stack trace|\(|\[)|^\s*$/;
    let line = "";
    for (let i = this.#stderr.length - 1; i >= 0; i--) {
      if (!frame.test(this.#stderr[i])) {
        line = this.#stderr[i].trim();
        break;
      }
    }
    return line.length > 300 ? line.slice(0, 300) + "…" : line;
  }

  /** Whether the child has exited. */
  get dead(): boolean {
    return this.#dead !== undefined;
  }

  async #readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
    const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          onLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      }
      if (buf) onLine(buf);
    } catch {
      // the pipe closed under us: the status handler reports the death
    } finally {
      reader.releaseLock();
    }
  }

  #onLine(line: string) {
    let msg: { id?: number; ok?: boolean; result?: unknown; error?: string };
    try {
      msg = JSON.parse(line);
    } catch {
      this.#stderr.push(line); // stray output of native code: keep it for the error message
      return;
    }
    const p = typeof msg.id === "number" ? this.#pending.get(msg.id) : undefined;
    if (!p) return;
    this.#pending.delete(msg.id!);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new ToolkitError(`${this.label}: ${p.op}: ${msg.error ?? "failed"}`));
  }

  /** Sends one request and waits for its answer (a {@link ToolkitError} when it fails). */
  request<T>(op: string, args: unknown = {}): Promise<T> {
    if (this.#dead) {
      return Promise.reject(new ToolkitError(`${this.label}: ${op}: ${this.#dead}`));
    }
    const id = this.#nextId++;
    const answer = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { op, resolve: resolve as (v: unknown) => void, reject });
    });
    const line = new TextEncoder().encode(JSON.stringify({ id, op, args }) + "\n");
    this.#writer.write(line).catch(() => {/* a dead child is reported by the status handler */});
    return answer;
  }

  /** Asks the child to close (op `close`), then waits for it to exit; kills it after 10 s. */
  async close(): Promise<void> {
    if (this.#closing) return await this.#done;
    this.#closing = true;
    if (!this.#dead) {
      const closed = this.request("close").catch(() => {});
      const timer = setTimeout(() => {
        try {
          this.#proc.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 10_000);
      await closed;
      await this.#writer.close().catch(() => {});
      await this.#done;
      clearTimeout(timer);
    } else {
      await this.#writer.close().catch(() => {});
      await this.#done;
    }
  }
}
