// Y[r, :] = X[r, :] · 1/sqrt(mean(X[r, :]²) + eps) · W  (Llama / HF LlamaRMSNorm; f32 math).
//
// One workgroup of WG invocations per row (rows folded into [x, y] workgroups by linearGrid).
// Invocation t handles columns t, t + WG, t + 2·WG, … (strided, so neighbouring invocations read
// neighbouring addresses), sums their squares in f32, and a workgroup-memory tree combines the WG
// partial sums. The second loop scales the same columns, so in place (X is Y) is safe.
//
// WG is chosen per D by the host (reduce.ts rowWorkgroupSize: ~64 columns per invocation, 8 … 256).
// Loop iterations per invocation: 2·ceil(D / WG) + log2(WG) + a few, e.g. 136 at D = 16384 and
// WG = 64, far below Mesa 22.3's 65,535-iteration cap (the host checks the project budget).
//
// Defines: WG (workgroup size, a power of two), WT (weight storage: f32 or f16),
// INPLACE (Y is X: a single read_write binding), VEC4 (D % 4 == 0: vec4 loads and stores, so the
// loops run over D / 4 vec4 columns; about twice as fast on llvmpipe).
alias WT = f32;

struct Params {
  m: u32, // rows
  d: u32, // columns
  eps: f32,
};

@group(0) @binding(0) var<uniform> P: Params;
// #if VEC4
alias V = vec4<f32>;
alias VW = vec4<WT>;
// #else
alias V = f32;
alias VW = WT;
// #endif
// #if INPLACE
@group(0) @binding(1) var<storage, read_write> X: array<V>;
@group(0) @binding(2) var<storage, read> W: array<VW>;
// #else
@group(0) @binding(1) var<storage, read> X: array<V>;
@group(0) @binding(2) var<storage, read> W: array<VW>;
@group(0) @binding(3) var<storage, read_write> Y: array<V>;
// #endif

/** Sum of the squares of the components of `v`. */
fn square_sum(v: V) -> f32 {
  // #if VEC4
  return dot(v, v);
  // #else
  return v * v;
  // #endif
}

// #include "lib/workgroup_reduce.wgsl"


@compute @workgroup_size({{WG}})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.m) {
    return;
  }
  // #if VEC4
  let cols = P.d / 4u;
  // #else
  let cols = P.d;
  // #endif
  let base = row * cols;
  var ss = 0.0;
  for (var j = lid; j < cols; j += {{WG}}u) {
    let v = X[base + j];
    ss += square_sum(v);
  }
  let total = workgroup_sum(lid, ss);
  let inv = 1.0 / sqrt(total / f32(P.d) + P.eps);
  for (var j = lid; j < cols; j += {{WG}}u) {
    let y = (X[base + j] * inv) * V(W[j]);
    // #if INPLACE
    X[base + j] = y;
    // #else
    Y[base + j] = y;
    // #endif
  }
}
