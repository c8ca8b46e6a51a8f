/**
 * llama.cpp as an {@link InferenceEngine}: npm `node-llama-cpp@3.21.1` (its prebuilt CPU
 * llama.cpp, `getLlama({ gpu: false, build: "never" })`) in a `node` child process running
 * `llamacpp_server.mjs`, spoken to in JSON lines. The context is created with an F32 KV cache,
 * flash attention off, one sequence, a batch as large as the context (a window is one ubatch)
 * and the requested thread count. A crash inside llama.cpp ends the child only; the toolkit sees a
 * one-line {@link ToolkitError}.
 *
 * node-llama-cpp also loads under Deno's npm / Node-API support (checked with 3.21.1 on Deno
 * 2.9.6), but a native abort would take the Deno process with it, hence the child.
 *
 * Install (node_modules is git-ignored), in the project root:
 * `npm i -E --omit=optional node-llama-cpp@3.21.1 @node-llama-cpp/linux-x64@3.21.1`.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ToolkitError } from "../errors.ts";
import { JsonLineChild } from "./child.ts";
import { exportGguf } from "../export/gguf.ts";
import {
  checkScoreRequest,
  type EngineDescription,
  type EngineTimeOptions,
  type EngineTimings,
  type InferenceEngine,
  type ScoreRequest,
  type ScoreResult,
} from "./engine.ts";

/** The node-llama-cpp version the toolkit pins. */
export const NODE_LLAMA_CPP_VERSION = "3.21.1";

/** The install command of the pinned package. */
export const NODE_LLAMA_CPP_INSTALL =
  `npm i -E --omit=optional node-llama-cpp@${NODE_LLAMA_CPP_VERSION} @node-llama-cpp/linux-x64@${NODE_LLAMA_CPP_VERSION}`;

/** Options of {@link LlamaCppEngine.load}. */
export interface LlamaCppOptions {
  /** llama.cpp threads (default 1). */
  threads?: number;
  /** Context size (default: the GGUF's training context). */
  contextSize?: number;
  /** Directory holding `node_modules/node-llama-cpp` (default: searched upward from the cwd and this module). */
  packageRoot?: string;
  /** The `node` executable (default `node`, or env `SPRINT_NODE`). */
  node?: string;
}

/** What the llama.cpp child reports after loading a GGUF file. */
export interface LoadInfo {
  /** Vocabulary size, when the file says. */
  vocabSize?: number;
  /** Context length of the loaded context. */
  contextSize: number;
  /** Context length the model was trained with. */
  trainContextSize: number;
  /** `general.architecture` of the file. */
  architecture?: string;
  /** llama.cpp's description of the weight type. */
  typeDescription: string;
  /** EOS token id (null: none). */
  eos: number | null;
  /** BOS token id (null: none). */
  bos: number | null;
  /** CPU threads used. */
  threads: number;
  /** The llama.cpp release inside node-llama-cpp. */
  release: { repo: string; release: string };
  /** The binary's build type (e.g. prebuilt CPU). */
  buildType: string;
  /** llama.cpp's system-info line (CPU features). */
  systemInfo: string;
  /** The node-llama-cpp version. */
  nodeLlamaCpp: string;
  /** The node version running the child. */
  node: string;
}

function findUp(start: string): string | undefined {
  let dir = resolve(start);
  while (true) {
    const pkg = join(dir, "node_modules", "node-llama-cpp", "package.json");
    try {
      Deno.statSync(pkg);
      return join(dir, "node_modules", "node-llama-cpp");
    } catch { /* keep looking */ }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/**
 * Where the pinned node-llama-cpp is installed, or why it cannot be used (one line).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { locateNodeLlamaCpp } from "@sprint-wgpu/toolkit/engines";
 * const found = locateNodeLlamaCpp(); // from the working directory up, then from the toolkit
 * assert.ok("dir" in found, "error" in found ? found.error : ""); // the pinned package is installed
 * ```
 */
export function locateNodeLlamaCpp(packageRoot?: string): { dir: string; entry: string } | {
  error: string;
} {
  const starts = packageRoot ? [packageRoot] : [Deno.cwd()];
  if (!packageRoot && import.meta.url.startsWith("file:")) {
    starts.push(dirname(fileURLToPath(import.meta.url)));
  }
  let dir: string | undefined;
  for (const s of starts) if ((dir = findUp(s))) break;
  if (!dir) {
    return {
      error:
        `llama.cpp: node-llama-cpp is not installed (run \`${NODE_LLAMA_CPP_INSTALL}\` in the project root)`,
    };
  }
  let pkg: { version?: string; exports?: unknown; main?: string };
  try {
    pkg = JSON.parse(Deno.readTextFileSync(join(dir, "package.json")));
  } catch (e) {
    return { error: `${join(dir, "package.json")}: unreadable (${(e as Error).message})` };
  }
  if (pkg.version !== NODE_LLAMA_CPP_VERSION) {
    return {
      error: `${
        join(dir, "package.json")
      }: node-llama-cpp ${pkg.version} is installed, the toolkit pins ${NODE_LLAMA_CPP_VERSION} (run \`${NODE_LLAMA_CPP_INSTALL}\`)`,
    };
  }
  const entry = join(dir, "dist", "index.js");
  try {
    Deno.statSync(entry);
  } catch {
    return { error: `${entry}: missing (reinstall with \`${NODE_LLAMA_CPP_INSTALL}\`)` };
  }
  return { dir, entry };
}

/** The server script's path (copied to a temp file when the toolkit is imported from a URL). */
async function serverScript(): Promise<string> {
  const url = new URL("./llamacpp_server.mjs", import.meta.url);
  if (url.protocol === "file:") return fileURLToPath(url);
  const text = await (await fetch(url)).text();
  const tmp = await Deno.makeTempFile({ prefix: "llamacpp_server_", suffix: ".mjs" });
  await Deno.writeTextFile(tmp, text);
  return tmp;
}

/**
 * llama.cpp behind the engine interface (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exportGguf } from "@sprint-wgpu/toolkit/export";
 * import { LlamaCppEngine } from "@sprint-wgpu/toolkit/engines";
 * import { DEFAULT_MODEL_DIR } from "@sprint-wgpu/toolkit/model";
 * const dir = await Deno.makeTempDir();
 * await exportGguf(DEFAULT_MODEL_DIR, `${dir}/model.gguf`); // the embedded 8-layer model
 * const eng = await LlamaCppEngine.load(`${dir}/model.gguf`, { threads: 1 });
 * const [r] = await eng.score([{ input: [1, 5, 9], positions: [2], targets: [4] }]);
 * assert.ok(r.logProbs[0] < 0 && r.logProbs[0] > -50); // log P(token 4 | 1 5 9)
 * await eng.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class LlamaCppEngine implements InferenceEngine {
  readonly description: EngineDescription;
  readonly vocabSize: number;
  readonly contextLength: number;
  /** EOS token of the GGUF's vocabulary (null when none). */
  readonly eos: number | null;
  /** What the child reported after loading (llama.cpp system info, release, build). */
  readonly info: Readonly<LoadInfo>;
  #child: JsonLineChild;
  #cleanup?: string;

  private constructor(child: JsonLineChild, info: LoadInfo, file: string) {
    this.#child = child;
    this.info = info;
    if (!info.vocabSize) {
      throw new ToolkitError(`${file}: the GGUF has no tokenizer.ggml.tokens (vocabulary size)`);
    }
    this.vocabSize = info.vocabSize;
    this.contextLength = info.contextSize;
    this.eos = info.eos;
    const f16 = /F16/.test(info.typeDescription);
    this.description = {
      engine: "llama.cpp",
      version:
        `llama.cpp ${info.release.release} (${info.release.repo}) via node-llama-cpp ${info.nodeLlamaCpp}`,
      build: `${info.buildType} CPU; ${info.systemInfo.trim()}`,
      threads: info.threads,
      dtype: f16 ? "f16" : "f32",
      kvCache: "f32",
      flashAttention: false,
      model: file,
      runtime: `node ${info.node}`,
    };
  }

  /**
   * Starts a child process and loads `file` (a GGUF) into llama.cpp.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { exportGguf } from "@sprint-wgpu/toolkit/export";
   * import { LlamaCppEngine } from "@sprint-wgpu/toolkit/engines";
   * import { DEFAULT_MODEL_DIR } from "@sprint-wgpu/toolkit/model";
   * const dir = await Deno.makeTempDir();
   * await exportGguf(DEFAULT_MODEL_DIR, `${dir}/model.gguf`, { dtype: "f16" });
   * const eng = await LlamaCppEngine.load(`${dir}/model.gguf`, { threads: 2 });
   * assert.deepEqual([eng.vocabSize, eng.description.dtype, eng.description.threads], [4096, "f16", 2]);
   * await eng.dispose();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  static async load(file: string, options: LlamaCppOptions = {}): Promise<LlamaCppEngine> {
    const threads = options.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) {
      throw new ToolkitError(`--threads must be a positive integer, got ${threads}`);
    }
    try {
      Deno.statSync(file);
    } catch {
      throw new ToolkitError(`${file}: GGUF file not found`);
    }
    const found = locateNodeLlamaCpp(options.packageRoot);
    if ("error" in found) throw new ToolkitError(found.error);
    const node = options.node ?? Deno.env.get("SPRINT_NODE") ?? "node";
    const child = new JsonLineChild(
      node,
      [await serverScript(), pathToFileURL(found.entry).href],
      { label: "llama.cpp" },
    );
    try {
      const info = await child.request<LoadInfo>("load", {
        model: resolve(file),
        threads,
        contextSize: options.contextSize,
      });
      return new LlamaCppEngine(child, info, file);
    } catch (e) {
      await child.close();
      if (e instanceof ToolkitError) {
        throw new ToolkitError(`${file}: ${e.message}`);
      }
      throw e;
    }
  }

  async score(requests: readonly ScoreRequest[]): Promise<ScoreResult[]> {
    requests.forEach((r, i) => checkScoreRequest(r, i, this.vocabSize, this.contextLength));
    const out: ScoreResult[] = [];
    // Chunks keep each answer line moderate and let a long evaluation report progress.
    for (let i = 0; i < requests.length; i += 64) {
      const chunk = requests.slice(i, i + 64).map((r) => ({
        input: [...r.input],
        positions: [...r.positions],
        targets: [...r.targets],
      }));
      const res = await this.#child.request<{ logProbs: (number | null)[]; argmax: number[] }[]>(
        "score",
        { requests: chunk },
      );
      for (const r of res) {
        out.push({
          logProbs: Float64Array.from(r.logProbs, (x) => x === null ? -Infinity : x),
          argmax: Uint8Array.from(r.argmax),
        });
      }
    }
    return out;
  }

  generate(prompt: readonly number[], maxNewTokens: number, stopAtEos = true): Promise<number[]> {
    if (prompt.length === 0) {
      throw new ToolkitError("generate: the prompt needs at least one token");
    }
    if (prompt.length + maxNewTokens > this.contextLength) {
      throw new ToolkitError(
        `generate: ${prompt.length} + ${maxNewTokens} tokens exceed the context of ${this.contextLength}`,
      );
    }
    return this.#child.request<number[]>("generate", {
      prompt: [...prompt],
      maxNewTokens,
      stopAtEos,
    });
  }

  async time(options: EngineTimeOptions): Promise<EngineTimings> {
    const { promptTokens, newTokens } = options;
    if (promptTokens + newTokens + 1 > this.contextLength) {
      throw new ToolkitError(
        `speed: prompt ${promptTokens} + ${newTokens} new tokens exceed the context of ${this.contextLength}`,
      );
    }
    const r = await this.#child.request<{
      prefillMs: number[];
      decodeMs: number[];
      prefillCpuMs: number[];
      decodeCpuMs: number[];
    }>("time", {
      promptTokens,
      newTokens,
      warmup: options.warmup ?? 1,
      reps: options.reps ?? 3,
    });
    return { ...r, promptTokens, newTokens, engine: this.description };
  }

  /**
   * Exports a model directory (dense or saved pruned) to a temporary GGUF with `exportGguf` and
   * loads it; {@link dispose} removes the file. What `eval --engine llamacpp` needs per model.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { existsSync } from "node:fs";
   * import { LlamaCppEngine } from "@sprint-wgpu/toolkit/engines";
   * import { DEFAULT_MODEL_DIR } from "@sprint-wgpu/toolkit/model";
   * const eng = await LlamaCppEngine.fromModelDir(DEFAULT_MODEL_DIR, { dtype: "f32", threads: 1 });
   * const gguf = eng.description.model; // the temporary GGUF
   * assert.ok(existsSync(gguf));
   * await eng.dispose();
   * assert.ok(!existsSync(gguf)); // dispose removed it
   * ```
   */
  static async fromModelDir(
    dir: string,
    options: LlamaCppOptions & { dtype?: "f32" | "f16" } = {},
  ): Promise<LlamaCppEngine> {
    const tmp = await Deno.makeTempDir({ prefix: "engine_gguf_" });
    try {
      const file = join(tmp, "model.gguf");
      await exportGguf(dir, file, { dtype: options.dtype ?? "f32" });
      const eng = await LlamaCppEngine.load(file, options);
      eng.#cleanup = tmp;
      return eng;
    } catch (e) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  /** Test hook: makes the child abort as a crash inside llama.cpp would. */
  crashForTest(): Promise<unknown> {
    return this.#child.request("abort");
  }

  async dispose(): Promise<void> {
    await this.#child.close();
    if (this.#cleanup) await Deno.remove(this.#cleanup, { recursive: true }).catch(() => {});
  }
}
