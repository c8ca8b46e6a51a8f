/**
 * `prune` and `eval` under a device budget and with `--offload`, on the default model
 * (data/models/default) and a small generated model: the same pruning order and a byte-identical
 * model.safetensors as the unbounded run, the plan and the measured peak in prune_log.json with
 * the peak within the budget, the same perplexity, and the one-line refusals before the load.
 */
import { deepStrictEqual as assertEquals } from "node:assert";
import { join } from "node:path";
import { parsePruneArgs } from "../../src/prune/flags.ts";
import { pruneCommand } from "../../src/prune/command.ts";
import { runEval } from "../../src/cli/eval.ts";
import { planPrune } from "../../src/plan/prune.ts";
import { ToolkitError } from "../../src/errors.ts";
import type { PruneLog } from "../../src/sprint/log.ts";
import { writePruneFixture } from "../prune/helpers.ts";
import { GPU_TEST } from "../util.ts";

const DEFAULT = new URL("../../data/models/default", import.meta.url).pathname;

async function prune(argv: string[]): Promise<void> {
  const args = parsePruneArgs(argv);
  if (!args) throw new Error("help");
  await pruneCommand(args);
}

async function readLog(dir: string): Promise<PruneLog> {
  return JSON.parse(await Deno.readTextFile(join(dir, "prune_log.json")));
}

Deno.test({
  name:
    "prune --device-memory below the activation footprint and --offload = unbounded run (default model): order, model.safetensors bytes, peak within budget in the log",
  ...GPU_TEST,
  async fn() {
    const root = await Deno.makeTempDir();
    try {
      const lat = join(root, "lat.json");
      await Deno.writeTextFile(lat, JSON.stringify({ attention: 1, mlp: 1.5, dense: 20 }));
      const base = [
        "--model",
        DEFAULT,
        "--calib",
        join(DEFAULT, "calibration.txt"),
        "--latency-table",
        lat,
        "--num-sublayers",
        "1",
        "--nsamples",
        "8",
        "--seq-len",
        "64",
        "--batch",
        "2",
        "--quiet",
      ];
      await prune([...base, "--out", join(root, "res")]);
      const res = await readLog(join(root, "res"));
      const plan = res.memory!.plan;
      assertEquals(plan.placement, "resident");
      assertEquals(plan.weights, "resident");
      // Below the activation footprint: everything but the per-batch activations, plus half of them.
      const act = plan.rows.filter((r) =>
        ["batch states", "checkpoints", "reference outputs"].includes(r.category)
      ).reduce((a, r) => a + r.device, 0);
      const budget = Math.floor(plan.deviceBytes - act / 2);
      const runs = [
        { name: "budget", flags: ["--device-memory", String(budget)] },
        { name: "offload", flags: ["--offload"] },
        { name: "both", flags: ["--offload", "--device-memory", String(budget)] },
      ];
      const want = await Deno.readFile(join(root, "res", "model.safetensors"));
      for (const run of runs) {
        await prune([...base, "--out", join(root, run.name), ...run.flags]);
        const log = await readLog(join(root, run.name));
        const m = log.memory!;
        assertEquals(log.final.pruned, res.final.pruned, run.name);
        assertEquals(
          await Deno.readFile(join(root, run.name, "model.safetensors")),
          want,
          run.name,
        );
        assertEquals(m.plan.weights, run.flags.includes("--offload") ? "streamed" : "resident");
        if (run.name !== "offload") {
          // Without --offload the activations must go to host memory; with it, the weights may suffice.
          if (run.name === "budget") assertEquals(m.plan.placement, "streamed");
          assertEquals(m.plan.deviceBudget, budget);
          assertEquals(m.peakDeviceBytes <= budget, true, `${run.name}: ${m.peakDeviceBytes}`);
        }
        assertEquals(m.peakDeviceBytes <= m.plan.deviceBytes, true, run.name);
        assertEquals(m.peakDeviceBytes < res.memory!.peakDeviceBytes, true, run.name);
      }
      // A budget no placement fits: refused before the model is loaded, one line.
      let msg = "";
      try {
        await prune([...base, "--out", join(root, "tiny"), "--device-memory", "64KiB"]);
      } catch (e) {
        if (!(e instanceof ToolkitError)) throw e;
        msg = e.message;
      }
      assertEquals(/^memory plan: SPRINT needs .* budget of 64\.00 KiB$/.test(msg), true, msg);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "prune --method blockpruner --offload --device-memory (generated model) = unbounded run; memory in the log",
  ...GPU_TEST,
  async fn() {
    const root = await Deno.makeTempDir();
    try {
      const { model, latency } = await writePruneFixture(root);
      const base = [
        "--model",
        model,
        "--calib",
        join(model, "calibration.txt"),
        "--latency-table",
        latency,
        "--method",
        "blockpruner",
        "--num-sublayers",
        "2",
        "--nsamples",
        "4",
        "--seq-len",
        "16",
        "--batch",
        "2",
        "--quiet",
      ];
      await prune([...base, "--out", join(root, "res")]);
      const res = await readLog(join(root, "res"));
      const budget = res.memory!.plan.deviceBytes - 1;
      await prune([
        ...base,
        "--out",
        join(root, "off"),
        "--offload",
        "--device-memory",
        `${budget}`,
      ]);
      const off = await readLog(join(root, "off"));
      assertEquals(off.final.pruned, res.final.pruned);
      assertEquals(
        await Deno.readFile(join(root, "off", "model.safetensors")),
        await Deno.readFile(join(root, "res", "model.safetensors")),
      );
      assertEquals(off.memory!.plan.weights, "streamed");
      assertEquals(off.memory!.peakDeviceBytes <= budget, true);
      assertEquals(
        off.steps.map((s) => s.calibrationLoss),
        res.steps.map((s) => s.calibrationLoss),
      );
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "eval --device-memory (fewer rows per forward) and --offload: same perplexity, peak in the JSON",
  ...GPU_TEST,
  async fn() {
    const argv = ["--model", DEFAULT, "--tasks", "heldout", "--limit", "6", "--seq-len", "128"];
    const quiet = ["--quiet"];
    const docs = [];
    for (const extra of [[], ["--device-memory", "9MiB"], ["--offload"]]) {
      const log = console.log;
      console.log = () => {};
      try {
        docs.push(await runEval([...argv, ...quiet, ...extra]));
      } finally {
        console.log = log;
      }
    }
    type Doc = {
      tasks: { heldout: { ppl: number } };
      memory: { plan: { placement: string; weights: string }; peakDeviceBytes: number };
    };
    const [res, small, off] = docs as unknown as Doc[];
    assertEquals(small.tasks.heldout.ppl, res.tasks.heldout.ppl);
    assertEquals(off.tasks.heldout.ppl, res.tasks.heldout.ppl);
    assertEquals(small.memory.plan.placement, "streamed");
    assertEquals(
      small.memory.peakDeviceBytes <= 9 * 2 ** 20,
      true,
      `${small.memory.peakDeviceBytes}`,
    );
    assertEquals(off.memory.plan.weights, "streamed");
    assertEquals(off.memory.peakDeviceBytes < res.memory.peakDeviceBytes, true);
  },
});

Deno.test("planPrune: host memory that cannot hold the plan is refused in one line", () => {
  const cfg = {
    hiddenSize: 4096,
    intermediateSize: 14336,
    numLayers: 32,
    numHeads: 32,
    numKvHeads: 8,
    headDim: 128,
    vocabSize: 128256,
    maxPositions: 8192,
    alive: new Array(64).fill(true),
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    tieWordEmbeddings: false,
  } as unknown as Parameters<typeof planPrune>[1];
  let msg = "";
  try {
    // 2^14 windows of 2048 tokens: the streamed checkpoints alone are ~2.3 TiB of host memory.
    planPrune(undefined, cfg, {
      method: "sprint",
      dtype: "f16",
      nsamples: 1 << 14,
      seqLen: 2048,
      batch: 4,
      deviceMemory: 16 * 2 ** 30,
      offload: true,
    });
  } catch (e) {
    if (!(e instanceof ToolkitError)) throw e;
    msg = e.message;
  }
  assertEquals(
    /^memory plan: SPRINT needs .* of host memory \(.* to read the weights as f32, .* during the run\), .* is available$/
      .test(msg),
    true,
    msg,
  );
});
