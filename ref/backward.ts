/**
 * Float64 reference gradients (analytic) of every forward op, for checking the WebGPU backward
 * kernels. Layouts as the kernels: row-major, tokens as rows; linear weights in Hugging Face
 * layout `[out, in]`. `tests/kernels/refs_backward_test.ts` checks these against central finite
 * differences of the f64 forward references.
 */

/** Gradients of `Y = X·Wᵀ + b` (W `[N, K]`): dX `[M, K]`, dW `[N, K]`, db `[N]`. */
export function linearBackwardRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const dx = new Float64Array(m * k);
  const dw = new Float64Array(n * k);
  const db = new Float64Array(n);
  for (let r = 0; r < m; r++) {
    for (let j = 0; j < n; j++) {
      const g = dy[r * n + j];
      db[j] += g;
      for (let i = 0; i < k; i++) {
        dx[r * k + i] += g * w[j * k + i];
        dw[j * k + i] += g * x[r * k + i];
      }
    }
  }
  return { dx, dw, db };
}

/**
 * Gradients of RMSNorm `y = x·r·w`, `r = 1/sqrt(mean(x²) + eps)` over rows of `[M, D]`:
 * `dx = r·(w∘dy) − x·r³·Σ(w∘dy∘x)/D`, `dw = Σ_rows dy∘x·r`.
 */
export function rmsnormBackwardRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: ArrayLike<number>,
  m: number,
  d: number,
  eps: number,
): { dx: Float64Array; dw: Float64Array } {
  const dx = new Float64Array(m * d);
  const dw = new Float64Array(d);
  for (let r = 0; r < m; r++) {
    let ss = 0;
    let dot = 0;
    for (let j = 0; j < d; j++) {
      const xv = x[r * d + j];
      ss += xv * xv;
      dot += w[j] * dy[r * d + j] * xv;
    }
    const inv = 1 / Math.sqrt(ss / d + eps);
    const c = (inv * inv * inv * dot) / d;
    for (let j = 0; j < d; j++) {
      const xv = x[r * d + j];
      dx[r * d + j] = inv * w[j] * dy[r * d + j] - c * xv;
      dw[j] += dy[r * d + j] * xv * inv;
    }
  }
  return { dx, dw };
}

/**
 * Gradient of RoPE (rotate_half convention) with respect to its input: the transpose of each 2-D
 * rotation, i.e. the rotation by −angle. `dy` is `[B·T, heads·hd]`; token t of a sequence is at
 * position past + t; angles pos·invFreq[i] in float64.
 */
export function ropeBackwardRef(
  dy: ArrayLike<number>,
  s: { batch: number; tokens: number; heads: number; headDim: number; past: number },
  invFreq: ArrayLike<number>,
): Float64Array {
  const { batch, tokens, heads, headDim: hd, past } = s;
  const half = hd / 2;
  const out = Float64Array.from(dy);
  for (let row = 0; row < batch * tokens; row++) {
    const pos = past + (row % tokens);
    for (let h = 0; h < heads; h++) {
      const base = (row * heads + h) * hd;
      for (let i = 0; i < half; i++) {
        const c = Math.cos(pos * invFreq[i]);
        const sn = Math.sin(pos * invFreq[i]);
        const a = dy[base + i];
        const b = dy[base + i + half];
        out[base + i] = a * c + b * sn;
        out[base + i + half] = b * c - a * sn;
      }
    }
  }
  return out;
}

/** Shape of a training attention problem: q `[B·T, H·hd]`, k/v `[B·T, KVH·hd]`, past = 0. */
export interface TrainAttentionShape {
  batch: number;
  tokens: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Softmax scale (default 1/√hd). */
  scale?: number;
}

/** Per (row, head): causal softmax probabilities over keys 0 … t, and the natural-log LSE. */
function attentionProbs(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  s: TrainAttentionShape,
  row: number,
  h: number,
): { p: Float64Array; lse: number } {
  const { tokens: T, heads: H, kvHeads: KV, headDim: hd } = s;
  const scale = s.scale ?? 1 / Math.sqrt(hd);
  const b = Math.floor(row / T);
  const t = row % T;
  const kvh = Math.floor(h / (H / KV));
  const qb = (row * H + h) * hd;
  const logits = new Float64Array(t + 1);
  let mx = -Infinity;
  for (let j = 0; j <= t; j++) {
    const kb = ((b * T + j) * KV + kvh) * hd;
    let dot = 0;
    for (let d = 0; d < hd; d++) dot += q[qb + d] * k[kb + d];
    logits[j] = scale * dot;
    mx = Math.max(mx, logits[j]);
  }
  let sum = 0;
  for (let j = 0; j <= t; j++) sum += Math.exp(logits[j] - mx);
  const lse = mx + Math.log(sum);
  const p = logits.map((l) => Math.exp(l - lse));
  return { p, lse };
}

/**
 * f64 causal GQA forward without a cache: o `[B·T, H·hd]` and the log-sum-exp of each
 * (row, head)'s scaled scores `[B·T, H]` (natural log).
 */
export function attentionForwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  s: TrainAttentionShape,
): { o: Float64Array; lse: Float64Array } {
  const { batch, tokens: T, heads: H, kvHeads: KV, headDim: hd } = s;
  const o = new Float64Array(batch * T * H * hd);
  const lse = new Float64Array(batch * T * H);
  for (let row = 0; row < batch * T; row++) {
    const b = Math.floor(row / T);
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / (H / KV));
      const r = attentionProbs(q, k, s, row, h);
      lse[row * H + h] = r.lse;
      for (let j = 0; j < r.p.length; j++) {
        const vb = ((b * T + j) * KV + kvh) * hd;
        for (let d = 0; d < hd; d++) o[(row * H + h) * hd + d] += r.p[j] * v[vb + d];
      }
    }
  }
  return { o, lse };
}

/**
 * f64 gradients of causal GQA attention (no cache): with P = softmax(scale·q·kᵀ) (causal),
 * dP = dO·vᵀ, dS = P∘(dP − rowsum(dO∘O)): dq = scale·dS·k, dk = scale·dSᵀ·q, dv = Pᵀ·dO, the
 * latter two summed over the query heads sharing a kv head.
 */
export function attentionBackwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dO: ArrayLike<number>,
  s: TrainAttentionShape,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { batch, tokens: T, heads: H, kvHeads: KV, headDim: hd } = s;
  const scale = s.scale ?? 1 / Math.sqrt(hd);
  const dq = new Float64Array(batch * T * H * hd);
  const dk = new Float64Array(batch * T * KV * hd);
  const dv = new Float64Array(batch * T * KV * hd);
  for (let row = 0; row < batch * T; row++) {
    const b = Math.floor(row / T);
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / (H / KV));
      const qb = (row * H + h) * hd;
      const { p } = attentionProbs(q, k, s, row, h);
      const dp = new Float64Array(p.length);
      let delta = 0;
      for (let j = 0; j < p.length; j++) {
        const vb = ((b * T + j) * KV + kvh) * hd;
        let dot = 0;
        for (let d = 0; d < hd; d++) dot += dO[qb + d] * v[vb + d];
        dp[j] = dot;
        delta += p[j] * dot;
      }
      for (let j = 0; j < p.length; j++) {
        const kb = ((b * T + j) * KV + kvh) * hd;
        const ds = p[j] * (dp[j] - delta);
        for (let d = 0; d < hd; d++) {
          dq[qb + d] += scale * ds * k[kb + d];
          dk[kb + d] += scale * ds * q[qb + d];
          dv[kb + d] += p[j] * dO[qb + d];
        }
      }
    }
  }
  return { dq, dk, dv };
}

/** f64 sigmoid without overflow. */
function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/**
 * Gradients of `out = silu(gate)·up`: dGate = dOut·up·σ(g)(1 + g(1 − σ(g))), dUp = dOut·silu(g).
 */
export function swigluBackwardRef(
  gate: ArrayLike<number>,
  up: ArrayLike<number>,
  dOut: ArrayLike<number>,
): { dGate: Float64Array; dUp: Float64Array } {
  const n = gate.length;
  const dGate = new Float64Array(n);
  const dUp = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    const sg = sigmoid(g);
    dGate[i] = dOut[i] * up[i] * sg * (1 + g * (1 - sg));
    dUp[i] = dOut[i] * g * sg;
  }
  return { dGate, dUp };
}

/** Gradient of the embedding gather: dTable `[V, D]` = Σ over rows r with ids[r] = v of dH[r]. */
export function embeddingBackwardRef(
  ids: ArrayLike<number>,
  dH: ArrayLike<number>,
  vocab: number,
  d: number,
): Float64Array {
  const out = new Float64Array(vocab * d);
  for (let r = 0; r < ids.length; r++) {
    for (let j = 0; j < d; j++) out[ids[r] * d + j] += dH[r * d + j];
  }
  return out;
}

/**
 * Cross-entropy over logits `[M, V]`: per-row loss `scale·(logsumexp − x_target)` (0 for rows
 * whose target is `ignore`) and its gradient `dLogits = scale·(softmax − onehot(target))` (zero
 * rows for ignored targets).
 */
export function crossEntropyRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  m: number,
  v: number,
  scale: number,
  ignore: number,
): { loss: Float64Array; dLogits: Float64Array } {
  const loss = new Float64Array(m);
  const dLogits = new Float64Array(m * v);
  for (let r = 0; r < m; r++) {
    const t = targets[r];
    if (t === ignore) continue;
    let mx = -Infinity;
    for (let j = 0; j < v; j++) mx = Math.max(mx, logits[r * v + j]);
    let s = 0;
    for (let j = 0; j < v; j++) s += Math.exp(logits[r * v + j] - mx);
    const lse = mx + Math.log(s);
    loss[r] = scale * (lse - logits[r * v + t]);
    for (let j = 0; j < v; j++) {
      dLogits[r * v + j] = scale * (Math.exp(logits[r * v + j] - lse) - (j === t ? 1 : 0));
    }
  }
  return { loss, dLogits };
}
