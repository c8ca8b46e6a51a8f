/**
 * Tile sizes of the kernels that keep a tile of rows per lane in registers (attention forward and
 * backward): how many queries (or keys) one lane takes.
 *
 * @module
 */

/** The smallest power of two ≥ `n` (1 for n ≤ 1). */
export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Rows per lane for a register tile: the largest power of two `q` ≤ 8 with `q·headDim ≤ limit`
 * and `q ≤ nextPow2(rows)`, at least 1. `limit` bounds the unrolled registers (`q·hd` values per
 * array): the shader's compile time on llvmpipe grows with it, steeply on the GL back end.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowsPerLane } from "./tiles.ts";
 * assert.deepEqual(
 *   [rowsPerLane(512, 64, 100), rowsPerLane(512, 96, 100), rowsPerLane(128, 256, 3)],
 *   [8, 4, 1],
 * );
 * ```
 */
export function rowsPerLane(limit: number, headDim: number, rows: number): number {
  const cap = Math.min(8, nextPow2(rows));
  let q = 1;
  while (2 * q <= cap && 2 * q * headDim <= limit) q *= 2;
  return q;
}
