// AdamW (decoupled weight decay, PyTorch torch.optim.AdamW semantics, amsgrad off) over flat f32
// buffers, and the global-gradient-norm clip factor.
//
// Entry point `main` — one element (or one vec4 with VEC4) per invocation, workgroups folded into
// [x, y] by linearGrid (flat index (wid.x + wid.y · nwg.x) · WG + lid, indices ≥ n skipped); no
// loops. With g = GRAD[i] · grad_scale (· CLIP[1] with CLIP, the factor `grad_norm` computed):
//   p ← p · (1 − lr·wd)                                 (decay, host-computed factor)
//   m ← m + (1 − β1)·(g − m)                            (= β1·m + (1 − β1)·g)
//   v ← β2·v + (1 − β2)·g²
//   p ← p − step_size · m / (sqrt(v)·inv_sqrt_bc2 + eps)
// with step_size = lr / (1 − β1^t) and inv_sqrt_bc2 = 1 / sqrt(1 − β2^t) computed on the host in
// float64 (t = the 1-based step). Elements whose parameter, gradient and moments are all zero
// stay zero (the padding of packed weights).
//
// Entry point `grad_norm` (compiled with NORM): one invocation sums the per-tensor sums of squares
// SLOTS[0 … count) in order (count + 1 loop iterations; the host keeps count within the budget)
// and writes OUT[0] = norm = grad_scale · sqrt(Σ), OUT[1] = min(1, max_norm / (norm + 1e-6)),
// PyTorch's clip_grad_norm_ coefficient — on the GPU, so no host round trip is needed between
// the backward pass and the optimizer step.
//
// Defines: WG (workgroup size), VEC4 (n % 4 == 0; P.n counts vec4s), CLIP (bind the clip factor),
// NORM (compile `grad_norm` instead).

// #if NORM
struct Params {
  count: u32,
  max_norm: f32,
  grad_scale: f32,
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> SLOTS: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;

@compute @workgroup_size(1)
fn grad_norm() {
  var s = 0.0;
  for (var i = 0u; i < P.count; i++) {
    s += SLOTS[i];
  }
  let norm = P.grad_scale * sqrt(s);
  OUT[0] = norm;
  OUT[1] = min(1.0, P.max_norm / (norm + 1e-6));
}
// #else
// #if VEC4
alias V = vec4<f32>;
// #else
alias V = f32;
// #endif

struct Params {
  n: u32, // elements (vec4s with VEC4)
  decay: f32, // 1 − lr·weight_decay
  beta1: f32,
  beta2: f32,
  one_minus_beta1: f32,
  one_minus_beta2: f32,
  step_size: f32, // lr / (1 − β1^t)
  inv_sqrt_bc2: f32, // 1 / sqrt(1 − β2^t)
  eps: f32,
  grad_scale: f32, // constant factor on the gradient (e.g. 1 / accumulation steps)
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> PARAM: array<V>;
@group(0) @binding(2) var<storage, read> GRAD: array<V>;
@group(0) @binding(3) var<storage, read_write> M: array<V>;
@group(0) @binding(4) var<storage, read_write> VS: array<V>;
// #if CLIP
@group(0) @binding(5) var<storage, read> CLIPF: array<f32>; // [norm, factor]
// #endif

@compute @workgroup_size({{WG}})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i >= P.n) {
    return;
  }
  // #if CLIP
  let gs = P.grad_scale * CLIPF[1];
  // #else
  let gs = P.grad_scale;
  // #endif
  let g = GRAD[i] * gs;
  let p = PARAM[i] * P.decay;
  let m0 = M[i];
  let m = m0 + P.one_minus_beta1 * (g - m0);
  let v = P.beta2 * VS[i] + P.one_minus_beta2 * (g * g);
  M[i] = m;
  VS[i] = v;
  PARAM[i] = p - P.step_size * m / (sqrt(v) * P.inv_sqrt_bc2 + P.eps);
}
// #endif
