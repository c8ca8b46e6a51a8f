// Rotary position embedding (RoPE), in place, with Hugging Face's rotate_half convention:
// for i < hd/2 and position pos = past + t,
//   (x[i], x[i + hd/2]) <- (x[i]·cos − x[i + hd/2]·sin, x[i + hd/2]·cos + x[i]·sin),
// where cos/sin of pos·inv_freq[i] come from a table computed in float64 on the host and stored
// as f32: table[pos, 0, i] = cos, table[pos, 1, i] = sin ([maxPositions, 2, hd/2] row-major).
// The table keeps the f32 kernel accurate at large positions (no f32 pos·inv_freq rounding).
//
// X is [B·T, heads·hd] (tokens as rows). One invocation rotates VW pairs of one (row, head):
// VW = 4 (vec4 loads of X and the table) when hd/2 is a multiple of 4 (VEC), else 1.
// No loops: every invocation does a fixed amount of work, so Mesa 22.3's 65,535-iteration cap
// is irrelevant.
//
// With INVERSE the rotation is by the negative angle (the transpose): RoPE's backward, applied
// to a gradient in place.
//
// With KV (a decode/prefill step with a KV cache) one dispatch does what the attention sublayer
// needs between its projections and attention: the queries Q [B·T, H·hd] are rotated in place,
// the new keys K [B·T, KVH·hd] are rotated into the key cache KC and the new values V copied into
// the value cache VC (caches [B, S_cap, KVH, hd] at positions past … past+T−1). Items 0 … nq−1
// are query pairs, the rest key/value pairs.
//
// Defines: VEC (hd/2 % 4 == 0), WG (workgroup size), INVERSE, KV.

// #if VEC
alias V = vec4<f32>;
// #else
alias V = f32;
// #endif

// #if KV
struct Params {
  nq: u32, // query work items: B·T · H · (hd/2)/VW
  n: u32, // all work items: nq + B·T · KVH · (hd/2)/VW
  half_v: u32, // (hd/2)/VW: items per (row, head)
  heads: u32, // H
  kv_heads: u32, // KVH
  tokens: u32, // T
  past: u32, // position of the first new token
  cap: u32, // S_cap
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> Q: array<V>;
@group(0) @binding(2) var<storage, read> KN: array<V>;
@group(0) @binding(3) var<storage, read> VN: array<V>;
@group(0) @binding(4) var<storage, read_write> KC: array<V>;
@group(0) @binding(5) var<storage, read_write> VC: array<V>;
@group(0) @binding(6) var<storage, read> table: array<V>;

@compute @workgroup_size({{WG}})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i >= P.n) {
    return;
  }
  let is_q = i < P.nq;
  let j = select(i - P.nq, i, is_q);
  let heads = select(P.kv_heads, P.heads, is_q);
  let rh = j / P.half_v; // row · heads + head
  let c = j - rh * P.half_v;
  let row = rh / heads;
  let t = row % P.tokens;
  let xb = rh * 2u * P.half_v + c;
  let tb = (P.past + t) * 2u * P.half_v + c;
  let cs = table[tb];
  let sn = table[tb + P.half_v];
  if (is_q) {
    let x1 = Q[xb];
    let x2 = Q[xb + P.half_v];
    Q[xb] = x1 * cs - x2 * sn;
    Q[xb + P.half_v] = x2 * cs + x1 * sn;
    return;
  }
  let x1 = KN[xb];
  let x2 = KN[xb + P.half_v];
  // Cache row of (sequence b, position past + t): row − t = b·T.
  let dst = (((row - t) / P.tokens * P.cap + P.past + t) * P.kv_heads + rh % P.kv_heads) * 2u *
    P.half_v + c;
  KC[dst] = x1 * cs - x2 * sn;
  KC[dst + P.half_v] = x2 * cs + x1 * sn;
  VC[dst] = VN[xb];
  VC[dst + P.half_v] = VN[xb + P.half_v];
}
// #else
struct Params {
  n: u32, // work items: B·T · heads · (hd/2)/VW
  half_v: u32, // (hd/2)/VW: items per (row, head)
  heads: u32, // heads per row
  tokens: u32, // T: tokens per sequence
  past: u32, // position of the first new token
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> X: array<V>;
@group(0) @binding(2) var<storage, read> table: array<V>;

@compute @workgroup_size({{WG}})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i >= P.n) {
    return;
  }
  let rh = i / P.half_v; // row · heads + head
  let c = i - rh * P.half_v;
  let row = rh / P.heads;
  let pos = P.past + row % P.tokens;
  let xb = rh * 2u * P.half_v + c;
  let tb = pos * 2u * P.half_v + c;
  let x1 = X[xb];
  let x2 = X[xb + P.half_v];
  let cs = table[tb];
  let sn = table[tb + P.half_v];
  // #if INVERSE
  X[xb] = x1 * cs + x2 * sn;
  X[xb + P.half_v] = x2 * cs - x1 * sn;
  // #else
  X[xb] = x1 * cs - x2 * sn;
  X[xb + P.half_v] = x2 * cs + x1 * sn;
  // #endif
}
// #endif
