// Sums in f32 with a tree structure: per-row sums (of values or squares) and the sum of a whole
// tensor.
//
// Entry point `rows`: one workgroup of WG invocations per row of X [m, d] (rows folded into
// [x, y] workgroups by linearGrid); invocation t sums columns t, t + WG, … and a workgroup-memory
// tree combines the WG partial sums into OUT[row]. Loop iterations per invocation:
// ceil(d / WG) + log2(WG).
//
// Entry point `total`: a grid-stride partial sum. Workgroup g of G (a 1-D dispatch) sums
// elements g·WG + t + k·G·WG of X [n] and writes its tree-combined partial to OUT[g]. The host
// runs it twice: G ≤ 1024 workgroups over the tensor, then one workgroup over the ≤ 1024
// partials. Each invocation adds at most ceil(n / (G·WG)) elements in sequence (128 at n = 2^25,
// G = 1024, WG = 256; as 32 vec4s with VEC4), then log2(WG) tree levels, so rounding error grows
// with the depth of that tree of sums, not with n, and no invocation nears Mesa 22.3's
// 65,535-iteration cap.
//
// Defines: WG (workgroup size, a power of two), SQUARE (sum x² instead of x), VEC4 (X is read
// as vec4: d % 4 == 0 for `rows`, n % 4 == 0 for `total`; P counts vec4s; about twice as fast on
// llvmpipe, and the loops run a quarter of the iterations).

// #if VEC4
alias V = vec4<f32>;
// #else
alias V = f32;
// #endif

struct Params {
  a: u32, // rows: m;  total: n (elements of X; vec4s with VEC4)
  b: u32, // rows: d (vec4s with VEC4);  total: G (workgroups of the dispatch)
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<V>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;

// #include "lib/workgroup_reduce.wgsl"

/** The contribution of one element (or the sum over one vec4's components). */
fn term(v: V) -> f32 {
  // #if VEC4
  // #if SQUARE
  return dot(v, v);
  // #else
  return (v.x + v.y) + (v.z + v.w);
  // #endif
  // #else
  // #if SQUARE
  return v * v;
  // #else
  return v;
  // #endif
  // #endif
}


@compute @workgroup_size({{WG}})
fn rows(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.a) {
    return;
  }
  let base = row * P.b;
  var acc = 0.0;
  for (var j = lid; j < P.b; j += {{WG}}u) {
    acc += term(X[base + j]);
  }
  let total = workgroup_sum(lid, acc);
  if (lid == 0u) {
    OUT[row] = total;
  }
}

@compute @workgroup_size({{WG}})
fn total(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let stride = P.b * {{WG}}u;
  var acc = 0.0;
  for (var i = wid.x * {{WG}}u + lid; i < P.a; i += stride) {
    acc += term(X[i]);
  }
  let total = workgroup_sum(lid, acc);
  if (lid == 0u) {
    OUT[wid.x] = total;
  }
}
