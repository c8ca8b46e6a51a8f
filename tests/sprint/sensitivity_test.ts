/**
 * SPRINT metric parsing, GPU score accumulation over batches and slots, importance and the rank
 * sum. GPU scores are checked against the f64 reference within rtol 1e-4 of each score.
 */
import {
  DEFAULT_METRIC,
  importance,
  parseMetric,
  parseMetrics,
  ranks,
  rankSum,
  SensitivityAccumulator,
} from "../../src/sprint/sensitivity.ts";
import { metricRef } from "../../ref/metric.ts";
import { assertClose, assertThrows, GPU_TEST, randn, testGpuF32 } from "../util.ts";

const SCORE_TOL = { atol: 0, rtol: 1e-4 } as const;

function assertEqualArrays(got: ArrayLike<number>, want: ArrayLike<number>, label: string): void {
  const g = Array.from(got);
  const w = Array.from(want);
  const same = g.length === w.length && g.every((v, i) => Object.is(v, w[i]));
  if (!same) throw new Error(`${label}: got [${g}], want [${w}]`);
}

Deno.test("metrics: parsing accepts the official forms", () => {
  const d = parseMetrics();
  if (DEFAULT_METRIC !== "l2_sentence" || d.length !== 1 || d[0].distance !== "l2") {
    throw new Error(`default ${JSON.stringify(d)}`);
  }
  const ms = parseMetrics(" l1_token,cos_None , l2true_channel,l2_element,l2_none,l1_token");
  // The repeated l1_token is kept once; l2_none is spelt l2_None.
  if (ms.length !== 5) throw new Error(`parsed ${ms.map((m) => m.name)}`);
  const names = ms.map((m) => `${m.name}:${m.distance}/${m.norm}`).join(" ");
  const want = "l1_token:l1/token cos_None:cos/none l2true_channel:l2true/channel" +
    " l2_element:l2/element l2_None:l2/none";
  if (names !== want) throw new Error(`parsed ${names}`);
  const arr = parseMetrics(["l2_sentence", "cos_sentence"]);
  if (arr.map((m) => m.name).join() !== "l2_sentence,cos_sentence") throw new Error("array form");
});

Deno.test("metrics: parsing rejects malformed names with clear errors", () => {
  assertThrows(() => parseMetric("l2"), 'metric "l2" has no normalisation');
  assertThrows(() => parseMetric("l2"), "l2_sentence");
  assertThrows(() => parseMetrics("l2"), "official default");
  assertThrows(() => parseMetric("l2_sentence_x"), 'more than one "_"');
  assertThrows(() => parseMetric("l3_token"), 'unknown distance "l3"');
  assertThrows(() => parseMetric("L1_token"), 'unknown distance "L1"');
  assertThrows(() => parseMetric("l1_word"), 'unknown normalisation "word"');
  assertThrows(() => parseMetric("l1_"), 'unknown normalisation ""');
  assertThrows(() => parseMetric("l1_toString"), 'unknown normalisation "toString"');
  assertThrows(() => parseMetrics(""), "empty metric name");
  assertThrows(() => parseMetrics("l1_token,,cos_token"), "empty metric name");
  assertThrows(() => parseMetrics("l1_token,"), "empty metric name");
  assertThrows(() => parseMetrics([]), "no metrics");
});

Deno.test("ranks and rankSum: stable ties, +inf, NaN", () => {
  const a = [3, 1, 2, Infinity, 1];
  const b = [0.5, 0.5, 0.1, Infinity, 0.9];
  assertEqualArrays(ranks(a), [3, 0, 2, 4, 1], "ranks a");
  assertEqualArrays(ranks(b), [1, 2, 0, 4, 3], "ranks b");
  // Summed ranks [4, 2, 2, 8, 4]: ties 1/2 and 0/4 keep index order.
  assertEqualArrays(rankSum([a, b]), [1, 2, 0, 4, 3], "rankSum a+b");
  // One metric: the stable argsort of the scores.
  assertEqualArrays(rankSum([a]), [1, 4, 2, 0, 3], "rankSum a");
  // All-equal scores: index order.
  assertEqualArrays(rankSum([[7, 7, 7], [7, 7, 7]]), [0, 1, 2], "all ties");
  // Several +inf slots keep index order after the finite ones; NaN after +inf; -inf first.
  const c = [Infinity, NaN, 0.3, Infinity, -Infinity, 0.1];
  assertEqualArrays(ranks(c), [3, 5, 2, 4, 0, 1], "ranks with inf/NaN");
  assertEqualArrays(rankSum([c]), [4, 5, 2, 0, 3, 1], "rankSum with inf/NaN");
  // A slot +inf in every metric comes after every slot finite in every metric.
  const d1 = [5, Infinity, 9, 1];
  const d2 = [100, Infinity, 0, 50];
  assertEqualArrays(rankSum([d1, d2]), [3, 2, 0, 1], "pruned slot last");
  // -0 and 0 tie.
  assertEqualArrays(ranks([0, -0, 0]), [0, 1, 2], "signed zeros tie");
  assertThrows(() => rankSum([]), "no score vectors");
  assertThrows(() => rankSum([[1, 2], [1]]), "lengths 2 and 1");
});

Deno.test("importance: latency-aware division, unavailable slots +inf", () => {
  assertEqualArrays(importance([2, 4, 6, 8], [1, 2, 1, 2]), [2, 2, 6, 4], "latency-aware");
  assertEqualArrays(
    importance([2, 4, 6, 8], [1, 2, 1, 2], { unavailable: [2] }),
    [2, 2, Infinity, 4],
    "unavailable",
  );
  assertEqualArrays(
    importance([2, NaN, 6], undefined, { unavailable: [0] }),
    [Infinity, NaN, 6],
    "plain",
  );
  // Pruned scores are already +inf in the official table: they stay +inf.
  assertEqualArrays(importance([Infinity, 3], [0.5, 1.5]), [Infinity, 2], "inf score");
  // An unavailable slot's latency is not looked at.
  assertEqualArrays(
    importance([1, 2], [0, 4], { unavailable: [0] }),
    [Infinity, 0.5],
    "ignored lat",
  );
  assertThrows(() => importance([1, 2], [1, 0]), "latency of slot 1 is 0");
  assertThrows(() => importance([1, 2], [1, -3]), "finite and > 0");
  assertThrows(() => importance([1, 2], [1, NaN]), "latency of slot 1 is NaN");
  assertThrows(() => importance([1, 2], [1]), "1 latencies for 2 scores");
  assertThrows(() => importance([1, 2], undefined, { unavailable: [2] }), "slot 2 is outside");
  // Rank sum over importances: lowest importance first.
  const imp = importance([0.2, 0.3, 0.1, 0.4], [1, 2, 1, 2], { unavailable: [2] });
  assertEqualArrays(rankSum([imp]), [1, 0, 3, 2], "prune order");
});

Deno.test({
  name: "SensitivityAccumulator: several metrics, batches and slots, one read",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const metrics = "l2_sentence,l1_token,cos_channel,l2true_None,l1_element,cos_sentence";
    const acc = new SensitivityAccumulator(gpu, metrics, 4);
    const specs = acc.metrics;
    const want = specs.map(() => new Float64Array(4));
    // Batches of b = 3 and a smaller one (b = 1); a 2-D activation layout [b·T, d] with an
    // explicit shape.
    const plan: { slot: number; b: number; t: number; d: number; flat?: boolean }[] = [
      { slot: 1, b: 3, t: 5, d: 33 },
      { slot: 1, b: 3, t: 5, d: 33 },
      { slot: 3, b: 3, t: 5, d: 33 },
      { slot: 1, b: 1, t: 5, d: 33 },
      { slot: 0, b: 2, t: 7, d: 8, flat: true },
      { slot: 3, b: 2, t: 7, d: 8 },
    ];
    const rec = gpu.recorder();
    plan.forEach(({ slot, b, t, d, flat }, i) => {
      const n = b * t * d;
      const o = randn(n, 40 + i, 2);
      const noise = randn(n, 90 + i, 1);
      const c = o.map((v, j) => 0.8 * v + 0.5 * noise[j]);
      const shape = flat ? [b * t, d] : [b, t, d];
      const ot = gpu.tensor(shape, "f32", o);
      const ct = gpu.tensor(shape, "f32", c);
      acc.record(rec, ot, ct, slot, flat ? { batch: b, tokens: t, width: d } : undefined);
      specs.forEach((m, k) => {
        want[k][slot] += metricRef(o, c, { batch: b, tokens: t, width: d }, m.distance, m.norm);
      });
    });
    rec.submit();
    const got = await acc.read();
    specs.forEach((m, k) => assertClose(got[k], want[k], SCORE_TOL, m.name));
    if (got[0][2] !== 0) throw new Error("untouched slot is not 0");

    // Clearing one slot (recorded in order with later batches) and adding one batch back.
    const rec2 = gpu.recorder();
    acc.reset(rec2, [3]);
    const o = randn(3 * 5 * 33, 7, 1);
    const noise = randn(3 * 5 * 33, 8, 1);
    const c = o.map((v, j) => 0.5 * v + 0.5 * noise[j]);
    acc.record(rec2, gpu.tensor([3, 5, 33], "f32", o), gpu.tensor([3, 5, 33], "f32", c), 3);
    rec2.submit();
    const after = await acc.read();
    specs.forEach((m, k) => {
      const w3 = metricRef(o, c, { batch: 3, tokens: 5, width: 33 }, m.distance, m.norm);
      assertClose([after[k][3]], [w3], SCORE_TOL, `${m.name} after clear`);
      assertClose([after[k][1]], [want[k][1]], SCORE_TOL, `${m.name} slot 1 kept`);
    });
    gpu.run((r) => acc.reset(r));
    const zero = await acc.read();
    if (zero.some((v) => v.some((x) => x !== 0))) throw new Error("reset(rec) left scores");

    const bad = gpu.tensor([15, 33], "f32");
    gpu.run((r) => {
      assertThrows(() => acc.record(r, bad, bad, 4), "slot 4 is outside");
      assertThrows(() => acc.record(r, bad, bad, 0), "are not [b, T, d] and no shape");
      assertThrows(() => acc.reset(r, [-1]), "slot -1 is outside");
    });
    assertThrows(() => new SensitivityAccumulator(gpu, undefined, 0), "slots must be");
    assertThrows(() => new SensitivityAccumulator(gpu, "l2", 2), "has no normalisation");
    acc.destroy();

    // Default metric, a default [B·T, d] layout from the constructor, parsed specs, and reset()
    // without a recorder (submitted on the queue at once).
    const shape = { batch: 2, tokens: 3, width: 8 };
    const dflt = new SensitivityAccumulator(gpu, undefined, 2, shape);
    if (dflt.metrics.map((m) => m.name).join() !== "l2_sentence") throw new Error("default metric");
    const o3 = randn(48, 11, 1);
    const c3 = o3.map((v) => v * 0.25);
    const ot = gpu.tensor([6, 8], "f32", o3);
    const ct = gpu.tensor([6, 8], "f32", c3);
    gpu.run((r) => dflt.record(r, ot, ct, 1));
    const w = metricRef(o3, c3, shape, "l2", "sentence");
    assertClose((await dflt.read())[0], [0, w], SCORE_TOL, "default layout");
    dflt.reset();
    gpu.run((r) => dflt.record(r, ot, ct, 0));
    assertClose((await dflt.read())[0], [w, 0], SCORE_TOL, "after reset()");
    const fromSpecs = new SensitivityAccumulator(gpu, parseMetrics("cos_token,l1_None"), 1);
    if (fromSpecs.metrics.map((m) => m.name).join() !== "cos_token,l1_None") {
      throw new Error("specs");
    }
    fromSpecs.destroy();
    dflt.destroy();
  },
});

Deno.test({
  name: "SensitivityAccumulator: element metrics over zeros stay inf/NaN, other slots finite",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const acc = new SensitivityAccumulator(gpu, "l1_element,cos_element,l2_sentence", 3);
    const shape = [1, 2, 4];
    const o = new Float32Array([1, 0, 2, -1, 3, 1, 1, 1]);
    const c = new Float32Array([1, 2, 2, 1, 3, 1, 0, 1]); // O=0≠C at 1; C=0≠O at 6
    const o2 = o.slice();
    const c2 = c.slice();
    c2[1] = 0; // O = C = 0 at 1
    const ones = new Float32Array(8).fill(1);
    const rec = gpu.recorder();
    acc.record(rec, gpu.tensor(shape, "f32", o), gpu.tensor(shape, "f32", c), 0);
    acc.record(rec, gpu.tensor(shape, "f32", o2), gpu.tensor(shape, "f32", c2), 1);
    acc.record(rec, gpu.tensor(shape, "f32", ones), gpu.tensor(shape, "f32", ones), 2);
    // A later finite batch does not cure a NaN/inf score (sums, like the official table).
    acc.record(rec, gpu.tensor(shape, "f32", ones), gpu.tensor(shape, "f32", ones), 0);
    rec.submit();
    const [l1, cos, l2] = await acc.read();
    assertEqualArrays(l1, [Infinity, NaN, 0], "l1_element");
    assertEqualArrays(cos, [NaN, NaN, 0], "cos_element");
    if (!Number.isFinite(l2[0]) || l2[2] !== 0) throw new Error(`l2_sentence ${l2}`);
    acc.destroy();
  },
});
