import {
  choleskySolve,
  CholeskyWorkspace,
  decodeSolveStatus,
  DEFAULT_JITTER,
  SOLVE_BLOCK,
  type SolveStatus,
} from "../../src/kernels/cholesky.ts";
import { gramAccumulate } from "../../src/kernels/gram.ts";
import type { Gpu } from "../../src/gpu/device.ts";
import { gramRef } from "../../ref/gram.ts";
import {
  condSpd,
  lsqObjective,
  norm,
  relativeResidual,
  shiftRef,
  solveHostF64,
} from "../../ref/cholesky.ts";
import { assertClose, assertThrows, GPU_TEST, randn, testGpuF32 } from "../util.ts";

// Tolerances, relative to the condition number κ of G + shift·I (f32: ε ≈ 6e-8 per rounding):
// - the normal-equation residual ‖(G + shift·I)·X − H‖ / ‖H‖ ≤ 1e-4 for κ ≤ 1e3 (backward
//   stability makes it ≈ ε·√F·κ-independent small; seen ≤ 6e-6 at F = 300);
// - X itself, elementwise, within rtol 1e-3 and atol 1e-3·rms(X_ref) of the f64 solution when
//   κ ≤ 1e3 (the forward error is ≈ κ·√F·ε ≤ 1e-3; seen ≤ 6e-4 at F = 300, κ ≈ 400).
const RESIDUAL_TOL = 1e-4;
const X_RTOL = 1e-3;

/** G = AᵀA + I for A [f, f] uniform in [−1, 1]: SPD, κ ≈ 4f/3. */
function spd(f: number, seed: number): Float32Array<ArrayBuffer> {
  const a = randn(f * f, seed);
  const g = new Float32Array(f * f);
  for (let i = 0; i < f; i++) {
    for (let j = 0; j <= i; j++) {
      let s = i === j ? 1 : 0;
      for (let k = 0; k < f; k++) s += a[k * f + i] * a[k * f + j];
      g[i * f + j] = s;
      g[j * f + i] = s;
    }
  }
  return g;
}

function rms(v: ArrayLike<number>): number {
  return norm(v) / Math.sqrt(v.length);
}

async function solveOnGpu(
  gpu: Gpu,
  g: Float32Array,
  h: Float32Array,
  f: number,
  n: number,
  options: { damping?: number; jitter?: number } = {},
): Promise<{ x: Float32Array; st: SolveStatus }> {
  const gt = gpu.tensor([f, f], "f32", g);
  const ht = gpu.tensor([f, n], "f32", h);
  const r = gpu.run((rec) => choleskySolve(rec, gt, ht, options));
  const x = (await r.x.read()) as Float32Array;
  const st = decodeSolveStatus(await r.status.read());
  for (const t of [gt, ht, r.x, r.status]) t.destroy();
  r.workspace.destroy();
  return { x, st };
}

/** Checks X against the f64 solution of (G + shift·I)·X = H at the tolerances above. */
function assertSolution(
  x: Float32Array,
  g: ArrayLike<number>,
  h: ArrayLike<number>,
  f: number,
  n: number,
  shift: number,
  label: string,
): void {
  const kappa = condSpd(g, f, shift);
  if (kappa > 1e3) throw new Error(`${label}: test matrix has κ = ${kappa}, above 1e3`);
  const res = relativeResidual(g, x, h, f, n, shift);
  if (!(res <= RESIDUAL_TOL)) throw new Error(`${label}: residual ${res} > ${RESIDUAL_TOL}`);
  const ref = solveHostF64(g, h, f, n, shift);
  assertClose(
    x,
    ref,
    { atol: X_RTOL * rms(ref), rtol: X_RTOL },
    `${label} (κ ${kappa.toFixed(0)})`,
  );
}

// [F, N]: one unknown, sizes below, at and above the block size 64 (a partial last block, the
// unpadded path at F = 64 with N % 4 == 0), N of 1, 7 (padded to 8) and 64.
const SPD_CASES: [number, number][] = [
  [1, 1],
  [3, 7],
  [31, 64],
  [64, 1],
  [64, 64],
  [172, 7],
  [300, 64],
];

Deno.test({
  name: "choleskySolve vs f64 on random SPD systems G = AᵀA + I",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const [f, n] of SPD_CASES) {
      await t.step(`F=${f} N=${n}`, async () => {
        const g = spd(f, 100 + f);
        const h = randn(f * n, 200 + n, 3);
        const { x, st } = await solveOnGpu(gpu, g, h, f, n);
        if (st.flags !== 0) throw new Error(`status ${JSON.stringify(st)}`);
        const shift = shiftRef(g, f, 0, DEFAULT_JITTER);
        if (Math.abs(st.shift - shift) > 1e-5 * shift) {
          throw new Error(`shift ${st.shift} vs ${shift}`);
        }
        assertSolution(x, g, h, f, n, shift, `F=${f} N=${n}`);
      });
    }
  },
});

Deno.test({
  name: "choleskySolve on a Gram matrix accumulated by gramAccumulate (the re-fit), with damping",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    const [m, f, n] = [1500, 172, 16];
    const x = randn(m * f, 300);
    const w = randn(f * n, 301, 0.5);
    const z = new Float32Array(m * n);
    const noise = randn(m * n, 302, 0.1);
    for (let r = 0; r < m; r++) {
      for (let j = 0; j < n; j++) {
        let s = noise[r * n + j];
        for (let k = 0; k < f; k++) s += x[r * f + k] * w[k * n + j];
        z[r * n + j] = s;
      }
    }
    const xt = gpu.tensor([m, f], "f32", x);
    const zt = gpu.tensor([m, n], "f32", z);
    const g = gpu.tensor([f, f], "f32");
    const h = gpu.tensor([f, n], "f32");
    const gCopy = gpu.tensor([f, f], "f32");
    const hCopy = gpu.tensor([f, n], "f32");
    const ws = new CholeskyWorkspace(gpu, f, n);
    const [plain, damped] = gpu.run((rec) => {
      gramAccumulate(rec, xt, xt, g);
      gramAccumulate(rec, xt, zt, h);
      gramAccumulate(rec, xt, xt, gCopy); // the same sums, bit for bit
      gramAccumulate(rec, xt, zt, hCopy);
      return [
        choleskySolve(rec, g, h, { workspace: ws }),
        choleskySolve(rec, g, h, { workspace: ws, damping: 50, out: gpu.tensor([f, n], "f32") }),
      ];
    });
    // The f64 references start from the exact moments of the data.
    const gRef = gramRef(x, x, m, f, f).g;
    const hRef = gramRef(x, z, m, f, n).g;
    await t.step("no damping: X ≈ the f64 least-squares solution ≈ W", async () => {
      const st = decodeSolveStatus(await plain.status.read());
      if (st.flags !== 0) throw new Error(`status ${JSON.stringify(st)}`);
      const got = (await plain.x.read()) as Float32Array;
      assertSolution(got, gRef, hRef, f, n, shiftRef(gRef, f, 0, DEFAULT_JITTER), "gram");
      assertClose(got, w, { atol: 0.02, rtol: 0 }, "recovers W"); // noise 0.1·U, M/F ≈ 9
    });
    await t.step("damping 50: (G + 50·I)·X = H", async () => {
      const st = decodeSolveStatus(await damped.status.read());
      const shift = shiftRef(gRef, f, 50, DEFAULT_JITTER);
      if (st.flags !== 0 || Math.abs(st.shift - shift) > 1e-5 * shift) {
        throw new Error(`status ${JSON.stringify(st)}, shift ${shift}`);
      }
      assertSolution((await damped.x.read()) as Float32Array, gRef, hRef, f, n, shift, "damped");
    });
    await t.step("G and H are unchanged", async () => {
      assertClose(await g.read(), await gCopy.read(), { atol: 0, rtol: 0 }, "G");
      assertClose(await h.read(), await hCopy.read(), { atol: 0, rtol: 0 }, "H");
    });
    ws.destroy();
  },
});

Deno.test({
  name: "choleskySolve on singular Gram matrices: a dead channel, duplicated / collinear channels",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    const [m, f, n] = [1200, 100, 5];
    const x = randn(m * f, 400);
    const dead = 3;
    const copies: [number, number, number][] = [[10, 0, 1], [11, 1, 1], [f - 1, 7, 1], [20, 5, 2]];
    for (let r = 0; r < m; r++) {
      x[r * f + dead] = 0;
      for (const [d, s, c] of copies) x[r * f + d] = c * x[r * f + s];
    }
    const z = randn(m * n, 401);
    const keep = [...Array(f).keys()].filter((k) => k !== dead && !copies.some(([d]) => d === k));
    const sub = (cols: number[]) => {
      const out = new Float32Array(m * cols.length);
      for (let r = 0; r < m; r++) cols.forEach((k, i) => (out[r * cols.length + i] = x[r * f + k]));
      return out;
    };

    await t.step(
      "dead channel only: no flags, its row of X is 0, X = the f64 ridge solution",
      async () => {
        // Columns without the copies: G + shift·I is well conditioned except the dead channel,
        // whose pivot is the shift itself.
        const cols = [...Array(f).keys()].filter((k) => !copies.some(([d]) => d === k));
        const fx = cols.length;
        const xs = sub(cols);
        const g = Float32Array.from(gramRef(xs, xs, m, fx, fx).g);
        const h = Float32Array.from(gramRef(xs, z, m, fx, n).g);
        const { x: got, st } = await solveOnGpu(gpu, g, h, fx, n);
        if (st.flags !== 0) throw new Error(`status ${JSON.stringify(st)}`);
        for (let j = 0; j < n; j++) {
          if (got[dead * n + j] !== 0) throw new Error(`dead row: ${got[dead * n + j]}`);
        }
        const shift = shiftRef(g, fx, 0, DEFAULT_JITTER);
        const res = relativeResidual(g, got, h, fx, n, shift);
        if (!(res <= RESIDUAL_TOL)) throw new Error(`residual ${res}`);
        const ref = solveHostF64(g, h, fx, n, shift);
        assertClose(got, ref, { atol: X_RTOL * rms(ref), rtol: X_RTOL }, "ridge");
      },
    );

    await t.step("duplicates: CLAMPED, not failed, finite, least-squares optimal", async () => {
      // Asserted: the CLAMPED flag (a duplicate's pivot is ≈ 2·shift ≪ pivotTol·a_j), no
      // INDEFINITE / NONFINITE, a finite X, and ‖x·X − z‖² within 1e-6 relative of the optimum
      // (from the independent columns in f64). Not asserted: which pivots or how many are
      // clamped, or NONPOSITIVE (a duplicate's pivot is rounding noise around 2·shift).
      const xt = gpu.tensor([m, f], "f32", x);
      const zt = gpu.tensor([m, n], "f32", z);
      const g = gpu.tensor([f, f], "f32");
      const h = gpu.tensor([f, n], "f32");
      const r = gpu.run((rec) => {
        gramAccumulate(rec, xt, xt, g);
        gramAccumulate(rec, xt, zt, h);
        return choleskySolve(rec, g, h);
      });
      const st = decodeSolveStatus(await r.status.read());
      const got = await r.x.read();
      if (!st.clamped || st.failed || st.clampedCount < 1) {
        throw new Error(`status ${JSON.stringify(st)}`);
      }
      if (!got.every(Number.isFinite)) throw new Error("non-finite X");
      const xk = sub(keep);
      const fk = keep.length;
      const wk = solveHostF64(gramRef(xk, xk, m, fk, fk).g, gramRef(xk, z, m, fk, n).g, fk, n, 0);
      const opt = lsqObjective(xk, wk, z, m, fk, n);
      const obj = lsqObjective(x, got, z, m, f, n);
      if (!(obj - opt <= 1e-6 * opt)) throw new Error(`objective ${obj} vs optimum ${opt}`);
      for (let j = 0; j < n; j++) {
        if (got[dead * n + j] !== 0) throw new Error(`dead row: ${got[dead * n + j]}`);
      }
      for (const tt of [xt, zt, g, h, r.x, r.status]) tt.destroy();
      r.workspace.destroy();
    });
  },
});

Deno.test({
  name: "choleskySolve flags indefinite and non-finite systems",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    await t.step("2×2 [[1, 2], [2, 1]]: INDEFINITE at pivot 1", async () => {
      const { st, x } = await solveOnGpu(
        gpu,
        new Float32Array([1, 2, 2, 1]),
        new Float32Array([1, 1]),
        2,
        1,
      );
      if (!st.indefinite || !st.nonPositive || !st.clamped || !st.failed || st.firstClamped !== 1) {
        throw new Error(`status ${JSON.stringify(st)}`);
      }
      if (!x.every(Number.isFinite)) throw new Error("clamping should keep X finite");
    });
    await t.step("F=100: AᵀA + I − 2·λmax·uuᵀ (one eigenvalue ≈ −λmax)", async () => {
      const f = 100;
      const g = spd(f, 500);
      const u = randn(f, 501);
      const un = norm(u);
      let c = 0; // 2 × the largest absolute row sum ≥ 2·λmax (Gershgorin)
      for (let i = 0; i < f; i++) {
        let s = 0;
        for (let j = 0; j < f; j++) s += Math.abs(g[i * f + j]);
        c = Math.max(c, 2 * s);
      }
      for (let i = 0; i < f; i++) {
        for (let j = 0; j < f; j++) g[i * f + j] -= (c * u[i] * u[j]) / (un * un);
      }
      const { st } = await solveOnGpu(gpu, g, randn(f * 3, 502), f, 3);
      if (!st.indefinite || !st.failed) throw new Error(`status ${JSON.stringify(st)}`);
    });
    await t.step("NaN on the diagonal of G, Inf in H: NONFINITE", async () => {
      const g = spd(10, 503);
      g[4 * 10 + 4] = NaN;
      const a = await solveOnGpu(gpu, g, randn(10 * 2, 504), 10, 2);
      if (!a.st.nonFinite || !a.st.failed) throw new Error(`NaN G: ${JSON.stringify(a.st)}`);
      const h = randn(10 * 2, 505);
      h[7] = Infinity;
      const b = await solveOnGpu(gpu, spd(10, 506), h, 10, 2);
      if (!b.st.nonFinite || !b.st.failed) throw new Error(`Inf H: ${JSON.stringify(b.st)}`);
    });
  },
});

Deno.test({
  name: "choleskySolve reuses a workspace and caller tensors; rejects bad arguments",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const f = SOLVE_BLOCK + 5;
    const ws = new CholeskyWorkspace(gpu, f, 8);
    const systems = [0, 1].map((s) => ({ g: spd(f - s * 30, 600 + s), n: 8 - s * 5 }));
    const results = gpu.run((rec) =>
      systems.map(({ g, n }) => {
        const ff = Math.sqrt(g.length);
        const gt = gpu.tensor([ff, ff], "f32", g);
        const ht = gpu.tensor([ff, n], "f32", randn(ff * n, 700 + n));
        return { gt, ht, ...choleskySolve(rec, gt, ht, { workspace: ws }) };
      })
    );
    for (const r of results) {
      const ff = r.gt.shape[0];
      const n = r.ht.shape[1];
      const st = decodeSolveStatus(await r.status.read());
      if (st.flags !== 0 || r.workspace !== ws) throw new Error(`status ${JSON.stringify(st)}`);
      const g = await r.gt.read();
      assertSolution(
        (await r.x.read()) as Float32Array,
        g,
        await r.ht.read(),
        ff,
        n,
        shiftRef(g, ff, 0, DEFAULT_JITTER),
        `F=${ff} N=${n} shared workspace`,
      );
    }
    const rec = gpu.recorder();
    const g = gpu.tensor([4, 4], "f32");
    const h = gpu.tensor([4, 2], "f32");
    assertThrows(() => choleskySolve(rec, gpu.tensor([4, 3], "f32"), h), "square");
    assertThrows(() => choleskySolve(rec, g, gpu.tensor([3, 2], "f32")), "h must be f32 [4, N]");
    assertThrows(() => choleskySolve(rec, g, h, { damping: -1 }), "damping");
    assertThrows(() => choleskySolve(rec, g, h, { out: gpu.tensor([4, 3], "f32") }), "out must be");
    assertThrows(() => choleskySolve(rec, g, h, { out: h }), "must not share");
    assertThrows(() => choleskySolve(rec, g, h, { status: gpu.tensor([4], "f32") }), "status");
    assertThrows(
      () => choleskySolve(rec, g, gpu.tensor([4, 9], "f32"), { workspace: ws }),
      "workspace serves",
    );
    rec.submit();
    await gpu.sync();
    ws.destroy();
  },
});
