/**
 * The GPU runtime: device acquisition and limits, the pipeline cache, the recorder, uniform
 * parameters, tensors, error reporting, f16 conversions and the CLI error path.
 */
import assert from "node:assert/strict";
import { createGpu } from "../../src/gpu/device.ts";
import { bf16BitsToF32, f16BitsToF32, f32ToF16Bits, fromF16, toF16 } from "../../src/gpu/f16.ts";
import { linearGrid, Params } from "../../src/gpu/recorder.ts";
import type { ShaderSource } from "../../src/gpu/shader.ts";
import { readTensors } from "../../src/gpu/tensor.ts";
import { runCli, ToolkitError } from "../../src/errors.ts";
import { GPU_TEST, testGpu } from "../util.ts";

const MiB = 1024 * 1024;

/** `x[i] += p.add` for i < p.n: params at binding 0, one storage buffer at binding 1. */
const ADD: ShaderSource = {
  name: "inline-add.wgsl",
  text: `
struct P { n: u32, add: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < p.n) { x[gid.x] += p.add; }
}`,
};

/** Copies the params struct bit for bit into a u32 buffer. */
const ECHO: ShaderSource = {
  name: "inline-echo.wgsl",
  text: `
struct P { a: u32, b: i32, c: f32, d: u32, e: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(1)
fn main() {
  out[0] = p.a; out[1] = bitcast<u32>(p.b); out[2] = bitcast<u32>(p.c);
  out[3] = p.d; out[4] = bitcast<u32>(p.e);
}`,
};

/** Writes each linear workgroup index (folded with linearGrid) to out[index]; no params. */
const GRID: ShaderSource = {
  name: "inline-grid.wgsl",
  text: `
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = wid.x + wid.y * nwg.x;
  if (i < arrayLength(&out)) { out[i] = i + 1u; }
}`,
};

Deno.test({
  name: "createGpu raises limits, reports caps and a description",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpu();
    const c = gpu.caps;
    assert.ok(
      c.maxStorageBindingSize >= 128 * MiB,
      `maxStorageBindingSize ${c.maxStorageBindingSize}`,
    );
    assert.ok(
      c.maxWorkgroupStorageSize >= 16 * 1024,
      `workgroup storage ${c.maxWorkgroupStorageSize}`,
    );
    assert.ok(c.maxBufferSize >= c.maxStorageBindingSize);
    assert.ok(c.maxInvocationsPerWorkgroup >= 256);
    assert.ok(c.maxWorkgroupsPerDimension >= 65535);
    assert.ok(c.maxStorageBuffersPerStage >= 8);
    const l = gpu.device.limits;
    assert.equal(c.maxStorageBindingSize, l.maxStorageBufferBindingSize);
    assert.equal(c.maxWorkgroupStorageSize, l.maxComputeWorkgroupStorageSize);
    assert.equal(c.f16, gpu.device.features.has("shader-f16"));
    assert.equal(c.timestamps, gpu.device.features.has("timestamp-query"));
    assert.equal(gpu.weightDType, c.f16 ? "f16" : "f32");
    assert.equal(typeof gpu.description, "string");
    assert.ok(gpu.description.trim().length > 0);
    assert.ok(!gpu.description.includes("\n"));
    if (Deno.env.get("DENO_WEBGPU_BACKEND") === "vulkan") {
      assert.ok(c.f16, "lavapipe (Vulkan) offers shader-f16");
    }
  },
});

Deno.test({
  name: "createGpu({ disableF16, disableTimestamps }) leaves the features off",
  ...GPU_TEST,
  async fn() {
    const gpu = await createGpu({ disableF16: true, disableTimestamps: true });
    try {
      assert.equal(gpu.caps.f16, false);
      assert.equal(gpu.caps.timestamps, false);
      assert.equal(gpu.weightDType, "f32");
      assert.ok(!gpu.device.features.has("shader-f16"));
    } finally {
      gpu.destroy();
    }
  },
});

Deno.test({
  name: "gpu.pipeline caches by source, defines and entry point",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpu();
    const before = gpu.pipelineCount;
    const a = gpu.pipeline(ADD, { WG: 64 });
    assert.equal(gpu.pipelineCount, before + 1);
    assert.equal(gpu.pipeline(ADD, { WG: 64 }), a);
    assert.equal(gpu.pipeline({ name: ADD.name, text: ADD.text }, { WG: 64 }), a, "keyed by name");
    assert.equal(gpu.pipelineCount, before + 1);
    const b = gpu.pipeline(ADD, { WG: 32 });
    assert.notEqual(b, a);
    assert.equal(gpu.pipelineCount, before + 2);
    await gpu.sync();
  },
});

Deno.test({
  name: "Recorder batches 300 dispatches with distinct params into one submit",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpu();
    const n = 1000;
    const init = Float32Array.from({ length: n }, (_, i) => i);
    const x = gpu.tensor([n], "f32", init);
    const pipe = gpu.pipeline(ADD, { WG: 64 });
    const queue = gpu.device.queue;
    const submit = queue.submit;
    let submits = 0;
    queue.submit = function (buffers: GPUCommandBuffer[]) {
      submits++;
      return submit.call(this, buffers);
    };
    let sum = 0;
    let dispatches = 0;
    try {
      dispatches = gpu.run((rec) => {
        // 300 × 256-byte aligned params span more than one 64 KiB uniform chunk.
        for (let i = 0; i < 300; i++) {
          const add = (i % 7) - 2.5;
          sum += add;
          rec.dispatch(pipe, [x], [Math.ceil(n / 64)], new Params().u32(n).f32(add));
        }
        return rec.dispatchCount;
      });
    } finally {
      queue.submit = submit;
    }
    assert.equal(dispatches, 300);
    assert.equal(submits, 1);
    const out = await x.read();
    for (let i = 0; i < n; i++) assert.equal(out[i], i + sum, `x[${i}]`);
    // A workgroup count of 0 records nothing.
    const rec = gpu.recorder();
    rec.dispatch(pipe, [x], [0], new Params().u32(n).f32(1));
    assert.equal(rec.dispatchCount, 0);
    rec.submit();
    assert.throws(() => rec.submit(), /already submitted/);
    assert.throws(() => rec.dispatch(pipe, [x], [1], new Params().u32(n).f32(1)), /already/);
    assert.throws(
      () => gpu.run((r) => r.dispatch(pipe, [x], [gpu.caps.maxWorkgroupsPerDimension + 1])),
      /exceeds/,
    );
    await gpu.sync();
  },
});

Deno.test("Params packs u32, i32 and f32 little-endian, padded to 16 bytes", () => {
  assert.equal(new Params().byteLength, 16);
  assert.equal(new Params().u32(1).byteLength, 16);
  assert.equal(new Params().u32(1).u32(2).u32(3).u32(4).byteLength, 16);
  assert.equal(new Params().u32(1).u32(2).u32(3).u32(4).u32(5).byteLength, 32);
  const p = new Params().u32(0xffffffff).i32(-7).f32(0.1).u32(0).f32(-2.5);
  const view = new DataView(new ArrayBuffer(64));
  p.writeTo(view, 16);
  assert.equal(view.getUint32(16, true), 0xffffffff);
  assert.equal(view.getInt32(20, true), -7);
  assert.equal(view.getFloat32(24, true), Math.fround(0.1));
  assert.equal(view.getUint32(28, true), 0);
  assert.equal(view.getFloat32(32, true), -2.5);
  assert.equal(view.getUint32(0, true), 0, "nothing written before the offset");
  assert.throws(() => new Params().u32(-1), /out of range/);
  assert.throws(() => new Params().u32(1.5), /out of range/);
  assert.throws(() => new Params().u32(2 ** 32), /out of range/);
});

Deno.test({
  name: "Params reach the shader at binding 0 bit for bit",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpu();
    const out = gpu.tensor([5], "u32");
    const p = new Params().u32(0xfffffffe).i32(-123456).f32(0.1).u32(42).f32(-1e-30);
    gpu.run((rec) => rec.dispatch(gpu.pipeline(ECHO), [out], [1], p));
    const view = new DataView(new ArrayBuffer(32));
    p.writeTo(view, 0);
    const got = await out.read();
    for (let i = 0; i < 5; i++) assert.equal(got[i], view.getUint32(4 * i, true), `field ${i}`);
  },
});

Deno.test("linearGrid folds counts above the per-dimension limit", () => {
  assert.deepEqual(linearGrid(1), [1, 1]);
  assert.deepEqual(linearGrid(65535), [65535, 1]);
  assert.deepEqual(linearGrid(65536), [32768, 2]);
  for (const count of [65536, 65537, 100_000, 131_071, 1_000_000, 65535 * 65535]) {
    const [x, y] = linearGrid(count);
    assert.ok(x <= 65535 && y <= 65535, `${count}: [${x}, ${y}] within limits`);
    assert.ok(x * y >= count, `${count}: [${x}, ${y}] covers the count`);
    assert.ok(x * (y - 1) < count, `${count}: no wholly empty row`);
  }
  assert.deepEqual(linearGrid(10, 4), [4, 3]);
});

Deno.test({
  name: "a folded linearGrid dispatch covers every linear index once",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpu();
    const count = 1000;
    const grid = linearGrid(count, 64); // folded at a small limit to keep the dispatch cheap
    assert.ok(grid[1] > 1);
    const out = gpu.tensor([count], "u32");
    gpu.run((rec) => rec.dispatch(gpu.pipeline(GRID), [out], grid));
    const got = await out.read();
    for (let i = 0; i < count; i++) assert.equal(got[i], i + 1, `index ${i}`);
  },
});

Deno.test({
  name: "tensors round trip f32, u32, i32 and f16 (odd lengths, raw bits, empty)",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpu();
    const f32 = new Float32Array([0, -0, 1.5, -3.25e-20, 3.4e38, Math.fround(Math.PI), 1e-45]);
    const u32 = new Uint32Array([0, 1, 0x7fffffff, 0x80000000, 0xffffffff]);
    const i32 = new Int32Array([0, -1, 2 ** 31 - 1, -(2 ** 31), 12345]);
    // f16-representable: max, min normal, min subnormal, negative, fractions.
    const f16 = new Float32Array([
      65504,
      2 ** -14,
      2 ** -24,
      -2,
      0.5,
      0.0999755859375,
      -0,
      1 / 1024,
    ]);
    const odd = new Float32Array([1, -1, 0.25]);
    const bits = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000]);
    const ts = [
      gpu.tensor([7], "f32", f32),
      gpu.tensor([5], "u32", u32),
      gpu.tensor([5], "i32", i32),
      gpu.tensor([2, 4], "f16", f16),
      gpu.tensor([3], "f16", odd),
      gpu.tensor([5], "f16", bits),
      gpu.tensor([0], "f32"),
    ];
    assert.equal(ts[4].buffer.size, 8, "odd f16 tensors are padded to 4 bytes");
    assert.equal(ts[4].byteLength, 6);
    assert.equal(ts[6].buffer.size, 4);
    const [a, b, c, d, e, f, g] = await readTensors(gpu, ts);
    assert.ok(a instanceof Float32Array && b instanceof Uint32Array && c instanceof Int32Array);
    assert.deepEqual(Array.from(a), Array.from(f32));
    assert.ok(Object.is(a[1], -0));
    assert.deepEqual(Array.from(b), Array.from(u32));
    assert.deepEqual(Array.from(c), Array.from(i32));
    assert.ok(d instanceof Float32Array);
    assert.deepEqual(Array.from(d), Array.from(f16));
    assert.ok(Object.is(d[6], -0));
    assert.deepEqual(Array.from(e), Array.from(odd));
    assert.deepEqual(Array.from(f), [1, -2, 65504, 2 ** -24, -0]);
    assert.equal(g.length, 0);
    // A rewrite of an odd-length f16 tensor, and a single read.
    ts[4].write(new Float32Array([7, 8, 9]));
    assert.deepEqual(Array.from(await ts[4].read()), [7, 8, 9]);
    assert.throws(() => ts[0].write(new Float32Array(6)), /24 bytes given .*\(28 expected\)/);
    assert.throws(() => gpu.tensor([2, -1], "f32"), /invalid tensor shape/);
    assert.throws(() => gpu.tensor([1.5], "f32"), /invalid tensor shape/);
    for (const t of ts) t.destroy();
  },
});

Deno.test({
  name: "a tensor over the storage binding limit throws ToolkitError",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpu();
    const limit = gpu.caps.maxStorageBindingSize;
    assert.throws(
      () => gpu.tensor([limit / 4 + 1], "f32"),
      (e: unknown) =>
        e instanceof ToolkitError && e.exitCode === 2 && /storage binding limit/.test(e.message),
    );
    assert.throws(() => gpu.tensor([limit / 2 + 2], "f16"), ToolkitError);
  },
});

Deno.test({
  name: "WebGPU validation errors surface from gpu.sync() and tensor.read()",
  ...GPU_TEST,
  async fn() {
    // A device of its own, so that a late error cannot leak into other tests.
    const gpu = await createGpu();
    try {
      const x = gpu.tensor([4], "f32");
      const pipe = gpu.pipeline(ADD, { WG: 64 });
      // Missing the params binding: the storage buffer lands at binding 0 (a uniform slot).
      gpu.run((rec) => rec.dispatch(pipe, [x], [1]));
      await assert.rejects(gpu.sync(), /WebGPU error/);
      await gpu.sync(); // errors are cleared once thrown
      gpu.run((rec) => rec.dispatch(pipe, [x, x], [1], new Params().u32(4).f32(1)));
      await assert.rejects(x.read(), /WebGPU error/);
      // The device stays usable.
      gpu.run((rec) => rec.dispatch(pipe, [x], [1], new Params().u32(4).f32(2)));
      assert.deepEqual(Array.from(await x.read()), [2, 2, 2, 2]);
    } finally {
      gpu.destroy();
    }
  },
});

/** Runs `code` as a module in a fresh Deno process. */
async function runScript(
  code: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "sprint-wgpu-test-" });
  try {
    const file = `${dir}/main.ts`;
    await Deno.writeTextFile(file, code);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--allow-all", file],
      env: { NO_COLOR: "1", ...env },
      cwd: dir,
      stdin: "null",
      signal: AbortSignal.timeout(120_000),
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const moduleUrl = (path: string) => new URL(path, import.meta.url).href;

Deno.test({
  name: "no adapter: a CLI exits 2 with a one-line message and no stack trace",
  ...GPU_TEST,
  async fn() {
    // A back end this OS does not have yields no adapter.
    const backend = Deno.build.os === "windows" ? "metal" : "dx12";
    const r = await runScript(
      `import { runCli } from "${moduleUrl("../../src/errors.ts")}";
import { createGpu } from "${moduleUrl("../../src/gpu/device.ts")}";
await runCli(async () => { await createGpu(); console.log("got a device"); });`,
      { DENO_WEBGPU_BACKEND: backend },
    );
    assert.equal(r.code, 2, `exit code (stdout ${r.stdout}, stderr ${r.stderr})`);
    assert.equal(r.stdout, "");
    const err = r.stderr.trim();
    assert.equal(err.split("\n").length, 1, `one line: ${err}`);
    assert.match(
      err,
      new RegExp(`^error: no WebGPU adapter found for DENO_WEBGPU_BACKEND=${backend}`),
    );
    assert.doesNotMatch(err, /\bat |Stack|\.ts:\d+/);
  },
});

Deno.test("ToolkitError carries an exit code (default 2)", () => {
  const e = new ToolkitError("config.json: field x is missing");
  assert.ok(e instanceof Error);
  assert.equal(e.name, "ToolkitError");
  assert.equal(e.exitCode, 2);
  assert.equal(new ToolkitError("m", 3).exitCode, 3);
});

Deno.test("runCli resolves on success and rethrows other errors unchanged", async () => {
  let ran = false;
  await runCli(async () => {
    await Promise.resolve();
    ran = true;
  });
  assert.ok(ran);
  const bug = new TypeError("a bug");
  await assert.rejects(runCli(() => Promise.reject(bug)), (e: unknown) => e === bug);
});

Deno.test({
  name: "runCli: ToolkitError → one stderr line and its exit code; a bug keeps its stack",
  ...GPU_TEST,
  async fn() {
    const head = `import { runCli, ToolkitError } from "${moduleUrl("../../src/errors.ts")}";\n`;
    const custom = await runScript(
      head + `await runCli(async () => { throw new ToolkitError("data.json: bad field", 3); });`,
    );
    assert.equal(custom.code, 3);
    assert.equal(custom.stderr, "error: data.json: bad field\n");
    const plain = await runScript(
      head + `await runCli(async () => { throw new ToolkitError("x: y"); });`,
    );
    assert.equal(plain.code, 2);
    assert.equal(plain.stderr, "error: x: y\n");
    const bug = await runScript(
      head + `await runCli(async () => { throw new RangeError("oops"); });`,
    );
    assert.equal(bug.code, 1);
    assert.match(bug.stderr, /RangeError: oops/);
    assert.match(bug.stderr, /main\.ts:\d+/, "a bug keeps its stack trace");
    const ok = await runScript(head + `await runCli(async () => { console.log("done"); });`);
    assert.equal(ok.code, 0);
    assert.equal(ok.stdout, "done\n");
  },
});

Deno.test("f16 conversions agree with Float16Array on every f16 value", () => {
  const bits = new Uint16Array(65536).map((_, i) => i);
  const ref = new Float16Array(bits.buffer);
  const got = fromF16(bits);
  for (let h = 0; h < 65536; h++) {
    const r = ref[h];
    if (Number.isNaN(r)) assert.ok(Number.isNaN(got[h]), `bits ${h} → NaN`);
    else assert.ok(Object.is(got[h], r), `bits ${h}: ${got[h]} vs ${r}`);
    // Every f16 value converts back to its own bits (NaN keeps being a NaN).
    if (!Number.isNaN(r)) assert.equal(f32ToF16Bits(r), h, `round trip of bits ${h}`);
  }
});

Deno.test("f32ToF16Bits rounds like Float16Array (ties to even, subnormals, overflow)", () => {
  const ref = new Float16Array(1);
  const refBits = new Uint16Array(ref.buffer);
  const check = (v: number) => {
    ref[0] = Math.fround(v);
    const want = refBits[0];
    const got = f32ToF16Bits(v);
    if (Number.isNaN(v)) {
      assert.equal(got & 0x7c00, 0x7c00, "NaN exponent");
      assert.notEqual(got & 0x3ff, 0, "NaN mantissa");
    } else assert.equal(got, want, `${v}: 0x${got.toString(16)} vs 0x${want.toString(16)}`);
  };
  // Hand-picked cases.
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00, "tie rounds to even (down)");
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02, "tie rounds to even (up)");
  assert.equal(f32ToF16Bits(2 ** -24), 0x0001, "smallest subnormal");
  assert.equal(f32ToF16Bits(2 ** -25), 0x0000, "half the smallest subnormal ties to zero");
  assert.equal(f32ToF16Bits(3 * 2 ** -25), 0x0002, "1.5 ulp subnormal ties to even");
  assert.equal(f32ToF16Bits(2 ** -14 - 2 ** -25), 0x0400, "rounds up into the normals");
  assert.equal(f32ToF16Bits(65504), 0x7bff);
  assert.equal(f32ToF16Bits(65519), 0x7bff);
  assert.equal(f32ToF16Bits(65520), 0x7c00, "overflow to inf");
  assert.equal(f32ToF16Bits(-1e10), 0xfc00);
  assert.equal(f32ToF16Bits(Infinity), 0x7c00);
  assert.equal(f32ToF16Bits(-Infinity), 0xfc00);
  assert.equal(f32ToF16Bits(-0), 0x8000);
  assert.equal(f32ToF16Bits(-1e-10), 0x8000, "underflow keeps the sign");
  for (const v of [0, 1, -1, 0.1, 1 / 3, 2 ** -24, 65519.99, NaN, -NaN, 1e-8, 6e-8, 3e-8]) check(v);
  // Midpoints and neighbours of consecutive f16 values, and random f32 bit patterns.
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let h = 0; h < 0x7bff; h++) {
    const lo = f16BitsToF32(h);
    const hi = f16BitsToF32(h + 1);
    const mid = (lo + hi) / 2;
    check(mid); // exactly representable in f32: 12 significant bits
    check(-mid);
    f[0] = mid;
    u[0] += 1;
    check(f[0]);
    u[0] -= 2;
    check(f[0]);
  }
  let s = 12345;
  for (let i = 0; i < 100_000; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    u[0] = s;
    check(f[0]);
  }
});

Deno.test("toF16 / fromF16 / bf16BitsToF32 convert arrays and bfloat16", () => {
  assert.deepEqual(Array.from(toF16([1, 0.5, -2, 65504])), [0x3c00, 0x3800, 0xc000, 0x7bff]);
  assert.deepEqual(Array.from(fromF16([0x3c00, 0x3800, 0xc000, 0x7bff])), [1, 0.5, -2, 65504]);
  assert.equal(bf16BitsToF32(0x3f80), 1);
  assert.equal(bf16BitsToF32(0xc000), -2);
  assert.equal(bf16BitsToF32(0x7f80), Infinity);
  assert.ok(Number.isNaN(bf16BitsToF32(0x7fc0)));
  assert.equal(bf16BitsToF32(0x3e80), 0.25);
});
