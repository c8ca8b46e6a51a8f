// Several decode-time linear layers of the same input in one dispatch (e.g. q, k and v):
//   Y_s[M, N_s] = f(X[M, K]) · W_sᵀ   for s = 0 … NSEG−1 (no biases),
// with NORM: X is first RMS-normalised per row with weight G[K] (the scale 1/rms(X) is applied to
// the accumulators at the end, as in gemv.wgsl). Weights are the packed [KP, NP_s] layout of
// matmul.wgsl (Wp[k, n] = W_hf[n, k]); with W16 f16 pairs read as vec4<u32> (8 columns a load).
//
// The x-grid is the concatenation of the segments' workgroups: workgroups seg[s].z … seg[s+1].z−1
// compute segment s, so every workgroup reads one weight (the branch is uniform). Each invocation
// computes RM rows × 16 columns like gemv.wgsl.
//
// Loop iterations per invocation: K/4 (the k loop) + K/4 with NORM (the sum of squares), far
// below Mesa 22.3's 65,535 cap for any hidden size the host accepts (it checks the budget).
//
// TILED: every weight is instead in the tiled [NP_s/16, K, 16] layout (see gemv.wgsl).
//
// Defines: NSEG (2 or 3), RM (rows per invocation), WG (workgroup size), W16, NORM, TILED.

struct Params {
  m: u32, // rows of X and Y
  k: u32, // inner dimension (a multiple of 4)
  eps: f32, // RMSNorm epsilon (NORM)
  pad: u32,
  // Per segment: (N_s, NP_s / 4, first workgroup, 0).
  seg: array<vec4<u32>, 3>,
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
// #if W16
@group(0) @binding(2) var<storage, read> W0: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> W1: array<vec4<u32>>;
// #if SEG3
@group(0) @binding(4) var<storage, read> W2: array<vec4<u32>>;
// #endif
// #else
@group(0) @binding(2) var<storage, read> W0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> W1: array<vec4<f32>>;
// #if SEG3
@group(0) @binding(4) var<storage, read> W2: array<vec4<f32>>;
// #endif
// #endif
// #if SEG3
@group(0) @binding(5) var<storage, read_write> Y0: array<f32>;
@group(0) @binding(6) var<storage, read_write> Y1: array<f32>;
@group(0) @binding(7) var<storage, read_write> Y2: array<f32>;
// #if NORM
@group(0) @binding(8) var<storage, read> G: array<vec4<f32>>;
// #endif
// #else
@group(0) @binding(4) var<storage, read_write> Y0: array<f32>;
@group(0) @binding(5) var<storage, read_write> Y1: array<f32>;
// #if NORM
@group(0) @binding(6) var<storage, read> G: array<vec4<f32>>;
// #endif
// #endif

// #include "lib/half.wgsl"

@compute @workgroup_size({{WG}})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  var s = 0u;
  // #for t in 1..NSEG
  if (wid.x >= P.seg[{t}].z) {
    s = {t}u;
  }
  // #endfor
  let seg = P.seg[s];
  let n = seg.x;
  let np4 = seg.y;
  let col4 = ((wid.x - seg.z) * {{WG}}u + lid) * 4u; // first of the lane's 4 vec4 columns
  if (col4 >= np4) {
    return;
  }
  let row0 = wid.y * {{RM}}u;
  let k4 = P.k / 4u;
  // #for r in 0..RM
  let xr{r} = min(row0 + {r}u, P.m - 1u) * k4;
  // #endfor
  // #if NORM
  // #for r in 0..RM
  var ss{r} = 0.0;
  // #endfor
  for (var i = 0u; i < k4; i++) {
    // #for r in 0..RM
    let v{r} = X[xr{r} + i];
    ss{r} = fma(v{r}.x, v{r}.x, fma(v{r}.y, v{r}.y, fma(v{r}.z, v{r}.z, fma(v{r}.w, v{r}.w, ss{r}))));
    // #endfor
  }
  // #for r in 0..RM
  let sc{r} = vec4<f32>(inverseSqrt(ss{r} / f32(P.k) + P.eps));
  // #endfor
  // #else
  // #for r in 0..RM
  let sc{r} = vec4<f32>(1.0);
  // #endfor
  // #endif
  // #if TILED
  // Tiled [NP_s/16, K, 16] (gemv.wgsl's TILED): the lane's 16 columns are one contiguous run.
  // #if W16
  let stride = 2u;
  // #else
  let stride = 4u;
  // #endif
  let lane = (col4 / 4u) * P.k * stride;
  // #else
  // #if W16
  let stride = np4 / 2u; // vec4<u32> per packed row
  let lane = col4 / 2u;
  // #else
  let stride = np4;
  let lane = col4;
  // #endif
  // #endif
  // #for t in 0..NSEG
  if (s == {t}u) {
    // #for r in 0..RM
    // #for c in 0..2
    var aa{r}_{c} = vec4<f32>(0.0);
    var ab{r}_{c} = vec4<f32>(0.0);
    // #endfor
    // #endfor
    for (var i = 0u; i < k4; i++) {
      let wk = 4u * i * stride + lane;
      // #for j in 0..4
      // #for c in 0..2
      // #if W16
      let u{j}_{c} = W{t}[wk + {j}u * stride + {c}u];
      let l{j}_{c} = half_lo(u{j}_{c});
      let h{j}_{c} = half_hi(u{j}_{c});
      let w{j}_{c}a = vec4<f32>(l{j}_{c}.x, h{j}_{c}.x, l{j}_{c}.y, h{j}_{c}.y);
      let w{j}_{c}b = vec4<f32>(l{j}_{c}.z, h{j}_{c}.z, l{j}_{c}.w, h{j}_{c}.w);
      // #else
      let w{j}_{c}a = W{t}[wk + {j}u * stride + 2u * {c}u];
      let w{j}_{c}b = W{t}[wk + {j}u * stride + 2u * {c}u + 1u];
      // #endif
      // #endfor
      // #endfor
      // #if NORM
      let gk = G[i];
      // #endif
      // #for r in 0..RM
      // #if NORM
      let x{r} = X[xr{r} + i] * gk;
      // #else
      let x{r} = X[xr{r} + i];
      // #endif
      let x{r}x = vec4<f32>(x{r}.x);
      let x{r}y = vec4<f32>(x{r}.y);
      let x{r}z = vec4<f32>(x{r}.z);
      let x{r}w = vec4<f32>(x{r}.w);
      // #for c in 0..2
      aa{r}_{c} = fma(x{r}x, w0_{c}a, fma(x{r}y, w1_{c}a, fma(x{r}z, w2_{c}a, fma(x{r}w, w3_{c}a, aa{r}_{c}))));
      ab{r}_{c} = fma(x{r}x, w0_{c}b, fma(x{r}y, w1_{c}b, fma(x{r}z, w2_{c}b, fma(x{r}w, w3_{c}b, ab{r}_{c}))));
      // #endfor
      // #endfor
    }
    // #for r in 0..RM
    let row{r} = row0 + {r}u;
    if (row{r} < P.m) {
      // #for c in 0..2
      let ya{r}_{c} = aa{r}_{c} * sc{r};
      let yb{r}_{c} = ab{r}_{c} * sc{r};
      for (var j = 0u; j < 4u; j++) {
        let ca = (col4 + 2u * {c}u) * 4u + j;
        if (ca < n) {
          Y{t}[row{r} * n + ca] = ya{r}_{c}[j];
        }
        let cb = ca + 4u;
        if (cb < n) {
          Y{t}[row{r} * n + cb] = yb{r}_{c}[j];
        }
      }
      // #endfor
    }
    // #endfor
  }
  // #endfor
}
