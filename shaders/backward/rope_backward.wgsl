// Backward of RoPE (rope.wgsl), in place: each pair (x[i], x[i + hd/2]) was rotated by the angle
// pos·inv_freq[i], so its gradient is rotated by the negative angle (the transpose):
//   (g[i], g[i + hd/2]) <- (g[i]·cos + g[i + hd/2]·sin, g[i + hd/2]·cos − g[i]·sin),
// with cos/sin from the same table as the forward (table[pos, 0, i] = cos, table[pos, 1, i] = sin,
// [maxPositions, 2, hd/2] row-major). G is [B·T, heads·hd]; token t of a sequence is at position
// past + t. One invocation per VW pairs of one (row, head), VW = 4 with VEC (hd/2 % 4 == 0);
// no loops.
//
// Defines: VEC (hd/2 % 4 == 0), WG (workgroup size).

// #if VEC
alias V = vec4<f32>;
// #else
alias V = f32;
// #endif

struct Params {
  n: u32, // work items: B·T · heads · (hd/2)/VW
  half_v: u32, // (hd/2)/VW: items per (row, head)
  heads: u32, // heads per row
  tokens: u32, // T: tokens per sequence
  past: u32, // position of the first token
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> G: array<V>;
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
  let gb = rh * 2u * P.half_v + c;
  let tb = pos * 2u * P.half_v + c;
  let g1 = G[gb];
  let g2 = G[gb + P.half_v];
  let cs = table[tb];
  let sn = table[tb + P.half_v];
  G[gb] = g1 * cs + g2 * sn;
  G[gb + P.half_v] = g2 * cs - g1 * sn;
}
