// Read-bandwidth probe (benchmarks only): every invocation sums the vec4<u32> words it reads and
// writes one f32 partial, so the kernel reads X exactly once and writes 4 bytes per invocation.
//   F16     each u32 holds two f16 (unpack2x16float, as the f16 GEMV widens its weights);
//   else    each vec4<u32> is a vec4<f32> (bitcast).
//   CHUNK   invocation t reads its own contiguous run [t·iters, (t + 1)·iters) (one stream per
//           SIMD lane); else grid-stride: step i of all invocations reads one contiguous span
//           [i·threads, (i + 1)·threads) (neighbouring lanes read neighbouring vec4s).
// The host makes n4 = threads·iters exactly, so no bounds test is needed; iters stays far below
// Mesa 22.3's 65,535 loop-iteration cap (the host checks the budget).
//
// Defines: WG (workgroup size), F16, CHUNK.

struct Params {
  iters: u32, // vec4<u32> words per invocation
  threads: u32, // invocations in the dispatch
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> Out: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let t = g.x;
  var acc = vec4<f32>(0.0);
  // #if CHUNK
  let base = t * P.iters;
  // #endif
  for (var i = 0u; i < P.iters; i++) {
    // #if CHUNK
    let u = X[base + i];
    // #else
    let u = X[i * P.threads + t];
    // #endif
    // #if F16
    acc += vec4<f32>(unpack2x16float(u.x), unpack2x16float(u.y));
    acc += vec4<f32>(unpack2x16float(u.z), unpack2x16float(u.w));
    // #else
    acc += bitcast<vec4<f32>>(u);
    // #endif
  }
  Out[t] = (acc.x + acc.y) + (acc.z + acc.w);
}
