// Causal GQA attention backward, part 1: the query gradient dQ and the per-query
// D = rowsum(dO ∘ O) that part 2 (attention_dkv.wgsl) needs. Flash-style: the probabilities are
// recomputed from Q, K and the forward's log-sum-exp (attention.wgsl with LSE), never stored.
//
// Layouts (f32, row-major, tokens as rows): Q, O, dO, dQ [B·T, H·hd]; K, V [B·T, KVH·hd];
// LSE and DD [B·T, H]. Query (row = b·T + t, head h) attends to keys 0 … t of kv head h / R.
// With s_j = scale·log2(e)·q·k_j (base-2 units, as LSE):
//   P_j = exp2(s_j − LSE),  dP_j = dO·v_j,  D = dO·O (= Σ_j P_j·dP_j),
//   dS_j = P_j·(dP_j − D),  dQ = scale · Σ_j dS_j·k_j.
//
// Layout of the work as in attention.wgsl: a lane holds a tile of QL consecutive queries of one
// (sequence, kv head) in (t, r) order — pre-scaled q, dO and the dQ accumulators, 3·QL·hd/4
// unrolled vec4 scalars — and streams the keys and values the tile attends to: one vec4 load of k
// and one of v per 4 dimensions serve QL queries (two dot products and one axpy each, all in
// registers). Z lanes (key splits, many when there are few tiles) take keys z, z+Z, …; their dQ
// partial sums are added through workgroup memory (a plain sum: no softmax state to merge).
// Loop iterations per invocation: ⌈T/Z⌉ keys + QL·(⌈HD4/Z⌉·(Z + 1)) merge steps (< 1,300 at
// T = 1,024; the host checks the budget).
//
// Defines: HD4 (hd/4), QL (queries per lane), QLAST (QL − 1), WG (8), WGQLHD4 (WG·QL·HD4).

struct Params {
  tokens: u32, // T
  heads: u32, // H
  kv_heads: u32, // KVH
  group: u32, // R = H / KVH
  qn: u32, // T·R: queries per (sequence, kv head)
  tiles: u32, // ⌈qn / QL⌉
  splits: u32, // Z: lanes per tile; divides WG
  count: u32, // tiles in all: B·KVH·tiles
  scale_log2: f32, // softmax scale × log2(e)
  scale: f32, // softmax scale
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> O: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> DO: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> LSE: array<f32>;
@group(0) @binding(7) var<storage, read_write> DQ: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> DD: array<f32>;

const WG: u32 = {{WG}}u;
const QL: u32 = {{QL}}u;
const HD4: u32 = {{HD4}}u;

var<workgroup> part: array<vec4<f32>, {{WGQLHD4}}>;

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
  let lse{i} = LSE[qh{i}];
  var dd{i} = vec4<f32>(0.0);
  // #for c in 0..HD4
  let q{i}_{c} = Q[qb{i} + {c}u] * P.scale_log2;
  let do{i}_{c} = DO[qb{i} + {c}u];
  dd{i} = fma(do{i}_{c}, O[qb{i} + {c}u], dd{i});
  var acc{i}_{c} = vec4<f32>(0.0);
  // #endfor
  let ddv{i} = (dd{i}.x + dd{i}.y) + (dd{i}.z + dd{i}.w);
  // #endfor
  let n = t{{QLAST}} + 1u; // keys of the tile's last query
  let stride = P.kv_heads * HD4;
  let kvb = (b * P.tokens * P.kv_heads + kvh) * HD4;
  for (var j = z; j < n; j += P.splits) {
    let kb = kvb + j * stride;
    // #for i in 0..QL
    var d{i} = vec4<f32>(0.0);
    var e{i} = vec4<f32>(0.0);
    // #endfor
    // #for c in 0..HD4
    let k{c} = K[kb + {c}u];
    let v{c} = V[kb + {c}u];
    // #for i in 0..QL
    d{i} = fma(q{i}_{c}, k{c}, d{i});
    e{i} = fma(do{i}_{c}, v{c}, e{i});
    // #endfor
    // #endfor
    // #for i in 0..QL
    let p{i} = select(0.0, exp2((d{i}.x + d{i}.y) + (d{i}.z + d{i}.w) - lse{i}), j <= t{i});
    let ds{i} = vec4<f32>(p{i} * ((e{i}.x + e{i}.y) + (e{i}.z + e{i}.w) - ddv{i}));
    // #endfor
    // #for c in 0..HD4
    // #for i in 0..QL
    acc{i}_{c} = fma(ds{i}, k{c}, acc{i}_{c});
    // #endfor
    // #endfor
  }
  // #for i in 0..QL
  // #for c in 0..HD4
  part[(lid * QL + {i}u) * HD4 + {c}u] = acc{i}_{c};
  // #endfor
  // #endfor
  workgroupBarrier();
  if (tile_g >= P.count) {
    return;
  }
  let lane0 = slot * P.splits;
  // #for i in 0..QL
  if (fbase + {i}u < P.qn) {
    for (var c = z; c < HD4; c += P.splits) {
      var g = vec4<f32>(0.0);
      for (var y = 0u; y < P.splits; y++) {
        g += part[((lane0 + y) * QL + {i}u) * HD4 + c];
      }
      DQ[qb{i} + c] = g * P.scale;
    }
    if (z == 0u) {
      DD[qh{i}] = ddv{i};
    }
  }
  // #endfor
}
