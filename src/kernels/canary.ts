/**
 * The loop-iteration budget every kernel stays under, and a canary that measures the back end's
 * per-invocation loop cap.
 *
 * Mesa 22.3's llvmpipe/lavapipe stops every shader invocation after 65,535 loop iterations in
 * total — silently, with no error. All loops of the invocation share the count, and each
 * execution of a runtime loop also spends one iteration on its exit test: measured with
 * {@link countLoopIterations}, one loop of 70,000 runs 65,535 times, 1,000 × 100 nested loops run
 * 64,251 inner iterations (each outer iteration costs 100 + 1 + 1), and two loops of 40,000 one
 * after the other run 40,000 and 25,534. Loops with a constant trip count are unrolled and do
 * not count. Every kernel of the toolkit is therefore designed so that no invocation runs more than
 * {@link MAX_LOOP_ITERATIONS_PER_INVOCATION} loop iterations at the sizes it accepts (kernels
 * check this with {@link assertLoopBudget} and throw rather than silently truncate).
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { Params } from "../gpu/recorder.ts";
import { loadShader } from "../gpu/shader.ts";

const SRC = await loadShader("canary_loop.wgsl");

/**
 * The project's design budget of loop iterations per shader invocation (all loops together):
 * half of Mesa 22.3's 65,535-iteration cap, so that a kernel that stays under it is safe on
 * llvmpipe with a 2× margin.
 */
export const MAX_LOOP_ITERATIONS_PER_INVOCATION = 32768;

/** The cap measured on Mesa 22.3 llvmpipe/lavapipe: an invocation stops after this many. */
export const MESA_LOOP_CAP = 65535;

/**
 * Throws when a kernel would run more than {@link MAX_LOOP_ITERATIONS_PER_INVOCATION} loop
 * iterations in one invocation for the requested size (it would risk silent truncation on
 * llvmpipe).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { assertLoopBudget } from "@sprint-wgpu/toolkit/kernels";
 * const d = 4096;
 * assertLoopBudget("rmsnorm", 2 * Math.ceil(d / 256) + 8, `D = ${d}`); // well within
 * assert.throws(() => assertLoopBudget("naive", 70_000, "one loop over 70,000 items"));
 * ```
 */
export function assertLoopBudget(kernel: string, iterations: number, what: string): void {
  if (iterations > MAX_LOOP_ITERATIONS_PER_INVOCATION) {
    throw new Error(
      `${kernel}: ${what} needs ${iterations} loop iterations per invocation, over the budget of` +
        ` ${MAX_LOOP_ITERATIONS_PER_INVOCATION} (llvmpipe silently truncates at ${MESA_LOOP_CAP})`,
    );
  }
}

/**
 * Runs one invocation of a loop of `n` iterations (with a runtime trip count; `inner` ≠ 1 nests
 * a second runtime loop of `inner` iterations in each) and returns how many inner-body executions
 * actually ran: `n·inner` on a conforming back end, at most 65,535 on Mesa 22.3's llvmpipe
 * (fewer when nested, as each inner loop's exit test also counts).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { countLoopIterations } from "@sprint-wgpu/toolkit/kernels";
 * const gpu = await getGpu();
 * const ran = await countLoopIterations(gpu, 1000);
 * assert.equal(ran, 1000); // 70,000 would stop at 65,535 on Mesa 22.3 lavapipe
 * ```
 */
export async function countLoopIterations(gpu: Gpu, n: number, inner = 1): Promise<number> {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(inner) || inner < 0) {
    throw new Error(`countLoopIterations: n and inner must be non-negative integers`);
  }
  if (n * inner > 0xffffffff) throw new Error("countLoopIterations: n·inner exceeds u32");
  const out = gpu.tensor([2], "u32", new Uint32Array([0, 12345]));
  try {
    gpu.run((rec) => {
      rec.dispatch(
        gpu.pipeline(SRC, { NESTED: inner !== 1 }),
        [out],
        [1],
        new Params().u32(n).u32(inner),
      );
    });
    const [count] = await out.read();
    return count;
  } finally {
    out.destroy();
  }
}
