/**
 * Test-side client of src/engines/llamacpp_child.mjs: llama.cpp (npm node-llama-cpp 3.21.1) in a
 * `node` child process, one JSON line per request. When the package is not installed the tests
 * that need it are skipped with a message, or fail when env REQUIRE_LLAMACPP=1 (CI).
 */
import { fileURLToPath as fromFileUrl } from "node:url";

const ROOT = fromFileUrl(new URL("../../", import.meta.url));
const CHILD = fromFileUrl(new URL("../../src/engines/llamacpp_child.mjs", import.meta.url));

/** Why llama.cpp cannot run here, or undefined when it can. */
export async function llamaCppUnavailable(): Promise<string | undefined> {
  try {
    await Deno.stat(`${ROOT}node_modules/node-llama-cpp/package.json`);
    await Deno.stat(`${ROOT}node_modules/@node-llama-cpp/linux-x64/package.json`);
  } catch {
    return "node-llama-cpp@3.21.1 is not installed in node_modules/ (npm i -E --omit=optional --no-save node-llama-cpp@3.21.1 @node-llama-cpp/linux-x64@3.21.1)";
  }
  try {
    const r = await new Deno.Command("node", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    if (!r.success) return "node --version failed";
  } catch {
    return "node is not on PATH";
  }
  return undefined;
}

/**
 * Whether tests needing llama.cpp should be ignored (prints the reason); throws when
 * REQUIRE_LLAMACPP=1 and it is unavailable.
 */
export async function skipWithoutLlamaCpp(what: string): Promise<boolean> {
  const why = await llamaCppUnavailable();
  if (why === undefined) return false;
  if (Deno.env.get("REQUIRE_LLAMACPP") === "1") {
    throw new Error(`REQUIRE_LLAMACPP=1 but llama.cpp is unavailable: ${why}`);
  }
  console.warn(`skipping ${what}: ${why}`);
  return true;
}

/** A llama.cpp child process with one model loaded. */
export class LlamaCppChild {
  readonly #proc: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  #id = 0;

  private constructor(proc: Deno.ChildProcess) {
    this.#proc = proc;
    this.#writer = proc.stdin.getWriter();
    this.#lines = lines(proc.stdout)[Symbol.asyncIterator]();
  }

  /** Starts a child and loads `model` (F32 KV cache, flash attention off, CPU). */
  static async open(
    model: string,
    options: { contextSize?: number; threads?: number } = {},
  ): Promise<LlamaCppChild> {
    const proc = new Deno.Command("node", {
      args: [CHILD],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const c = new LlamaCppChild(proc);
    await c.request("load", { model, ...options });
    return c;
  }

  /** Sends one request and waits for its reply. */
  async request<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.#id;
    await this.#writer.write(new TextEncoder().encode(JSON.stringify({ id, op, ...args }) + "\n"));
    let reply: { id?: number; ok: boolean; result?: T; error?: string } | undefined;
    while (reply?.id !== id) {
      const next = await this.#lines.next();
      if (next.done) {
        const status = await this.#proc.status;
        throw new Error(`llama.cpp child exited (code ${status.code}, signal ${status.signal})`);
      }
      try {
        reply = JSON.parse(next.value);
      } catch {
        console.error(`llama.cpp child: ${next.value}`); // a stray log line
      }
    }
    if (!reply.ok) throw new Error(`llama.cpp child: ${op}: ${reply.error}`);
    return reply.result as T;
  }

  /** Token ids of `text` without BOS. */
  tokenize(text: string): Promise<number[]> {
    return this.request("tokenize", { text });
  }

  /** log p(tokens[i] | tokens[<i]) for i = 1..n−1, and the argmax at each of those positions. */
  logprobs(tokens: readonly number[]): Promise<{ logprobs: number[]; argmax: number[] }> {
    return this.request("logprobs", { tokens });
  }

  /** `n` greedy tokens after `tokens`. */
  greedy(tokens: readonly number[], n: number): Promise<number[]> {
    return this.request("greedy", { tokens, n });
  }

  /** Closes the model and waits for the process to end. */
  async close(): Promise<void> {
    try {
      await this.request("close");
    } finally {
      await this.#writer.close().catch(() => {});
      await this.#proc.status;
    }
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) yield line;
    }
  }
}
