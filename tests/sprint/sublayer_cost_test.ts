import { deepStrictEqual as assertEquals } from "node:assert";
import { parseConfig } from "../../src/model/config.ts";
import { formatSublayerCosts, sublayerCosts } from "../../src/sprint/sublayer_cost.ts";
import { tinyConfigJson } from "../fixtures.ts";

// An independent count, token by token: every linear layer as rows × in × out multiply-adds, the
// causal attention core as (keys seen) × hd per head for q·k and again for p·v, RMSNorm 4 FLOPs
// and SwiGLU 6 FLOPs per element; bytes as weights per forward, rows in and out, cache traffic.
Deno.test("sublayerCosts matches a token-by-token count (prefill 3 + 2 decode steps, B 2)", () => {
  const cfg = parseConfig(
    tinyConfigJson({
      hidden_size: 8,
      intermediate_size: 12,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 2,
    }),
    "tiny",
  );
  const w = { mode: "generation" as const, promptLength: 3, generationLength: 3, batch: 2 };
  const got = sublayerCosts(cfg, w, 2);
  const [d, f, h, kvh, hd, b] = [8, 12, 4, 2, 2, 2];
  const attnMacs = d * h * hd + 2 * d * kvh * hd + h * hd * d;
  let aF = 0, aB = 0, mF = 0, mB = 0;
  // Forwards: the prefill (positions 0, 1, 2) and two decode steps (positions 3 and 4).
  for (const positions of [[0, 1, 2], [3], [4]]) {
    aB += 2 * attnMacs + 4 * d; // f16 weights and the f32 norm weight
    mB += 2 * 3 * d * f + 4 * d;
    for (const p of positions) {
      for (let s = 0; s < b; s++) {
        aF += 2 * attnMacs + 4 * d + h * (2 * (p + 1) * hd + 2 * (p + 1) * hd);
        mF += 2 * 3 * d * f + 4 * d + 6 * f;
        aB += 4 * 2 * d + 4 * 2 * kvh * hd; // row in/out, new k/v row written
        mB += 4 * 2 * d;
        if (positions.length === 1) aB += 4 * 2 * kvh * hd * p; // decode reads the cached k/v
      }
    }
  }
  assertEquals(got, { attention: { flops: aF, bytes: aB }, mlp: { flops: mF, bytes: mB } });
  const line = formatSublayerCosts({ attention: 0.5, mlp: 0.25 }, got);
  const expected = `attention 0.500 ms for ${(aF / 1e6).toFixed(2)} MFLOP`;
  if (!line.startsWith(expected)) throw new Error(`unexpected line: ${line}`);
});

Deno.test("sublayerCosts: a prefill workload counts one forward", () => {
  const cfg = parseConfig(tinyConfigJson(), "tiny");
  const w = { mode: "prefill" as const, promptLength: 5, generationLength: 0, batch: 1 };
  const got = sublayerCosts(cfg, w, 4);
  const mlpParams = 3 * cfg.hiddenSize * cfg.intermediateSize;
  assertEquals(got.mlp.flops, 5 * (2 * mlpParams + 4 * cfg.hiddenSize + 6 * cfg.intermediateSize));
  assertEquals(got.mlp.bytes, 4 * mlpParams + 4 * cfg.hiddenSize + 5 * 8 * cfg.hiddenSize);
});
