// OUT[r, V0 + j] = PART[r, j]: places one vocabulary chunk's logits PART [m, vc] into the columns
// V0 … V0 + vc − 1 of the full logits OUT [m, v] (the LM head computed chunk by chunk when its
// weight spans several storage bindings).
//
// One element per invocation; workgroups are folded into [x, y] by linearGrid, so the flat index
// is (wid.x + wid.y · nwg.x) · WG + lid (indices ≥ m·vc skipped). No loops.
//
// Defines: WG (workgroup size).

struct Params {
  m: u32, // rows
  vc: u32, // columns of PART (the chunk's vocabulary entries)
  v: u32, // columns of OUT (the vocabulary size)
  v0: u32, // first column of the chunk in OUT
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> PART: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;

@compute @workgroup_size({{WG}})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i >= P.m * P.vc) {
    return;
  }
  let r = i / P.vc;
  let j = i - r * P.vc;
  OUT[r * P.v + P.v0 + j] = PART[i];
}
