import { deepStrictEqual as assertEquals, ok } from "node:assert";
import {
  argmaxIndex,
  docPerplexity,
  headlineMean,
  meanStderr,
  scoreChoices,
} from "../../src/eval/accuracy.ts";
import { nll } from "../../src/kernels/softmax.ts";
import { GPU_TEST, testGpuF32 } from "../util.ts";
import { refLogSoftmax } from "../../ref/eval.ts";

/**
 * Hand-made logits over a 4-token vocabulary for two choices of one context: choice 0 is one
 * token (" a", id 1) with probability ≈ 0.2, choice 1 is three tokens each with probability ≈ 0.5.
 * Raw log-likelihood prefers the short choice (log 0.2 ≈ −1.6 > 3·log 0.5 ≈ −2.1); per character
 * the long choice wins (−2.1 / 9 chars vs −1.6 / 1 char).
 */
const LOGITS: Record<string, number[][]> = {
  // rows: positions that predict each continuation token
  choice0: [[Math.log(0.4), Math.log(0.2), Math.log(0.2), Math.log(0.2)]],
  choice1: [
    [Math.log(0.1), Math.log(0.2), Math.log(0.5), Math.log(0.2)],
    [Math.log(0.5), Math.log(0.2), Math.log(0.2), Math.log(0.1)],
    [Math.log(0.25), Math.log(0.25), Math.log(0.5), 0 - 10],
  ],
};
const TARGETS: Record<string, number[]> = { choice0: [1], choice1: [2, 0, 2] };
const CHOICES = ["a", "bcd efghi"];

function hostLl(name: string): number {
  return LOGITS[name].reduce((s, row, i) => s + refLogSoftmax(row)[TARGETS[name][i]], 0);
}

Deno.test("acc and acc_norm on hand-made logits: raw log-likelihood and per-character pick different choices", () => {
  const lls = ["choice0", "choice1"].map(hostLl);
  ok(lls[0] > lls[1], `short choice has the larger log-likelihood (${lls})`);
  ok(lls[0] / 1 < lls[1] / 9, "long choice has the larger log-likelihood per character");
  assertEquals(scoreChoices(lls, CHOICES, 0), { pred: 0, predNorm: 1, acc: 1, accNorm: 0 });
  assertEquals(scoreChoices(lls, CHOICES, 1), { pred: 0, predNorm: 1, acc: 0, accNorm: 1 });
  // Equal lengths: acc_norm agrees with acc.
  assertEquals(scoreChoices([-3, -2], ["xy", "zw"], 1), {
    pred: 1,
    predNorm: 1,
    acc: 1,
    accNorm: 1,
  });
});

Deno.test({
  name: "acc/acc_norm from the GPU nll kernel on the same hand-made logits",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const rows = [...LOGITS.choice0, ...LOGITS.choice1];
    const targets = [...TARGETS.choice0, ...TARGETS.choice1];
    const t = gpu.tensor([rows.length, 4], "f32", new Float32Array(rows.flat()));
    const loss = await gpu.run((rec) => nll(rec, t, targets)).read();
    const lls = [-loss[0], -(loss[1] + loss[2] + loss[3])];
    const host = ["choice0", "choice1"].map(hostLl);
    for (let i = 0; i < 2; i++) ok(Math.abs(lls[i] - host[i]) < 1e-5, `${lls[i]} vs ${host[i]}`);
    assertEquals(scoreChoices(lls, CHOICES, 1), { pred: 0, predNorm: 1, acc: 0, accNorm: 1 });
  },
});

Deno.test("argmax ties go to the first index (np.argmax)", () => {
  assertEquals(argmaxIndex([-1, -1, -2]), 0);
  assertEquals(argmaxIndex([-3, -1, -1]), 1);
  assertEquals(scoreChoices([-2, -2], ["a", "b"], 1).pred, 0);
});

Deno.test("acc_norm divides by the choice text length in characters, without the leading space", () => {
  // −6 over "abc" (3 chars) = −2 per char; −7 over "abcdefg" (7) = −1 per char.
  assertEquals(scoreChoices([-6, -7], ["abc", "abcdefg"], 1), {
    pred: 0,
    predNorm: 1,
    acc: 0,
    accNorm: 1,
  });
  // With the delimiter counted (4 vs 8 chars) the result would be the same here, but not for:
  // −2 over "a" (1) = −2 vs −5 over "abc" (3) = −1.67 → choice 1; with " a"/" abc": −1 vs −1.25 → 0.
  assertEquals(scoreChoices([-2, -5], ["a", "abc"], 0).predNorm, 1);
});

Deno.test("stderr, LAMBADA perplexity and the headline mean", () => {
  // lm-eval mean_stderr: sample std / sqrt(n); [1,0,1,0] → std 0.57735, / 2.
  ok(Math.abs(meanStderr([1, 0, 1, 0]) - 0.5773502691896258 / 2) < 1e-12);
  ok(Math.abs(docPerplexity([-1, -3]) - Math.exp(2)) < 1e-12);
  const h = headlineMean({
    piqa: { acc: 0.6, acc_norm: 0.7 },
    winogrande: { acc: 0.5 },
    boolq: { acc: 0.4 },
  });
  ok(Math.abs(h.value - (0.7 + 0.5 + 0.4) / 3) < 1e-12);
  assertEquals(h.over, ["piqa", "winogrande", "boolq"]);
  ok(Number.isNaN(headlineMean({}).value));
});
