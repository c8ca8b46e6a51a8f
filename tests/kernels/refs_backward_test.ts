/**
 * The analytic f64 reference gradients (ref/backward.ts) against central finite
 * differences of the f64 forward references, on tiny odd shapes and every entry: the kernel tests
 * compare against these, so they must be right independently. CPU only.
 *
 * Each check uses the scalar L = Σ forward(θ)∘G for a fixed random G (so dL/dy = G) and compares
 * the analytic dL/dθ with (L(θ + h) − L(θ − h)) / 2h, h = 1e-5: agreement to 1e-7 absolute +
 * 1e-6 relative (the difference quotient's own error is ≈ h² + 1e-16/h ≈ 1e-10).
 */
import { attentionRef } from "../../ref/attention.ts";
import {
  attentionBackwardRef,
  attentionForwardRef,
  crossEntropyRef,
  embeddingBackwardRef,
  linearBackwardRef,
  rmsnormBackwardRef,
  ropeBackwardRef,
  swigluBackwardRef,
} from "../../ref/backward.ts";
import { embeddingRef } from "../../ref/embedding.ts";
import { swigluRef } from "../../ref/elementwise.ts";
import { linearRef } from "../../ref/matmul.ts";
import { rmsnormRef } from "../../ref/rmsnorm.ts";
import { invFreqRef, ropeRef } from "../../ref/rope.ts";
import { assertClose, randn } from "../util.ts";

const TOL = { atol: 1e-7, rtol: 1e-6 } as const;
const H = 1e-5;

/** Σ y∘g. */
function dot(y: ArrayLike<number>, g: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * g[i];
  return s;
}

/** Central differences of `loss` with respect to every entry of `theta` (modified in place). */
function numericGrad(theta: Float64Array, loss: () => number): Float64Array {
  const out = new Float64Array(theta.length);
  for (let i = 0; i < theta.length; i++) {
    const s = theta[i];
    theta[i] = s + H;
    const up = loss();
    theta[i] = s - H;
    const down = loss();
    theta[i] = s;
    out[i] = (up - down) / (2 * H);
  }
  return out;
}

const f64 = (n: number, seed: number, scale = 1) => Float64Array.from(randn(n, seed, scale));

Deno.test("reference gradients: linear, RMSNorm, SwiGLU, embedding", () => {
  const [m, k, n] = [3, 5, 7];
  const x = f64(m * k, 1);
  const w = f64(n * k, 2);
  const b = f64(n, 3);
  const g = f64(m * n, 4);
  const lin = () => dot(linearRef(x, w, m, k, n, b), g);
  const lr = linearBackwardRef(x, w, g, m, k, n);
  assertClose(lr.dx, numericGrad(x, lin), TOL, "linear dx");
  assertClose(lr.dw, numericGrad(w, lin), TOL, "linear dw");
  assertClose(lr.db, numericGrad(b, lin), TOL, "linear db");

  const d = 7;
  const xn = f64(m * d, 5, 2);
  const wn = f64(d, 6);
  const gn = f64(m * d, 7);
  const norm = () => dot(rmsnormRef(xn, wn, m, d, 1e-3), gn);
  const nr = rmsnormBackwardRef(xn, wn, gn, m, d, 1e-3);
  assertClose(nr.dx, numericGrad(xn, norm), TOL, "rmsnorm dx");
  assertClose(nr.dw, numericGrad(wn, norm), TOL, "rmsnorm dw");

  const gate = f64(11, 8, 4);
  const up = f64(11, 9);
  const gs = f64(11, 10);
  const sw = () => dot(swigluRef(gate, up), gs);
  const sr = swigluBackwardRef(gate, up, gs);
  assertClose(sr.dGate, numericGrad(gate, sw), TOL, "swiglu dGate");
  assertClose(sr.dUp, numericGrad(up, sw), TOL, "swiglu dUp");

  const ids = [2, 0, 2, 3];
  const table = f64(5 * 3, 11);
  const ge = f64(4 * 3, 12);
  const emb = () => dot(embeddingRef(ids, table, 5, 3), ge);
  assertClose(embeddingBackwardRef(ids, ge, 5, 3), numericGrad(table, emb), TOL, "embedding");
});

Deno.test("reference gradients: RoPE, attention (GQA), cross-entropy", () => {
  const s = { batch: 2, tokens: 3, heads: 2, headDim: 6, past: 4 };
  const inv = invFreqRef(6, 10000);
  const x = f64(2 * 3 * 2 * 6, 1);
  const g = f64(x.length, 2);
  const rp = () => dot(ropeRef(x, inv, { heads: 2, dim: 6, tokens: 3, batch: 2, past: 4 }), g);
  assertClose(ropeBackwardRef(g, s, inv), numericGrad(x, rp), TOL, "rope");

  const a = { batch: 2, tokens: 4, heads: 4, kvHeads: 2, headDim: 3, scale: 0.7 };
  const rows = 8;
  const q = f64(rows * 4 * 3, 3);
  const k = f64(rows * 2 * 3, 4);
  const v = f64(rows * 2 * 3, 5);
  const go = f64(rows * 4 * 3, 6);
  const att = () => dot(attentionForwardRef(q, k, v, a).o, go);
  const ar = attentionBackwardRef(q, k, v, go, a);
  assertClose(ar.dq, numericGrad(q, att), TOL, "attention dq");
  assertClose(ar.dk, numericGrad(k, att), TOL, "attention dk");
  assertClose(ar.dv, numericGrad(v, att), TOL, "attention dv");
  // The cache-free forward agrees with the inference reference (cache = the keys themselves).
  const cached = attentionRef(q, k, v, { ...a, past: 0, cap: 4 });
  assertClose(attentionForwardRef(q, k, v, a).o, cached, { atol: 1e-12, rtol: 1e-12 }, "fwd");

  const [m, vv] = [3, 5];
  const logits = f64(m * vv, 7, 3);
  const targets = [4, -100, 0];
  const ce = () => crossEntropyRef(logits, targets, m, vv, 0.5, -100).loss.reduce((p, c) => p + c);
  const cr = crossEntropyRef(logits, targets, m, vv, 0.5, -100);
  assertClose(cr.dLogits, numericGrad(logits, ce), TOL, "cross-entropy");
});
