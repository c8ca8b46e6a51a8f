// Decode-time linear layers (a few rows): Y[M, N] = f(X[M, K]) · Wᵀ with optional fusions
//   NORM    X is first RMS-normalised per row with weight G[K] (Llama RMSNorm, eps from P):
//           Y = (X·diag(G)·Wᵀ) / rms(X) — the scale is applied to the accumulators at the end;
//   DUAL    a second weight Wb of the same shape gives a second output Yb from the same X loads
//           (k and v projections, or gate and up);
//   SWIGLU  (with DUAL) the output is silu(X·Waᵀ)·(X·Wbᵀ) (the MLP's gate/up/SwiGLU in one pass);
//   flags   bit 0: add the bias, bit 1: accumulate into Y (a residual stream).
// Weights are the packed [KP, NP] layout of matmul.wgsl (Wp[k, n] = W_hf[n, k]).
//
// Each invocation computes RM rows × 16 columns: per k step of 4 it loads 4 rows × 16 columns of
// each weight (vec4<f32>, or with W16 f16 pairs as vec4<u32>: 8 columns per load, widened with
// integer SIMD ops) and the RM rows' x vec4s (the same for the whole workgroup). Accumulators are
// unrolled scalars in pairs (a, b = vec4 columns 2c and 2c + 1 of the lane's 16).
//
// Loop iterations per invocation: K/4 (the k loop) + K/4 with NORM (the sum of squares): far
// below Mesa 22.3's 65,535 cap for any hidden size the host accepts (it checks the budget).
//
// TILED: the weights are instead tiled [NP/16, K, 16] (see packLinearTiled in kernels/gemv.ts),
// so each invocation streams one contiguous run (llvmpipe runs the 8 lanes of a SIMD batch as
// 8 streams; the packed layout's 256-byte strips every row read ≈ 3× slower there).
//
// Defines: RM (rows per invocation), WG (workgroup size), W16 (f16 weights), NORM, DUAL, SWIGLU,
// TILED.

struct Params {
  m: u32, // rows of X and Y
  k: u32, // inner dimension (a multiple of 4)
  n: u32, // columns of Y (unpadded)
  np4: u32, // NP / 4: vec4 columns of the packed weights
  flags: u32, // bit 0: add bias; bit 1: accumulate into Y
  eps: f32, // RMSNorm epsilon (NORM)
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
// #if W16
@group(0) @binding(2) var<storage, read> Wa: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> Ba: array<vec2<u32>>;
// #else
@group(0) @binding(2) var<storage, read> Wa: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> Ba: array<vec4<f32>>;
// #endif
// #if DUAL
// #if W16
@group(0) @binding(4) var<storage, read> Wb: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read> Bb: array<vec2<u32>>;
// #else
@group(0) @binding(4) var<storage, read> Wb: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> Bb: array<vec4<f32>>;
// #endif
// #if NORM
@group(0) @binding(6) var<storage, read> G: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> Ya: array<f32>;
// #if !SWIGLU
@group(0) @binding(8) var<storage, read_write> Yb: array<f32>;
// #endif
// #else
@group(0) @binding(6) var<storage, read_write> Ya: array<f32>;
// #if !SWIGLU
@group(0) @binding(7) var<storage, read_write> Yb: array<f32>;
// #endif
// #endif
// #else
// #if NORM
@group(0) @binding(4) var<storage, read> G: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> Ya: array<f32>;
// #else
@group(0) @binding(4) var<storage, read_write> Ya: array<f32>;
// #endif
// #endif

// #include "lib/half.wgsl"

fn silu(x: vec4<f32>) -> vec4<f32> {
  let e = exp(-abs(x));
  let sig = select(e, vec4<f32>(1.0), x >= vec4<f32>(0.0)) / (1.0 + e);
  return x * sig;
}

// #if W16
fn bias_a(c4: u32) -> vec4<f32> {
  let u = Ba[c4];
  return vec4<f32>(unpack2x16float(u.x), unpack2x16float(u.y));
}
// #if DUAL
fn bias_b(c4: u32) -> vec4<f32> {
  let u = Bb[c4];
  return vec4<f32>(unpack2x16float(u.x), unpack2x16float(u.y));
}
// #endif
// #else
fn bias_a(c4: u32) -> vec4<f32> {
  return Ba[c4];
}
// #if DUAL
fn bias_b(c4: u32) -> vec4<f32> {
  return Bb[c4];
}
// #endif
// #endif

fn store_a(row: u32, c4: u32, v: vec4<f32>) {
  let col = c4 * 4u;
  let base = row * P.n + col;
  let acc = (P.flags & 2u) != 0u;
  for (var j = 0u; j < 4u; j++) {
    if (col + j < P.n) {
      Ya[base + j] = select(v[j], Ya[base + j] + v[j], acc);
    }
  }
}

// #if DUAL
// #if !SWIGLU
fn store_b(row: u32, c4: u32, v: vec4<f32>) {
  let col = c4 * 4u;
  let base = row * P.n + col;
  let acc = (P.flags & 2u) != 0u;
  for (var j = 0u; j < 4u; j++) {
    if (col + j < P.n) {
      Yb[base + j] = select(v[j], Yb[base + j] + v[j], acc);
    }
  }
}
// #endif
// #endif

// Bias, then the output(s) of one vec4 column group of one row.
fn finish(row: u32, c4: u32, a: vec4<f32>, b: vec4<f32>) {
  if (row >= P.m || c4 >= P.np4) {
    return;
  }
  let has_bias = (P.flags & 1u) != 0u;
  let ya = select(a, a + bias_a(c4), has_bias);
  // #if DUAL
  let yb = select(b, b + bias_b(c4), has_bias);
  // #if SWIGLU
  store_a(row, c4, silu(ya) * yb);
  // #else
  store_a(row, c4, ya);
  store_b(row, c4, yb);
  // #endif
  // #else
  store_a(row, c4, ya);
  // #endif
}

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let col4 = g.x * 4u; // first of the lane's 4 vec4 columns
  if (col4 >= P.np4) {
    return;
  }
  let row0 = g.y * {{RM}}u;
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
  let inv{r} = inverseSqrt(ss{r} / f32(P.k) + P.eps);
  // #endfor
  // #endif
  // #for r in 0..RM
  // #for c in 0..2
  var aa{r}_{c} = vec4<f32>(0.0);
  var ab{r}_{c} = vec4<f32>(0.0);
  // #if DUAL
  var ba{r}_{c} = vec4<f32>(0.0);
  var bb{r}_{c} = vec4<f32>(0.0);
  // #endif
  // #endfor
  // #endfor
  // #if TILED
  // Tiled [NP/16, K, 16]: the lane's 16 columns for all K rows are one contiguous run.
  // #if W16
  let stride = 2u; // vec4<u32> per 16-column row
  // #else
  let stride = 4u;
  // #endif
  let lane = g.x * P.k * stride;
  // #else
  // #if W16
  let stride = P.np4 / 2u; // vec4<u32> per packed row
  let lane = col4 / 2u;
  // #else
  let stride = P.np4;
  let lane = col4;
  // #endif
  // #endif
  for (var i = 0u; i < k4; i++) {
    let wk = 4u * i * stride + lane;
    // #for j in 0..4
    // #for c in 0..2
    // #if W16
    let ua{j}_{c} = Wa[wk + {j}u * stride + {c}u];
    let la{j}_{c} = half_lo(ua{j}_{c});
    let ha{j}_{c} = half_hi(ua{j}_{c});
    let wa{j}_{c}a = vec4<f32>(la{j}_{c}.x, ha{j}_{c}.x, la{j}_{c}.y, ha{j}_{c}.y);
    let wa{j}_{c}b = vec4<f32>(la{j}_{c}.z, ha{j}_{c}.z, la{j}_{c}.w, ha{j}_{c}.w);
    // #if DUAL
    let ub{j}_{c} = Wb[wk + {j}u * stride + {c}u];
    let lb{j}_{c} = half_lo(ub{j}_{c});
    let hb{j}_{c} = half_hi(ub{j}_{c});
    let wb{j}_{c}a = vec4<f32>(lb{j}_{c}.x, hb{j}_{c}.x, lb{j}_{c}.y, hb{j}_{c}.y);
    let wb{j}_{c}b = vec4<f32>(lb{j}_{c}.z, hb{j}_{c}.z, lb{j}_{c}.w, hb{j}_{c}.w);
    // #endif
    // #else
    let wa{j}_{c}a = Wa[wk + {j}u * stride + 2u * {c}u];
    let wa{j}_{c}b = Wa[wk + {j}u * stride + 2u * {c}u + 1u];
    // #if DUAL
    let wb{j}_{c}a = Wb[wk + {j}u * stride + 2u * {c}u];
    let wb{j}_{c}b = Wb[wk + {j}u * stride + 2u * {c}u + 1u];
    // #endif
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
    aa{r}_{c} = fma(x{r}x, wa0_{c}a, fma(x{r}y, wa1_{c}a, fma(x{r}z, wa2_{c}a, fma(x{r}w, wa3_{c}a, aa{r}_{c}))));
    ab{r}_{c} = fma(x{r}x, wa0_{c}b, fma(x{r}y, wa1_{c}b, fma(x{r}z, wa2_{c}b, fma(x{r}w, wa3_{c}b, ab{r}_{c}))));
    // #if DUAL
    ba{r}_{c} = fma(x{r}x, wb0_{c}a, fma(x{r}y, wb1_{c}a, fma(x{r}z, wb2_{c}a, fma(x{r}w, wb3_{c}a, ba{r}_{c}))));
    bb{r}_{c} = fma(x{r}x, wb0_{c}b, fma(x{r}y, wb1_{c}b, fma(x{r}z, wb2_{c}b, fma(x{r}w, wb3_{c}b, bb{r}_{c}))));
    // #endif
    // #endfor
    // #endfor
  }
  // #for r in 0..RM
  // #if NORM
  let s{r} = vec4<f32>(inv{r});
  // #else
  let s{r} = vec4<f32>(1.0);
  // #endif
  // #for c in 0..2
  // #if DUAL
  finish(row0 + {r}u, col4 + 2u * {c}u, aa{r}_{c} * s{r}, ba{r}_{c} * s{r});
  finish(row0 + {r}u, col4 + 2u * {c}u + 1u, ab{r}_{c} * s{r}, bb{r}_{c} * s{r});
  // #else
  finish(row0 + {r}u, col4 + 2u * {c}u, aa{r}_{c} * s{r}, vec4<f32>(0.0));
  finish(row0 + {r}u, col4 + 2u * {c}u + 1u, ab{r}_{c} * s{r}, vec4<f32>(0.0));
  // #endif
  // #endfor
  // #endfor
}
