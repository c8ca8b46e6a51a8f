// Causal grouped-query attention forward over a KV cache, and (with APPEND) the copy of the new
// tokens' keys/values into the cache.
//
// Layouts (f32, row-major): Q and O [B·T, H·hd]; caches K, V [B, S_cap, KVH, hd]. Query t of
// sequence b is at position p = past + t and attends to cache positions 0 … p (causal); query head
// h reads kv head h / R, R = H / KVH.
//
// Design (for Mesa 22.3's llvmpipe, where every storage or workgroup load costs a few cycles per
// lane and component, uniform address or not, while register arithmetic is cheap 8-wide SIMD):
// the queries of one (sequence b, kv head) are taken in (t, r) order and cut into tiles of QL
// consecutive queries, which all read the same keys and values. A lane holds a whole tile in
// registers (QL·hd/4 vec4s of pre-scaled q and as many accumulators, unrolled scalars) and walks
// its keys one at a time: one vec4 load per 4 dimensions of k and of v serves QL queries, so a
// (key, query) pair costs 2·hd/QL loaded floats and no scores go through memory. Each query keeps
// an online softmax (running max m, sum l; the accumulators are rescaled by exp2(m_old − m_new),
// branch-free since llvmpipe executes both sides of a divergent branch anyway); scores are in log2
// units (q carries scale·log2(e)), so exp2 of max-subtracted values never overflows.
// A workgroup is WG = 8 lanes (one SIMD batch): 8/Z tiles × Z key splits. Lane z of a tile takes
// keys z, z+Z, z+2Z, … (Z = 8 for decode, where tiles are few, down to 1 for prefill); at the end
// the lanes' states go to workgroup memory (8·QL·hd floats ≤ 16 KiB) and the tile's Z lanes
// merge them (max-subtracted) and write the outputs, lane z taking vec4 columns z, z+Z, ….
//
// Loop iterations per invocation (Mesa 22.3 cuts an invocation off after 65,535 in total; the
// loops over hd and QL are unrolled and count nothing): the key loop runs ⌈n/(Z·KB)⌉ ≤ ⌈n/Z⌉ times (n = p+1
// of the tile's last query) and the merge QL·(2Z + HD4 + ⌈HD4/Z⌉) < 400 times (QL·HD4 ≤ 128).
// At n = 4,096 that is < 4,500 (prefill, Z = 1) or < 912 (decode, Z = 8); at hd 256 the same.
// attention.ts raises Z until ⌈n/Z⌉ ≤ 60,000 and refuses n > 480,000.
//
// With LSE (training) the kernel also stores each query's log-sum-exp, LSE [B·T, H]:
//   LSE = log2 Σ_{j ≤ p} exp2(s_j),   s_j = scale·log2(e) · q·k_j
// (base-2 units of the pre-scaled scores, which is what the backward recomputes), so that the
// probabilities are P_j = exp2(s_j − LSE). Training passes its K, V [B·T, KVH·hd] as caches with
// S_cap = T and past = 0 (the same memory layout).
//
// Defines: HD4 (hd/4), QL (queries per lane: 1, 2, 4 or 8 with QL·hd ≤ 512), QLAST (QL − 1),
// KB (keys scored per block, 4), WG (8), WGQL (WG·QL), WGQLHD4 (WG·QL·HD4), LSE (bind and write LSE at binding 5); APPEND
// compiles the append kernel instead (only WG is used then: one invocation per vec4 of the new
// rows, no loops). ROPEKV (decode, T = 1; with HH = hd/8, hd/2 a multiple of 4) fuses what
// comes before attention in a decode step: Q holds the raw queries, KN/VN the raw new key and
// value rows [B, KVH·hd], `table` the RoPE table of rope.wgsl; queries and the new key are
// rotated here, the keys 0 … past−1 come from the cache, the new one from registers, and the
// roped key and the value are written into the cache at position past.

// #if APPEND
struct Params {
  n4: u32, // vec4s per new-token tensor: B·T·KVH·hd/4
  w4: u32, // vec4s per token row: KVH·hd/4
  tokens: u32, // T
  past: u32, // cache position of the first new token
  cap: u32, // S_cap
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> KN: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> VN: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> KC: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> VC: array<vec4<f32>>;

@compute @workgroup_size({{WG}})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i >= P.n4) {
    return;
  }
  let row = i / P.w4; // b·T + t
  let c = i - row * P.w4;
  let b = row / P.tokens;
  let t = row - b * P.tokens;
  let dst = (b * P.cap + P.past + t) * P.w4 + c;
  KC[dst] = KN[i];
  VC[dst] = VN[i];
}
// #else
struct Params {
  tokens: u32, // T
  past: u32, // cached positions before the new tokens
  heads: u32, // H
  kv_heads: u32, // KVH
  group: u32, // R = H / KVH
  cap: u32, // S_cap
  qn: u32, // T·R: queries per (sequence, kv head)
  tiles: u32, // ⌈qn / QL⌉: query tiles per (sequence, kv head)
  splits: u32, // Z: lanes per tile (key splits); divides WG
  count: u32, // tiles in all: B·KVH·tiles
  scale: f32, // softmax scale × log2(e)
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<vec4<f32>>;
// #if ROPEKV
@group(0) @binding(2) var<storage, read_write> K: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> V: array<vec4<f32>>;
// #else
@group(0) @binding(2) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> V: array<vec4<f32>>;
// #endif
@group(0) @binding(4) var<storage, read_write> O: array<vec4<f32>>;
// #if ROPEKV
@group(0) @binding(5) var<storage, read> KN: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> VN: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> table: array<vec4<f32>>;
const HH: u32 = {{HH}}u; // vec4s per half head (RoPE pairs column c with c ± HH)
// #endif
// #if LSE
@group(0) @binding(5) var<storage, read_write> LSE: array<f32>;
// #endif

const WG: u32 = {{WG}}u;
const QL: u32 = {{QL}}u;
const HD4: u32 = {{HD4}}u;
const KB: u32 = {{KB}}u;
// Below every score (finite, so that exp2(NEG - NEG) is 1 rather than NaN).
const NEG: f32 = -3.0e38;

// Each lane's softmax state (max, sum, accumulators of its QL queries), for the merge.
var<workgroup> part_m: array<f32, {{WGQL}}>;
var<workgroup> part_l: array<f32, {{WGQL}}>;
var<workgroup> part_acc: array<vec4<f32>, {{WGQLHD4}}>;

@compute @workgroup_size({{WG}})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let per_wg = WG / P.splits; // tiles per workgroup
  let w = wid.x + wid.y * nwg.x;
  if (w * per_wg >= P.count) {
    return;
  }
  let slot = lid / P.splits;
  let z = lid - slot * P.splits; // this lane's key split
  let tile_g = w * per_wg + slot;
  let tile_c = min(tile_g, P.count - 1u); // lanes past the last tile redo it and store nothing
  let tile = tile_c % P.tiles;
  let bk = tile_c / P.tiles; // b·KVH + kv head
  let kvh = bk % P.kv_heads;
  let b = bk / P.kv_heads;
  let fbase = tile * QL; // first query of the tile, in (t, r) order
  // #if ROPEKV
  // One new token per sequence (T = 1) at position past: RoPE of the raw queries and of the new
  // key is done here (HF rotate_half: column c pairs with c ± hd/2, the partner loaded again).
  let tb = P.past * HD4; // table row of position past: cos then sin, HH vec4s each
  let knb = bk * HD4; // the new key/value row of (b, kv head)
  // #for c in 0..HD4
  let rc{c} = table[tb + {c}u % HH];
  let rs{c} = table[tb + HH + {c}u % HH] * select(1.0, -1.0, {c}u < HH);
  let kn{c} = KN[knb + {c}u] * rc{c} + KN[knb + ({c}u + HH) % HD4] * rs{c};
  let vn{c} = VN[knb + {c}u];
  // #endfor
  // #endif
  // #for i in 0..QL
  let f{i} = min(fbase + {i}u, P.qn - 1u);
  let t{i} = f{i} / P.group;
  let p{i} = P.past + t{i}; // keys 0 … p
  let qh{i} = (b * P.tokens + t{i}) * P.heads + kvh * P.group + f{i} - t{i} * P.group; // row·H + h
  let qb{i} = qh{i} * HD4;
  // #for c in 0..HD4
  // #if ROPEKV
  let q{i}_{c} = (Q[qb{i} + {c}u] * rc{c} + Q[qb{i} + ({c}u + HH) % HD4] * rs{c}) * P.scale;
  // #else
  let q{i}_{c} = Q[qb{i} + {c}u] * P.scale;
  // #endif
  var acc{i}_{c} = vec4<f32>(0.0);
  // #endfor
  var m{i} = NEG;
  var l{i} = 0.0;
  // #endfor
  let stride = P.kv_heads * HD4; // vec4s per cache position
  let kvb = (b * P.cap * P.kv_heads + kvh) * HD4; // key 0 of this (sequence, kv head)
  // #if ROPEKV
  let n = P.past; // keys in the cache before the new one (which is taken from registers)
  // The new key/value go into the cache at position past (read by no lane of this dispatch):
  // the first tile of each (sequence, kv head) writes them, its lane z taking columns z, z+Z, ….
  if (tile_g < P.count && tile == 0u) {
    let dst = kvb + P.past * stride;
    // #for c in 0..HD4
    if ({c}u % P.splits == z) {
      K[dst + {c}u] = kn{c};
      V[dst + {c}u] = vn{c};
    }
    // #endfor
  }
  // #else
  let n = p{{QLAST}} + 1u; // keys of the tile's last query
  // #endif
  // Lane z takes blocks of KB consecutive keys: z·KB …, (z + Z)·KB …, … Within a block the
  // scores of all KB keys come first, then one rescale of the accumulators by the block's new
  // max, then the KB value updates: each query and accumulator register is touched once per
  // block rather than once per key. Keys past n are clamped loads, masked out.
  for (var j0 = z * KB; j0 < n; j0 += P.splits * KB) {
    // #for u in 0..KB
    let j{u} = j0 + {u}u;
    let kb{u} = kvb + min(j{u}, n - 1u) * stride;
    // #endfor
    // #for i in 0..QL
    // #for u in 0..KB
    var d{i}_{u} = vec4<f32>(0.0);
    // #endfor
    // #endfor
    // #for c in 0..HD4
    // #for u in 0..KB
    let k{u}_{c} = K[kb{u} + {c}u];
    // #endfor
    // #for i in 0..QL
    // #for u in 0..KB
    d{i}_{u} = fma(q{i}_{c}, k{u}_{c}, d{i}_{u});
    // #endfor
    // #endfor
    // #endfor
    // #for i in 0..QL
    var mn{i} = m{i};
    // #for u in 0..KB
    // #if ROPEKV
    let ok{i}_{u} = j{u} < n;
    // #else
    let ok{i}_{u} = j{u} <= p{i};
    // #endif
    let s{i}_{u} = select(NEG, (d{i}_{u}.x + d{i}_{u}.y) + (d{i}_{u}.z + d{i}_{u}.w), ok{i}_{u});
    mn{i} = max(mn{i}, s{i}_{u});
    // #endfor
    let sc{i} = exp2(m{i} - mn{i});
    var esum{i} = 0.0;
    // #for u in 0..KB
    let e{i}_{u} = select(0.0, exp2(s{i}_{u} - mn{i}), ok{i}_{u});
    esum{i} += e{i}_{u};
    let ve{i}_{u} = vec4<f32>(e{i}_{u});
    // #endfor
    l{i} = fma(l{i}, sc{i}, esum{i});
    m{i} = mn{i};
    let vsc{i} = vec4<f32>(sc{i});
    // #endfor
    // #for c in 0..HD4
    // #for u in 0..KB
    let v{u}_{c} = V[kb{u} + {c}u];
    // #endfor
    // #for i in 0..QL
    var pv{i}_{c} = acc{i}_{c} * vsc{i};
    // #for u in 0..KB
    pv{i}_{c} = fma(ve{i}_{u}, v{u}_{c}, pv{i}_{c});
    // #endfor
    acc{i}_{c} = pv{i}_{c};
    // #endfor
    // #endfor
  }
  // #if ROPEKV
  // The new key (position past), scored by lane z = 0 only (branch-free: the other lanes' update
  // is the identity).
  let own = z == 0u;
  // #for i in 0..QL
  var dn{i} = vec4<f32>(0.0);
  // #for c in 0..HD4
  dn{i} = fma(q{i}_{c}, kn{c}, dn{i});
  // #endfor
  let sn{i} = select(NEG, (dn{i}.x + dn{i}.y) + (dn{i}.z + dn{i}.w), own);
  let mx{i} = max(m{i}, sn{i});
  let rn{i} = vec4<f32>(exp2(m{i} - mx{i}));
  let en{i} = select(0.0, exp2(sn{i} - mx{i}), own);
  l{i} = fma(l{i}, rn{i}.x, en{i});
  m{i} = mx{i};
  // #for c in 0..HD4
  acc{i}_{c} = fma(vec4<f32>(en{i}), vn{c}, acc{i}_{c} * rn{i});
  // #endfor
  // #endfor
  // #endif
  // #for i in 0..QL
  part_m[lid * QL + {i}u] = m{i};
  part_l[lid * QL + {i}u] = l{i};
  // #for c in 0..HD4
  part_acc[(lid * QL + {i}u) * HD4 + {c}u] = acc{i}_{c};
  // #endfor
  // #endfor
  workgroupBarrier();
  if (tile_g >= P.count) {
    return;
  }
  let lane0 = slot * P.splits; // the tile's first lane
  // #for i in 0..QL
  if (fbase + {i}u < P.qn) {
    var mx = NEG;
    for (var y = 0u; y < P.splits; y++) {
      mx = max(mx, part_m[(lane0 + y) * QL + {i}u]);
    }
    var sum = 0.0;
    for (var y = 0u; y < P.splits; y++) {
      let at = (lane0 + y) * QL + {i}u;
      sum += exp2(part_m[at] - mx) * part_l[at];
    }
    let inv = 1.0 / sum;
    for (var c = z; c < HD4; c += P.splits) {
      var o = vec4<f32>(0.0);
      for (var y = 0u; y < P.splits; y++) {
        let at = (lane0 + y) * QL + {i}u;
        o = fma(vec4<f32>(exp2(part_m[at] - mx)), part_acc[at * HD4 + c], o);
      }
      O[qb{i} + c] = o * inv;
    }
    // #if LSE
    if (z == 0u) {
      LSE[qh{i}] = mx + log2(sum);
    }
    // #endif
  }
  // #endfor
}
// #endif
