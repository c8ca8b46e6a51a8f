/**
 * The WebGPU engine behind JSON lines on stdio, run by {@link WebGpuChildEngine} in a Deno child
 * process — so the engine can be timed at a chosen lavapipe thread count (`LP_NUM_THREADS` is
 * read once, when a process starts) next to llama.cpp in its own child.
 *
 * Requests `{id, op, args}`: `load {dir, dtype?, mask?}`, `score {requests}`,
 * `generate {prompt, maxNewTokens, stopAtEos}`, `time {promptTokens, newTokens, warmup, reps}`,
 * `close`. Answers `{id, ok, result | error}`.
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import { getGpu } from "../gpu/device.ts";
import { loadModel } from "../model/model.ts";
import { WebGpuEngine } from "./webgpu.ts";
import type { ScoreRequest } from "./engine.ts";

let engine: WebGpuEngine | undefined;

function need(): WebGpuEngine {
  if (!engine) throw new ToolkitError("no model loaded");
  return engine;
}

async function handle(op: string, a: Record<string, unknown>): Promise<unknown> {
  switch (op) {
    case "load": {
      const model = await loadModel(await getGpu(), a.dir as string, {
        dtype: a.dtype as "f32" | "f16" | undefined,
        weightLayout: "tiled",
      });
      engine = new WebGpuEngine(model, { mask: a.mask as boolean[] | undefined }, true);
      return {
        description: engine.description,
        vocabSize: engine.vocabSize,
        contextLength: engine.contextLength,
      };
    }
    case "score": {
      const res = await need().score(a.requests as ScoreRequest[]);
      return res.map((r) => ({
        logProbs: [...r.logProbs].map((x) => Number.isFinite(x) ? x : null),
        argmax: [...r.argmax],
      }));
    }
    case "generate":
      return await need().generate(
        a.prompt as number[],
        a.maxNewTokens as number,
        a.stopAtEos as boolean,
      );
    case "time": {
      const t = await need().time(
        a as unknown as { promptTokens: number; newTokens: number; warmup: number; reps: number },
      );
      return { prefillMs: t.prefillMs, decodeMs: t.decodeMs };
    }
    case "close":
      await engine?.dispose();
      engine = undefined;
      return null;
    default:
      throw new ToolkitError(`unknown op ${op}`);
  }
}

const write = (msg: unknown) =>
  Deno.stdout.write(new TextEncoder().encode(JSON.stringify(msg) + "\n"));

const reader = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
let buf = "";
loop: while (true) {
  const { value, done } = await reader.read();
  if (done) break;
  buf += value;
  let nl: number;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    if (!line.trim()) continue;
    let msg: { id: number; op: string; args?: Record<string, unknown> };
    try {
      msg = JSON.parse(line);
    } catch {
      await write({ id: null, ok: false, error: "request is not JSON" });
      continue;
    }
    try {
      const result = await handle(msg.op, msg.args ?? {});
      await write({ id: msg.id, ok: true, result });
      if (msg.op === "close") break loop;
    } catch (e) {
      await write({ id: msg.id, ok: false, error: String((e as Error).message).split("\n")[0] });
    }
  }
}
Deno.exit(0);
