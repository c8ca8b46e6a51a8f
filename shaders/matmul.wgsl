// Y[M, N] = X[M, K] · Wᵀ (+ bias) (+ Y when ACC): activations times a linear layer's weight.
//
// The weight is stored "packed": Wp[KP, NP] row-major with Wp[k, n] = W_hf[n, k], KP = K rounded
// up to 4 and NP = N rounded up to 4·CN, zero padded. So the product is the plain NN form, which
// llvmpipe runs over twice as fast as X·Wᵀ against HF's [N, K] layout.
//
// Each invocation computes an RM × (4·CN) register block: RM rows of X (the same rows for the
// whole workgroup, so those loads are uniform) by 4·CN columns (vec4 loads of Wp, one column
// block per invocation). Accumulators are unrolled scalars (the #for lines) because llvmpipe
// keeps indexed arrays in memory. The k loop runs K/4 iterations per invocation: far below
// Mesa 22.3's 65,535-iteration cap for any real hidden size.
//
// Defines (compile time): RM, CN, WG (workgroup size), AVEC (X rows are vec4-aligned: K % 4 == 0),
// WT (f32 or f16 weight storage; arithmetic is f32). Bias and accumulation are runtime flags so
// that one compiled pipeline (≈9 s to compile at RM = 32 on llvmpipe) serves every layer.
// TILED (needs CN = 4 and K % 4 == 0): the weight is instead tiled [NP/16, K, 16] (packLinearTiled
// in kernels/gemv.ts): each invocation's 16 columns for all K rows are one contiguous run, which
// llvmpipe reads ≈ 1.3× faster here than the packed layout's 64-byte row strips.
alias WT = f32;

struct Params {
  m: u32, // rows of X and Y
  k: u32, // inner dimension (unpadded)
  n: u32, // columns of Y (unpadded)
  np4: u32, // NP / 4: vec4 columns of Wp
  row_base: u32, // first row of this dispatch
  flags: u32, // bit 0: add bias; bit 1: accumulate into Y
};

@group(0) @binding(0) var<uniform> P: Params;
// #if AVEC
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
// #else
@group(0) @binding(1) var<storage, read> X: array<f32>;
// #endif
// #if W16
// f16 weights read as u32 pairs: one vec4<u32> load brings 8 columns (llvmpipe pays per loaded
// component, so this halves the cost of the weight stream against vec4<f16> loads).
@group(0) @binding(2) var<storage, read> Wh: array<vec4<u32>>;

// f16 bits (low or high half of each u32) to f32 with integer SIMD arithmetic: shift the
// exponent and mantissa into place and rescale by 2^112 (exact for normal and subnormal halves;
// weights hold no inf/NaN); unpack2x16float is far slower on llvmpipe.
fn half_bits(h: vec4<u32>) -> vec4<f32> {
  let mag = bitcast<vec4<f32>>((h & vec4<u32>(0x7fffu)) << vec4<u32>(13u)) * 5.192296858534828e33;
  return bitcast<vec4<f32>>(bitcast<vec4<u32>>(mag) | ((h & vec4<u32>(0x8000u)) << vec4<u32>(16u)));
}
fn half_lo(u: vec4<u32>) -> vec4<f32> {
  return half_bits(u & vec4<u32>(0xffffu));
}
fn half_hi(u: vec4<u32>) -> vec4<f32> {
  return half_bits(u >> vec4<u32>(16u));
}
// #else
@group(0) @binding(2) var<storage, read> Wp: array<vec4<WT>>;
// #endif
@group(0) @binding(3) var<storage, read> bias: array<vec4<WT>>; // [NP] (a dummy when flags & 1 == 0)
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

fn store4(row: u32, c4: u32, v: vec4<f32>) {
  if (row >= P.m) {
    return;
  }
  var s = v;
  if ((P.flags & 1u) != 0u) {
    s += vec4<f32>(bias[c4]);
  }
  let col = c4 * 4u;
  let base = row * P.n + col;
  let acc = (P.flags & 2u) != 0u;
  for (var j = 0u; j < 4u; j++) {
    if (col + j < P.n) {
      Y[base + j] = select(s[j], Y[base + j] + s[j], acc);
    }
  }
}

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let col4 = g.x * {{CN}}u;
  if (col4 >= P.np4) {
    return;
  }
  let row0 = P.row_base + g.y * {{RM}}u;
  // Rows past the end read the last row; their results are not stored.
  // #for r in 0..RM
  let xr{r} = min(row0 + {r}u, P.m - 1u) * P.k;
  // #endfor
  // #if W16
  // #for r in 0..RM
  // #for c in 0..CN2
  var acc{r}_{c}a = vec4<f32>(0.0);
  var acc{r}_{c}b = vec4<f32>(0.0);
  // #endfor
  // #endfor
  // #if TILED
  let nh = 2u; // vec4<u32> per 16-column row of the tiled [NP/16, K, 16] layout
  let wt = g.x * P.k * 2u;
  // #else
  let nh = P.np4 / 2u; // vec4<u32> per packed row
  // #endif
  for (var k = 0u; k < P.k; k += 4u) {
    // #if TILED
    let wk = wt + k * 2u;
    // #else
    let wk = (k * P.np4 + col4) / 2u;
    // #endif
    // #for c in 0..CN2
    let u0_{c} = Wh[wk + {c}u];
    let u1_{c} = Wh[wk + nh + {c}u];
    let u2_{c} = Wh[wk + 2u * nh + {c}u];
    let u3_{c} = Wh[wk + 3u * nh + {c}u];
    let w0_{c}l = half_lo(u0_{c});
    let w0_{c}h = half_hi(u0_{c});
    let w0_{c}a = vec4<f32>(w0_{c}l.x, w0_{c}h.x, w0_{c}l.y, w0_{c}h.y);
    let w0_{c}b = vec4<f32>(w0_{c}l.z, w0_{c}h.z, w0_{c}l.w, w0_{c}h.w);
    let w1_{c}l = half_lo(u1_{c});
    let w1_{c}h = half_hi(u1_{c});
    let w1_{c}a = vec4<f32>(w1_{c}l.x, w1_{c}h.x, w1_{c}l.y, w1_{c}h.y);
    let w1_{c}b = vec4<f32>(w1_{c}l.z, w1_{c}h.z, w1_{c}l.w, w1_{c}h.w);
    let w2_{c}l = half_lo(u2_{c});
    let w2_{c}h = half_hi(u2_{c});
    let w2_{c}a = vec4<f32>(w2_{c}l.x, w2_{c}h.x, w2_{c}l.y, w2_{c}h.y);
    let w2_{c}b = vec4<f32>(w2_{c}l.z, w2_{c}h.z, w2_{c}l.w, w2_{c}h.w);
    let w3_{c}l = half_lo(u3_{c});
    let w3_{c}h = half_hi(u3_{c});
    let w3_{c}a = vec4<f32>(w3_{c}l.x, w3_{c}h.x, w3_{c}l.y, w3_{c}h.y);
    let w3_{c}b = vec4<f32>(w3_{c}l.z, w3_{c}h.z, w3_{c}l.w, w3_{c}h.w);
    // #endfor
    // #for r in 0..RM
    // #if AVEC
    let x{r} = X[(xr{r} + k) / 4u];
    // #else
    let x{r} = vec4<f32>(
      X[xr{r} + k],
      select(0.0, X[xr{r} + k + 1u], k + 1u < P.k),
      select(0.0, X[xr{r} + k + 2u], k + 2u < P.k),
      select(0.0, X[xr{r} + k + 3u], k + 3u < P.k),
    );
    // #endif
    // #for c in 0..CN2
    acc{r}_{c}a = fma(vec4<f32>(x{r}.x), w0_{c}a, fma(vec4<f32>(x{r}.y), w1_{c}a, fma(vec4<f32>(x{r}.z), w2_{c}a, fma(vec4<f32>(x{r}.w), w3_{c}a, acc{r}_{c}a))));
    acc{r}_{c}b = fma(vec4<f32>(x{r}.x), w0_{c}b, fma(vec4<f32>(x{r}.y), w1_{c}b, fma(vec4<f32>(x{r}.z), w2_{c}b, fma(vec4<f32>(x{r}.w), w3_{c}b, acc{r}_{c}b))));
    // #endfor
    // #endfor
  }
  // #for r in 0..RM
  // #for c in 0..CN2
  store4(row0 + {r}u, col4 + 2u * {c}u, acc{r}_{c}a);
  store4(row0 + {r}u, col4 + 2u * {c}u + 1u, acc{r}_{c}b);
  // #endfor
  // #endfor
  // #else
  // #for r in 0..RM
  // #for c in 0..CN
  var acc{r}_{c} = vec4<f32>(0.0);
  // #endfor
  // #endfor
  // #if TILED
  let rs = 4u; // vec4 per 16-column row of the tiled [NP/16, K, 16] layout
  let wt = g.x * P.k * 4u;
  // #else
  let rs = P.np4;
  // #endif
  for (var k = 0u; k < P.k; k += 4u) {
    // #if TILED
    let wk = wt + k * 4u;
    // #else
    let wk = k * P.np4 + col4;
    // #endif
    // #for c in 0..CN
    let w0_{c} = vec4<f32>(Wp[wk + {c}u]);
    let w1_{c} = vec4<f32>(Wp[wk + rs + {c}u]);
    let w2_{c} = vec4<f32>(Wp[wk + 2u * rs + {c}u]);
    let w3_{c} = vec4<f32>(Wp[wk + 3u * rs + {c}u]);
    // #endfor
    // #for r in 0..RM
    // #if AVEC
    let x{r} = X[(xr{r} + k) / 4u];
    // #else
    let x{r} = vec4<f32>(
      X[xr{r} + k],
      select(0.0, X[xr{r} + k + 1u], k + 1u < P.k),
      select(0.0, X[xr{r} + k + 2u], k + 2u < P.k),
      select(0.0, X[xr{r} + k + 3u], k + 3u < P.k),
    );
    // #endif
    // #for c in 0..CN
    acc{r}_{c} = fma(vec4<f32>(x{r}.x), w0_{c}, fma(vec4<f32>(x{r}.y), w1_{c}, fma(vec4<f32>(x{r}.z), w2_{c}, fma(vec4<f32>(x{r}.w), w3_{c}, acc{r}_{c}))));
    // #endfor
    // #endfor
  }
  // #for r in 0..RM
  // #for c in 0..CN
  store4(row0 + {r}u, col4 + {c}u, acc{r}_{c});
  // #endfor
  // #endfor
  // #endif
}
