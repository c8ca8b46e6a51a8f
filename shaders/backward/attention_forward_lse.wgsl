// Causal grouped-query attention forward for training (no KV cache, past = 0) that also stores
// each query's log-sum-exp for the backward (attention_dq.wgsl, attention_dkv.wgsl).
//
// Layouts (f32, row-major, tokens as rows): Q and O [B·T, H·hd]; K and V [B·T, KVH·hd] — the same
// memory as attention.wgsl's caches [B, S_cap, KVH, hd] with S_cap = T. Query t of sequence b
// attends to keys 0 … t of kv head h / R (R = H / KVH). LSE [B·T, H]: for query (row, h),
//   LSE = log2 Σ_{j ≤ t} exp2(s_j),   s_j = scale·log2(e) · q·k_j
// (base-2 units of the pre-scaled scores, which is what the backward recomputes), so that the
// probabilities are P_j = exp2(s_j − LSE).
//
// The design is attention.wgsl's (see there): a lane holds a tile of QL consecutive queries of
// one (sequence, kv head) in (t, r) order in registers (pre-scaled q and accumulators, unrolled
// scalars), streams their keys and values once with an online max-subtracted softmax, and Z lanes
// (key splits) of one tile merge their states through workgroup memory. Loop iterations per
// invocation: ⌈T/Z⌉ keys + QL·(2Z + HD4 + ⌈HD4/Z⌉) merge steps: < 1,500 at T = 1,024.
//
// Defines: HD4 (hd/4), QL (queries per lane), QLAST (QL − 1), WG (8), WGQL (WG·QL),
// WGQLHD4 (WG·QL·HD4).

struct Params {
  tokens: u32, // T
  heads: u32, // H
  kv_heads: u32, // KVH
  group: u32, // R = H / KVH
  qn: u32, // T·R: queries per (sequence, kv head)
  tiles: u32, // ⌈qn / QL⌉
  splits: u32, // Z: lanes per tile (key splits); divides WG
  count: u32, // tiles in all: B·KVH·tiles
  scale: f32, // softmax scale × log2(e)
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> O: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> LSE: array<f32>;

const WG: u32 = {{WG}}u;
const QL: u32 = {{QL}}u;
const HD4: u32 = {{HD4}}u;
const NEG: f32 = -3.0e38; // below every score, finite

var<workgroup> part_m: array<f32, {{WGQL}}>;
var<workgroup> part_l: array<f32, {{WGQL}}>;
var<workgroup> part_acc: array<vec4<f32>, {{WGQLHD4}}>;

@compute @workgroup_size({{WG}})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let per_wg = WG / P.splits;
  let w = wid.x + wid.y * nwg.x;
  if (w * per_wg >= P.count) {
    return;
  }
  let slot = lid / P.splits;
  let z = lid - slot * P.splits;
  let tile_g = w * per_wg + slot;
  let tile_c = min(tile_g, P.count - 1u); // lanes past the last tile redo it and store nothing
  let tile = tile_c % P.tiles;
  let bk = tile_c / P.tiles; // b·KVH + kv head
  let kvh = bk % P.kv_heads;
  let b = bk / P.kv_heads;
  let fbase = tile * QL;
  // #for i in 0..QL
  let f{i} = min(fbase + {i}u, P.qn - 1u);
  let t{i} = f{i} / P.group;
  let qh{i} = (b * P.tokens + t{i}) * P.heads + kvh * P.group + f{i} - t{i} * P.group; // row·H + h
  let qb{i} = qh{i} * HD4;
  // #for c in 0..HD4
  let q{i}_{c} = Q[qb{i} + {c}u] * P.scale;
  var acc{i}_{c} = vec4<f32>(0.0);
  // #endfor
  var m{i} = NEG;
  var l{i} = 0.0;
  // #endfor
  let n = t{{QLAST}} + 1u;
  let stride = P.kv_heads * HD4;
  let kvb = (b * P.tokens * P.kv_heads + kvh) * HD4;
  for (var j = z; j < n; j += P.splits) {
    let kb = kvb + j * stride;
    // #for i in 0..QL
    var d{i} = vec4<f32>(0.0);
    // #endfor
    // #for c in 0..HD4
    let k{c} = K[kb + {c}u];
    // #for i in 0..QL
    d{i} = fma(q{i}_{c}, k{c}, d{i});
    // #endfor
    // #endfor
    // #for i in 0..QL
    let ok{i} = j <= t{i};
    let s{i} = select(NEG, (d{i}.x + d{i}.y) + (d{i}.z + d{i}.w), ok{i});
    let mn{i} = max(m{i}, s{i});
    let sc{i} = exp2(m{i} - mn{i});
    let e{i} = select(0.0, exp2(s{i} - mn{i}), ok{i});
    l{i} = fma(l{i}, sc{i}, e{i});
    m{i} = mn{i};
    let vsc{i} = vec4<f32>(sc{i});
    // #endfor
    // #for c in 0..HD4
    let v{c} = V[kb + {c}u];
    // #for i in 0..QL
    acc{i}_{c} = fma(acc{i}_{c}, vsc{i}, e{i} * v{c});
    // #endfor
    // #endfor
  }
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
  let lane0 = slot * P.splits;
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
    if (z == 0u) {
      LSE[qh{i}] = mx + log2(sum);
    }
  }
  // #endfor
}
