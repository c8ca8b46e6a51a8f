/**
 * Output checks for benchmarks: compare a GPU result with an f64 reference on sampled rows.
 *
 * @module
 */

/** Deterministic uniform values in [-scale, scale) (xorshift; benchmarks only need variety). */
export function benchData(n: number, seed: number, scale = 1): Float32Array<ArrayBuffer> {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** Evenly spread sample of `count` indices in [0, n) (always includes the first and last). */
export function sampleRows(n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.round((i * (n - 1)) / (count - 1)));
}

/** Throws when `|a − e| > atol + rtol·|e|` anywhere, naming the case and the worst element. */
export function expectClose(
  what: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol = 1e-5,
  rtol = 1e-4,
): void {
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= atol + rtol * Math.abs(expected[i]))) {
      throw new Error(
        `${what}: output check failed at ${i}: gpu ${actual[i]} vs reference ${expected[i]}`,
      );
    }
  }
}
