/**
 * Plain-TS float64 reference of a Llama-family forward pass (HF semantics), for checking the
 * WebGPU forward: pre-norm residual blocks, RMSNorm, RoPE (rotate_half; default, linear and
 * llama3 frequencies), causal grouped-query attention, SwiGLU MLP, optional biases, tied or
 * untied LM head, and a sublayer mask (sublayer 2b = block b's attention, 2b+1 its MLP).
 */
import type { ModelConfig } from "../src/model/config.ts";

/** Weights by Hugging Face tensor name. */
export type RefWeights = Map<string, ArrayLike<number>>;

function w(ws: RefWeights, name: string): ArrayLike<number> {
  const t = ws.get(name);
  if (!t) throw new Error(`reference: missing weight ${name}`);
  return t;
}

/** HF inverse frequencies (float64). */
export function refInvFreq(
  cfg: Pick<ModelConfig, "headDim" | "ropeTheta" | "ropeScaling">,
): Float64Array {
  const half = cfg.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(cfg.ropeTheta, (2 * i) / cfg.headDim);
  const s = cfg.ropeScaling;
  if (s?.type === "linear") { for (let i = 0; i < half; i++) inv[i] /= s.factor; }
  if (s?.type === "llama3") {
    const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowWavelen) inv[i] = inv[i] / s.factor;
      else if (wavelen >= highWavelen) {
        const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) /
          (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i] / s.factor) + smooth * inv[i];
      }
    }
  }
  return inv;
}

function rmsnorm(
  x: Float64Array,
  weight: ArrayLike<number>,
  eps: number,
  rows: number,
  d: number,
): Float64Array {
  const out = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[r * d + j] ** 2;
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let j = 0; j < d; j++) out[r * d + j] = x[r * d + j] * inv * weight[j];
  }
  return out;
}

function linear(
  x: Float64Array,
  weight: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  rows: number,
  k: number,
  n: number,
): Float64Array {
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j] : 0;
      for (let t = 0; t < k; t++) s += x[r * k + t] * weight[j * k + t];
      y[r * n + j] = s;
    }
  }
  return y;
}

function rope(
  x: Float64Array,
  t: number,
  heads: number,
  hd: number,
  inv: Float64Array,
  past: number,
): void {
  const half = hd / 2;
  for (let p = 0; p < t; p++) {
    for (let h = 0; h < heads; h++) {
      const base = (p * heads + h) * hd;
      for (let i = 0; i < half; i++) {
        const ang = (past + p) * inv[i];
        const c = Math.cos(ang);
        const s = Math.sin(ang);
        const a = x[base + i];
        const b = x[base + i + half];
        x[base + i] = a * c - b * s;
        x[base + i + half] = b * c + a * s;
      }
    }
  }
}

/** Embedding rows of `ids` as a float64 residual stream `[T, D]`. */
export function refEmbed(cfg: ModelConfig, ws: RefWeights, ids: readonly number[]): Float64Array {
  const d = cfg.hiddenSize;
  const emb = w(ws, "model.embed_tokens.weight");
  const h = new Float64Array(ids.length * d);
  for (let p = 0; p < ids.length; p++) {
    for (let j = 0; j < d; j++) h[p * d + j] = emb[ids[p] * d + j];
  }
  return h;
}

/** Options of {@link refSublayer}. */
export interface RefSublayerOptions {
  /** Replacement down_proj weight `[D, F]` (HF layout) for an MLP sublayer. */
  down?: ArrayLike<number>;
  /** Receives the down_proj input `[T, F]` of an MLP sublayer. */
  captureDownInput?: (x: Float64Array) => void;
}

/** Applies sublayer s (attention if even, MLP if odd) to `h` (`[T, D]`) in place: h += branch(norm(h)). */
export function refSublayer(
  cfg: ModelConfig,
  ws: RefWeights,
  h: Float64Array,
  s: number,
  options: RefSublayerOptions = {},
): void {
  const d = cfg.hiddenSize;
  const t = h.length / d;
  const hd = cfg.headDim;
  const H = cfg.numHeads;
  const KV = cfg.numKvHeads;
  const F = cfg.intermediateSize;
  const pre = `model.layers.${s >> 1}.`;
  if (s % 2 === 0) {
    const inv = refInvFreq(cfg);
    const xn = rmsnorm(h, w(ws, pre + "input_layernorm.weight"), cfg.rmsNormEps, t, d);
    const bias = (n: string) => (cfg.qkvBias ? w(ws, pre + `self_attn.${n}.bias`) : undefined);
    const q = linear(xn, w(ws, pre + "self_attn.q_proj.weight"), bias("q_proj"), t, d, H * hd);
    const k = linear(xn, w(ws, pre + "self_attn.k_proj.weight"), bias("k_proj"), t, d, KV * hd);
    const v = linear(xn, w(ws, pre + "self_attn.v_proj.weight"), bias("v_proj"), t, d, KV * hd);
    rope(q, t, H, hd, inv, 0);
    rope(k, t, KV, hd, inv, 0);
    const o = new Float64Array(t * H * hd);
    const scale = 1 / Math.sqrt(hd);
    const group = H / KV;
    for (let p = 0; p < t; p++) {
      for (let hh = 0; hh < H; hh++) {
        const kh = Math.floor(hh / group);
        const scores = new Float64Array(p + 1);
        let max = -Infinity;
        for (let j = 0; j <= p; j++) {
          let sc = 0;
          for (let i = 0; i < hd; i++) sc += q[(p * H + hh) * hd + i] * k[(j * KV + kh) * hd + i];
          scores[j] = sc * scale;
          max = Math.max(max, scores[j]);
        }
        let sum = 0;
        for (let j = 0; j <= p; j++) sum += scores[j] = Math.exp(scores[j] - max);
        for (let i = 0; i < hd; i++) {
          let acc = 0;
          for (let j = 0; j <= p; j++) acc += scores[j] * v[(j * KV + kh) * hd + i];
          o[(p * H + hh) * hd + i] = acc / sum;
        }
      }
    }
    const oBias = cfg.oBias ? w(ws, pre + "self_attn.o_proj.bias") : undefined;
    const out = linear(o, w(ws, pre + "self_attn.o_proj.weight"), oBias, t, H * hd, d);
    for (let i = 0; i < h.length; i++) h[i] += out[i];
  } else {
    const xn = rmsnorm(h, w(ws, pre + "post_attention_layernorm.weight"), cfg.rmsNormEps, t, d);
    const bias = (n: string) => (cfg.mlpBias ? w(ws, pre + `mlp.${n}.bias`) : undefined);
    const g = linear(xn, w(ws, pre + "mlp.gate_proj.weight"), bias("gate_proj"), t, d, F);
    const u = linear(xn, w(ws, pre + "mlp.up_proj.weight"), bias("up_proj"), t, d, F);
    for (let i = 0; i < g.length; i++) g[i] = (g[i] / (1 + Math.exp(-g[i]))) * u[i];
    options.captureDownInput?.(g);
    const down = options.down ?? w(ws, pre + "mlp.down_proj.weight");
    const out = linear(g, down, bias("down_proj"), t, F, d);
    for (let i = 0; i < h.length; i++) h[i] += out[i];
  }
}

/** Final norm and LM head: logits `[T, V]` from a residual stream `[T, D]`. */
export function refHead(cfg: ModelConfig, ws: RefWeights, h: Float64Array): Float64Array {
  const t = h.length / cfg.hiddenSize;
  const hn = rmsnorm(h, w(ws, "model.norm.weight"), cfg.rmsNormEps, t, cfg.hiddenSize);
  const head = cfg.tieWordEmbeddings ? w(ws, "model.embed_tokens.weight") : w(ws, "lm_head.weight");
  return linear(hn, head, undefined, t, cfg.hiddenSize, cfg.vocabSize);
}

/**
 * Logits `[T, V]` for one sequence `ids` (positions 0..T−1), with sublayers masked by `alive`
 * (default: all present).
 */
export function refForward(
  cfg: ModelConfig,
  ws: RefWeights,
  ids: readonly number[],
  alive: readonly boolean[] = cfg.alive,
): Float64Array {
  const h = refEmbed(cfg, ws, ids);
  for (let s = 0; s < 2 * cfg.numLayers; s++) if (alive[s]) refSublayer(cfg, ws, h, s);
  return refHead(cfg, ws, h);
}

/** Greedy continuation of `prompt` by `n` tokens (full recomputation each step). */
export function refGreedy(
  cfg: ModelConfig,
  ws: RefWeights,
  prompt: readonly number[],
  n: number,
  alive: readonly boolean[] = cfg.alive,
): number[] {
  const ids = [...prompt];
  for (let s = 0; s < n; s++) {
    const logits = refForward(cfg, ws, ids, alive);
    const V = cfg.vocabSize;
    const last = logits.subarray((ids.length - 1) * V, ids.length * V);
    let best = 0;
    for (let i = 1; i < V; i++) if (last[i] > last[best]) best = i;
    ids.push(best);
  }
  return ids.slice(prompt.length);
}

/** Mean next-token NLL of `seqs` (each predicts its tokens 1…n−1 from the prefix), in float64. */
export function refMeanNll(cfg: ModelConfig, ws: RefWeights, seqs: readonly number[][]): number {
  let sum = 0;
  let n = 0;
  for (const s of seqs) {
    const ids = s.slice(0, -1);
    const logits = refForward(cfg, ws, ids);
    const V = cfg.vocabSize;
    for (let p = 0; p < ids.length; p++) {
      const row = logits.subarray(p * V, (p + 1) * V);
      let max = -Infinity;
      for (const x of row) max = Math.max(max, x);
      let z = 0;
      for (const x of row) z += Math.exp(x - max);
      sum += Math.log(z) + max - row[s[p + 1]];
      n++;
    }
  }
  return sum / n;
}
