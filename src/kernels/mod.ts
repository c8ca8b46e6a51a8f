/**
 * The WGSL kernels, one file per op: each is the only code that knows its shader's bind layout, and each has an f64 reference in `ref/`.
 *
 * @module
 */
export * from "./matmul.ts";
export * from "./gemv.ts";
export * from "./linear_layout.ts";
export * from "./rmsnorm.ts";
export * from "./elementwise.ts";
export * from "./embedding.ts";
export * from "./head.ts";
export * from "./softmax.ts";
export * from "./reduce.ts";
export * from "./rope.ts";
export * from "./attention.ts";
export {
  columnSumSquares,
  type ColumnSumSquaresOptions,
  GRAM_CHUNK_ROWS,
  gramAccumulate,
  type GramOptions,
} from "./gram.ts";
export * from "./cholesky.ts";
export * from "./metric.ts";
export * from "./canary.ts";
