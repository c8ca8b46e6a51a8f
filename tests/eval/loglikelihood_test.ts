/** The GPU log-likelihood scorer against the f64 reference on a tiny random model. */
import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert";
import {
  encodePair,
  loglikelihood,
  type LoglikelihoodResult,
  loglikelihoodTokens,
  planBatches,
  planGroup,
  type TokenRequest,
} from "../../src/eval/loglikelihood.ts";
import { evaluateDocs } from "../../src/eval/zeroshot.ts";
import { TASKS } from "../../src/eval/tasks.ts";
import { scoreChoices } from "../../src/eval/accuracy.ts";
import { loadModel } from "../../src/model/model.ts";
import { refLoglikelihood } from "../../ref/eval.ts";
import { GPU_TEST, rng, testGpuF32 } from "../util.ts";
import { writeTinyData, writeTinyEvalModel } from "./helpers.ts";
import { join } from "node:path";

const dir = await Deno.makeTempDir({ prefix: "eval-ll-" });
const { config, weights } = await writeTinyEvalModel(join(dir, "model"));
await writeTinyData(join(dir, "data"));
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const V = config.vocabSize;

function randomIds(n: number, r: () => number): number[] {
  return Array.from({ length: n }, () => 3 + Math.floor(r() * (V - 3)));
}

function check(
  got: LoglikelihoodResult[],
  reqs: TokenRequest[],
  maxLength = config.maxPositions,
): void {
  reqs.forEach((q, i) => {
    const ref = refLoglikelihood(config, weights, q.context, q.continuation, maxLength);
    ok(
      Math.abs(got[i].logLikelihood - ref.ll) <= 2e-4 + 1e-5 * Math.abs(ref.ll),
      `request ${i}: ${got[i].logLikelihood} vs ${ref.ll}`,
    );
    assertEquals(got[i].isGreedy, ref.greedy, `request ${i} greedy`);
  });
}

Deno.test({
  name: "loglikelihood: shared-prefix and flat batching both match the f64 reference",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const model = await loadModel(gpu, join(dir, "model"), { dtype: "f32" });
    const r = rng(7);
    const reqs: TokenRequest[] = [];
    for (let d = 0; d < 6; d++) {
      const ctx = randomIds(4 + Math.floor(r() * 12), r);
      const k = 2 + (d % 3);
      for (let j = 0; j < k; j++) {
        reqs.push({ context: ctx, continuation: randomIds(1 + Math.floor(r() * 5), r), group: d });
      }
    }
    // Identical requests, a continuation that extends another, and single-token choices.
    reqs.push({ context: reqs[0].context, continuation: reqs[0].continuation, group: 0 });
    reqs.push({ context: [5, 6, 7], continuation: [8], group: 9 }, {
      context: [5, 6, 7],
      continuation: [8, 9, 10],
      group: 9,
    });
    reqs.push({ context: [5, 6, 7, 8], continuation: [11], group: 10 }, {
      context: [5, 6, 7, 8],
      continuation: [12],
      group: 10,
    });
    const modes: string[] = [];
    const shared = await loglikelihoodTokens(model, reqs, {
      batchTokens: 96,
      onBatch: (b) => modes.push(b.mode),
    });
    ok(modes.includes("shared") && modes.length > 1, `batches: ${modes}`);
    check(shared, reqs);
    const flatModes: string[] = [];
    const flat = await loglikelihoodTokens(model, reqs, {
      sharePrefixes: false,
      batchTokens: 64,
      maxBatch: 3,
      onBatch: (b) => flatModes.push(b.mode),
    });
    ok(flatModes.every((m) => m === "flat") && flatModes.length > 3, `batches: ${flatModes}`);
    check(flat, reqs);
    // A teacher-forced greedy continuation is greedy.
    const ctx = [4, 9, 20, 31];
    const greedy: number[] = [];
    for (let s = 0; s < 3; s++) {
      const all = await loglikelihoodTokens(
        model,
        Array.from({ length: V }, (_, t) => ({ context: [...ctx, ...greedy], continuation: [t] })),
      );
      greedy.push(all.findIndex((x) => x.isGreedy));
    }
    const [g] = await loglikelihoodTokens(model, [{ context: ctx, continuation: greedy }]);
    ok(g.isGreedy);
    model.destroy();
  },
});

Deno.test({
  name:
    "loglikelihood: inputs longer than max_length + 1 keep their last tokens and the whole continuation",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const model = await loadModel(gpu, join(dir, "model"), { dtype: "f32" });
    const r = rng(11);
    const L = config.maxPositions; // 64
    const reqs: TokenRequest[] = [
      { context: randomIds(100, r), continuation: randomIds(5, r) },
      { context: randomIds(L - 3, r), continuation: randomIds(4, r) }, // exactly L + 1 tokens: no cut
      { context: randomIds(L, r), continuation: randomIds(L - 1, r) }, // one context token left
    ];
    const got = await loglikelihoodTokens(model, reqs);
    assertEquals(got.map((g) => g.truncated), [100 + 5 - (L + 1), 0, 2 * L - 1 - (L + 1)]);
    check(got, reqs);
    // Equivalent to scoring the cut request directly.
    const cut = [...reqs[0].context, ...reqs[0].continuation].slice(-(L + 1));
    const [same] = await loglikelihoodTokens(model, [{
      context: cut.slice(0, -5),
      continuation: cut.slice(-5),
    }]);
    ok(Math.abs(same.logLikelihood - got[0].logLikelihood) < 1e-4);
    // A smaller max_length cuts more.
    const short = await loglikelihoodTokens(model, reqs.slice(0, 1), { maxLength: 16 });
    check(short, reqs.slice(0, 1), 16);
    await rejects(
      loglikelihoodTokens(model, [{ context: [1], continuation: randomIds(L + 1, r) }]),
      /more than the model's context of 64/,
    );
    await rejects(
      loglikelihoodTokens(model, [{ context: [], continuation: [3] }]),
      /context has no tokens/,
    );
    await rejects(
      loglikelihoodTokens(model, [{ context: [1], continuation: [V] }]),
      /outside the vocabulary/,
    );
    model.destroy();
  },
});

Deno.test({
  name: "zero-shot on hand-made items of every task equals f64 scoring of the same requests",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const model = await loadModel(gpu, join(dir, "model"), { dtype: "f32" });
    const tok = model.tokenizer!;
    for (const spec of Object.values(TASKS)) {
      const docs = await spec.load(join(dir, "data", spec.file));
      const res = await evaluateDocs(model, spec, docs, { samples: true });
      const accs: number[] = [];
      const norms: number[] = [];
      docs.forEach((d, i) => {
        const lls = d.requests.map((q) => {
          const p = encodePair(tok, q.context, q.continuation);
          return refLoglikelihood(config, weights, p.context, p.continuation);
        });
        const s = res.samples![i];
        lls.forEach((x, j) =>
          ok(
            Math.abs(x.ll - s.lls[j]) < 2e-4,
            `${spec.name} doc ${i} choice ${j}: ${s.lls[j]} vs ${x.ll}`,
          )
        );
        if (spec.kind === "lambada") {
          accs.push(lls[0].greedy ? 1 : 0);
        } else {
          const o = scoreChoices(lls.map((x) => x.ll), d.choices, d.gold);
          accs.push(o.acc);
          norms.push(o.accNorm);
        }
      });
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      assertEquals(res.acc, mean(accs), spec.name);
      assertEquals(res.n, docs.length);
      if (spec.metrics.includes("acc_norm")) assertEquals(res.acc_norm, mean(norms), spec.name);
      else assertEquals(res.acc_norm, undefined);
      if (spec.kind === "lambada") {
        const ppl = Math.exp(-mean(res.samples!.map((s) => s.lls[0])));
        ok(Math.abs(res.ppl! - ppl) < 1e-9 * ppl);
      }
    }
    // Text requests through the model's tokenizer.
    const [a] = await loglikelihood(model, [{ context: "the cat is", continuation: " hot" }]);
    const p = encodePair(tok, "the cat is", " hot");
    ok(
      Math.abs(a.logLikelihood - refLoglikelihood(config, weights, p.context, p.continuation).ll) <
        1e-4,
    );
    model.destroy();
  },
});

Deno.test("planBatches: every group once, budgets kept, shared mode only where the KV cache fits", () => {
  const r = rng(3);
  const groups = Array.from({ length: 40 }, (_, d) => {
    const ctx = randomIds(5 + Math.floor(r() * 30), r);
    const seqs = Array.from({ length: 1 + (d % 4) }, (_, j) => {
      const cont = randomIds(1 + Math.floor(r() * 8), r);
      const input = [...ctx, ...cont].slice(0, -1);
      return {
        input,
        scored: cont.map((target, k) => ({ id: j, pos: input.length - cont.length + k, target })),
      };
    });
    return planGroup(seqs, seqs.length);
  });
  for (const kvRows of [Infinity, 10]) {
    const batches = planBatches(groups, { batchTokens: 256, maxBatch: 16, share: true, kvRows });
    assertEquals(batches.flatMap((b) => b.groups).length, groups.length);
    assertEquals(new Set(batches.flatMap((b) => b.groups)).size, groups.length);
    for (const b of batches) {
      const seqs = b.groups.reduce((s, g) => s + g.seqs.length, 0);
      ok(
        b.groups.length === 1 || (seqs <= 16 && b.rows <= 256),
        `batch of ${seqs} sequences, ${b.rows} rows`,
      );
      if (b.mode === "shared") {
        ok(
          b.groups.every((g) =>
            g.share >= b.cb && g.seqs.every((s) => s.input.length - b.cb <= b.t)
          ),
        );
      }
    }
    const shared = batches.filter((b) => b.mode === "shared").length;
    ok(
      kvRows === Infinity ? shared > 0 : shared === 0,
      `${shared} shared batches with kvRows ${kvRows}`,
    );
  }
  // planGroup: identical inputs merge, a prefix input is read from the longer one.
  const g = planGroup([
    { input: [1, 2, 3], scored: [{ id: 0, pos: 2, target: 4 }] },
    { input: [1, 2, 3], scored: [{ id: 1, pos: 2, target: 5 }] },
    { input: [1, 2], scored: [{ id: 2, pos: 1, target: 3 }] },
  ]);
  assertEquals(g.seqs.length, 1);
  assertEquals(g.seqs[0].scored.length, 3);
  assertEquals(g.share, 1);
});
