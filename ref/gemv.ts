import { swigluRef } from "./elementwise.ts";
import { linearRef } from "./matmul.ts";
import { rmsnormRef } from "./rmsnorm.ts";

/** A layer of {@link gemvRef}: HF-layout weight `[n, k]` and optional bias `[n]`. */
export interface GemvRefLayer {
  w: ArrayLike<number>;
  bias?: ArrayLike<number>;
}

/**
 * f64 reference of the fused decode linear layer: `xn = rmsnorm(x, g, eps)` when `norm` is given
 * (else x), then each layer's `xn·Wᵀ + bias`, or with `swiglu` `silu(xn·W₀ᵀ + b₀)·(xn·W₁ᵀ + b₁)`.
 */
export function gemvRef(
  x: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
  layers: readonly GemvRefLayer[],
  o: { norm?: { g: ArrayLike<number>; eps: number }; swiglu?: boolean } = {},
): Float64Array[] {
  const xn = o.norm ? rmsnormRef(x, o.norm.g, m, k, o.norm.eps) : x;
  const ys = layers.map((l) => linearRef(xn, l.w, m, k, n, l.bias));
  return o.swiglu ? [swigluRef(ys[0], ys[1])] : ys;
}
