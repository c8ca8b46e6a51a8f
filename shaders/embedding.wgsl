// OUT[r, :] = TABLE[IDS[r], :] as f32: the token-embedding gather, OUT [m, d], TABLE [v, d].
//
// One output element per invocation; workgroups are folded into [x, y] by linearGrid, so the
// flat index is (wid.x + wid.y · nwg.x) · WG + lid (indices ≥ m·d skipped). No loops.
// An id ≥ v (out of range) yields a row of zeros: the table is never read out of bounds.
//
// CHUNKED: TABLE holds rows ROW0 … ROW0 + v − 1 of a table split across bindings (one dispatch per
// chunk); only ids in that range are written, and the chunk with FIRST = 1 writes the zero rows
// of ids ≥ VT (the whole vocabulary), so every output row is written exactly once.
//
// Defines: WG (workgroup size), WT (table storage: f32 or f16), CHUNKED.
alias WT = f32;

struct Params {
  m: u32, // rows of OUT (number of ids)
  d: u32, // embedding width
  v: u32, // rows of TABLE (vocabulary size; with CHUNKED the rows of this chunk)
  row0: u32, // CHUNKED: first row of this chunk in the whole table
  vt: u32, // CHUNKED: rows of the whole table
  first: u32, // CHUNKED: 1 for the chunk that writes the zero rows of out-of-range ids
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> IDS: array<u32>;
@group(0) @binding(2) var<storage, read> TABLE: array<WT>;
@group(0) @binding(3) var<storage, read_write> OUT: array<f32>;

@compute @workgroup_size({{WG}})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i >= P.m * P.d) {
    return;
  }
  let r = i / P.d;
  let c = i - r * P.d;
  let id = IDS[r];
  // #if CHUNKED
  if (id >= P.row0 && id - P.row0 < P.v) {
    OUT[i] = f32(TABLE[(id - P.row0) * P.d + c]);
  } else if (P.first == 1u && id >= P.vt) {
    OUT[i] = 0.0;
  }
  // #else
  var value = 0.0;
  if (id < P.v) {
    value = f32(TABLE[id * P.d + c]);
  }
  OUT[i] = value;
  // #endif
}
