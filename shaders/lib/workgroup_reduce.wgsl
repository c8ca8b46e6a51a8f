// Workgroup-wide reductions over {{WG}} invocations, shared by the row kernels through
// `// #include "lib/workgroup_reduce.wgsl"`. Every invocation receives the result; call from
// uniform control flow. log2({{WG}}) loop iterations per call.

var<workgroup> red: array<f32, {{WG}}>;

/** Sum of `v` over the workgroup. */
fn workgroup_sum(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = {{WG}}u / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] += red[lid + s];
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

/** Max of `v` over the workgroup. */
fn workgroup_max(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = {{WG}}u / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] = max(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
