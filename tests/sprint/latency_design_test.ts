import assert from "node:assert/strict";
import { ToolkitError } from "../../src/errors.ts";
import { measureSublayerLatency, pairedEstimate } from "../../src/sprint/latency_design.ts";
import { latencyProbeBlocks } from "../../src/sprint/rules.ts";
import { seededRandom } from "../../src/util/random.ts";

/** A synthetic workload: fixed + Σ alive sublayer costs + N(0, sigma²) noise (seeded). */
function workload(
  opts: { fixed: number; attention: number; mlp: number; sigma: number; seed: number },
) {
  const rand = seededRandom(opts.seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  let runs = 0;
  const run = (mask: readonly boolean[]) => {
    runs++;
    let t = opts.fixed;
    mask.forEach((on, s) => t += on ? (s % 2 ? opts.mlp : opts.attention) : 0);
    return Promise.resolve(t + opts.sigma * gauss());
  };
  return { run, runs: () => runs };
}

Deno.test("latency design: exact on a noiseless workload, spec probe blocks, no retries", async () => {
  const w = workload({ fixed: 50, attention: 4, mlp: 3, sigma: 0, seed: 1 });
  const m = await measureSublayerLatency(12, w.run, { iterations: 5 });
  assert.equal(m.attention.value, 4);
  assert.equal(m.mlp.value, 3);
  assert.equal(m.t1, 50 + 12 * 7);
  assert.deepEqual(m.probeBlocks, latencyProbeBlocks(12));
  assert.equal(m.rounds, 5);
  assert.deepEqual(m.warnings, []);
  assert.equal(w.runs(), 3 + 3 * 5); // warm-up + 5 interleaved rounds
});

Deno.test("latency design: a little noise is answered with more rounds, probes kept", async () => {
  // ℓ_MLP 30 ms with k = 2 probes: σ 6 ms gives se ≈ 1.25·8.5/√5/2 ≈ 2.4 ms (8 %) — or a retry.
  const w = workload({ fixed: 100, attention: 40, mlp: 30, sigma: 6, seed: 7 });
  const m = await measureSublayerLatency(8, w.run, { iterations: 5 });
  assert.deepEqual(m.probeBlocks, latencyProbeBlocks(8));
  for (const [e, truth] of [[m.attention, 40], [m.mlp, 30]] as const) {
    assert.ok(e.se <= 0.1 * e.value, `se ${e.se} above 10 % of ${e.value}`);
    assert.ok(Math.abs(e.value - truth) < 4 * e.se + 1e-9, `${e.value} vs ${truth} ± ${e.se}`);
  }
});

Deno.test("latency design: noise that drowns the probe blocks widens to every block", async () => {
  // The lavapipe/GL case: ±15 % run-to-run on a ~600 ms workload of 8 blocks.
  const w = workload({ fixed: 50, attention: 40, mlp: 28, sigma: 90, seed: 3 });
  const m = await measureSublayerLatency(8, w.run, { iterations: 5 });
  assert.deepEqual(m.probeBlocks, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.ok(m.warnings.some((x) => x.includes("every block as a probe block")));
  for (const [e, truth] of [[m.attention, 40], [m.mlp, 28]] as const) {
    assert.ok(e.value > 0);
    assert.ok(Math.abs(e.value - truth) < 4 * e.se, `${e.value} vs ${truth} ± ${e.se}`);
  }
});

Deno.test("latency design: no signal at all fails with a one-line error", async () => {
  const w = workload({ fixed: 500, attention: 0, mlp: 0, sigma: 20, seed: 5 });
  await assert.rejects(
    () => measureSublayerLatency(8, w.run, { iterations: 3 }),
    (e: unknown) =>
      e instanceof ToolkitError && /non-positive sublayer latency/.test(e.message) &&
      !e.message.includes("\n"),
  );
});

Deno.test("latency design: one stalled round moves neither the median nor its error", () => {
  const a = [100, 101, 99, 100, 100, 5000];
  const b = [90, 91, 89, 90, 90, 91];
  const e = pairedEstimate(a, b, 2);
  assert.equal(e.value, 5);
  assert.ok(e.se < 0.5, `se ${e.se}`);
});

Deno.test("latency design: rejects a non-integer round count", async () => {
  await assert.rejects(
    () => measureSublayerLatency(4, () => Promise.resolve(1), { iterations: 0 }),
    ToolkitError,
  );
});
