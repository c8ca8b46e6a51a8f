// Blocked right-looking Cholesky factorisation and triangular solves for (G + shift·I) X = H,
// f32 (see src/kernels/cholesky.ts for the algorithm, the pivot policy and the status flags).
//
// The host records, per block column k of width B (kb = k·B), on a work copy A [FP, FP]
// (FP = F rounded up to B; the padding is the identity):
//   potrf  (1 workgroup)  A_kk = L_kk·L_kkᵀ in place, with the pivot policy; writes
//                         L_kk into A and L_kk⁻¹ into Dinv[k] (B × B, zeros above the diagonal);
//   trsm   (row each)     L_ik = A_ik·L_kk⁻ᵀ for the rows below, into A and transposed into PT;
//   gemm_tn (gram.wgsl)   A_22 −= PTᵀ·PT (lower blocks only);
//   trsv   (column each)  Y_k = L_kk⁻¹·Y_k on the right-hand sides Xw [FP, NP], also into Yb;
//   gemm_tn               Y_below −= PTᵀ·Yb;
// then for k from last to first: trsv with TRANS (X_k = L_kk⁻ᵀ·X_k) and gemm_tn
// X_above −= A[kb.., 0..kb]ᵀ·Yb.
//
// Each entry point is compiled on its own (one boolean define per entry), which selects its
// bindings: binding 0 is P, storage buffers follow in the order the host binds them.
// Loop iterations per invocation: prep ⌈F/256⌉ + 8; load_a / load_h / store none; potrf
// ≈ B² + 3B; trsm B/4; trsv B.

struct Params {
  f: u32, // F
  fp: u32, // FP: padded size, a multiple of B
  n: u32, // N
  np: u32, // NP: padded right-hand-side columns, a multiple of 4
  kb: u32, // first row of the current block
  damping: f32, // absolute diagonal shift
  jitter: f32, // relative diagonal shift (times mean |diag G|)
  tol: f32, // relative pivot tolerance
};

@group(0) @binding(0) var<uniform> P: Params;

const CLAMPED = 1u;
const NONPOSITIVE = 2u;
const NONFINITE = 4u;
const INDEFINITE = 8u;

fn finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

// #if PREP
// One workgroup: the diagonal shift and the fallback pivot scale, into SC; resets STATUS.
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> SC: array<f32>; // [shift, fallback scale]
@group(0) @binding(3) var<storage, read_write> STATUS: array<atomic<u32>>;

var<workgroup> red: array<f32, 256>;
var<workgroup> bad: atomic<u32>;

@compute @workgroup_size(256)
fn prep(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) {
    atomicStore(&bad, 0u);
  }
  var s = 0.0;
  var ok = true;
  for (var i = lid; i < P.f; i += 256u) {
    let d = G[i * P.f + i];
    ok = ok && finite(d);
    s += abs(d);
  }
  red[lid] = s;
  workgroupBarrier();
  if (!ok) {
    atomicOr(&bad, 1u);
  }
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (lid < w) {
      red[lid] += red[lid + w];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let mean = red[0] / f32(P.f);
    var shift = P.damping + P.jitter * mean;
    var flags = 0u;
    if (atomicLoad(&bad) != 0u || !finite(shift)) {
      flags = NONFINITE;
    }
    if (!finite(shift)) {
      shift = P.damping;
    }
    var fallback = mean + shift;
    if (!(fallback > 0.0) || !finite(fallback)) {
      fallback = 1.0;
    }
    SC[0] = shift;
    SC[1] = fallback;
    atomicStore(&STATUS[0], flags);
    atomicStore(&STATUS[1], 0u);
    atomicStore(&STATUS[2], 0xffffffffu);
    atomicStore(&STATUS[3], bitcast<u32>(shift));
  }
}
// #endif

// #if LOAD_A
// A = G + shift·I on [F, F], the identity on the padding; DG = diag(A). One vec4 per invocation.
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> SC: array<f32>;
@group(0) @binding(3) var<storage, read_write> A: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> DG: array<f32>;

@compute @workgroup_size(64)
fn load_a(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let q = (wid.x + wid.y * nwg.x) * 64u + lid;
  let fp4 = P.fp / 4u;
  if (q >= P.fp * fp4) {
    return;
  }
  let i = q / fp4;
  let j0 = (q % fp4) * 4u;
  var v = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    let j = j0 + t;
    if (i < P.f && j < P.f) {
      v[t] = G[i * P.f + j];
    }
    if (i == j) {
      v[t] = select(1.0, v[t] + SC[0], i < P.f);
      DG[i] = v[t];
    }
  }
  A[q] = v;
}
// #endif

// #if LOAD_H
// Xw [FP, NP] = H [F, N] zero padded. One element per invocation.
@group(0) @binding(1) var<storage, read> H: array<f32>;
@group(0) @binding(2) var<storage, read_write> XW: array<f32>;

@compute @workgroup_size(64)
fn load_h(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let e = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (e >= P.fp * P.np) {
    return;
  }
  let i = e / P.np;
  let j = e % P.np;
  XW[e] = select(0.0, H[min(i * P.n + j, P.f * P.n - 1u)], i < P.f && j < P.n);
}
// #endif

// #if POTRF
// Factorises the diagonal block at kb (rows and columns kb … kb+B−1 of A) in place, in A's lower
// triangle (storageBarrier orders the single workgroup's accesses): invocation r owns row r. Not
// in workgroup memory: the GL back end zero-initialises a workgroup array with straight-line code
// whose JIT took minutes for B² floats on llvmpipe (Vulkan zero-initialises natively).
// Pivot j is d = A_jj − Σ L_jk²; with a = DG[kb + j] (the shifted diagonal before elimination;
// SC[1] when a ≤ 0) a pivot d < tol·a is raised to tol·a and flagged (CLAMPED; NONPOSITIVE when d ≤ 0; INDEFINITE when d < −tol·a; NONFINITE when NaN).
@group(0) @binding(1) var<storage, read_write> A: array<f32>;
@group(0) @binding(2) var<storage, read> DG: array<f32>;
@group(0) @binding(3) var<storage, read> SC: array<f32>;
@group(0) @binding(4) var<storage, read_write> DINV: array<f32>; // [FP / B, B, B]
@group(0) @binding(5) var<storage, read_write> STATUS: array<atomic<u32>>;

@compute @workgroup_size({{B}})
fn potrf(@builtin(local_invocation_index) r: u32) {
  let kb = P.kb;
  let s0 = kb * P.fp + kb; // S[i·B + c] below is A[s0 + i·FP + c]
  let fallback = SC[1];
  for (var j = 0u; j < {{B}}u; j++) {
    var d = A[s0 + j * P.fp + j];
    let a = DG[kb + j];
    let lo = P.tol * select(fallback, a, a > 0.0 && finite(a));
    if (!(d >= lo)) {
      if (r == j) {
        var flags = CLAMPED;
        if (d <= 0.0) {
          flags |= NONPOSITIVE;
        }
        if (d < -lo) {
          flags |= INDEFINITE;
        }
        if (!finite(d)) {
          flags |= NONFINITE;
        }
        atomicOr(&STATUS[0], flags);
        atomicAdd(&STATUS[1], 1u);
        atomicMin(&STATUS[2], kb + j);
      }
      d = lo;
    }
    let ljj = sqrt(d);
    if (r > j) {
      A[s0 + r * P.fp + j] = A[s0 + r * P.fp + j] / ljj;
    }
    storageBarrier();
    if (r == j) {
      A[s0 + j * P.fp + j] = ljj;
    }
    if (r > j) {
      let lrj = A[s0 + r * P.fp + j];
      for (var c = j + 1u; c <= r; c++) {
        A[s0 + r * P.fp + c] = A[s0 + r * P.fp + c] - lrj * A[s0 + c * P.fp + j];
      }
    }
    storageBarrier();
  }
  // Column r of L⁻¹ by forward substitution, straight into DINV (this invocation alone writes
  // and reads column r there).
  let dbase = (kb / {{B}}u) * {{BB}}u;
  let c = r;
  for (var i = 0u; i < c; i++) {
    DINV[dbase + i * {{B}}u + c] = 0.0;
  }
  DINV[dbase + c * {{B}}u + c] = 1.0 / A[s0 + c * P.fp + c];
  for (var i = c + 1u; i < {{B}}u; i++) {
    var s = 0.0;
    for (var k = c; k < i; k++) {
      s = fma(A[s0 + i * P.fp + k], DINV[dbase + k * {{B}}u + c], s);
    }
    DINV[dbase + i * {{B}}u + c] = -s / A[s0 + i * P.fp + i];
  }
}
// #endif

// #if TRSM
// Rows i ≥ kb + B of the block column: L_i = A_i·L_kk⁻ᵀ, written over A_i and transposed into
// PT [B, FP] (PT[c, i] = L[i, kb + c]). One row per invocation (it reads its whole row first).
@group(0) @binding(1) var<storage, read_write> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> DINV: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> PT: array<f32>;

@compute @workgroup_size(64)
fn trsm(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = P.kb + {{B}}u + wid.x * 64u + lid;
  if (i >= P.fp) {
    return;
  }
  let arow = (i * P.fp + P.kb) / 4u;
  // #for q in 0..B4
  let a{q} = A[arow + {q}u];
  // #endfor
  let dbase = (P.kb / {{B}}u) * ({{BB}}u / 4u);
  for (var c4 = 0u; c4 < {{B4}}u; c4++) {
    let d = dbase + c4 * {{B}}u; // row 4·c4 of L_kk⁻¹, in vec4s
    var o = vec4<f32>(0.0);
    // #for t in 0..4
    // #for q in 0..B4
    o[{t}] += dot(a{q}, DINV[d + {t}u * {{B4}}u + {q}u]);
    // #endfor
    // #endfor
    A[arow + c4] = o;
    // #for t in 0..4
    PT[(c4 * 4u + {t}u) * P.fp + i] = o[{t}];
    // #endfor
  }
}
// #endif

// #if TRSV
// Y_k = L_kk⁻¹·Y_k (TRANS: L_kk⁻ᵀ·Y_k) on rows kb … kb+B−1 of Xw [FP, NP], written over Xw and
// into Yb [B, NP]. One vec4 column per invocation (it reads its B values first).
@group(0) @binding(1) var<storage, read> DINV: array<f32>;
@group(0) @binding(2) var<storage, read_write> XW: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> YB: array<vec4<f32>>;

@compute @workgroup_size(64)
fn trsv(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let np4 = P.np / 4u;
  let c4 = wid.x * 64u + lid;
  if (c4 >= np4) {
    return;
  }
  let x0 = P.kb * np4 + c4;
  // #for k in 0..B
  let h{k} = XW[x0 + {k}u * np4];
  // #endfor
  let dbase = (P.kb / {{B}}u) * {{BB}}u;
  for (var r = 0u; r < {{B}}u; r++) {
    var y = vec4<f32>(0.0);
    // #for k in 0..B
    // #if TRANS
    y = fma(vec4<f32>(DINV[dbase + {k}u * {{B}}u + r]), h{k}, y);
    // #else
    y = fma(vec4<f32>(DINV[dbase + r * {{B}}u + {k}u]), h{k}, y);
    // #endif
    // #endfor
    XW[x0 + r * np4] = y;
    YB[r * np4 + c4] = y;
  }
}
// #endif

// #if STORE
// out [F, N] = Xw [FP, NP] without the padding (CHECK: Xw is out itself; only the check runs);
// any non-finite value sets NONFINITE. One element per invocation.
@group(0) @binding(1) var<storage, read> XW: array<f32>;
@group(0) @binding(2) var<storage, read_write> STATUS: array<atomic<u32>>;
// #if !CHECK
@group(0) @binding(3) var<storage, read_write> OUT: array<f32>;
// #endif

@compute @workgroup_size(64)
fn store(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let e = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (e >= P.f * P.n) {
    return;
  }
  let i = e / P.n;
  let j = e % P.n;
  let v = XW[i * P.np + j];
  // #if !CHECK
  OUT[e] = v;
  // #endif
  if (!finite(v)) {
    atomicOr(&STATUS[0], NONFINITE);
  }
}
// #endif
