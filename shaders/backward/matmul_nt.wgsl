// Backward products of a linear layer Y = X·Wᵀ (+ b) whose weight is stored packed (matmul.wgsl):
// Wp[KP, NP] row-major, Wp[k, n] = W_hf[n, k], zero padded.
//
// Entry point `main` (the NT product, input gradient):
//   DX[m, k] = Σ_{n_begin ≤ n < n_end} DY[m, n] · Wp[k, n]   (+ DX[m, k] when flags & 1)
// for m < M, k < K: both operands are read along their contiguous dimension (n), so the product
// is a row-by-row dot product. Each invocation owns an RM × CK register block of DX: RM rows of
// DY (the same rows for the whole workgroup, so those loads are uniform) by CK consecutive
// columns k (rows of Wp). Per loop iteration it takes NU steps of 4 n: it loads NU·RM vec4s of DY
// and NU·CK vec4s of Wp, and each of the RM·CK unrolled vec4 accumulators takes NU fused
// multiply-adds (llvmpipe keeps this many accumulators in memory, so several updates per
// load/store matter); the four lanes of each accumulator are added once at the end. The n loop
// runs ⌈(n_end − n_begin)/(4·NU)⌉ iterations per invocation: the host splits N into dispatches of
// at most NT_CHUNK_COLUMNS columns (the later ones accumulate), so an LM head's 151,936 columns
// stay far below Mesa 22.3's 65,535-iteration cap.
//
// Entry point `colsum` (compiled with COLSUM, the bias gradient):
//   DB[n] = Σ_{row_base ≤ m < row_end} DY[m, n]   (+ DB[n] when flags & 1)
// one column (or one vec4 of columns with DYVEC) per invocation, one runtime loop over the rows
// of a chunk (the host splits M into chunks within the loop budget). DB is the packed bias [NP]:
// only n < N is written, so its padding stays zero.
//
// Defines: RM, CK (block rows / columns), NU (vec4 steps of n per iteration), WG (workgroup
// size), DYVEC (N % 4 == 0: DY rows are read as vec4), WT (f32 or f16 weight storage; arithmetic is f32), COLSUM (compile `colsum`).
alias WT = f32;

struct Params {
  m: u32, // rows of DY and DX
  k: u32, // columns of DX (the layer's input features, unpadded)
  n: u32, // columns of DY (output features, unpadded)
  np4: u32, // NP / 4: vec4 columns of Wp
  row_base: u32, // first row of this dispatch
  n_begin: u32, // first column of DY of this dispatch (a multiple of 4·NU); colsum: end row
  n_end: u32, // end of the DY columns of this dispatch (≤ n; a multiple of 4·NU unless = n)
  flags: u32, // bit 0: accumulate into DX / DB
};

@group(0) @binding(0) var<uniform> P: Params;
// #if DYVEC
@group(0) @binding(1) var<storage, read> DY: array<vec4<f32>>;
// #else
@group(0) @binding(1) var<storage, read> DY: array<f32>;
// #endif

// #if COLSUM
// #if DYVEC
@group(0) @binding(2) var<storage, read_write> DB: array<vec4<f32>>;
// #else
@group(0) @binding(2) var<storage, read_write> DB: array<f32>;
// #endif

@compute @workgroup_size({{WG}})
fn colsum(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let col = (wid.x + wid.y * nwg.x) * {{WG}}u + lid; // a column, or a vec4 of columns
  // #if DYVEC
  let cols = P.n / 4u;
  var acc = vec4<f32>(0.0);
  // #else
  let cols = P.n;
  var acc = 0.0;
  // #endif
  if (col >= cols) {
    return;
  }
  var at = P.row_base * cols + col;
  for (var r = P.row_base; r < P.n_begin; r++) {
    acc += DY[at];
    at += cols;
  }
  if ((P.flags & 1u) != 0u) {
    acc += DB[col];
  }
  DB[col] = acc;
}
// #else
@group(0) @binding(2) var<storage, read> Wp: array<vec4<WT>>;
@group(0) @binding(3) var<storage, read_write> DX: array<f32>;

fn store(row: u32, col: u32, v: vec4<f32>) {
  if (row >= P.m || col >= P.k) {
    return;
  }
  let s = (v.x + v.y) + (v.z + v.w);
  let at = row * P.k + col;
  DX[at] = select(s, DX[at] + s, (P.flags & 1u) != 0u);
}

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let k0 = g.x * {{CK}}u;
  if (k0 >= P.k) {
    return;
  }
  let row0 = P.row_base + g.y * {{RM}}u;
  // Rows and columns past the end read the last valid one; their results are not stored.
  // #for r in 0..RM
  let yr{r} = min(row0 + {r}u, P.m - 1u) * P.n;
  // #endfor
  // #for c in 0..CK
  let wr{c} = min(k0 + {c}u, P.k - 1u) * P.np4;
  // #endfor
  // #for r in 0..RM
  // #for c in 0..CK
  var acc{r}_{c} = vec4<f32>(0.0);
  // #endfor
  // #endfor
  for (var n = P.n_begin; n < P.n_end; n += 4u * {{NU}}u) {
    // #for u in 0..NU
    let n{u} = n + 4u * {u}u;
    let ok{u} = n{u} < P.n_end; // the last step of a chunk may be partial
    let n4_{u} = min(n{u}, P.n_end - 1u) / 4u;
    // #for c in 0..CK
    let w{u}_{c} = vec4<f32>(Wp[wr{c} + n4_{u}]);
    // #endfor
    // #for r in 0..RM
    // #if DYVEC
    let y{u}_{r} = select(vec4<f32>(0.0), DY[yr{r} / 4u + n4_{u}], ok{u});
    // #else
    let y{u}_{r} = vec4<f32>(
      select(0.0, DY[yr{r} + n{u}], ok{u}),
      select(0.0, DY[yr{r} + n{u} + 1u], n{u} + 1u < P.n_end),
      select(0.0, DY[yr{r} + n{u} + 2u], n{u} + 2u < P.n_end),
      select(0.0, DY[yr{r} + n{u} + 3u], n{u} + 3u < P.n_end),
    );
    // #endif
    // #endfor
    // #endfor
    // #for r in 0..RM
    // #for c in 0..CK
    // #for u in 0..NU
    acc{r}_{c} = fma(y{u}_{r}, w{u}_{c}, acc{r}_{c});
    // #endfor
    // #endfor
    // #endfor
  }
  // #for r in 0..RM
  // #for c in 0..CK
  store(row0 + {r}u, k0 + {c}u, acc{r}_{c});
  // #endfor
  // #endfor
}
// #endif
