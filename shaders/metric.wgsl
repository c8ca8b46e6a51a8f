// SPRINT sensitivity metrics (CompressionManager.add_batch): per-row statistics of a reference
// activation O and a pruned activation C, and the per-batch contribution Σ_r dist(row r) added
// into one score slot. All arithmetic is f32; every sum is a strided per-invocation chain followed
// by a workgroup-memory tree (and, for long rows, a second tree over per-workgroup partials).
//
// Four kernels, selected by exactly one of the boolean defines ROWS, ELEMENTS, COMBINE, ACCUMULATE
// (each block declares its own Params and bindings, so binding numbers stay contiguous as the
// Recorder assigns them; the entry point is always `main`).
//
// ROWS — row statistics. A row r has P.len elements at
//   base(r) + j·P.step,  base(r) = (r / P.inner)·P.outer_stride + (r % P.inner),  j < P.len
// (contiguous rows: inner = 1, step = 1, outer_stride = len; channel rows: inner = d, step = d,
// outer_stride = T·d). A workgroup of WG invocations covers RPW rows × TPR lanes (RPW·TPR = WG)
// and one of P.splits segments of those rows: lane l of split s reads j = s·TPR + l + k·splits·TPR.
// With CONTIG the TPR lanes of a row are neighbouring invocations (neighbouring addresses along
// the row); without, the RPW rows are (neighbouring channels of a token). The 6 sums
//   [Σ|O−C|, Σ|O|, Σ(O−C)², ΣO², ΣO·C, ΣC²]
// of each row (or row segment) are tree-combined over the lanes and written to
// OUT[(r·splits + s)·6 + k]. Loop iterations per invocation: ceil(len / (splits·TPR)) + log2(TPR)
// (+ the exit tests); the host checks the project budget. VEC4 (contiguous rows only, len % 4 == 0)
// reads vec4s; len, outer_stride then count vec4s.
//
// COMBINE — OUT[r·6 + k] = Σ_s IN[(r·splits + s)·6 + k]: one workgroup per row (linearGrid),
// strided over the splits, then a tree.
//
// ELEMENTS — element normalisation (one row per scalar). The per-row distance of a 1-element row
// only depends on that element, so it is evaluated here, per element, and summed (grid-stride over
// P.n items, tree per workgroup): OUT[g·6 + 0] = Σ |o−c| / |o| (l1 = official l2 = l2true on one
// element), OUT[g·6 + 1] = Σ 1 − o·c / (|o|·|c|) (cos), OUT[g·6 + 2…5] = 0. Division by |o| = 0
// gives what PyTorch float32 gives: 0/0 = NaN, x/0 = +inf (set explicitly with P.inf / P.nan,
// not left to the back end's division); the cos of a row with o = 0 or c = 0 is NaN (0/0).
//
// ACCUMULATE — one workgroup: SCORE[P.slot] += Σ_r dist(STATS row r), the sum a strided chain plus
// a tree. dist (P.dist): 0 = l1 (and the official "l2", identical), 1 = l2true, 2 = cos. With
// P.element the rows are ELEMENTS partials and the sum is over column 0 (l1, l2, l2true) or 1 (cos).
//
// Defines: WG (workgroup size, a power of two); ROWS: TPR (lanes per row, a power of two ≤ WG),
// CONTIG, VEC4; ELEMENTS: VEC4.

// #if VEC4
alias V = vec4<f32>;
// #else
alias V = f32;
// #endif

/** Sum of the components of `v`. */
fn hsum(v: V) -> f32 {
  // #if VEC4
  return (v.x + v.y) + (v.z + v.w);
  // #else
  return v;
  // #endif
}

/** Tree-reduction scratch: [Σ|O−C|, Σ|O|, Σ(O−C)², ΣO²] and [ΣO·C, ΣC²] per invocation. */
var<workgroup> red_a: array<vec4<f32>, {{WG}}>;
var<workgroup> red_b: array<vec2<f32>, {{WG}}>;

/**
 * Tree sum over all WG invocations of red_a and red_b (result in slot 0); call from uniform
 * control flow after writing this invocation's slots.
 */
fn tree6(lid: u32) {
  workgroupBarrier();
  for (var h = {{WG}}u / 2u; h > 0u; h >>= 1u) {
    if (lid < h) {
      red_a[lid] += red_a[lid + h];
      red_b[lid] += red_b[lid + h];
    }
    workgroupBarrier();
  }
}

/** Tree sum over all WG invocations of red_b only (result in slot 0), like tree6. */
fn tree2(lid: u32) {
  workgroupBarrier();
  for (var h = {{WG}}u / 2u; h > 0u; h >>= 1u) {
    if (lid < h) {
      red_b[lid] += red_b[lid + h];
    }
    workgroupBarrier();
  }
}

// #if ROWS
struct Params {
  rows: u32, // R
  len: u32, // elements per row (vec4s with VEC4)
  splits: u32, // segments per row (workgroups per row tile)
  inner: u32, // rows per outer block
  outer_stride: u32, // elements between outer blocks (vec4s with VEC4)
  step: u32, // elements between consecutive elements of a row
  tiles: u32, // ceil(R / RPW)
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> O: array<V>;
@group(0) @binding(2) var<storage, read> C: array<V>;
@group(0) @binding(3) var<storage, read_write> OUT: array<f32>;

const TPR = {{TPR}}u;
const RPW = {{WG}}u / {{TPR}}u;

@compute @workgroup_size({{WG}})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let w = wid.x + wid.y * nwg.x;
  if (w >= P.tiles * P.splits) {
    return;
  }
  let tile = w / P.splits;
  let split = w % P.splits;
  // #if CONTIG
  let lane = lid % TPR;
  let rl = lid / TPR;
  // #else
  let rl = lid % RPW;
  let lane = lid / RPW;
  // #endif
  let r = tile * RPW + rl;
  var a = vec4<f32>(0.0);
  var b = vec2<f32>(0.0);
  if (r < P.rows) {
    let base = (r / P.inner) * P.outer_stride + (r % P.inner);
    let stride = P.splits * TPR;
    for (var j = split * TPR + lane; j < P.len; j += stride) {
      let i = base + j * P.step;
      let o = O[i];
      let c = C[i];
      let e = o - c;
      a += vec4<f32>(hsum(abs(e)), hsum(abs(o)), hsum(e * e), hsum(o * o));
      b += vec2<f32>(hsum(o * c), hsum(c * c));
    }
  }
  // Tree over the TPR lanes of each row; slot = rl·TPR + lane whatever the thread mapping.
  let slot = rl * TPR + lane;
  red_a[slot] = a;
  red_b[slot] = b;
  workgroupBarrier();
  for (var h = TPR / 2u; h > 0u; h >>= 1u) {
    if (lane < h) {
      red_a[slot] += red_a[slot + h];
      red_b[slot] += red_b[slot + h];
    }
    workgroupBarrier();
  }
  if (lane == 0u && r < P.rows) {
    let at = (r * P.splits + split) * 6u;
    let sa = red_a[slot];
    let sb = red_b[slot];
    OUT[at] = sa.x;
    OUT[at + 1u] = sa.y;
    OUT[at + 2u] = sa.z;
    OUT[at + 3u] = sa.w;
    OUT[at + 4u] = sb.x;
    OUT[at + 5u] = sb.y;
  }
}
// #endif

// #if COMBINE
struct Params {
  rows: u32,
  splits: u32,
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> IN: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;

@compute @workgroup_size({{WG}})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= P.rows) {
    return;
  }
  var a = vec4<f32>(0.0);
  var b = vec2<f32>(0.0);
  for (var s = lid; s < P.splits; s += {{WG}}u) {
    let at = (r * P.splits + s) * 6u;
    a += vec4<f32>(IN[at], IN[at + 1u], IN[at + 2u], IN[at + 3u]);
    b += vec2<f32>(IN[at + 4u], IN[at + 5u]);
  }
  red_a[lid] = a;
  red_b[lid] = b;
  tree6(lid);
  if (lid == 0u) {
    let at = r * 6u;
    let sa = red_a[0];
    let sb = red_b[0];
    OUT[at] = sa.x;
    OUT[at + 1u] = sa.y;
    OUT[at + 2u] = sa.z;
    OUT[at + 3u] = sa.w;
    OUT[at + 4u] = sb.x;
    OUT[at + 5u] = sb.y;
  }
}
// #endif

// #if ELEMENTS
struct Params {
  n: u32, // items (vec4s with VEC4)
  groups: u32, // workgroups of the (1-D) dispatch
  inf: f32, // +inf
  nan: f32, // a quiet NaN
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> O: array<V>;
@group(0) @binding(2) var<storage, read> C: array<V>;
@group(0) @binding(3) var<storage, read_write> OUT: array<f32>;

@compute @workgroup_size({{WG}})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let stride = P.groups * {{WG}}u;
  var acc = vec2<f32>(0.0);
  for (var i = wid.x * {{WG}}u + lid; i < P.n; i += stride) {
    let o = O[i];
    let c = C[i];
    // l1: |o − c| / |o|, with PyTorch's 0/0 = NaN and x/0 = +inf.
    let num = abs(o - c);
    let den = abs(o);
    let special = select(V(P.nan), V(P.inf), num > V(0.0));
    let ratio = select(num / den, special, den == V(0.0));
    // cos: 1 − o·c / (sqrt(o²)·sqrt(c²)); the row norm is |o| (|c|), 0 → 0/0 = NaN.
    let q = abs(o) * abs(c);
    let cosd = select(V(1.0) - (o * c) / q, V(P.nan), q == V(0.0));
    acc += vec2<f32>(hsum(ratio), hsum(cosd));
  }
  red_b[lid] = acc;
  tree2(lid);
  if (lid == 0u) {
    let at = wid.x * 6u;
    OUT[at] = red_b[0].x;
    OUT[at + 1u] = red_b[0].y;
    OUT[at + 2u] = 0.0;
    OUT[at + 3u] = 0.0;
    OUT[at + 4u] = 0.0;
    OUT[at + 5u] = 0.0;
  }
}
// #endif

// #if ACCUMULATE
struct Params {
  rows: u32, // rows of STATS
  dist: u32, // 0 = l1 / l2 (official), 1 = l2true, 2 = cos
  element: u32, // 1: STATS holds ELEMENTS partials
  slot: u32, // SCORE index
  inf: f32, // +inf
  nan: f32, // a quiet NaN
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> STATS: array<f32>;
@group(0) @binding(2) var<storage, read_write> SCORE: array<f32>;

/** num / den with PyTorch's special cases made explicit: 0/0 (or NaN/0) = NaN, x/0 = +inf. */
fn ratio(num: f32, den: f32) -> f32 {
  if (den == 0.0) {
    return select(P.nan, P.inf, num > 0.0);
  }
  return num / den;
}

/** The distance of row r (or, for element partials, the partial sum of the distances). */
fn row_value(r: u32) -> f32 {
  let at = r * 6u;
  if (P.element != 0u) {
    return STATS[at + select(0u, 1u, P.dist == 2u)];
  }
  let abs_diff = STATS[at];
  let abs_o = STATS[at + 1u];
  let sq_diff = STATS[at + 2u];
  let sq_o = STATS[at + 3u];
  let sq_c = STATS[at + 5u];
  if (P.dist == 0u) {
    return ratio(abs_diff, abs_o);
  }
  if (P.dist == 1u) {
    return ratio(sqrt(sq_diff), sqrt(sq_o));
  }
  // cos: 1 − ⟨O,C⟩ / (‖O‖‖C‖), evaluated as (‖O−C‖² − (‖O‖ − ‖C‖)²) / (2‖O‖‖C‖) — the same
  // quantity (‖O−C‖² = ‖O‖² + ‖C‖² − 2⟨O,C⟩) without the cancellation of 1 − (≈1) when C ≈ O.
  // ‖O‖ = 0 or ‖C‖ = 0 gives NaN, as 0/0 does in the official formula.
  let no = sqrt(sq_o);
  let nc = sqrt(sq_c);
  let den = 2.0 * no * nc;
  if (den == 0.0) {
    return P.nan;
  }
  let dn = no - nc;
  return (sq_diff - dn * dn) / den;
}

@compute @workgroup_size({{WG}})
fn main(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var r = lid; r < P.rows; r += {{WG}}u) {
    acc += row_value(r);
  }
  red_b[lid] = vec2<f32>(acc, 0.0);
  tree2(lid);
  if (lid == 0u) {
    SCORE[P.slot] = SCORE[P.slot] + red_b[0].x;
  }
}
// #endif
