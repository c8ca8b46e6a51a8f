// Fused cross-entropy forward and backward over logits X [m, v] (one row per token):
//   lse = max + log Σ_j exp(x_j − max),
//   LOSS[row] = scale · (lse − x_target),
//   dX[row, j] = scale · (exp(x_j − lse) − [j == target]),
// with scale = 1/(number of counted tokens) for a mean loss. A row whose target equals P.ignore
// contributes nothing: LOSS 0 and a zero gradient row. A target ≥ v (other than the ignore
// value) gives NaN in LOSS and the whole gradient row, so a bad target is never silent.
//
// One workgroup of WG invocations per row (rows folded into [x, y] workgroups by linearGrid).
// Invocation t visits columns t, t + WG, … in three strided passes (max, sum of exponentials,
// gradient) combined by workgroup-memory trees: 3·⌈cols/WG⌉ + 2·log2(WG) + a few loop iterations
// per invocation, e.g. 3·149 + 16 at v = 151,936 read as vec4s, far below Mesa 22.3's
// 65,535-iteration cap. With INPLACE the gradient overwrites the logits (one read_write
// binding); every invocation reads x_target before the first barrier, so no write can precede it.
//
// Defines: WG (workgroup size, a power of two), VEC4 (v % 4 == 0: vec4 loads and stores; P.cols
// counts vec4s), INPLACE.

// #if VEC4
alias V = vec4<f32>;
// #else
alias V = f32;
// #endif

struct Params {
  m: u32, // rows
  v: u32, // columns (vocabulary size)
  cols: u32, // columns as stored: v / 4 with VEC4
  ignore: u32, // target value of rows that do not count
  scale: f32, // gradient and loss scale (1 / counted tokens)
  nan_bits: u32, // 0x7fc00000: a quiet NaN made at run time
};

@group(0) @binding(0) var<uniform> P: Params;
// #if INPLACE
@group(0) @binding(1) var<storage, read_write> X: array<V>;
@group(0) @binding(2) var<storage, read> T: array<u32>;
@group(0) @binding(3) var<storage, read_write> LOSS: array<f32>;
// #else
@group(0) @binding(1) var<storage, read> X: array<V>;
@group(0) @binding(2) var<storage, read> T: array<u32>;
@group(0) @binding(3) var<storage, read_write> LOSS: array<f32>;
@group(0) @binding(4) var<storage, read_write> DX: array<V>;
// #endif

const LOWEST = -3.40282347e38; // lowest finite f32

// #include "lib/workgroup_reduce.wgsl"

fn max_of(v: V) -> f32 {
  // #if VEC4
  return max(max(v.x, v.y), max(v.z, v.w));
  // #else
  return v;
  // #endif
}

fn hsum(v: V) -> f32 {
  // #if VEC4
  return (v.x + v.y) + (v.z + v.w);
  // #else
  return v;
  // #endif
}

fn store(at: u32, g: V) {
  // #if INPLACE
  X[at] = g;
  // #else
  DX[at] = g;
  // #endif
}

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
  let base = row * P.cols;
  let tgt = T[row];
  if (tgt == P.ignore) {
    for (var j = lid; j < P.cols; j += {{WG}}u) {
      store(base + j, V(0.0));
    }
    if (lid == 0u) {
      LOSS[row] = 0.0;
    }
    return;
  }
  let valid = tgt < P.v;
  let tc = min(tgt, P.v - 1u); // a valid address either way
  // #if VEC4
  let xt = X[base + tc / 4u][tc % 4u];
  // #else
  let xt = X[base + tc];
  // #endif
  var mx = LOWEST;
  for (var j = lid; j < P.cols; j += {{WG}}u) {
    mx = max(mx, max_of(X[base + j]));
  }
  let rowmax = workgroup_max(lid, mx);
  var sum = 0.0;
  for (var j = lid; j < P.cols; j += {{WG}}u) {
    sum += hsum(exp(X[base + j] - V(rowmax)));
  }
  let lse = rowmax + log(workgroup_sum(lid, sum));
  let nan = bitcast<f32>(P.nan_bits);
  if (lid == 0u) {
    LOSS[row] = select(nan, P.scale * (lse - xt), valid);
  }
  let bad = select(V(0.0), V(nan), !valid); // NaN added to every gradient of a bad row
  for (var j = lid; j < P.cols; j += {{WG}}u) {
    var g = exp(X[base + j] - V(lse)) * P.scale;
    // #if VEC4
    if (j == tc / 4u) {
      g[tc % 4u] -= P.scale;
    }
    // #else
    if (j == tc) {
      g -= P.scale;
    }
    // #endif
    store(base + j, g + bad);
  }
}
