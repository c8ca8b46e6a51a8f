/**
 * Failures of the llama.cpp child become one-line ToolkitErrors and never end the test process:
 * a crash (SIGABRT) inside the child, requests after it, a malformed GGUF, a missing file.
 */
import { join } from "node:path";
import { ToolkitError } from "../../src/errors.ts";
import { exportGguf } from "../../src/export/gguf.ts";
import { LlamaCppEngine } from "../../src/engines/llamacpp.ts";
import { JsonLineChild } from "../../src/engines/child.ts";
import { writeTinyModel } from "../fixtures.ts";
import { writeTinyTokenizer } from "../export/helpers.ts";
import { llamaCppTest } from "./helpers.ts";

async function oneLineToolkitError(p: Promise<unknown>, part: string): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ToolkitError)) throw new Error(`expected a ToolkitError, got ${e}`);
    if (e.message.includes("\n")) throw new Error(`not one line: ${JSON.stringify(e.message)}`);
    if (!e.message.includes(part)) throw new Error(`expected "${part}" in: ${e.message}`);
    return e.message;
  }
  throw new Error(`expected an error containing "${part}"`);
}

Deno.test({
  name: "child process: a dying child fails its pending and later requests with one line",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const script =
      "process.stdin.once('data', () => { console.error('boom: native abort'); process.abort(); });";
    const child = new JsonLineChild("node", ["-e", script], { label: "test child" });
    const msg = await oneLineToolkitError(child.request("anything"), 'died during "anything"');
    if (!msg.includes("SIGABRT") || !msg.includes("boom: native abort")) {
      throw new Error(`signal or stderr missing: ${msg}`);
    }
    await oneLineToolkitError(child.request("again"), "ended");
    await child.close();
  },
});

Deno.test({
  name: "child process: a missing executable is a one-line error",
  fn() {
    try {
      new JsonLineChild("/nonexistent/node-binary", [], { label: "llama.cpp" });
    } catch (e) {
      if (e instanceof ToolkitError && e.message.startsWith("llama.cpp: cannot start")) return;
      throw e;
    }
    throw new Error("expected an error");
  },
});

Deno.test(llamaCppTest("llama.cpp: a crash inside the child becomes a one-line error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { config } = await writeTinyModel(dir, {}, 2);
    await writeTinyTokenizer(dir, config.vocabSize);
    const file = join(dir, "m.gguf");
    await exportGguf(dir, file);
    const eng = await LlamaCppEngine.load(file);
    await oneLineToolkitError(eng.crashForTest(), 'llama.cpp: child process died during "abort"');
    await oneLineToolkitError(
      eng.score([{ input: [1, 2], positions: [1], targets: [3] }]),
      "ended",
    );
    await eng.dispose();
    // The process goes on: a fresh engine works.
    const again = await LlamaCppEngine.load(file);
    const [r] = await again.score([{ input: [1, 2], positions: [1], targets: [3] }]);
    if (!(r.logProbs[0] < 0)) throw new Error(`log-prob ${r.logProbs[0]}`);
    await again.dispose();
    // Bad input: a malformed GGUF, a missing file, a bad token id.
    const bad = join(dir, "bad.gguf");
    await Deno.writeFile(bad, new Uint8Array(4096).map((_, i) => (i * 7919) & 255));
    await oneLineToolkitError(LlamaCppEngine.load(bad), bad);
    await oneLineToolkitError(LlamaCppEngine.load(join(dir, "none.gguf")), "not found");
    const e2 = await LlamaCppEngine.load(file);
    await oneLineToolkitError(
      e2.score([{ input: [1, 999], positions: [0], targets: [1] }]),
      "outside the vocabulary",
    );
    await e2.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}));
