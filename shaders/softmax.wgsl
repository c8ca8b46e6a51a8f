// Row-wise softmax family over logits X [m, v] (one row per token): log-softmax, per-token
// negative log-likelihood and argmax.
//
// One workgroup of WG invocations per row (rows folded into [x, y] workgroups by linearGrid).
// Invocation t visits columns t, t + WG, t + 2·WG, … (strided: neighbouring invocations read
// neighbouring addresses) and workgroup-memory trees combine the WG partial results. In f32:
//   rowmax = max_j x_j,  s = Σ_j exp(x_j − rowmax),  log-softmax_j = (x_j − rowmax) − log(s),
//   nll = (rowmax − x_target) + log(s)   (= logsumexp − x_target),
//   argmax = the lowest j with x_j = rowmax.
// Loop iterations per invocation: ceil(v / WG) per pass over the row (log-softmax 3, nll 2,
// argmax 1; v / 4 with VEC4) plus log2(WG) per tree, e.g. 3·594 + 16 = 1798 at v = 151,936 and
// WG = 256 read as scalars, far below Mesa 22.3's 65,535-iteration cap (the host checks the
// project budget).
//
// Defines (one of the three modes): LOGSOFTMAX (with INPLACE: the output replaces X, a single
// read_write binding), NLL (targets T [m] u32; a target ≥ v gives NaN), ARGMAX (OUT u32 [m]);
// WG (workgroup size, a power of two); VEC4 (v % 4 == 0: rows are read, and log-probabilities
// written, as vec4s, so the loops run over v / 4 columns; faster on llvmpipe).

// #if VEC4
alias V = vec4<f32>;
// #else
alias V = f32;
// #endif

struct Params {
  m: u32, // rows
  v: u32, // columns (vocabulary size)
  cols: u32, // columns as stored: v / 4 with VEC4, else v
  nan_bits: u32, // 0x7fc00000: a quiet NaN, produced at run time (a NaN constant is an error)
};

@group(0) @binding(0) var<uniform> P: Params;
// #if ARGMAX
@group(0) @binding(1) var<storage, read> X: array<V>;
@group(0) @binding(2) var<storage, read_write> OUT: array<u32>;
// #endif
// #if NLL
@group(0) @binding(1) var<storage, read> X: array<V>;
@group(0) @binding(2) var<storage, read> T: array<u32>;
@group(0) @binding(3) var<storage, read_write> OUT: array<f32>;
// #endif
// #if LOGSOFTMAX
// #if INPLACE
@group(0) @binding(1) var<storage, read_write> X: array<V>;
// #else
@group(0) @binding(1) var<storage, read> X: array<V>;
@group(0) @binding(2) var<storage, read_write> OUT: array<V>;
// #endif
// #endif

const LOWEST = -3.40282347e38; // lowest finite f32: below every finite logit, above −inf
const NONE = 0xffffffffu; // "no index yet" in the argmax reduction

// #include "lib/workgroup_reduce.wgsl"
var<workgroup> red_i: array<u32, {{WG}}>;

/** Largest component of `v`. */
fn max_of(v: V) -> f32 {
  // #if VEC4
  return max(max(v.x, v.y), max(v.z, v.w));
  // #else
  return v;
  // #endif
}

/** Σ exp(component − m) over the components of `v`. */
fn sum_exp(v: V, m: f32) -> f32 {
  let e = exp(v - V(m));
  // #if VEC4
  return (e.x + e.y) + (e.z + e.w);
  // #else
  return e;
  // #endif
}



// #if ARGMAX
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
  // Strided columns increase, so a strict > keeps the lowest index of equal maxima.
  var bv = LOWEST;
  var bi = NONE;
  for (var j = lid; j < P.cols; j += {{WG}}u) {
    // #if VEC4
    let x = X[base + j];
    // #for c in 0..4
    if (bi == NONE || x[{c}] > bv) {
      bv = x[{c}];
      bi = j * 4u + {c}u;
    }
    // #endfor
    // #else
    let x = X[base + j];
    if (bi == NONE || x > bv) {
      bv = x;
      bi = j;
    }
    // #endif
  }
  red[lid] = bv;
  red_i[lid] = bi;
  workgroupBarrier();
  for (var s = {{WG}}u / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let ov = red[lid + s];
      let oi = red_i[lid + s];
      let sv = red[lid];
      let si = red_i[lid];
      if (oi != NONE && (si == NONE || ov > sv || (ov == sv && oi < si))) {
        red[lid] = ov;
        red_i[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    OUT[row] = red_i[0];
  }
}
// #else
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
  var mx = LOWEST;
  for (var j = lid; j < P.cols; j += {{WG}}u) {
    mx = max(mx, max_of(X[base + j]));
  }
  let rowmax = workgroup_max(lid, mx);
  var s = 0.0;
  for (var j = lid; j < P.cols; j += {{WG}}u) {
    s += sum_exp(X[base + j], rowmax);
  }
  let log_s = log(workgroup_sum(lid, s));
  // #if NLL
  if (lid == 0u) {
    let t = T[row];
    var nll = bitcast<f32>(P.nan_bits);
    if (t < P.v) {
      // #if VEC4
      let xt = X[base + t / 4u][t % 4u];
      // #else
      let xt = X[base + t];
      // #endif
      nll = (rowmax - xt) + log_s;
    }
    OUT[row] = nll;
  }
  // #else
  for (var j = lid; j < P.cols; j += {{WG}}u) {
    let y = (X[base + j] - V(rowmax)) - V(log_s);
    // #if INPLACE
    X[base + j] = y;
    // #else
    OUT[base + j] = y;
    // #endif
  }
  // #endif
}
// #endif
