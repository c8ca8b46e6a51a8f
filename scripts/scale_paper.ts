/**
 * The on-paper figures of docs/scale.md: time and memory of one SPRINT step for Llama-3-8B and
 * Llama-3-70B on a 24 GB GPU, a 32 GB Mac and this CPU, from
 * - the FLOPs of SPRINT's first step (src/bench/scale_cost.ts, the cost model of what a step
 *   runs) at the calibration given,
 * - the memory plan (src/plan/memory.ts `planSprintMemory`) with the target's device budget
 *   (resident → streamed activations → block streaming of the weights when even that does not fit),
 * - a FLOP rate per target: a **measured** one (this CPU: the best f16 matmul of
 *   docs/results/bench.json at a real width; with `--measured FILE`, the effective SPRINT rate of a
 *   scale-bench JSON, e.g. the GPU script's scale-d4096.json) or a **labelled public peak × an
 *   efficiency** stated below.
 *
 * Usage:
 *   deno run -A scripts/scale_paper.ts [--measured FILE --as rtx4090|h200|m2max|cpu [--peak-ratio R]]
 *
 * `--measured FILE --as TARGET` replaces TARGET's assumed rate (and link rate) with the file's
 * measured ones; `--peak-ratio R` scales the measured rate for a target of another GPU model
 * (R = target's public peak ÷ the measured GPU's, e.g. 82.6 / 67 for an RTX 4090 from an H200).
 *
 * @module
 */
import { fmtBytes, planSprintMemory, weightBytes } from "../src/plan/memory.ts";
import { namedShape, parameterCount, sprintStepCost } from "../src/bench/scale_cost.ts";
import type { ModelConfig } from "../src/model/config.ts";

interface Target {
  key: string;
  label: string;
  /** FLOP/s used for the step time. */
  rate: number;
  rateNote: string;
  /** Device bytes a run may use. */
  device: number;
  /** Host RAM for the run (unified memory: shared with the device). */
  ram: number;
  /** Bytes/s of the weight stream when the blocks are offloaded and fit in RAM. */
  link: number;
  linkNote: string;
  /** Bytes/s when the offloaded weights do not fit RAM and are read from the SSD (mmap). */
  ssd: number;
  unified: boolean;
}

const GB = 1e9;
const EFF = 0.25;

function cpuRate(): { rate: number; note: string } {
  try {
    const j = JSON.parse(
      Deno.readTextFileSync(new URL("../docs/results/bench.json", import.meta.url)),
    );
    const best = (j.results as { kernel: string; label: string; gflops?: number }[])
      .filter((r) =>
        r.kernel === "matmul" && r.label.includes("f16") && !r.label.startsWith("M=1 ")
      )
      .sort((a, b) => (b.gflops ?? 0) - (a.gflops ?? 0))[0];
    return {
      rate: best.gflops! * 1e9,
      note: `measured: best f16 matmul of docs/results/bench.json (${best.label}, ${
        best.gflops!.toFixed(1)
      } GFLOP/s)`,
    };
  } catch {
    return { rate: 34e9, note: "measured: f16 matmul 512×2048×2048 34.2 GFLOP/s (README)" };
  }
}

function targets(): Target[] {
  const cpu = cpuRate();
  return [
    {
      key: "rtx4090",
      label: "24 GB GPU (RTX 4090), 64 GB RAM",
      rate: 82.6e12 * EFF,
      rateNote:
        `public peak 82.6 TFLOP/s FP32/FP16 shader ALU (WebGPU has no tensor cores) × ${EFF}`,
      device: 22 * GB,
      ram: 60 * GB,
      link: 25 * GB,
      linkNote: "PCIe 4.0 x16 (32 GB/s public) at ~25 GB/s",
      ssd: 6 * GB,
      unified: false,
    },
    {
      key: "h200",
      label: "H200 141 GB (the device machine)",
      rate: 67e12 * EFF,
      rateNote: `public peak 67 TFLOP/s FP32 (non-tensor) × ${EFF}`,
      device: 135 * GB,
      ram: 120 * GB,
      link: 50 * GB,
      linkNote: "PCIe 5.0 x16 (64 GB/s public) at ~50 GB/s",
      ssd: 6 * GB,
      unified: false,
    },
    {
      key: "m2max",
      label: "Mac M2 Max 38-core GPU, 32 GB",
      rate: 13.6e12 * EFF,
      rateNote: `public peak 13.6 TFLOP/s FP32 × ${EFF}`,
      device: 21 * GB, // Metal's working-set limit: about 2/3 of RAM on a 32 GB Mac (assumed)
      ram: 28 * GB, // 32 GB less ~4 GB for the system
      link: 400 * GB,
      linkNote: "unified memory (400 GB/s public): offloaded blocks are a copy in RAM",
      ssd: 5 * GB,
      unified: true,
    },
    {
      key: "cpu",
      label: "this CPU (2 cores, lavapipe), 24 GB",
      rate: cpu.rate,
      rateNote: cpu.note,
      device: 20 * GB,
      ram: 20 * GB,
      link: 0.79 * GB,
      linkNote: "measured host→device copy of the scale bench (32 MiB)",
      ssd: 0.5 * GB,
      unified: true,
    },
  ];
}

function blockBytes(c: ModelConfig): number {
  const one = { ...c, numLayers: 1, alive: [true, true], vocabSize: 0 };
  return weightBytes(one, "f16", { maxPositions: 0 });
}

/** Placement, device and host bytes of a SPRINT run of `c` at `cal` within `t`'s budget. */
function place(c: ModelConfig, cal: { nsamples: number; seqLen: number }, t: Target) {
  const s = { nsamples: cal.nsamples, seqLen: cal.seqLen };
  const opts = { bindingLimit: 2 ** 31 - 1, maxPositions: cal.seqLen };
  const resident = planSprintMemory(c, "f16", { ...s, placement: "resident" }, opts);
  const streamed = planSprintMemory(c, "f16", { ...s, placement: "streamed" }, opts);
  const weights = resident.rows.find((r) => r.category === "weights")!.device;
  const fit = (device: number, host: number) =>
    device <= t.device && (t.unified ? device + host : host) <= t.ram;
  if (fit(resident.deviceBytes, resident.hostBytes)) {
    return {
      placement: "resident",
      device: resident.deviceBytes,
      host: resident.hostBytes,
      fits: true,
      stream: 0,
    };
  }
  if (fit(streamed.deviceBytes, streamed.hostBytes)) {
    return {
      placement: "streamed",
      device: streamed.deviceBytes,
      host: streamed.hostBytes,
      fits: true,
      stream: 0,
    };
  }
  // Block streaming (--offload): the blocks' weights stay in host memory (or the memory-mapped
  // file); the device holds the embedding/head, a window of 3 blocks (a step's windows span ≤ 2
  // blocks, +1 being uploaded) and the streamed activations; each step passes ≈ 3 times over the
  // blocks (stage 1, stage 2's advance, the loss). Assumptions of this estimate (docs/scale.md).
  const blocks = blockBytes(c);
  const device = streamed.deviceBytes - weights + (weights - c.numLayers * blocks) + 3 * blocks;
  const host = streamed.hostBytes; // activations; the weights are paged from the file
  const inRam = (t.unified ? device + host : host) + c.numLayers * blocks <= t.ram;
  const bytes = 3 * c.numLayers * blocks;
  return {
    placement: inRam ? "offload" : "offload, weights from SSD",
    device,
    host,
    fits: device <= t.device && (t.unified ? device + host : host) <= t.ram,
    stream: bytes / (inRam ? t.link : t.ssd),
  };
}

function hms(s: number): string {
  if (s < 120) return `${s.toFixed(0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(0)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}

const args = Deno.args;
const measuredAt = args.indexOf("--measured");
const asAt = args.indexOf("--as");
const list = targets();
if (measuredAt >= 0) {
  const file = args[measuredAt + 1];
  const key = asAt >= 0 ? args[asAt + 1] : "rtx4090";
  const j = JSON.parse(Deno.readTextFileSync(file));
  const sp = j.entries.flatMap((e: { methods: { method: string; cost?: { gflops: number } }[] }) =>
    e.methods
  ).filter((m: { method: string; cost?: unknown }) => m.method === "sprint" && m.cost).at(-1);
  const t = list.find((x) => x.key === key);
  if (!t || !sp) throw new Error(`--measured: no SPRINT cost in ${file} or unknown target ${key}`);
  const ratioAt = args.indexOf("--peak-ratio");
  const ratio = ratioAt >= 0 ? Number(args[ratioAt + 1]) : 1;
  if (!(ratio > 0)) throw new Error("--peak-ratio: expected a positive number");
  t.rate = sp.cost.gflops * 1e9 * ratio;
  t.rateNote = `measured: effective SPRINT first-step rate of ${file} (${j.protocol.adapter})` +
    (ratio !== 1 ? ` × ${ratio} (ratio of public peaks, target ÷ measured GPU)` : "");
  if (j.transfer?.uploadGBps) t.link = j.transfer.uploadGBps * GB;
}

const models = ["llama-3-8b", "llama-3-70b"];
const cals = [{ nsamples: 128, seqLen: 2048 }, { nsamples: 32, seqLen: 2048 }, {
  nsamples: 8,
  seqLen: 2048,
}];
console.log(
  "| model | calibration | first-step PFLOP | target | placement | device | host | first step |",
);
console.log("|---|---|---:|---|---|---:|---:|---:|");
for (const name of models) {
  const c = namedShape(name);
  for (const cal of cals) {
    const cost = sprintStepCost(c, cal);
    for (const t of list) {
      const p = place(c, cal, t);
      const compute = cost.total / t.rate;
      console.log(
        `| ${name} (${
          (parameterCount(c) / 1e9).toFixed(1)
        } B) | ${cal.nsamples} × ${cal.seqLen} | ` +
          `${(cost.total / 1e15).toFixed(2)} | ${t.label} | ${p.placement}${
            p.fits ? "" : " — DOES NOT FIT"
          } | ` +
          `${fmtBytes(p.device)} | ${fmtBytes(p.host)} | ${hms(compute + p.stream)}` +
          `${p.stream > 0 ? ` (incl. ${hms(p.stream)} weight stream)` : ""} |`,
      );
    }
  }
}
console.log("\nrates:");
for (const t of list) {
  console.log(
    `- ${t.label}: ${(t.rate / 1e12).toFixed(3)} TFLOP/s — ${t.rateNote}; link: ${t.linkNote}`,
  );
}

console.log(
  "\nstreamed plans at 8 × 2048 (f16; the device column is what must fit besides the offloaded blocks):",
);
for (const name of models) {
  const c = namedShape(name);
  const plan = planSprintMemory(c, "f16", { nsamples: 8, seqLen: 2048, placement: "streamed" }, {
    bindingLimit: 2 ** 31 - 1,
    maxPositions: 2048,
  });
  console.log(`${name}: ` + plan.rows.map((r) => `${r.category} ${fmtBytes(r.device)}`).join(", "));
}
