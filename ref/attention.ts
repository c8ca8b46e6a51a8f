/** Shape of an attention problem for {@link attentionRef}. */
export interface AttentionShape {
  batch: number;
  tokens: number;
  past: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** S_cap of the caches. */
  cap: number;
  /** Softmax scale (default 1/√hd). */
  scale?: number;
}

/**
 * f64 causal GQA: q `[B·T, H·hd]`, caches `[B, S_cap, KVH, hd]`; query t of sequence b attends to
 * positions 0 … past+t of kv head ⌊h / (H/KVH)⌋ with a max-subtracted softmax. Returns o
 * `[B·T, H·hd]`. With `rows`, only those query rows (b·T + t) are computed (others are NaN).
 */
export function attentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  s: AttentionShape,
  rows?: readonly number[],
): Float64Array {
  const { batch, tokens, past, heads, kvHeads, headDim: hd, cap } = s;
  const scale = s.scale ?? 1 / Math.sqrt(hd);
  const ratio = heads / kvHeads;
  const o = new Float64Array(batch * tokens * heads * hd).fill(NaN);
  const which = rows ?? Array.from({ length: batch * tokens }, (_, r) => r);
  for (const r of which) {
    const b = Math.floor(r / tokens);
    const n = past + (r % tokens) + 1;
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / ratio);
      const qb = (r * heads + h) * hd;
      const logits = new Float64Array(n);
      let max = -Infinity;
      for (let j = 0; j < n; j++) {
        const kb = ((b * cap + j) * kvHeads + kvh) * hd;
        let dot = 0;
        for (let d = 0; d < hd; d++) dot += q[qb + d] * k[kb + d];
        logits[j] = scale * dot;
        if (logits[j] > max) max = logits[j];
      }
      let sum = 0;
      const acc = new Float64Array(hd);
      for (let j = 0; j < n; j++) {
        const p = Math.exp(logits[j] - max);
        sum += p;
        const vb = ((b * cap + j) * kvHeads + kvh) * hd;
        for (let d = 0; d < hd; d++) acc[d] += p * v[vb + d];
      }
      for (let d = 0; d < hd; d++) o[qb + d] = acc[d] / sum;
    }
  }
  return o;
}

/**
 * The caches after writing new keys or values `[B·T, KVH·hd]` at positions past … past+T−1 into
 * `cache` `[B, S_cap, KVH, hd]` (a copy; `cache` is left as it is).
 */
export function appendRef(
  cache: ArrayLike<number>,
  fresh: ArrayLike<number>,
  s: { batch: number; tokens: number; past: number; cap: number; width: number },
): Float32Array {
  const out = Float32Array.from(cache);
  for (let b = 0; b < s.batch; b++) {
    for (let t = 0; t < s.tokens; t++) {
      const src = (b * s.tokens + t) * s.width;
      const dst = (b * s.cap + s.past + t) * s.width;
      for (let i = 0; i < s.width; i++) out[dst + i] = fresh[src + i];
    }
  }
  return out;
}
