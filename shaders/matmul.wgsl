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
@group(0) @binding(2) var<storage, read> Wp: array<vec4<WT>>;
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
  // #for r in 0..RM
  // #for c in 0..CN
  var acc{r}_{c} = vec4<f32>(0.0);
  // #endfor
  // #endfor
  for (var k = 0u; k < P.k; k += 4u) {
    let wk = k * P.np4 + col4;
    // #for c in 0..CN
    let w0_{c} = vec4<f32>(Wp[wk + {c}u]);
    let w1_{c} = vec4<f32>(Wp[wk + P.np4 + {c}u]);
    let w2_{c} = vec4<f32>(Wp[wk + 2u * P.np4 + {c}u]);
    let w3_{c} = vec4<f32>(Wp[wk + 3u * P.np4 + {c}u]);
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
}
