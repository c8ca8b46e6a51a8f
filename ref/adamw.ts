/**
 * Float64 reference of one `torch.optim.AdamW` step (amsgrad = False, maximize = False), as
 * PyTorch's `_single_tensor_adamw` computes it, for step t ≥ 1:
 *
 * ```
 * param.mul_(1 - lr * weight_decay)
 * exp_avg.lerp_(grad, 1 - beta1)                      # m ← m + (1 − β1)(g − m)
 * exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
 * step_size = lr / (1 - beta1 ** t)
 * denom = exp_avg_sq.sqrt() / sqrt(1 - beta2 ** t) + eps
 * param.addcdiv_(exp_avg, denom, value=-step_size)
 * ```
 *
 * The arrays are updated in place (float64). `grad` is multiplied by `gradScale` first (what a
 * clip coefficient or an accumulation factor does to `.grad` before `optimizer.step()`).
 */
export function adamwRef(
  param: Float64Array,
  grad: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  h: {
    lr: number;
    step: number;
    beta1: number;
    beta2: number;
    eps: number;
    weightDecay: number;
    gradScale?: number;
  },
): void {
  const s = h.gradScale ?? 1;
  const stepSize = h.lr / (1 - h.beta1 ** h.step);
  const bc2Sqrt = Math.sqrt(1 - h.beta2 ** h.step);
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] * s;
    param[i] *= 1 - h.lr * h.weightDecay;
    m[i] += (1 - h.beta1) * (g - m[i]);
    v[i] = v[i] * h.beta2 + (1 - h.beta2) * g * g;
    const denom = Math.sqrt(v[i]) / bc2Sqrt + h.eps;
    param[i] -= stepSize * (m[i] / denom);
  }
}

/** PyTorch's `clip_grad_norm_` coefficient: total L2 norm and min(1, maxNorm/(norm + 1e-6)). */
export function clipRef(
  grads: readonly ArrayLike<number>[],
  maxNorm: number,
  gradScale = 1,
): { norm: number; factor: number } {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += (g[i] * gradScale) ** 2;
  const norm = Math.sqrt(s);
  return { norm, factor: Math.min(1, maxNorm / (norm + 1e-6)) };
}
