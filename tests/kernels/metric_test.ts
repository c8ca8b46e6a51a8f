/**
 * Metric kernels against the f64 reference (ref/metric.ts). Tolerance: every score within
 * rtol 1e-4 of the reference (|gpu − ref| ≤ 1e-4·|ref|, atol 0); row statistics within
 * atol 1e-5 + rtol 1e-4. Test activations are C = 0.8·O + 0.5·noise, so cos distances are
 * ≈ 0.15 per row, far from the cancellation regime in which no f32 computation could meet a
 * relative tolerance.
 */
import {
  accumulateMetric,
  METRIC_DISTANCES,
  METRIC_NORMS,
  metricRowStats,
  type MetricShape,
  metricStatsRows,
} from "../../src/kernels/metric.ts";
import { metricRef, metricRowStatsRef } from "../../ref/metric.ts";
import { assertClose, assertThrows, GPU_TEST, randn, testGpuF32 } from "../util.ts";

/** Score tolerance: relative 1e-4 of each score. */
const SCORE_TOL = { atol: 0, rtol: 1e-4 } as const;

/** O uniform in [-2, 2), C = 0.8·O + 0.5·noise (every row has a cos distance ≈ 0.15). */
function pair(n: number, seed: number): [Float32Array<ArrayBuffer>, Float32Array<ArrayBuffer>] {
  const o = randn(n, seed, 2);
  const noise = randn(n, seed + 1000, 1);
  return [o, o.map((v, i) => 0.8 * v + 0.5 * noise[i])];
}

const BS = [1, 3];
const TS = [1, 5, 130];
const DS = [3, 8, 33, 64];

Deno.test({
  name: "metric: every distance × norm on odd shapes matches the f64 reference",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    let seed = 1;
    for (const batch of BS) {
      for (const tokens of TS) {
        for (const width of DS) {
          const shape: MetricShape = { batch, tokens, width };
          await t.step(`b=${batch} T=${tokens} d=${width}`, async () => {
            const n = batch * tokens * width;
            const [o, c] = pair(n, seed++);
            const ot = gpu.tensor([batch, tokens, width], "f32", o);
            const ct = gpu.tensor([batch, tokens, width], "f32", c);
            const slots = METRIC_NORMS.length * METRIC_DISTANCES.length;
            const score = gpu.tensor([slots], "f32");
            const stats = gpu.run((rec) =>
              METRIC_NORMS.map((norm, ni) => {
                const st = metricRowStats(rec, ot, ct, { ...shape, norm });
                METRIC_DISTANCES.forEach((distance, di) => {
                  accumulateMetric(rec, st, { distance }, score, ni * METRIC_DISTANCES.length + di);
                });
                return st;
              })
            );
            const got = await score.read();
            const want = METRIC_NORMS.flatMap((norm) =>
              METRIC_DISTANCES.map((distance) => metricRef(o, c, shape, distance, norm))
            );
            for (let i = 0; i < slots; i++) {
              const norm = METRIC_NORMS[Math.floor(i / METRIC_DISTANCES.length)];
              const dist = METRIC_DISTANCES[i % METRIC_DISTANCES.length];
              assertClose([got[i]], [want[i]], SCORE_TOL, `${dist}_${norm}`);
            }
            for (const st of stats) {
              if (st.norm === "element") continue;
              const ref = metricRowStatsRef(o, c, shape, st.norm);
              assertClose(await st.stats.read(), ref, undefined, `row stats ${st.norm}`);
              st.stats.destroy();
            }
            for (const x of [ot, ct, score]) x.destroy();
          });
        }
      }
    }
  },
});

Deno.test({
  name: "metric: long rows split over workgroups (beyond the loop cap if naive), every norm",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    // 2 × 512 × 512: vec4 sentence rows of 262,144 values (one invocation per row would loop
    // 65,536 times, past llvmpipe's 65,535 cap); 2 × 511 × 129: odd, scalar rows of 65,919;
    // 2 × 1500 × 5: channel rows of 1,500 tokens, split over 3 workgroups.
    const shapes: MetricShape[] = [
      { batch: 2, tokens: 512, width: 512 },
      { batch: 2, tokens: 511, width: 129 },
      { batch: 2, tokens: 1500, width: 5 },
    ];
    for (const shape of shapes) {
      await t.step(`b=${shape.batch} T=${shape.tokens} d=${shape.width}`, async () => {
        const n = shape.batch * shape.tokens * shape.width;
        const [o, c] = pair(n, 77 + shape.width);
        const ot = gpu.tensor([n], "f32", o);
        const ct = gpu.tensor([n], "f32", c);
        const k = METRIC_DISTANCES.length;
        const score = gpu.tensor([METRIC_NORMS.length * k], "f32");
        const stats = gpu.run((rec) =>
          METRIC_NORMS.map((norm, ni) => {
            const st = metricRowStats(rec, ot, ct, { ...shape, norm });
            METRIC_DISTANCES.forEach((distance, di) => {
              accumulateMetric(rec, st, { distance }, score, ni * k + di);
            });
            return st;
          })
        );
        const got = await score.read();
        METRIC_NORMS.forEach((norm, ni) => {
          METRIC_DISTANCES.forEach((distance, di) => {
            const want = metricRef(o, c, shape, distance, norm);
            assertClose([got[ni * k + di]], [want], SCORE_TOL, `${distance}_${norm}`);
          });
        });
        for (const st of stats) {
          if (st.norm !== "element") {
            const ref = metricRowStatsRef(o, c, shape, st.norm);
            // Relative to each sum (all but ΣO·C are sums of non-negative terms; ΣO·C ≈ 0.8·ΣO²
            // is far from cancelling).
            assertClose(
              await st.stats.read(),
              ref,
              { atol: 0, rtol: 1e-5 },
              `row stats ${st.norm}`,
            );
          }
          st.stats.destroy();
        }
        for (const x of [ot, ct, score]) x.destroy();
      });
    }
  },
});

Deno.test({
  name: "metric: l2 (official) equals l1 bit for bit; scores accumulate over batches",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const shape = { batch: 3, tokens: 5, width: 33 };
    const n = 3 * 5 * 33;
    const score = gpu.tensor([2 * METRIC_NORMS.length], "f32");
    const batches = [pair(n, 5), pair(n, 6), pair(n, 7)];
    const want = new Float64Array(METRIC_NORMS.length);
    for (const [o, c] of batches) {
      const ot = gpu.tensor([n], "f32", o);
      const ct = gpu.tensor([n], "f32", c);
      gpu.run((rec) => {
        METRIC_NORMS.forEach((norm, i) => {
          const st = metricRowStats(rec, ot, ct, { ...shape, norm });
          accumulateMetric(rec, st, { distance: "l1" }, score, 2 * i);
          accumulateMetric(rec, st, { distance: "l2" }, score, 2 * i + 1);
        });
      });
      METRIC_NORMS.forEach((norm, i) => (want[i] += metricRef(o, c, shape, "l2", norm)));
    }
    const got = await score.read();
    METRIC_NORMS.forEach((norm, i) => {
      if (got[2 * i] !== got[2 * i + 1]) {
        throw new Error(`${norm}: l1 ${got[2 * i]} != l2 ${got[2 * i + 1]}`);
      }
      assertClose([got[2 * i]], [want[i]], SCORE_TOL, `3 batches l2_${norm}`);
    });
  },
});

Deno.test({
  name: "metric: zeros in O give PyTorch float32's inf / NaN (element rows, zero rows)",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const shape = { batch: 1, tokens: 3, width: 4 };
    const o = new Float32Array([1, -2, 3, 0.5, 2, 2, -1, 4, 1, 1, 1, 1]);
    // (a) O = 0 where C ≠ 0 → x/0 = +inf for l1/l2/l2true; cos NaN (0/0).
    const oa = o.slice();
    oa[5] = 0;
    const ca = o.map((v) => v * 0.5);
    // (b) O = C = 0 at one element → 0/0 = NaN for every distance.
    const ob = oa.slice();
    const cb = ca.slice();
    cb[5] = 0;
    // (c) a whole token row of O zero, C not → token rows: l1 +inf, cos NaN.
    const oc = o.slice().fill(0, 4, 8);
    const cc = o.map((v) => v + 1);
    const run = async (ov: Float32Array, cv: Float32Array, norm: "element" | "token") => {
      const score = gpu.tensor([4], "f32");
      const ot = gpu.tensor([12], "f32", ov);
      const ct = gpu.tensor([12], "f32", cv);
      gpu.run((rec) => {
        const st = metricRowStats(rec, ot, ct, { ...shape, norm });
        METRIC_DISTANCES.forEach((distance, i) =>
          accumulateMetric(rec, st, { distance }, score, i)
        );
      });
      const got = Array.from(await score.read());
      const want = METRIC_DISTANCES.map((d) => metricRef(ov, cv, shape, d, norm));
      return { got, want };
    };
    const same = (a: number[], b: number[]) =>
      a.every((v, i) => Object.is(v, b[i]) || (Number.isNaN(v) && Number.isNaN(b[i])));
    const a = await run(oa, ca, "element");
    if (!same(a.got, [Infinity, Infinity, Infinity, NaN]) || !same(a.want, a.got)) {
      throw new Error(`element, O=0≠C: gpu ${a.got}, ref ${a.want}`);
    }
    const b = await run(ob, cb, "element");
    if (!same(b.got, [NaN, NaN, NaN, NaN]) || !same(b.want, b.got)) {
      throw new Error(`element, O=C=0: gpu ${b.got}, ref ${b.want}`);
    }
    const c = await run(oc, cc, "token");
    if (!same(c.got, [Infinity, Infinity, Infinity, NaN]) || !same(c.want, c.got)) {
      throw new Error(`token row O=0: gpu ${c.got}, ref ${c.want}`);
    }
    // Without zeros the element metrics are finite and match the reference.
    const d = await run(o, o.map((v, i) => (i % 2 ? v * 0.7 : -v)), "element");
    assertClose(d.got, d.want, SCORE_TOL, "element without zeros");
  },
});

Deno.test({
  name: "metric: shapes, outputs and slots are validated",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const shape = { batch: 2, tokens: 3, width: 4 };
    const o = gpu.tensor([2, 3, 4], "f32");
    const score = gpu.tensor([2], "f32");
    if (metricStatsRows({ ...shape, norm: "channel" }) !== 8) throw new Error("channel rows");
    if (metricStatsRows({ ...shape, norm: "element" }) !== 1) throw new Error("element rows");
    gpu.run((rec) => {
      assertThrows(
        () => metricRowStats(rec, o, gpu.tensor([2, 3, 5], "f32"), { ...shape, norm: "token" }),
        "c [2,3,5] has 30 elements",
      );
      assertThrows(
        () => metricRowStats(rec, gpu.tensor([24], "f16"), o, { ...shape, norm: "token" }),
        "o must be f32",
      );
      assertThrows(
        () => metricRowStats(rec, o, o, { ...shape, norm: "token" }, gpu.tensor([2, 6], "f32")),
        "out must be f32 [6, 6]",
      );
      assertThrows(
        // deno-lint-ignore no-explicit-any
        () => metricRowStats(rec, o, o, { ...shape, norm: "word" as any }),
        "unknown norm",
      );
      assertThrows(
        () => metricRowStats(rec, o, o, { ...shape, tokens: 1.5, norm: "token" }),
        "tokens must be an integer",
      );
      const st = metricRowStats(rec, o, o, { ...shape, norm: "sentence" });
      assertThrows(
        () => accumulateMetric(rec, st, { distance: "l1" }, score, 2),
        "slot 2 is outside",
      );
      assertThrows(
        // deno-lint-ignore no-explicit-any
        () => accumulateMetric(rec, st, { distance: "l3" as any }, score, 0),
        "unknown distance",
      );
    });
    await gpu.sync();
  },
});

Deno.test({
  name: "metric: cos stays accurate relative to tiny distances (C ≈ O)",
  ...GPU_TEST,
  async fn() {
    // C = O + 1e-3·noise: 1 − cos ≈ 1e-7 per sentence row. 1 − ⟨O,C⟩/(‖O‖‖C‖) in f32 would lose
    // every digit (its error is ≈ 1e-7 per row); the kernel's (‖O−C‖² − (‖O‖−‖C‖)²) / (2‖O‖‖C‖)
    // keeps the rtol 1e-4 of every other test.
    const gpu = await testGpuF32();
    const shape = { batch: 3, tokens: 130, width: 64 };
    const n = 3 * 130 * 64;
    const o = randn(n, 3, 2);
    const z = randn(n, 4, 1);
    const c = o.map((v, i) => v + 1e-3 * z[i]);
    const ot = gpu.tensor([n], "f32", o);
    const ct = gpu.tensor([n], "f32", c);
    const norms = ["sentence", "token", "channel", "none"] as const;
    const score = gpu.tensor([norms.length], "f32");
    gpu.run((rec) =>
      norms.forEach((norm, i) =>
        accumulateMetric(
          rec,
          metricRowStats(rec, ot, ct, { ...shape, norm }),
          { distance: "cos" },
          score,
          i,
        )
      )
    );
    const got = await score.read();
    norms.forEach((norm, i) => {
      assertClose([got[i]], [metricRef(o, c, shape, "cos", norm)], SCORE_TOL, `cos_${norm}`);
    });
  },
});
