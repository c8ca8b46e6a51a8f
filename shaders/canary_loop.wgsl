// Loop-cap canary: ONE invocation runs a loop whose trip count is only known at run time (a
// uniform) and counts the executions of its body. With NESTED, each of the `outer` iterations
// runs an inner runtime loop of `inner` iterations and the inner bodies are counted. Mesa 22.3's
// llvmpipe/lavapipe silently stops an invocation after 65,535 loop iterations in total, so a
// count below the requested one exposes the cap.
//
// The body also advances a linear congruential generator (written to Out[1]) so that the
// compiler cannot replace the loop by a closed form.

struct Params {
  outer: u32,
  inner: u32,
};

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> Out: array<u32>; // [count, lcg state]

@compute @workgroup_size(1)
fn main() {
  var count = 0u;
  var state = Out[1];
  for (var i = 0u; i < P.outer; i++) {
    // #if NESTED
    for (var j = 0u; j < P.inner; j++) {
      count += 1u;
      state = state * 1664525u + 1013904223u;
    }
    // #else
    count += 1u;
    state = state * 1664525u + 1013904223u;
    // #endif
  }
  Out[0] = count;
  Out[1] = state;
}
