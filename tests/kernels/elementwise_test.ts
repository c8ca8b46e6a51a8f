import { add, addInto, swiglu } from "../../src/kernels/elementwise.ts";
import { addRef, swigluRef } from "../../ref/elementwise.ts";
import { assertClose, assertThrows, GPU_TEST, randn, testGpuF32 } from "../util.ts";

// [M, F]: sizes not multiples of 4 or of the 256-wide workgroup, single elements, many rows.
const SHAPES: [number, number][] = [[1, 1], [1, 3], [1, 7], [3, 33], [2, 257], [1, 1000], [
  7,
  1001,
]];

Deno.test({
  name: "swiglu and add, odd shapes",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const [m, f] of SHAPES) {
      await t.step(`M=${m} F=${f}`, async () => {
        const g = randn(m * f, 1 + f, 8);
        const u = randn(m * f, 2 + f, 2);
        const gt = gpu.tensor([m, f], "f32", g);
        const ut = gpu.tensor([m, f], "f32", u);
        const [s, a] = gpu.run((rec) => [swiglu(rec, gt, ut), add(rec, gt, ut)]);
        assertClose(await s.read(), swigluRef(g, u), undefined, "swiglu");
        assertClose(await a.read(), addRef(g, u), undefined, "add");
      });
    }
  },
});

Deno.test({
  name: "swiglu is stable for large |gate| (vec4 and scalar paths)",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const all = new Float32Array([
      ...[0, -0.5, 0.5, 20, -20, 88, -88, 89, -89, 100, -100, 1e4, -1e4, 1e38, -1e38, 1e-30],
    ]);
    for (const g of [all, all.subarray(0, 15)]) {
      const u = new Float32Array(g.length).fill(1.5);
      const y = await gpu.run((rec) =>
        swiglu(rec, gpu.tensor([g.length], "f32", g), gpu.tensor([g.length], "f32", u))
      ).read();
      for (const v of y) if (!Number.isFinite(v)) throw new Error(`non-finite swiglu: ${y}`);
      assertClose(y, swigluRef(g, u), undefined, `extremes, n=${g.length}`);
    }
  },
});

Deno.test({
  name: "in place: addInto, add and swiglu into either operand (vec4 and scalar paths)",
  ...GPU_TEST,
  async fn(t) {
    const gpu = await testGpuF32();
    for (const n of [1000, 1001]) {
      await t.step(`n=${n}`, async () => {
        const a = randn(n, 11 + n, 3);
        const b = randn(n, 12 + n, 3);
        const t = (v: Float32Array) => gpu.tensor([n], "f32", v);
        const [acc, outA, outB, gate, up] = [t(a), t(a), t(b), t(a), t(b)];
        gpu.run((rec) => {
          addInto(rec, acc, t(b));
          add(rec, outA, t(b), { out: outA });
          add(rec, t(a), outB, { out: outB });
          swiglu(rec, gate, t(b), { out: gate });
          swiglu(rec, t(a), up, { out: up });
        });
        const sum = addRef(a, b);
        assertClose(await acc.read(), sum, undefined, "addInto");
        assertClose(await outA.read(), sum, undefined, "add into a");
        assertClose(await outB.read(), sum, undefined, "add into b");
        assertClose(await gate.read(), swigluRef(a, b), undefined, "swiglu into gate");
        assertClose(await up.read(), swigluRef(a, b), undefined, "swiglu into up");
        // a + a with a separate output binds one buffer twice read-only, which is allowed.
        const x = t(a);
        const doubled = gpu.run((rec) => add(rec, x, x));
        assertClose(await doubled.read(), addRef(a, a), undefined, "a + a");
      });
    }
  },
});

Deno.test({
  name:
    "swiglu over 2^24 + 3 elements (scalar: dispatch folded in two dimensions), addInto 2^24 + 4",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const n = (1 << 24) + 4;
    const a = randn(n, 31, 4);
    const b = randn(n, 32, 4);
    // 2^24 + 3 scalar elements need 65,537 workgroups of 256: more than one dimension holds.
    const [a3, b3] = [a.subarray(0, n - 1), b.subarray(0, n - 1)];
    const s = gpu.run((rec) =>
      swiglu(rec, gpu.tensor([n - 1], "f32", a3), gpu.tensor([n - 1], "f32", b3))
    );
    assertClose(await s.read(), swigluRef(a3, b3), undefined, "swiglu 2^24+3");
    s.destroy();
    const at = gpu.tensor([n], "f32", a);
    gpu.run((rec) => addInto(rec, at, gpu.tensor([n], "f32", b)));
    assertClose(await at.read(), addRef(a, b), undefined, "addInto 2^24+4");
    at.destroy();
  },
});

Deno.test({
  name: "elementwise rejects mismatched shapes, dtypes and aliasing",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const a = gpu.tensor([2, 3], "f32");
    gpu.run((rec) => {
      assertThrows(() => add(rec, a, gpu.tensor([3, 2], "f32")), "same shape");
      assertThrows(() => swiglu(rec, a, gpu.tensor([2, 3], "u32")), "must be f32");
      assertThrows(() => add(rec, a, a, { out: gpu.tensor([6], "f32") }), "out must be");
      assertThrows(() => addInto(rec, a, a), "different tensor");
      assertThrows(() => add(rec, a, a, { out: a }), "both operands");
    });
    await gpu.sync();
  },
});

Deno.test({
  name: "sub: out-of-place and in place into either operand, odd shapes",
  ...GPU_TEST,
  async fn() {
    const { sub } = await import("../../src/kernels/elementwise.ts");
    const { subRef } = await import("../../ref/elementwise.ts");
    const gpu = await testGpuF32();
    for (const [m, f] of [[1, 1], [3, 33], [7, 1001], [4, 64]]) {
      const a = randn(m * f, 31 + f, 3);
      const b = randn(m * f, 32 + f, 3);
      const ta = gpu.tensor([m, f], "f32", a);
      const tb = gpu.tensor([m, f], "f32", b);
      const out = gpu.run((rec) => sub(rec, ta, tb));
      assertClose(await out.read(), subRef(a, b), undefined, `sub ${m}x${f}`);
      gpu.run((rec) => sub(rec, ta, tb, { out: tb })); // b ← a − b
      assertClose(await tb.read(), subRef(a, b), undefined, `sub into b ${m}x${f}`);
      gpu.run((rec) => sub(rec, ta, tb, { out: ta })); // a ← a − (a − b) = b
      assertClose(await ta.read(), subRef(a, subRef(a, b)), undefined, `sub into a ${m}x${f}`);
    }
  },
});

Deno.test({
  name: "scale: out of place and in place, vec4 and scalar sizes",
  ...GPU_TEST,
  async fn() {
    const { scale } = await import("../../src/kernels/elementwise.ts");
    const gpu = await testGpuF32();
    for (const n of [1, 3, 8, 1001]) {
      const x = randn(n, 70 + n, 2);
      const t = gpu.tensor([n], "f32", x);
      const y = gpu.run((rec) => scale(rec, t, -1.5));
      assertClose(await y.read(), Array.from(x, (v) => -1.5 * v), undefined, `scale ${n}`);
      gpu.run((rec) => scale(rec, t, 0.25, { out: t }));
      assertClose(await t.read(), Array.from(x, (v) => 0.25 * v), undefined, `scale in place ${n}`);
    }
  },
});
