/** lm-eval `_encode_pair` whitespace handling, with a hand-made tokenizer and with stories260K's. */
import { deepStrictEqual as assertEquals, ok } from "node:assert";
import { encodePair } from "../../src/eval/loglikelihood.ts";
import { loadTokenizer } from "../../src/model/tokenizer.ts";
import { sharedModelDir } from "../fixtures.ts";
import { tinyVocab, writeTinyTokenizer } from "./helpers.ts";

const dir = await Deno.makeTempDir({ prefix: "eval-tok-" });
await writeTinyTokenizer(dir);
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const tok = await loadTokenizer(dir);
const V = tinyVocab();
const ids = (...toks: string[]) => toks.map((t) => V[t]);

Deno.test("encodePair: trailing whitespace of the context moves to the continuation", () => {
  const p = encodePair(tok, "Answer: ", "yes");
  assertEquals(p.context, ids("▁", "Answer:"));
  assertEquals(p.continuation, ids("▁yes"));
  // Encoding the two strings separately would give a different, wrong split:
  assertEquals(tok.encode("Answer: ", { addSpecialTokens: false }), ids("▁", "Answer:", "▁"));
  // The usual request: context without trailing space, continuation " yes".
  assertEquals(encodePair(tok, "Answer:", " yes"), p);
  // Several whitespace characters move together.
  assertEquals(encodePair(tok, "Answer:\n ", "yes").continuation, ids("\n", "▁yes"));
});

Deno.test("encodePair: the pair is encoded whole and split at the context's length", () => {
  // "t" + "he" encodes whole as "▁the": the context's one token covers it all, so the
  // continuation is empty, exactly as lm-eval's whole[len(ctx):].
  assertEquals(encodePair(tok, "t", "he"), { context: ids("▁t"), continuation: [] });
  assertEquals(encodePair(tok, "the", " cat"), { context: ids("▁the"), continuation: ids("▁cat") });
});

Deno.test("encodePair: no BOS by default (lm-eval v0.4.1), BOS on both with bos: true; empty context", () => {
  const plain = encodePair(tok, "the", " cat");
  ok(plain.context[0] !== V["<s>"]);
  const bos = encodePair(tok, "the", " cat", { bos: true });
  assertEquals(bos, { context: [V["<s>"], ...plain.context], continuation: plain.continuation });
  assertEquals(encodePair(tok, "", " the"), {
    context: [V["</s>"]],
    continuation: ids("▁", "▁the"),
  });
  assertEquals(encodePair(tok, "", " the", { bos: true }).context, [V["<s>"]]);
});

const shared = await sharedModelDir();
if (!shared) {
  console.warn(
    "skipping stories260K tokenizer tests: ../shared/data/models/stories260K-hf is absent",
  );
}

Deno.test({
  name: "encodePair with stories260K's tokenizer (SentencePiece BPE with byte fallback)",
  ignore: !shared,
  async fn() {
    const real = await loadTokenizer(shared!);
    const ctx = "Question: How do I open a jar?\nAnswer:";
    const p = encodePair(real, ctx, " Twist the lid.");
    assertEquals(p.context, real.encode(ctx, { addSpecialTokens: false }));
    const whole = real.encode(ctx + " Twist the lid.", { addSpecialTokens: false });
    assertEquals([...p.context, ...p.continuation], whole);
    assertEquals(real.decode(p.continuation), "Twist the lid.");
    // A trailing space on the context gives the same split as a leading space on the choice.
    assertEquals(encodePair(real, ctx + " ", "Twist the lid."), p);
    // lm-eval v0.4.1 adds no BOS; --bos adds one to both.
    ok(p.context[0] !== real.bosId);
    const b = encodePair(real, ctx, " Twist the lid.", { bos: true });
    assertEquals(b.context, [real.bosId!, ...p.context]);
    assertEquals(b.continuation, p.continuation);
  },
});
