// Elementwise binary ops over n elements: OUT[i] = op(A[i], B[i]) (SwiGLU, add, subtract).
//
// One element (or, with VEC4, one vec4 of elements) per invocation; the workgroups of a large
// dispatch are folded into [x, y] by linearGrid, so the flat index is
// (wid.x + wid.y · nwg.x) · WG + lid and indices ≥ P.n are skipped. There are no loops, so Mesa
// 22.3's 65,535-iteration cap cannot bite at any size.
//
// Defines:
//   WG       workgroup size;
//   VEC4     the operands are read and written as vec4 (n % 4 == 0; P.n counts vec4s): about
//            twice as fast on llvmpipe;
//   SWIGLU   op(a, b) = silu(a) · b (a is the gate, b the up projection);
//   SUB      op(a, b) = a − b; with neither, op(a, b) = a + b;
//   INPLACE  the result replaces one operand, bound once as read_write (ACC at binding 1, the
//            other operand at binding 2): ACC[i] = op(ACC[i], B[i]), or op(B[i], ACC[i]) when
//            P.swap is 1 (ACC holds the second operand).

// #if VEC4
alias V = vec4<f32>;
// #else
alias V = f32;
// #endif

struct Params {
  n: u32, // elements (vec4s with VEC4)
  swap: u32,
};

@group(0) @binding(0) var<uniform> P: Params;
// #if INPLACE
@group(0) @binding(1) var<storage, read_write> ACC: array<V>;
@group(0) @binding(2) var<storage, read> B: array<V>;
// #else
@group(0) @binding(1) var<storage, read> A: array<V>;
@group(0) @binding(2) var<storage, read> B: array<V>;
@group(0) @binding(3) var<storage, read_write> OUT: array<V>;
// #endif

/** x · sigmoid(x), with exp of a non-positive argument only (no overflow for large |x|). */
fn silu(x: V) -> V {
  let e = exp(-abs(x));
  let sig = select(e, V(1.0), x >= V(0.0)) / (1.0 + e);
  return x * sig;
}

fn op(a: V, b: V) -> V {
  // #if SWIGLU
  return silu(a) * b;
  // #else
  // #if SUB
  return a - b;
  // #else
  return a + b;
  // #endif
  // #endif
}

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
  // #if INPLACE
  let acc = ACC[i];
  let b = B[i];
  ACC[i] = select(op(acc, b), op(b, acc), P.swap != 0u);
  // #else
  OUT[i] = op(A[i], B[i]);
  // #endif
}
