/** Shared test helpers: a seeded generator, closeness assertions and the test device. */
import { createGpu, type Gpu } from "../src/gpu/device.ts";
import { fromF16, toF16 } from "../src/gpu/f16.ts";

/** Deterministic uniform generator in [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` values uniform in [-scale, scale). */
export function randn(n: number, seed: number, scale = 1): Float32Array<ArrayBuffer> {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

/** Values rounded through f16 (what an f16 upload stores). */
export function roundF16(v: Float32Array): Float32Array<ArrayBuffer> {
  return fromF16(toF16(v));
}

/** f32 tolerance of the kernel tests: |gpu − ref| ≤ atol + rtol·|ref|. */
export const F32_TOL = { atol: 1e-5, rtol: 1e-4 } as const;

/**
 * Asserts `|actual − expected| ≤ atol + rtol·|expected|` elementwise, with the worst offender in
 * the message.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { atol: number; rtol: number } = F32_TOL,
  label = "",
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${label} length ${actual.length} != ${expected.length}`);
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (a === e) continue; // also equal infinities
    const bound = tol.atol + tol.rtol * Math.abs(e);
    const d = Math.abs(a - e);
    if (!(d <= bound)) {
      const excess = Number.isNaN(d) ? Infinity : d / bound;
      if (excess > worstExcess || worst < 0) {
        worst = i;
        worstExcess = excess;
      }
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${label} mismatch at ${worst}: gpu ${actual[worst]} vs ref ${expected[worst]}` +
        ` (atol ${tol.atol}, rtol ${tol.rtol}, ${worstExcess.toFixed(1)}× over)`,
    );
  }
}

let shared: Promise<Gpu> | undefined;
let sharedF32: Promise<Gpu> | undefined;

/** The device for tests (f16 and timestamps when the adapter has them). */
export function testGpu(): Promise<Gpu> {
  return (shared ??= createGpu());
}

/** A device with f16 disabled, to test the f32 weight path on any adapter. */
export function testGpuF32(): Promise<Gpu> {
  return (sharedF32 ??= createGpu({ disableF16: true }));
}

/** Deno.test options for GPU tests (WebGPU handles outlive a single test by design). */
export const GPU_TEST = { sanitizeResources: false, sanitizeOps: false } as const;

/** Asserts that `fn` throws an Error whose message contains `part`. */
export function assertThrows(fn: () => unknown, part: string): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof Error && e.message.includes(part)) return;
    throw new Error(`expected an error containing "${part}", got ${e}`);
  }
  throw new Error(`expected an error containing "${part}", nothing was thrown`);
}
