/**
 * The toolkit's one random generator: seeded, so calibration sampling, latency workloads,
 * LoRA initialisation, training batches and generation are reproducible.
 *
 * @module
 */

/**
 * Seeded uniform generator in [0, 1) (mulberry32).
 *
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { seededRandom } from "@sprint-wgpu/toolkit/random";
 * const rand = seededRandom(42);
 * assertEquals(rand(), 0.6011037519201636); // on every run; then 0.44829055899754167
 * ```
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
