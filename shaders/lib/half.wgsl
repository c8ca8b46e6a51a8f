// f16 bits (each lane of h holds one half in its low 16 bits) to f32: shift exponent and
// mantissa into place and rescale by 2^112 (exact for normal and subnormal halves; weights hold
// no inf/NaN). unpack2x16float is far slower on llvmpipe.
fn half_bits(h: vec4<u32>) -> vec4<f32> {
  let mag = bitcast<vec4<f32>>((h & vec4<u32>(0x7fffu)) << vec4<u32>(13u)) * 5.192296858534828e33;
  return bitcast<vec4<f32>>(bitcast<vec4<u32>>(mag) | ((h & vec4<u32>(0x8000u)) << vec4<u32>(16u)));
}

// Even (low halves) and odd (high halves) columns of 8 packed halves.
fn half_lo(u: vec4<u32>) -> vec4<f32> {
  return half_bits(u & vec4<u32>(0xffffu));
}
fn half_hi(u: vec4<u32>) -> vec4<f32> {
  return half_bits(u >> vec4<u32>(16u));
}
