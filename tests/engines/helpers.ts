/**
 * Shared pieces of the engine tests: whether llama.cpp (the pinned node-llama-cpp and `node`) is
 * usable, and the rule for tests that need it — skipped with a message when it is not, or failed
 * when env REQUIRE_LLAMACPP=1 (CI installs the package and sets it).
 */
import { locateNodeLlamaCpp } from "../../src/engines/llamacpp.ts";

async function reason(): Promise<string | undefined> {
  const found = locateNodeLlamaCpp();
  if ("error" in found) return found.error;
  try {
    const r = await new Deno.Command(Deno.env.get("SPRINT_NODE") ?? "node", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    if (!r.success) return "`node --version` failed";
  } catch {
    return "node is not on PATH";
  }
  return undefined;
}

/** Why llama.cpp cannot run here (undefined: it can). */
export const LLAMACPP_MISSING: string | undefined = await reason();

/** True when REQUIRE_LLAMACPP=1: a missing llama.cpp fails the tests instead of skipping them. */
export const REQUIRE_LLAMACPP = Deno.env.get("REQUIRE_LLAMACPP") === "1";

/**
 * Deno.test options for a test that needs llama.cpp: ignored (with a printed reason) when it is
 * missing, unless REQUIRE_LLAMACPP=1, in which case the test runs and fails with the reason.
 */
export function llamaCppTest(name: string, fn: () => Promise<void>): Deno.TestDefinition {
  if (LLAMACPP_MISSING !== undefined && !REQUIRE_LLAMACPP) {
    console.warn(
      `skipping "${name}": ${LLAMACPP_MISSING} (set REQUIRE_LLAMACPP=1 to fail instead)`,
    );
    return { name, ignore: true, fn };
  }
  return {
    name,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      if (LLAMACPP_MISSING !== undefined) {
        throw new Error(`REQUIRE_LLAMACPP=1 but llama.cpp is unavailable: ${LLAMACPP_MISSING}`);
      }
      await fn();
    },
  };
}

/** Largest |a[i] − b[i]|. */
export function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** log p(ids[p+1] | ids[..p]) from f64 reference logits `[T, V]`. */
export function refLogProbs(logits: ArrayLike<number>, vocab: number, ids: readonly number[]) {
  const out: number[] = [];
  for (let p = 0; p + 1 < ids.length; p++) {
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) max = Math.max(max, logits[p * vocab + i]);
    let z = 0;
    for (let i = 0; i < vocab; i++) z += Math.exp(logits[p * vocab + i] - max);
    out.push(logits[p * vocab + ids[p + 1]] - max - Math.log(z));
  }
  return out;
}
