// Backward of the embedding gather (embedding.wgsl): DT[id, :] += Σ_{r: ids[r] = id} DH[r, :],
// as a deterministic, race-free gather-sum over a host-built CSR index (no float atomics).
//
// INDEX (u32) holds the rows of DH grouped by token id (ROWS, M entries), then segments of three
// words each: (token id, start, end) — the rows ROWS[start … end) of one id. A long run of one id
// is cut into several segments of at most a fixed number of rows (the loop budget); the host puts
// the k-th segment of every id into dispatch ("round") k, so within one dispatch every segment has
// a different id and no two invocations write the same element of DT. Rounds are recorded one
// after another and accumulate.
//
// One invocation per (segment, column) — a vec4 of columns with VEC4 — flat index
// (wid.x + wid.y · nwg.x) · WG + lid; it sums its segment's rows of that column in order (one
// runtime loop of end − start ≤ the segment size iterations) and adds the sum into DT.
//
// Defines: WG (workgroup size), VEC4 (d % 4 == 0: rows as vec4s; P.cols counts vec4s).

// #if VEC4
alias V = vec4<f32>;
// #else
alias V = f32;
// #endif

struct Params {
  nseg: u32, // segments in this dispatch
  cols: u32, // columns of DH and DT (vec4s with VEC4)
  seg_at: u32, // word offset in INDEX of this dispatch's first segment
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> INDEX: array<u32>;
@group(0) @binding(2) var<storage, read> DH: array<V>;
@group(0) @binding(3) var<storage, read_write> DT: array<V>;

@compute @workgroup_size({{WG}})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  let s = i / P.cols;
  if (s >= P.nseg) {
    return;
  }
  let c = i - s * P.cols;
  let at = P.seg_at + 3u * s;
  let id = INDEX[at];
  let end = INDEX[at + 2u];
  var acc = V(0.0);
  for (var k = INDEX[at + 1u]; k < end; k++) {
    acc += DH[INDEX[k] * P.cols + c];
  }
  let o = id * P.cols + c;
  DT[o] = DT[o] + acc;
}
