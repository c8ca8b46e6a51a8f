// OUT[i] = P.alpha · X[i] over n elements (in place when X is OUT: one read_write binding).
//
// One element (or vec4 with VEC4) per invocation, the dispatch folded into [x, y] by linearGrid;
// no loops, so Mesa 22.3's loop cap cannot bite.
//
// Defines: WG (workgroup size), VEC4 (n % 4 == 0; P.n counts vec4s), INPLACE.

// #if VEC4
alias V = vec4<f32>;
// #else
alias V = f32;
// #endif

struct Params {
  n: u32,
  alpha: f32,
};

@group(0) @binding(0) var<uniform> P: Params;
// #if INPLACE
@group(0) @binding(1) var<storage, read_write> OUT: array<V>;
// #else
@group(0) @binding(1) var<storage, read> X: array<V>;
@group(0) @binding(2) var<storage, read_write> OUT: array<V>;
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
  // #if INPLACE
  OUT[i] = OUT[i] * P.alpha;
  // #else
  OUT[i] = X[i] * P.alpha;
  // #endif
}
