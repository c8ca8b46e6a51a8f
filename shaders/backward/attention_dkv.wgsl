// Causal GQA attention backward, part 2: the key and value gradients dK, dV, summed over the R
// query heads that share each kv head. Flash-style recomputation (see attention_dq.wgsl for the
// notation): for key j of kv head g,
//   dV_j = Σ_{(t, h): t ≥ j, h / R = g} P_tj·dO_t,     dK_j = scale · Σ_{same} dS_tj·q_t,
// with P_tj = exp2(s_tj − LSE_t), dS_tj = P_tj·(dO_t·v_j − D_t), and D = rowsum(dO∘O) written by
// part 1 (so part 2 is recorded after it).
//
// Layouts: Q, dO [B·T, H·hd]; K, V, dK, dV [B·T, KVH·hd]; LSE, DD [B·T, H] (f32, row-major).
//
// A lane owns a tile of KL consecutive keys of one (sequence, kv head): pre-scaled k, v and the
// dK, dV accumulators — 4·KL·hd/4 unrolled vec4 scalars — and streams every query that attends to
// them: positions t ≥ the tile's first key, all R heads of the group, in (t, r) order. One vec4
// load of q and one of dO per 4 dimensions serve KL keys (two dot products and two axpys each, in
// registers). The sum over the query heads of the group is done in these registers, so it is
// race-free by construction (no atomics: each dK/dV row has one owner tile). Z lanes (query splits)
// take queries z, z+Z, …; their partial dK, dV are added through workgroup memory.
// Loop iterations per invocation: ⌈(T − j0)·R / Z⌉ queries + KL·⌈HD4/Z⌉·(Z + 1) merge steps; the
// host raises Z until the first term is within the budget (T·R ≤ 8·30,000).
//
// Defines: HD4 (hd/4), KL (keys per lane), WG (8), WGKLHD4 (WG·KL·HD4).

struct Params {
  tokens: u32, // T
  heads: u32, // H
  kv_heads: u32, // KVH
  group: u32, // R = H / KVH
  qn: u32, // T·R: queries per (sequence, kv head)
  tiles: u32, // ⌈T / KL⌉: key tiles per (sequence, kv head)
  splits: u32, // Z: lanes per tile; divides WG
  count: u32, // tiles in all: B·KVH·tiles
  scale_log2: f32, // softmax scale × log2(e)
  scale: f32, // softmax scale
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> DO: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> LSE: array<f32>;
@group(0) @binding(6) var<storage, read> DD: array<f32>;
@group(0) @binding(7) var<storage, read_write> DK: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> DV: array<vec4<f32>>;

const WG: u32 = {{WG}}u;
const KL: u32 = {{KL}}u;
const HD4: u32 = {{HD4}}u;

var<workgroup> part_k: array<vec4<f32>, {{WGKLHD4}}>;
var<workgroup> part_v: array<vec4<f32>, {{WGKLHD4}}>;

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
  let j0 = tile * KL; // the tile's first key position
  // #for i in 0..KL
  let kb{i} = ((b * P.tokens + min(j0 + {i}u, P.tokens - 1u)) * P.kv_heads + kvh) * HD4;
  // #for c in 0..HD4
  let k{i}_{c} = K[kb{i} + {c}u] * P.scale_log2;
  let v{i}_{c} = V[kb{i} + {c}u];
  var dk{i}_{c} = vec4<f32>(0.0);
  var dv{i}_{c} = vec4<f32>(0.0);
  // #endfor
  // #endfor
  let row0 = b * P.tokens;
  for (var f = j0 * P.group + z; f < P.qn; f += P.splits) {
    let t = f / P.group;
    let qh = (row0 + t) * P.heads + kvh * P.group + f - t * P.group; // row·H + h
    let qb = qh * HD4;
    let lse = LSE[qh];
    let dd = DD[qh];
    // #for i in 0..KL
    var d{i} = vec4<f32>(0.0);
    var e{i} = vec4<f32>(0.0);
    // #endfor
    // #for c in 0..HD4
    let q{c} = Q[qb + {c}u];
    let o{c} = DO[qb + {c}u];
    // #for i in 0..KL
    d{i} = fma(q{c}, k{i}_{c}, d{i});
    e{i} = fma(o{c}, v{i}_{c}, e{i});
    // #endfor
    // #endfor
    // #for i in 0..KL
    let pv{i} = select(0.0, exp2((d{i}.x + d{i}.y) + (d{i}.z + d{i}.w) - lse), j0 + {i}u <= t);
    let p{i} = vec4<f32>(pv{i});
    let ds{i} = vec4<f32>(pv{i} * ((e{i}.x + e{i}.y) + (e{i}.z + e{i}.w) - dd));
    // #endfor
    // #for c in 0..HD4
    // #for i in 0..KL
    dv{i}_{c} = fma(p{i}, o{c}, dv{i}_{c});
    dk{i}_{c} = fma(ds{i}, q{c}, dk{i}_{c});
    // #endfor
    // #endfor
  }
  // #for i in 0..KL
  // #for c in 0..HD4
  part_k[(lid * KL + {i}u) * HD4 + {c}u] = dk{i}_{c};
  part_v[(lid * KL + {i}u) * HD4 + {c}u] = dv{i}_{c};
  // #endfor
  // #endfor
  workgroupBarrier();
  if (tile_g >= P.count) {
    return;
  }
  let lane0 = slot * P.splits;
  // #for i in 0..KL
  if (j0 + {i}u < P.tokens) {
    for (var c = z; c < HD4; c += P.splits) {
      var gk = vec4<f32>(0.0);
      var gv = vec4<f32>(0.0);
      for (var y = 0u; y < P.splits; y++) {
        let at = ((lane0 + y) * KL + {i}u) * HD4 + c;
        gk += part_k[at];
        gv += part_v[at];
      }
      DK[kb{i} + c] = gk * P.scale;
      DV[kb{i} + c] = gv;
    }
  }
  // #endfor
}
