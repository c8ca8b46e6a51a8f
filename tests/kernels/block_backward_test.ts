/**
 * Composite check that the backward kernels fit together: the gradient of a tiny one-layer
 * Llama-style model's mean cross-entropy loss (embedding → RMSNorm → q/k/v (+bias) → RoPE →
 * causal GQA attention → o_proj + residual → RMSNorm → SwiGLU MLP + residual → final RMSNorm →
 * LM head → cross-entropy with an ignored target), computed on the GPU by chaining the forward
 * kernels and the backward kernels, against central finite differences of the f64 reference
 * forward (ref/forward.ts: refForward = refEmbed + refSublayer + refHead) on random entries
 * of every parameter tensor.
 */
import type { ModelConfig } from "../../src/model/config.ts";
import { embedding } from "../../src/kernels/embedding.ts";
import { swiglu } from "../../src/kernels/elementwise.ts";
import { type Linear, matmul, packedShape, packLinear } from "../../src/kernels/matmul.ts";
import { rmsnorm } from "../../src/kernels/rmsnorm.ts";
import { rope, ropeTable } from "../../src/kernels/rope.ts";
import { readTensors, type Tensor } from "../../src/gpu/tensor.ts";
import {
  attentionBackward,
  attentionForwardTrain,
} from "../../src/train/kernels/attention_backward.ts";
import { crossEntropy } from "../../src/train/kernels/cross_entropy.ts";
import { embeddingBackward } from "../../src/train/kernels/embedding_backward.ts";
import {
  linearBackward,
  type LinearGrad,
  linearGradTensors,
} from "../../src/train/kernels/linear_backward.ts";
import { rmsnormBackward } from "../../src/train/kernels/rmsnorm_backward.ts";
import { ropeBackward } from "../../src/train/kernels/rope_backward.ts";
import { swigluBackward } from "../../src/train/kernels/swiglu_backward.ts";
import { refForward, type RefWeights } from "../../ref/forward.ts";
import { F32_TOL, GPU_TEST, randn, rng, testGpuF32 } from "../util.ts";

// Sizes: none a multiple of the kernels' 16-wide tiles (D = 20, F = 28, V = 36), GQA ratio 2,
// hd = 8, two sequences of T = 7. (All multiples of 4, so that one vec4 variant of each kernel
// is compiled: cold llvmpipe compiles dominate this test's time. The unit tests cover the scalar
// paths.)
const B = 2;
const T = 7;
const D = 20;
const H = 4;
const KVH = 2;
const HD = 8;
const F = 28;
const V = 36;
const EPS = 1e-5;
const IGNORE = -100;

const cfg = {
  modelType: "llama",
  hiddenSize: D,
  intermediateSize: F,
  numLayers: 1,
  numHeads: H,
  numKvHeads: KVH,
  headDim: HD,
  vocabSize: V,
  maxPositions: 64,
  rmsNormEps: EPS,
  ropeTheta: 10000,
  tieWordEmbeddings: false,
  qkvBias: true,
  oBias: false,
  mlpBias: false,
  eosTokenIds: [],
  alive: [true, true],
  raw: {},
} as ModelConfig;

const L = "model.layers.0.";
/** [name, rows, cols] of every parameter (HF layout; norms and biases have cols = 1). */
const PARAMS: [string, number, number][] = [
  ["model.embed_tokens.weight", V, D],
  [L + "input_layernorm.weight", D, 1],
  [L + "self_attn.q_proj.weight", H * HD, D],
  [L + "self_attn.q_proj.bias", H * HD, 1],
  [L + "self_attn.k_proj.weight", KVH * HD, D],
  [L + "self_attn.k_proj.bias", KVH * HD, 1],
  [L + "self_attn.v_proj.weight", KVH * HD, D],
  [L + "self_attn.v_proj.bias", KVH * HD, 1],
  [L + "self_attn.o_proj.weight", D, H * HD],
  [L + "post_attention_layernorm.weight", D, 1],
  [L + "mlp.gate_proj.weight", F, D],
  [L + "mlp.up_proj.weight", F, D],
  [L + "mlp.down_proj.weight", D, F],
  ["model.norm.weight", D, 1],
  ["lm_head.weight", V, D],
];

function makeWeights(): Map<string, Float32Array<ArrayBuffer>> {
  const ws = new Map<string, Float32Array<ArrayBuffer>>();
  PARAMS.forEach(([name, r, c], i) => {
    const isNorm = name.endsWith("norm.weight");
    const w = randn(r * c, 1000 + i, isNorm ? 0.3 : name.includes("embed") ? 1 : 0.4);
    if (isNorm) { for (let j = 0; j < w.length; j++) w[j] += 1; }
    ws.set(name, w);
  });
  return ws;
}

/** f64 mean cross-entropy of the reference model over both sequences. */
function refLoss(ws: RefWeights, ids: number[][], targets: number[][]): number {
  let sum = 0;
  let counted = 0;
  for (let b = 0; b < B; b++) {
    const logits = refForward(cfg, ws, ids[b]);
    for (let t = 0; t < T; t++) {
      const y = targets[b][t];
      if (y === IGNORE) continue;
      let mx = -Infinity;
      for (let j = 0; j < V; j++) mx = Math.max(mx, logits[t * V + j]);
      let s = 0;
      for (let j = 0; j < V; j++) s += Math.exp(logits[t * V + j] - mx);
      sum += mx + Math.log(s) - logits[t * V + y];
      counted++;
    }
  }
  return sum / counted;
}

Deno.test({
  name: "tiny transformer: chained backward kernels vs finite differences of the f64 forward",
  ...GPU_TEST,
  async fn() {
    const gpu = await testGpuF32();
    const ws = makeWeights();
    const r = rng(77);
    const ids = Array.from(
      { length: B },
      () => Array.from({ length: T }, () => Math.floor(r() * V)),
    );
    ids[1][3] = ids[0][1]; // a token repeated across sequences
    const targets = ids.map((s, b) => s.map((_, t) => (t < T - 1 ? s[t + 1] : (b * 5 + 3) % V)));
    targets[0][2] = IGNORE;

    // ---- GPU parameters (f32, packed) and gradient buffers.
    const w = (n: string) => ws.get(n)!;
    const lin = (n: string, out: number, inp: number, bias?: string): Linear =>
      packLinear(gpu, w(L + n), out, inp, { dtype: "f32", bias: bias ? w(L + bias) : undefined });
    const vec = (n: string) => gpu.tensor([w(n).length], "f32", w(n));
    const wq = lin("self_attn.q_proj.weight", H * HD, D, "self_attn.q_proj.bias");
    const wk = lin("self_attn.k_proj.weight", KVH * HD, D, "self_attn.k_proj.bias");
    const wv = lin("self_attn.v_proj.weight", KVH * HD, D, "self_attn.v_proj.bias");
    const wo = lin("self_attn.o_proj.weight", D, H * HD);
    const wg = lin("mlp.gate_proj.weight", F, D);
    const wu = lin("mlp.up_proj.weight", F, D);
    const wd = lin("mlp.down_proj.weight", D, F);
    const head = packLinear(gpu, w("lm_head.weight"), V, D, { dtype: "f32" });
    const nIn = vec(L + "input_layernorm.weight");
    const nPost = vec(L + "post_attention_layernorm.weight");
    const nFinal = vec("model.norm.weight");
    const emb = gpu.tensor([V, D], "f32", w("model.embed_tokens.weight"));
    const table = ropeTable(gpu, { headDim: HD, theta: cfg.ropeTheta, maxPositions: 64 });
    const g = {
      q: linearGradTensors(gpu, wq),
      k: linearGradTensors(gpu, wk),
      v: linearGradTensors(gpu, wv),
      o: linearGradTensors(gpu, wo),
      gate: linearGradTensors(gpu, wg),
      up: linearGradTensors(gpu, wu),
      down: linearGradTensors(gpu, wd),
      head: linearGradTensors(gpu, head),
      nIn: gpu.tensor([D], "f32"),
      nPost: gpu.tensor([D], "f32"),
      nFinal: gpu.tensor([D], "f32"),
      emb: gpu.tensor([V, D], "f32"),
    };
    const M = B * T;
    const att = { batch: B, tokens: T, heads: H, kvHeads: KVH, headDim: HD };
    const pos = { batch: B, tokensPerSeq: T, past: 0, headDim: HD };
    const loss = gpu.tensor([1], "f32");

    // ---- Forward (keeping what the backward needs) and backward, one submission.
    const t0 = performance.now();
    const rec = gpu.recorder();
    const flatIds = ids.flat();
    const h0 = embedding(rec, flatIds, emb);
    const xn1 = rmsnorm(rec, h0, nIn, EPS);
    const q = matmul(rec, xn1, wq);
    const k = matmul(rec, xn1, wk);
    const v = matmul(rec, xn1, wv);
    rope(rec, q, table, { ...pos, heads: H });
    rope(rec, k, table, { ...pos, heads: KVH });
    const { out: o, lse } = attentionForwardTrain(rec, q, k, v, att);
    const h1 = gpu.tensor([M, D], "f32");
    rec.copy(h0, h1);
    matmul(rec, o, wo, { out: h1, accumulate: true });
    const xn2 = rmsnorm(rec, h1, nPost, EPS);
    const gate = matmul(rec, xn2, wg);
    const up = matmul(rec, xn2, wu);
    const act = swiglu(rec, gate, up);
    const h2 = gpu.tensor([M, D], "f32");
    rec.copy(h1, h2);
    matmul(rec, act, wd, { out: h2, accumulate: true });
    const hn = rmsnorm(rec, h2, nFinal, EPS);
    const logits = matmul(rec, hn, head);

    const ce = crossEntropy(rec, logits, targets.flat(), { inPlace: true, loss });
    const back = (x: Tensor, dy: Tensor, l: Linear, gr: LinearGrad, dx?: Tensor) =>
      linearBackward(rec, x, dy, l, gr, { dx, accumulateDx: !!dx })!;
    const dhn = back(hn, ce.dLogits, head, g.head);
    const dh = rmsnormBackward(rec, h2, nFinal, dhn, EPS, { dWeight: g.nFinal })!;
    // MLP sublayer: h2 = h1 + down(silu(gate)·up), gate/up = xn2·W.
    const dAct = back(act, dh, wd, g.down);
    swigluBackward(rec, gate, up, dAct, { inPlace: true }); // gate ← dGate, up ← dUp
    const dxn2 = back(xn2, gate, wg, g.gate);
    back(xn2, up, wu, g.up, dxn2);
    rmsnormBackward(rec, h1, nPost, dxn2, EPS, { dx: dh, accumulate: true, dWeight: g.nPost });
    // Attention sublayer: h1 = h0 + o_proj(attn(rope(q), rope(k), v)).
    const dO = back(o, dh, wo, g.o);
    const { dq, dk, dv } = attentionBackward(rec, q, k, v, o, lse, dO, att);
    ropeBackward(rec, dq, table, { ...pos, heads: H });
    ropeBackward(rec, dk, table, { ...pos, heads: KVH });
    const dxn1 = back(xn1, dq, wq, g.q);
    back(xn1, dk, wk, g.k, dxn1);
    back(xn1, dv, wv, g.v, dxn1);
    rmsnormBackward(rec, h0, nIn, dxn1, EPS, { dx: dh, accumulate: true, dWeight: g.nIn });
    embeddingBackward(rec, flatIds, dh, g.emb);
    rec.submit();
    await gpu.sync();
    const gpuMs = performance.now() - t0;

    // ---- Gradients in HF layout, by parameter name.
    const lins: [string, Linear, LinearGrad][] = [
      ["self_attn.q_proj", wq, g.q],
      ["self_attn.k_proj", wk, g.k],
      ["self_attn.v_proj", wv, g.v],
      ["self_attn.o_proj", wo, g.o],
      ["mlp.gate_proj", wg, g.gate],
      ["mlp.up_proj", wu, g.up],
      ["mlp.down_proj", wd, g.down],
    ];
    const tensors = [
      loss,
      g.emb,
      g.nIn,
      g.nPost,
      g.nFinal,
      g.head.weight,
      ...lins.flatMap(([, , gr]) => (gr.bias ? [gr.weight, gr.bias] : [gr.weight])),
    ];
    const read = await readTensors(gpu, tensors);
    const [gpuLoss, gEmb, gIn, gPost, gFinal, gHead] = read;
    const grads = new Map<string, ArrayLike<number>>([
      ["model.embed_tokens.weight", gEmb],
      [L + "input_layernorm.weight", gIn],
      [L + "post_attention_layernorm.weight", gPost],
      ["model.norm.weight", gFinal],
    ]);
    /** HF index [n, k] of a packed gradient. */
    const unpack = (p: ArrayLike<number>, n: number, kk: number) => {
      const { np } = packedShape(n, kk);
      return (i: number) => p[(i % kk) * np + Math.floor(i / kk)];
    };
    const packedGet = new Map<string, (i: number) => number>();
    packedGet.set("lm_head.weight", unpack(gHead, V, D));
    let at = 6;
    for (const [name, l, gr] of lins) {
      packedGet.set(L + name + ".weight", unpack(read[at++], l.outFeatures, l.inFeatures));
      if (gr.bias) {
        const b = read[at++];
        packedGet.set(L + name + ".bias", (i) => b[i]);
      }
    }

    // ---- The loss itself, then central differences on random entries of every parameter.
    const ref64 = new Map<string, Float64Array>();
    for (const [n, a] of ws) ref64.set(n, Float64Array.from(a));
    const refWs: RefWeights = ref64;
    const L0 = refLoss(refWs, ids, targets);
    if (!(Math.abs(gpuLoss[0] - L0) <= 1e-5 * Math.abs(L0))) {
      throw new Error(`loss: gpu ${gpuLoss[0]} vs f64 ${L0}`);
    }
    const h = 1e-4;
    const pick = rng(5);
    let worst = 0;
    let checked = 0;
    const lines: string[] = [];
    for (const [name, rows, cols] of PARAMS) {
      const p = ref64.get(name)!;
      const get = packedGet.get(name) ?? ((i: number) => grads.get(name)![i]);
      // Entries: random, plus (embedding) rows of tokens that occur, which have gradients.
      const entries = name.includes("embed")
        ? [ids[0][1] * D + 3, ids[1][0] * D + 7, ids[1][3] * D + 19, 0]
        : Array.from({ length: 4 }, () => Math.floor(pick() * rows * cols));
      for (const i of entries) {
        const save = p[i];
        p[i] = save + h;
        const up = refLoss(refWs, ids, targets);
        p[i] = save - h;
        const down = refLoss(refWs, ids, targets);
        p[i] = save;
        const fd = (up - down) / (2 * h);
        const got = get(i);
        // F32_TOL: 1e-5 + 1e-4·|fd|. The gradients (|g| ≈ 1e-3 … 0.2) come out of ≈ 30 chained
        // f32 kernels within ≈ 3e-8 of the f64 central differences (worst ≈ 0.005 of this bound),
        // and the central difference itself is exact to ≈ h²·|L'''| + 1e-16/h ≈ 1e-8. Dropping
        // RoPE's backward or dK's share of dXn moves gradients by 20–100 %.
        const bound = F32_TOL.atol + F32_TOL.rtol * Math.abs(fd);
        const ratio = Math.abs(got - fd) / bound;
        worst = Math.max(worst, ratio);
        checked++;
        if (!(ratio <= 1)) {
          lines.push(`${name}[${i}]: gpu ${got} vs finite difference ${fd}`);
        }
      }
    }
    if (lines.length) throw new Error(`gradient mismatch:\n${lines.join("\n")}`);
    console.log(
      `  ${checked} entries checked, worst error ${worst.toFixed(3)} of the bound;` +
        ` GPU forward+backward ${gpuMs.toFixed(0)} ms (incl. compiles), loss ${L0.toFixed(6)}`,
    );
  },
});
