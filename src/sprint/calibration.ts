/**
 * Calibration data for SPRINT: a text file tokenized once (BOS as the tokenizer adds it) and cut
 * into `nsamples` windows of `seqLen` tokens — at seeded random offsets (the official code's
 * scheme, `start = randint(0, len − T − 1)`, with this toolkit's own seeded generator) or, for
 * exact reproduction across implementations, the first `nsamples` consecutive non-overlapping
 * windows.
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import { readText } from "../data/jsonl.ts";
import { seededRandom } from "../util/random.ts";
import type { TextTokenizer } from "../model/tokenizer.ts";

/** Calibration windows and how they were made. */
export interface Calibration {
  /** `[nsamples · seqLen]` token ids, window after window. */
  ids: Uint32Array<ArrayBuffer>;
  /** Number of windows. */
  nsamples: number;
  /** Tokens per window. */
  seqLen: number;
  /** Source file, its token count, sampling, seed and whether the text starts with BOS. */
  protocol: {
    file?: string;
    tokens: number;
    sampling: "random" | "sequential";
    seed: number;
    bos: boolean;
  };
}

/** Options for {@link sampleCalibration}. */
export interface CalibrationOptions {
  /** Windows to cut (≥ 1). */
  nsamples: number;
  /** Tokens per window (≥ 2). */
  seqLen: number;
  /** Seed of the random window offsets (default 0). */
  seed?: number;
  /** `random` offsets (default) or the first `nsamples` consecutive windows. */
  sampling?: "random" | "sequential";
}

/**
 * Cuts windows from a token stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sampleCalibration } from "@sprint-wgpu/toolkit/sprint";
 * const tokens = Array.from({ length: 1000 }, (_, i) => i % 97);
 * const calib = sampleCalibration(tokens, { nsamples: 16, seqLen: 128, seed: 0 });
 * assert.equal(calib.ids.length, 16 * 128);
 * ```
 */
export function sampleCalibration(
  tokens: ArrayLike<number>,
  options: CalibrationOptions,
  file?: string,
): Calibration {
  const { nsamples, seqLen } = options;
  const sampling = options.sampling ?? "random";
  const seed = options.seed ?? 0;
  if (!Number.isInteger(nsamples) || nsamples < 1) {
    throw new ToolkitError(`--nsamples: expected an integer ≥ 1, got ${nsamples}`);
  }
  if (!Number.isInteger(seqLen) || seqLen < 2) {
    throw new ToolkitError(`--seq-len: expected an integer ≥ 2, got ${seqLen}`);
  }
  const need = sampling === "sequential" ? nsamples * seqLen : seqLen + 1;
  if (tokens.length < need) {
    throw new ToolkitError(
      `${
        file ?? "calibration text"
      }: ${tokens.length} tokens, ${sampling} sampling of ${nsamples}×${seqLen} needs at least ${need}`,
    );
  }
  const ids = new Uint32Array(nsamples * seqLen);
  const rand = seededRandom(seed);
  for (let i = 0; i < nsamples; i++) {
    const start = sampling === "sequential"
      ? i * seqLen
      : Math.floor(rand() * (tokens.length - seqLen));
    for (let j = 0; j < seqLen; j++) ids[i * seqLen + j] = tokens[start + j];
  }
  return {
    ids,
    nsamples,
    seqLen,
    protocol: { file, tokens: tokens.length, sampling, seed, bos: false },
  };
}

/**
 * Reads and tokenizes a calibration text file once, then samples windows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * import { calibrationFromFile } from "@sprint-wgpu/toolkit/sprint";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const path = `${DEFAULT_MODEL_DIR}/calibration.txt`;
 * const calib = await calibrationFromFile(path, model.tokenizer!, { nsamples: 4, seqLen: 32 });
 * assert.deepEqual([calib.nsamples, calib.seqLen], [4, 32]);
 * model.destroy();
 * ```
 */
export async function calibrationFromFile(
  path: string,
  tokenizer: TextTokenizer,
  options: CalibrationOptions,
): Promise<Calibration> {
  const text = await readText(path, "calibration text");
  if (text.trim().length === 0) throw new ToolkitError(`${path}: calibration text is empty`);
  const tokens = tokenizer.encode(text);
  const calib = sampleCalibration(tokens, options, path);
  calib.protocol.bos = tokenizer.bosId !== undefined && tokens[0] === tokenizer.bosId;
  return calib;
}
