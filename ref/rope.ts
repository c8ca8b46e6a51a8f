/**
 * f64 references for RoPE, written independently of `src/kernels/rope.ts` from the Hugging Face
 * transformers definitions (`_compute_default_rope_parameters`, `_compute_linear_scaling_rope_parameters`,
 * `_compute_llama3_parameters` and `apply_rotary_pos_emb` with `rotate_half`).
 */

/** `rope_scaling` in HF's own field names. */
export type RopeScalingRef =
  | {
    rope_type: "llama3";
    factor: number;
    low_freq_factor: number;
    high_freq_factor: number;
    original_max_position_embeddings: number;
  }
  | { rope_type: "linear"; factor: number };

/** f64 inverse frequencies: base^(−arange(0, dim, 2)/dim), then the scaling. */
export function invFreqRef(dim: number, base: number, scaling?: RopeScalingRef): Float64Array {
  const out = new Float64Array(dim / 2);
  for (let k = 0; k < dim; k += 2) out[k / 2] = Math.exp(-Math.log(base) * (k / dim));
  if (!scaling) return out;
  if (scaling.rope_type === "linear") return out.map((f) => f / scaling.factor);
  const oldContextLen = scaling.original_max_position_embeddings;
  const lowFreqWavelen = oldContextLen / scaling.low_freq_factor;
  const highFreqWavelen = oldContextLen / scaling.high_freq_factor;
  return out.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    // torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    const llama = wavelen > lowFreqWavelen ? f / scaling.factor : f;
    const smoothFactor = (oldContextLen / wavelen - scaling.low_freq_factor) /
      (scaling.high_freq_factor - scaling.low_freq_factor);
    const smoothed = ((1 - smoothFactor) * llama) / scaling.factor + smoothFactor * llama;
    const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    return isMedium ? smoothed : llama;
  });
}

/**
 * f64 RoPE of `x` (`[batch·tokens, heads·dim]`, tokens as rows) at positions past + t, HF style:
 * x·cos + rotate_half(x)·sin with cos/sin of the angle duplicated over both halves.
 */
export function ropeRef(
  x: ArrayLike<number>,
  invFreq: ArrayLike<number>,
  o: { heads: number; dim: number; tokens: number; batch: number; past: number },
): Float64Array {
  const { heads, dim, tokens, batch, past } = o;
  const half = dim / 2;
  const y = new Float64Array(batch * tokens * heads * dim);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < tokens; t++) {
      const pos = past + t;
      // emb = cat(freqs, freqs): angle of lane d is pos · inv_freq[d mod half]
      const cos = new Float64Array(dim);
      const sin = new Float64Array(dim);
      for (let d = 0; d < dim; d++) {
        cos[d] = Math.cos(pos * invFreq[d % half]);
        sin[d] = Math.sin(pos * invFreq[d % half]);
      }
      for (let h = 0; h < heads; h++) {
        const base = ((b * tokens + t) * heads + h) * dim;
        for (let d = 0; d < dim; d++) {
          // rotate_half(x) = cat(−x[half:], x[:half])
          const rot = d < half ? -x[base + d + half] : x[base + d - half];
          y[base + d] = x[base + d] * cos[d] + rot * sin[d];
        }
      }
    }
  }
  return y;
}
