// Transposed-left products and column statistics for least-squares re-fitting.
//
// Entry point `gemm_tn`: C[i, j] += alpha · Σ_{m<K} X[m, i] · Y[m, j] for i < rows, j < cols,
// with every operand addressed by an element offset and a row stride (ld):
//   X[m, i] = X[x_off + m·ldx + i],  Y[m, j] = Y[y_off + m·ldy + j],
//   C[i, j] = C[c_off + i·ldc + j].
// With X = x [M, F] and Y = y [M, N] this is the Gram / cross-moment update g += xᵀ·y; the
// Cholesky solver (cholesky.wgsl) uses it for its trailing updates (alpha = −1).
//
// Each invocation owns a TR × TC register block of C (TR = 4·R4, TC = 4·C4): TR rows (the same
// rows for the whole workgroup, so the X loads are uniform) by TC columns (vec4 loads of Y, one
// block per invocation); accumulators are unrolled vec4 scalars (the #for lines) because llvmpipe
// keeps indexed arrays in memory, and each takes a chain of four fused multiply-adds (four rows
// of X and Y) per iteration. The one runtime loop runs over the K rows of X and Y, ⌈K/4⌉ + 1
// iterations per invocation: the host splits long reductions into dispatches of at most a chunk
// of rows each, which accumulate into C one after another.
//
// Runtime flags:
//   bit 0 LOWER: blocks entirely above the diagonal (first column > last row) are skipped
//     (rows == cols);
//   bit 1 MIRROR: with LOWER, every computed element C[i, j], j < i, whose transposed position
//     lies in a skipped block is also added there, so that a symmetric product (X = Y) is
//     computed about once per pair of elements and C stays exactly symmetric.
//
// Defines: R4, C4 (vec4s of rows / columns per block), WG (workgroup size), XVEC / YVEC (X / Y
// are read as vec4: offset and ld multiples of 4), CVEC (C is updated by vec4: c_off, ldc and
// cols multiples of 4).
// Out-of-range rows and columns read clamped (valid) addresses and are never stored.
//
// Entry point `colsq` (compiled with COLSQ, which swaps Y and C for OUT at binding 2):
// OUT[i] += Σ_{m<K} X[x_off + m·ldx + i]² for i < cols (one column, or one vec4 of columns with
// XVEC, per invocation; K + 1 loop iterations); CVEC: OUT is updated by vec4 (cols % 4 == 0).

struct Params {
  rows: u32,
  cols: u32,
  k: u32,
  x_off: u32, // elements (a multiple of 4 with XVEC)
  ldx: u32,
  y_off: u32,
  ldy: u32,
  c_off: u32,
  ldc: u32,
  alpha: f32,
  flags: u32,
};

@group(0) @binding(0) var<uniform> P: Params;

const TR = 4u * {{R4}}u; // rows of an invocation's block
const TC = 4u * {{C4}}u; // columns of an invocation's block
// #if XVEC
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
// #else
@group(0) @binding(1) var<storage, read> X: array<f32>;
// #endif
// #if COLSQ
// #if CVEC
@group(0) @binding(2) var<storage, read_write> OUT: array<vec4<f32>>;
// #else
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;
// #endif
// #else
// #if YVEC
@group(0) @binding(2) var<storage, read> Y: array<vec4<f32>>;
// #else
@group(0) @binding(2) var<storage, read> Y: array<f32>;
// #endif
// #if CVEC
@group(0) @binding(3) var<storage, read_write> C: array<vec4<f32>>;
// #else
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
// #endif

/** Adds alpha·v (columns j … j+3 of row i of C, j a multiple of 4) into C, within range only. */
fn store4(i: u32, j: u32, v: vec4<f32>, mirror: bool) {
  if (i >= P.rows || j >= P.cols) {
    return;
  }
  let s = P.alpha * v;
  // #if CVEC
  let q = (P.c_off + i * P.ldc + j) / 4u;
  C[q] = C[q] + s;
  // #else
  let base = P.c_off + i * P.ldc + j;
  for (var t = 0u; t < 4u; t++) {
    if (j + t < P.cols) {
      C[base + t] = C[base + t] + s[t];
    }
  }
  // #endif
  if (mirror) {
    // The transposed element C[j + t, i] when no block computes it (its block lies above the
    // diagonal): scalar read-modify-writes, once per dispatch.
    for (var t = 0u; t < 4u; t++) {
      let jt = j + t;
      if (jt < i && (i / TC) * TC > (jt / TR) * TR + TR - 1u) {
        let e = P.c_off + jt * P.ldc + i;
        // #if CVEC
        C[e / 4u][e % 4u] = C[e / 4u][e % 4u] + s[t];
        // #else
        C[e] = C[e] + s[t];
        // #endif
      }
    }
  }
}

@compute @workgroup_size({{WG}})
fn gemm_tn(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let bi = wid.y; // block row
  let bj = wid.x * {{WG}}u + lid; // block column
  let lower = (P.flags & 1u) != 0u;
  if (lower && wid.x * {{WG}}u * TC > bi * TR + TR - 1u) {
    return; // the whole workgroup lies above the diagonal
  }
  let i0 = bi * TR;
  let j0 = bj * TC;
  if (j0 >= P.cols || (lower && j0 > i0 + TR - 1u)) {
    return;
  }
  // Clamped row / column indices: out-of-range ones read valid memory, and are not stored.
  // #if XVEC
  // #for a in 0..R4
  let xi{a} = min(i0 + 4u * {a}u, ((P.rows + 3u) / 4u) * 4u - 4u) / 4u;
  // #endfor
  // #else
  // #for a in 0..R4
  // #for b in 0..4
  let xi{a}_{b} = min(i0 + 4u * {a}u + {b}u, P.rows - 1u);
  // #endfor
  // #endfor
  // #endif
  // #if YVEC
  // #for c in 0..C4
  let yj{c} = min(j0 + 4u * {c}u, ((P.cols + 3u) / 4u) * 4u - 4u) / 4u;
  // #endfor
  // #else
  // #for c in 0..C4
  // #for b in 0..4
  let yj{c}_{b} = min(j0 + 4u * {c}u + {b}u, P.cols - 1u);
  // #endfor
  // #endfor
  // #endif
  // #for a in 0..R4
  // #for b in 0..4
  // #for c in 0..C4
  var acc{a}_{b}_{c} = vec4<f32>(0.0);
  // #endfor
  // #endfor
  // #endfor
  // #if XVEC
  var xb = P.x_off / 4u;
  let xs = P.ldx / 4u;
  // #else
  var xb = P.x_off;
  let xs = P.ldx;
  // #endif
  // #if YVEC
  var yb = P.y_off / 4u;
  let ys = P.ldy / 4u;
  // #else
  var yb = P.y_off;
  let ys = P.ldy;
  // #endif
  // Four rows of X and Y per iteration: each accumulator takes a chain of four fused
  // multiply-adds per load/store (llvmpipe keeps this many accumulators in memory). Rows past K
  // (the last iteration when K % 4 != 0) read row K − 1 and use zeros for X.
  for (var m = 0u; m < P.k; m += 4u) {
    // #for u in 0..4
    let ok{u} = m + {u}u < P.k;
    let xr{u} = xb + select(0u, {u}u * xs, ok{u});
    let yr{u} = yb + select(0u, {u}u * ys, ok{u});
    // #for a in 0..R4
    // #if XVEC
    let x{u}_{a} = select(vec4<f32>(0.0), X[xr{u} + xi{a}], ok{u});
    // #else
    let x{u}_{a} = select(vec4<f32>(0.0), vec4<f32>(X[xr{u} + xi{a}_0], X[xr{u} + xi{a}_1], X[xr{u} + xi{a}_2], X[xr{u} + xi{a}_3]), ok{u});
    // #endif
    // #endfor
    // #for c in 0..C4
    // #if YVEC
    let y{u}_{c} = Y[yr{u} + yj{c}];
    // #else
    let y{u}_{c} = vec4<f32>(Y[yr{u} + yj{c}_0], Y[yr{u} + yj{c}_1], Y[yr{u} + yj{c}_2], Y[yr{u} + yj{c}_3]);
    // #endif
    // #endfor
    // #endfor
    // #for a in 0..R4
    // #for b in 0..4
    // #for c in 0..C4
    acc{a}_{b}_{c} = fma(vec4<f32>(x0_{a}[{b}]), y0_{c}, fma(vec4<f32>(x1_{a}[{b}]), y1_{c}, fma(vec4<f32>(x2_{a}[{b}]), y2_{c}, fma(vec4<f32>(x3_{a}[{b}]), y3_{c}, acc{a}_{b}_{c}))));
    // #endfor
    // #endfor
    // #endfor
    xb += 4u * xs;
    yb += 4u * ys;
  }
  let mirror = (P.flags & 2u) != 0u;
  // #for a in 0..R4
  // #for b in 0..4
  // #for c in 0..C4
  store4(i0 + 4u * {a}u + {b}u, j0 + 4u * {c}u, acc{a}_{b}_{c}, mirror);
  // #endfor
  // #endfor
  // #endfor
}

// #endif

// #if COLSQ
@compute @workgroup_size({{WG}})
fn colsq(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let col = (wid.x + wid.y * nwg.x) * {{WG}}u + lid; // a column, or a vec4 of columns with XVEC
  // #if XVEC
  if (col * 4u >= P.cols) {
    return;
  }
  var xb = P.x_off / 4u + col;
  let xs = P.ldx / 4u;
  var acc = vec4<f32>(0.0);
  // #else
  if (col >= P.cols) {
    return;
  }
  var xb = P.x_off + col;
  let xs = P.ldx;
  var acc = 0.0;
  // #endif
  for (var m = 0u; m < P.k; m++) {
    let v = X[xb];
    acc = fma(v, v, acc);
    xb += xs;
  }
  // #if CVEC
  OUT[col] = OUT[col] + acc;
  // #else
  // #if XVEC
  for (var t = 0u; t < 4u; t++) {
    if (col * 4u + t < P.cols) {
      OUT[col * 4u + t] = OUT[col * 4u + t] + acc[t];
    }
  }
  // #else
  OUT[col] = OUT[col] + acc;
  // #endif
  // #endif
}
// #endif
