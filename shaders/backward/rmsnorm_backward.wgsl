// Backward of RMSNorm y = x · r · w, r = 1/sqrt(mean(x²) + eps) (rmsnorm.wgsl), over rows of
// X [m, d]:
//   dx = r·(w∘dy) − x · r³·Σ_j(w_j·dy_j·x_j)/d,        dw = Σ_rows dy∘x·r.
//
// Entry point `dx` (one workgroup of WG invocations per row, rows folded into [x, y] by
// linearGrid): invocation t visits columns t, t + WG, … twice. The first pass sums x² and
// w·dy·x (a two-value workgroup-memory tree), the second writes dx (or adds it, flags & 1: the
// residual stream's gradient collects the branch's contribution) unless flags & 2 (only the
// statistics are wanted). Invocation 0 stores r in RSTD[row] for the weight gradient.
// Loop iterations: 2·⌈cols/WG⌉ + log2(WG) + a few.
//
// Entry point `dw_partial`: invocation (column c, chunk g) sums dy·x·r over the rows
// [g·chunk, min(m, (g+1)·chunk)) of column c (a vec4 of columns with VEC4) and writes it to
// OUT[g·cols + c], or (flags & 1, used when there is one chunk and OUT is dw itself) adds it.
// Entry point `dw_reduce`: invocation c sums the `chunks` partials of column c and writes dw
// (adds, flags & 1). Chunks are independent, so the reduction is race-free and deterministic;
// the loops run `chunk` and `chunks` iterations (the host keeps both within the budget).
//
// Defines: WG (workgroup size, a power of two), VEC4 (d % 4 == 0: vec4 loads and stores; P.cols
// counts vec4s), WT (weight storage: f32 or f16), one of DX / DW_PARTIAL / DW_REDUCE.
alias WT = f32;

// #if VEC4
alias V = vec4<f32>;
alias VW = vec4<WT>;
// #else
alias V = f32;
alias VW = WT;
// #endif

struct Params {
  m: u32, // rows
  d: u32, // columns
  cols: u32, // columns as stored: d / 4 with VEC4
  eps: f32,
  chunk: u32, // dw_partial: rows per chunk;  dw_reduce: number of chunks
  flags: u32, // bit 0: accumulate;  bit 1 (dx): statistics only
};

@group(0) @binding(0) var<uniform> P: Params;

/** Sum of the components of v. */
fn hsum(v: V) -> f32 {
  // #if VEC4
  return (v.x + v.y) + (v.z + v.w);
  // #else
  return v;
  // #endif
}

// #if DX
@group(0) @binding(1) var<storage, read> X: array<V>;
@group(0) @binding(2) var<storage, read> W: array<VW>;
@group(0) @binding(3) var<storage, read> DY: array<V>;
@group(0) @binding(4) var<storage, read_write> DX: array<V>;
@group(0) @binding(5) var<storage, read_write> RSTD: array<f32>;

var<workgroup> red: array<vec2<f32>, {{WG}}>;

@compute @workgroup_size({{WG}})
fn dx(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.m) {
    return;
  }
  let base = row * P.cols;
  var acc = vec2<f32>(0.0);
  for (var j = lid; j < P.cols; j += {{WG}}u) {
    let x = X[base + j];
    let g = V(W[j]) * DY[base + j];
    acc += vec2<f32>(hsum(x * x), hsum(g * x));
  }
  red[lid] = acc;
  workgroupBarrier();
  for (var s = {{WG}}u / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] += red[lid + s];
    }
    workgroupBarrier();
  }
  let tot = red[0];
  let r = 1.0 / sqrt(tot.x / f32(P.d) + P.eps);
  if (lid == 0u) {
    RSTD[row] = r;
  }
  if ((P.flags & 2u) != 0u) {
    return;
  }
  let c = V(r * r * r * tot.y / f32(P.d));
  let accumulate = (P.flags & 1u) != 0u;
  for (var j = lid; j < P.cols; j += {{WG}}u) {
    let g = V(r) * (V(W[j]) * DY[base + j]) - c * X[base + j];
    if (accumulate) {
      DX[base + j] += g;
    } else {
      DX[base + j] = g;
    }
  }
}
// #endif

// #if DW_PARTIAL
@group(0) @binding(1) var<storage, read> X: array<V>;
@group(0) @binding(2) var<storage, read> DY: array<V>;
@group(0) @binding(3) var<storage, read> RSTD: array<f32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<V>;

@compute @workgroup_size({{WG}})
fn dw_partial(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let c = wid.x * {{WG}}u + lid;
  if (c >= P.cols) {
    return;
  }
  let g = wid.y;
  let r0 = g * P.chunk;
  let r1 = min(P.m, r0 + P.chunk);
  var acc = V(0.0);
  var at = r0 * P.cols + c;
  for (var row = r0; row < r1; row++) {
    acc = fma(DY[at] * X[at], V(RSTD[row]), acc);
    at += P.cols;
  }
  let o = g * P.cols + c;
  if ((P.flags & 1u) != 0u) {
    acc += OUT[o];
  }
  OUT[o] = acc;
}
// #endif

// #if DW_REDUCE
@group(0) @binding(1) var<storage, read> PART: array<V>;
@group(0) @binding(2) var<storage, read_write> DW: array<V>;

@compute @workgroup_size({{WG}})
fn dw_reduce(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let c = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (c >= P.cols) {
    return;
  }
  var acc = V(0.0);
  for (var g = 0u; g < P.chunk; g++) {
    acc += PART[g * P.cols + c];
  }
  if ((P.flags & 1u) != 0u) {
    acc += DW[c];
  }
  DW[c] = acc;
}
// #endif
