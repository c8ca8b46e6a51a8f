/**
 * Test-side client of src/engines/llamacpp_server.mjs, the engine's own llama.cpp child (npm
 * node-llama-cpp 3.21.1 in a `node` process, one JSON line per request). When the package is not
 * installed the tests that need it are skipped with a message, or fail when env
 * REQUIRE_LLAMACPP=1 (CI).
 */
import { fileURLToPath as fromFileUrl, pathToFileURL } from "node:url";
import { JsonLineChild } from "../../src/engines/child.ts";
import { locateNodeLlamaCpp } from "../../src/engines/llamacpp.ts";

const ROOT = fromFileUrl(new URL("../../", import.meta.url));
const SERVER = fromFileUrl(new URL("../../src/engines/llamacpp_server.mjs", import.meta.url));

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
  readonly #child: JsonLineChild;

  private constructor(child: JsonLineChild) {
    this.#child = child;
  }

  /** Starts a child and loads `model` (F32 KV cache, flash attention off, CPU). */
  static async open(
    model: string,
    options: { contextSize?: number; threads?: number } = {},
  ): Promise<LlamaCppChild> {
    const found = locateNodeLlamaCpp();
    if ("error" in found) throw new Error(found.error);
    const child = new JsonLineChild("node", [SERVER, pathToFileURL(found.entry).href], {
      label: "llama.cpp child",
    });
    const c = new LlamaCppChild(child);
    try {
      await c.request("load", { model, ...options });
    } catch (e) {
      await child.close().catch(() => {});
      throw e;
    }
    return c;
  }

  /** Sends one request and waits for its reply (`load`: 256 positions and 1 thread by default). */
  request<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const a = op === "load" ? { contextSize: 256, threads: 1, ...args } : args;
    return this.#child.request<T>(op, a);
  }

  /** Token ids of `text` without BOS. */
  tokenize(text: string): Promise<number[]> {
    return this.request("tokenize", { text });
  }

  /** log p(tokens[i] | tokens[<i]) for i = 1..n−1. */
  async logprobs(tokens: readonly number[]): Promise<{ logprobs: number[] }> {
    const positions = tokens.slice(1).map((_, i) => i);
    const [r] = await this.request<{ logProbs: (number | null)[] }[]>("score", {
      requests: [{ input: tokens, positions, targets: tokens.slice(1) }],
    });
    return { logprobs: r.logProbs.map((x) => x ?? -Infinity) }; // null: underflow
  }

  /** `n` greedy tokens after `tokens` (an end-of-generation token does not stop it). */
  greedy(tokens: readonly number[], n: number): Promise<number[]> {
    return this.request("generate", { prompt: tokens, maxNewTokens: n, stopAtEos: false });
  }

  /** Closes the model and waits for the process to end. */
  close(): Promise<void> {
    return this.#child.close(); // sends `close`, waits for the exit
  }
}
