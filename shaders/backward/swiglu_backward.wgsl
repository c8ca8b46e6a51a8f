// Backward of the SwiGLU activation out = silu(gate) · up (elementwise.wgsl), over n elements:
//   dGate = dOut · up · σ(g)·(1 + g·(1 − σ(g))),   dUp = dOut · silu(g) = dOut · g·σ(g),
// with σ evaluated from exp(−|g|) only (no overflow for large |g|).
//
// One element (or one vec4 with VEC4) per invocation, workgroups folded into [x, y] by linearGrid
// (flat index (wid.x + wid.y · nwg.x) · WG + lid, indices ≥ n skipped); no loops.
//
// Defines: WG (workgroup size), VEC4 (n % 4 == 0; P.n counts vec4s), INPLACE (the gradients
// replace the activations: dGate is written into GATE and dUp into UP, bound read_write, which
// saves two [M, F] buffers in training).

// #if VEC4
alias V = vec4<f32>;
// #else
alias V = f32;
// #endif

struct Params {
  n: u32, // elements (vec4s with VEC4)
};

@group(0) @binding(0) var<uniform> P: Params;
// #if INPLACE
@group(0) @binding(1) var<storage, read_write> GATE: array<V>;
@group(0) @binding(2) var<storage, read_write> UP: array<V>;
@group(0) @binding(3) var<storage, read> DOUT: array<V>;
// #else
@group(0) @binding(1) var<storage, read> GATE: array<V>;
@group(0) @binding(2) var<storage, read> UP: array<V>;
@group(0) @binding(3) var<storage, read> DOUT: array<V>;
@group(0) @binding(4) var<storage, read_write> DGATE: array<V>;
@group(0) @binding(5) var<storage, read_write> DUP: array<V>;
// #endif

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
  let g = GATE[i];
  let u = UP[i];
  let d = DOUT[i];
  let e = exp(-abs(g));
  let sig = select(e, V(1.0), g >= V(0.0)) / (1.0 + e);
  let dgate = d * u * sig * (1.0 + g * (1.0 - sig));
  let dup = d * g * sig;
  // #if INPLACE
  GATE[i] = dgate;
  UP[i] = dup;
  // #else
  DGATE[i] = dgate;
  DUP[i] = dup;
  // #endif
}
