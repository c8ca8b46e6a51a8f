/**
 * Log-likelihood of continuations given contexts on the GPU, with the semantics of
 * lm-evaluation-harness v0.4.1 (`HFLM.loglikelihood` / `_loglikelihood_tokens`):
 *
 * - **Encoding** ({@link encodePair}): trailing whitespace of the context moves to the start of
 *   the continuation; `whole = encode(context + continuation)`, `ctx = encode(context)`, and the
 *   continuation tokens are `whole[len(ctx):]`. v0.4.1 adds no special tokens (no BOS) for causal
 *   LMs; `bos: true` encodes both with the tokenizer's special tokens, as newer lm-eval versions do
 *   for Llama (`add_bos_token=True`). An empty context becomes the single token EOS (v0.4.1's
 *   `eot_token_id`), or BOS with `bos: true`.
 * - **Truncation**: the model input is `(ctx + cont)[-(max_length + 1):][:-1]`, with `max_length`
 *   the config's `max_position_embeddings`, so long inputs lose tokens on the left and keep the
 *   whole continuation.
 * - **Scores**: log-likelihood = Σ over the continuation tokens of `log softmax(logits)[token]`
 *   at the positions that predict them; `isGreedy` = every continuation token is the argmax.
 *
 * **Execution.** Requests are grouped (by `group`, default: identical context tokens); within a
 * group identical inputs are computed once, an input that is a prefix of another is read from
 * the longer one's forward (causal attention), and the prefix shared by the group's inputs is
 * computed once: a batch of groups first runs the shared prefixes (`batch` = groups) into a KV
 * cache, copies each group's cache rows to its sequences, then runs every sequence's remainder
 * (`batch` = sequences) against that cache. Groups are sorted by length and cut into batches by
 * dynamic programming over the estimated cost (padded token rows plus a fixed cost per forward
 * and per read-back) within `batchTokens` rows, `maxBatch` sequences and `kvCacheBytes`, each
 * batch in whichever mode is cheaper; sequences are right-padded to the batch's length (causal
 * attention: padding at the end changes no earlier position). Only the rows that predict
 * continuation tokens go through the final norm and LM head; the `nll` and `argmax` kernels
 * reduce them on the GPU and one read-back per batch brings two numbers per scored token.
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import { readTensors, type Tensor } from "../gpu/tensor.ts";
import { embedding } from "../kernels/embedding.ts";
import { headLogits } from "../kernels/head.ts";
import { rmsnorm } from "../kernels/rmsnorm.ts";
import { argmax, nll } from "../kernels/softmax.ts";
import { KvCache, recordForward } from "../model/forward.ts";
import type { LlamaModel } from "../model/model.ts";
import type { TextTokenizer } from "../model/tokenizer.ts";
import type { Recorder } from "../gpu/recorder.ts";

/** Options for {@link encodePair}. */
export interface EncodePairOptions {
  /**
   * Encode with the tokenizer's special tokens (BOS for Llama), as lm-eval ≥ 0.4.2 does with
   * `add_bos_token=True`. Default false: lm-eval v0.4.1 (the version SPRINT bundles).
   */
  bos?: boolean;
}

/** A context/continuation pair as token ids. */
export interface TokenRequest {
  /** Context token ids. */
  context: readonly number[];
  /** Continuation token ids (scored). */
  continuation: readonly number[];
  /**
   * Requests with equal `group` are computed together and share their common prefix (e.g. the
   * choices of one document). Default: requests with identical context tokens form a group.
   */
  group?: number | string;
}

/** Result of one request. */
export interface LoglikelihoodResult {
  /** Σ log p(continuation token | everything before it), natural log. */
  logLikelihood: number;
  /** Every continuation token is the model's argmax (lm-eval `is_greedy`). */
  isGreedy: boolean;
  /** Continuation tokens scored. */
  tokens: number;
  /** Tokens cut from the left of the context to fit the model's context. */
  truncated: number;
}

/** Options of the GPU scorer. */
export interface ScoreOptions {
  /** Sublayer mask (default: every sublayer with weights). */
  mask?: readonly boolean[];
  /** lm-eval `max_length` (default: the config's `max_position_embeddings`). */
  maxLength?: number;
  /** Token rows per forward (batch × padded length), a memory/speed trade-off (default 2048). */
  batchTokens?: number;
  /** Sequences per forward at most (default 64). */
  maxBatch?: number;
  /** Compute a group's shared prefix once through a KV cache (default true). */
  sharePrefixes?: boolean;
  /** Bytes of KV cache a shared-prefix batch may allocate (default 1 GiB). */
  kvCacheBytes?: number;
  /** Called after each batch with the number of requests (or windows) finished. */
  onProgress?: (done: number, total: number) => void;
  /** Called for each batch before it runs (diagnostics). */
  onBatch?: (info: BatchInfo) => void;
}

/** What one batch computes (see {@link ScoreOptions.onBatch}). */
export interface BatchInfo {
  /** `flat`: whole sequences; `shared`: group prefixes first, then the remainders. */
  mode: "flat" | "shared";
  /** Groups in the batch. */
  groups: number;
  /** Sequences in the batch. */
  sequences: number;
  /** Shared prefix length (0 in flat mode). */
  prefix: number;
  /** Padded length of each (remainder) sequence. */
  length: number;
  /** Rows scored through the LM head. */
  scored: number;
}

/**
 * lm-eval's `_encode_pair`: token ids of a context and a continuation (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePair } from "@sprint-wgpu/toolkit/eval";
 * import { DEFAULT_MODEL_DIR, loadTokenizer } from "@sprint-wgpu/toolkit/model";
 * const tok = await loadTokenizer(DEFAULT_MODEL_DIR);
 * const { context, continuation } = encodePair(tok, "Question: Why?\nAnswer: ", "Because");
 * // the trailing space moved to the continuation, as lm-eval does
 * assert.equal(tok.decode(context), "Question: Why?\nAnswer:");
 * assert.equal(tok.decode(continuation), " Because");
 * ```
 */
export function encodePair(
  tok: TextTokenizer,
  context: string,
  continuation: string,
  options: EncodePairOptions = {},
): { context: number[]; continuation: number[] } {
  const special = options.bos ?? false;
  if (context === "") {
    const prefix = special ? (tok.bosId ?? tok.eosId) : (tok.eosId ?? tok.bosId);
    if (prefix === undefined) {
      throw new ToolkitError(
        "an empty context needs an EOS or BOS token, and the tokenizer has neither",
      );
    }
    return {
      context: [prefix],
      continuation: tok.encode(continuation, { addSpecialTokens: false }),
    };
  }
  const kept = context.trimEnd();
  const spaces = context.length - kept.length;
  let ctx = context;
  let cont = continuation;
  if (spaces > 0) {
    cont = context.slice(kept.length) + continuation;
    ctx = kept;
  }
  const whole = tok.encode(ctx + cont, { addSpecialTokens: special });
  const ctxEnc = tok.encode(ctx, { addSpecialTokens: special });
  return { context: ctxEnc, continuation: whole.slice(ctxEnc.length) };
}

// ---------------------------------------------------------------------------------------------
// The batched scorer shared by log-likelihood and perplexity.

/** A position whose next-token log-probability is wanted. */
export interface ScoredRow {
  /** Accumulator the result goes to (a request or a window). */
  id: number;
  /** Position in the sequence's input whose logits predict `target`. */
  pos: number;
  /** The token whose log-probability is read. */
  target: number;
}

/** One input sequence with the rows read from its forward. */
export interface ScoreSeq {
  /** Token ids run through the forward. */
  input: readonly number[];
  /** Rows whose next-token log-probabilities are read. */
  scored: ScoredRow[];
}

/** A group of sequences planned together (see {@link planGroup}). */
export interface PlannedGroup {
  /** The group's sequences. */
  seqs: ScoreSeq[];
  /** Prefix length shared by every sequence and below every scored position. */
  share: number;
  /** Length of the longest sequence. */
  maxLen: number;
  /** Accumulators finished with this group (for progress). */
  ids: number;
}

/** One planned batch (see {@link planBatches}). */
export interface Batch {
  /** The groups in the batch. */
  groups: PlannedGroup[];
  /** `flat`: whole sequences; `shared`: group prefixes first, then the remainders. */
  mode: "flat" | "shared";
  /** Shared prefix length (shared mode). */
  cb: number;
  /** Padded length of the (remainder) sequences. */
  t: number;
  /** Rows of the batch's forward. */
  rows: number;
}

function lcp(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

function startsWith(a: readonly number[], prefix: readonly number[]): boolean {
  if (prefix.length > a.length) return false;
  for (let i = 0; i < prefix.length; i++) if (a[i] !== prefix[i]) return false;
  return true;
}

/**
 * Merges a group's sequences: identical inputs once, an input that is a prefix of another read
 * from the longer one; returns the group with its shareable prefix length.
 */
export function planGroup(seqs: ScoreSeq[], ids = 1): PlannedGroup {
  const byKey = new Map<string, ScoreSeq>();
  for (const s of seqs) {
    const key = s.input.join(",");
    const hit = byKey.get(key);
    if (hit) hit.scored.push(...s.scored);
    else byKey.set(key, { input: s.input, scored: [...s.scored] });
  }
  const sorted = [...byKey.values()].sort((a, b) => b.input.length - a.input.length);
  const kept: ScoreSeq[] = [];
  for (const s of sorted) {
    const into = kept.find((k) => startsWith(k.input, s.input));
    if (into) into.scored.push(...s.scored);
    else kept.push(s);
  }
  let share = Infinity;
  for (const s of kept) for (const r of s.scored) share = Math.min(share, r.pos);
  for (let i = 1; i < kept.length; i++) share = Math.min(share, lcp(kept[0].input, kept[i].input));
  const maxLen = Math.max(...kept.map((s) => s.input.length));
  return { seqs: kept, share: Number.isFinite(share) ? share : 0, maxLen, ids };
}

/**
 * Fixed costs in token rows for batch planning: one forward's dispatches, and one batch's
 * submission and read-back (≈ 15 ms and ≈ 11 ms on llvmpipe, at ≈ 0.25 ms per row of a tiny model).
 */
const FORWARD_OVERHEAD_ROWS = 64;
const BATCH_OVERHEAD_ROWS = 48;

interface BatchCost {
  mode: "flat" | "shared";
  /** Estimated cost in token rows (overhead included). */
  cost: number;
  /** Within the token budget. */
  fits: boolean;
  cb: number;
  t: number;
  rows: number;
}

/** Limits of the batch planner. */
export interface PlanOptions {
  /** Token rows per forward. */
  batchTokens: number;
  /** Sequences per batch. */
  maxBatch: number;
  /** Shared-prefix mode allowed. */
  share: boolean;
  /** KV-cache positions (all sequences) a shared-prefix batch may allocate (default unlimited). */
  kvRows?: number;
}

/** Mode and cost of a batch of `g` groups / `r` sequences, longest `tMax`, common prefix `cb`. */
function batchCost(
  g: number,
  r: number,
  tMax: number,
  cb: number,
  options: PlanOptions,
): BatchCost {
  const budget = options.batchTokens;
  const flatRows = r * tMax;
  const sharedRows = r * (tMax - cb);
  const flat: BatchCost = {
    mode: "flat",
    cost: flatRows + FORWARD_OVERHEAD_ROWS + BATCH_OVERHEAD_ROWS,
    fits: flatRows <= budget,
    cb: 0,
    t: tMax,
    rows: flatRows,
  };
  const sharedOk = options.share && r > g && cb > 0 && g * cb <= budget && sharedRows <= budget &&
    g * cb + r * tMax <= (options.kvRows ?? Infinity);
  if (!sharedOk) return flat;
  const shared: BatchCost = {
    mode: "shared",
    cost: g * cb + sharedRows + 2 * FORWARD_OVERHEAD_ROWS + BATCH_OVERHEAD_ROWS,
    fits: true,
    cb,
    t: tMax - cb,
    rows: sharedRows,
  };
  return !flat.fits || shared.cost < flat.cost ? shared : flat;
}

/**
 * Splits groups into batches and picks each batch's mode: groups sorted by length (then shared
 * prefix), and the split points chosen by dynamic programming to minimise the estimated cost
 * (padded token rows plus a fixed cost per forward) within the token budget and the sequence cap.
 * A group too large for the budget on its own still runs, as a batch of its own.
 */
export function planBatches(groups: PlannedGroup[], options: PlanOptions): Batch[] {
  const order = [...groups].sort((a, b) => b.maxLen - a.maxLen || b.share - a.share);
  const n = order.length;
  const best = new Float64Array(n + 1).fill(Infinity);
  const from = new Int32Array(n + 1);
  best[0] = 0;
  for (let j = 1; j <= n; j++) {
    let g = 0;
    let r = 0;
    let tMax = 0;
    let cb = Infinity;
    for (let i = j - 1; i >= 0; i--) {
      const x = order[i];
      g++;
      r += x.seqs.length;
      tMax = Math.max(tMax, x.maxLen);
      cb = Math.min(cb, x.share);
      if (g > 1 && r > options.maxBatch) break;
      const c = batchCost(g, r, tMax, cb, options);
      if (c.fits || g === 1) {
        if (best[i] + c.cost < best[j]) {
          best[j] = best[i] + c.cost;
          from[j] = i;
        }
      } else if (r * (tMax - cb) > options.batchTokens || r * tMax > (options.kvRows ?? Infinity)) {
        break; // both grow with every group added: nothing further fits
      }
    }
  }
  const batches: Batch[] = [];
  for (let j = n; j > 0; j = from[j]) {
    const gs = order.slice(from[j], j);
    const c = batchCost(
      gs.length,
      gs.reduce((s, x) => s + x.seqs.length, 0),
      Math.max(...gs.map((x) => x.maxLen)),
      Math.min(...gs.map((x) => x.share)),
      options,
    );
    batches.push({ groups: gs, mode: c.mode, cb: c.cb, t: c.t, rows: c.rows });
  }
  return batches.reverse();
}

/**
 * KV-cache positions that fit in `bytes` (keys and values of every attention sublayer, f32) and
 * in one storage binding per cache tensor.
 */
function kvRowLimit(model: LlamaModel, bytes: number): number {
  const c = model.config;
  const layers = model.blocks.filter((b) => b.attention).length;
  const perPos = c.numKvHeads * c.headDim * 4;
  if (layers === 0) return Infinity;
  return Math.floor(
    Math.min(bytes / (2 * layers * perPos), model.gpu.caps.maxStorageBindingSize / perPos),
  );
}

/** Largest number of logit rows per LM-head chunk (64 MiB of f32 logits). */
function headRows(vocab: number): number {
  return Math.max(1, Math.floor((64 * 1024 * 1024) / (4 * vocab)));
}

/**
 * Records final norm → LM head → nll / argmax for the given rows of `hidden` `[M, D]` in chunks;
 * returns the per-chunk outputs and the tensors to free.
 */
function recordHead(
  rec: Recorder,
  model: LlamaModel,
  hidden: Tensor,
  rows: Uint32Array,
  targets: Uint32Array,
  identity: boolean,
): { outputs: [Tensor, Tensor][]; temps: Tensor[] } {
  const gpu = model.gpu;
  const c = model.config;
  const chunk = headRows(c.vocabSize);
  const outputs: [Tensor, Tensor][] = [];
  const temps: Tensor[] = [];
  for (let s0 = 0; s0 < rows.length; s0 += chunk) {
    const n = Math.min(chunk, rows.length - s0);
    let x: Tensor;
    if (identity && rows.length <= chunk) {
      x = hidden;
    } else {
      const ids = gpu.tensor([n], "u32", rows.subarray(s0, s0 + n));
      x = embedding(rec, ids, hidden);
      temps.push(ids, x);
    }
    const xn = rmsnorm(rec, x, model.finalNorm, c.rmsNormEps);
    const logits = headLogits(rec, xn, model.head, { workspace: model.workspace });
    const t = gpu.tensor([n], "u32", targets.subarray(s0, s0 + n));
    const loss = nll(rec, logits, t);
    const best = argmax(rec, logits);
    temps.push(xn, logits, t, loss, best);
    outputs.push([loss, best]);
  }
  return { outputs, temps };
}

/**
 * Runs the scorer over groups of sequences. Returns, per accumulator id, the summed negative
 * log-likelihood (f64 on the host), whether every scored token was the argmax, and the number of
 * tokens scored.
 */
export async function scoreGroups(
  model: LlamaModel,
  groups: PlannedGroup[],
  numIds: number,
  options: ScoreOptions = {},
): Promise<{ nll: Float64Array; greedy: Uint8Array; count: Uint32Array }> {
  const gpu = model.gpu;
  const mask = options.mask;
  const batches = planBatches(groups, {
    batchTokens: options.batchTokens ?? 2048,
    maxBatch: options.maxBatch ?? 64,
    share: options.sharePrefixes ?? true,
    kvRows: kvRowLimit(model, options.kvCacheBytes ?? 1024 ** 3),
  });
  const sumNll = new Float64Array(numIds);
  const greedy = new Uint8Array(numIds).fill(1);
  const count = new Uint32Array(numIds);
  const total = groups.reduce((s, g) => s + g.ids, 0);
  let done = 0;
  for (const batch of batches) {
    const temps: Tensor[] = [];
    const caches: KvCache[] = [];
    const seqs = batch.groups.flatMap((g) => g.seqs);
    const sel = scoredRows(seqs, batch.t, batch.cb);
    options.onBatch?.({
      mode: batch.mode,
      groups: batch.groups.length,
      sequences: seqs.length,
      prefix: batch.cb,
      length: batch.t,
      scored: sel.rows.length,
    });
    const rec = gpu.recorder();
    const hidden = recordBatchForward(rec, model, batch, seqs, mask, temps, caches);
    const head = recordHead(rec, model, hidden, sel.rows, sel.targets, sel.identity);
    temps.push(...head.temps);
    rec.submit();
    const got = await readTensors(gpu, head.outputs.flat());
    let at = 0;
    for (let o = 0; o < head.outputs.length; o++) {
      const loss = got[2 * o];
      const best = got[2 * o + 1];
      for (let i = 0; i < loss.length; i++, at++) {
        const id = sel.owner[at];
        sumNll[id] += loss[i];
        count[id]++;
        if (best[i] !== sel.targets[at]) greedy[id] = 0;
      }
    }
    for (const x of temps) x.destroy();
    for (const x of caches) x.destroy();
    model.workspace.release();
    done += batch.groups.reduce((s, g) => s + g.ids, 0);
    options.onProgress?.(done, total);
  }
  return { nll: sumNll, greedy, count };
}

/**
 * Records the forward of one batch into `[rows·t, d]` hidden states: whole sequences (flat), or
 * each group's shared prefix once into a KV cache that is copied to every member before the
 * remainders run (shared). Inputs are right-padded with their last token. Temporaries and caches
 * are pushed for the caller to free after the submission.
 */
function recordBatchForward(
  rec: Recorder,
  model: LlamaModel,
  batch: Batch,
  seqs: ScoreSeq[],
  mask: readonly boolean[] | undefined,
  temps: Tensor[],
  caches: KvCache[],
): Tensor {
  const gpu = model.gpu;
  const c = model.config;
  const r = seqs.length;
  const t = batch.t;
  const cb = batch.cb;
  const ids = new Uint32Array(r * t);
  seqs.forEach((s, i) => {
    const part = s.input.slice(cb);
    ids.set(part, i * t);
    ids.fill(part[part.length - 1], i * t + part.length, (i + 1) * t);
  });
  const idsT = gpu.tensor([r * t], "u32", ids);
  const hidden = gpu.tensor([r * t, c.hiddenSize], "f32");
  temps.push(idsT, hidden);
  if (batch.mode === "flat") {
    recordForward(rec, model, idsT, { batch: r, tokens: t, mask, output: "hidden", out: hidden });
    return hidden;
  }
  const g = batch.groups.length;
  const pre = new Uint32Array(g * cb);
  batch.groups.forEach((grp, i) => pre.set(grp.seqs[0].input.slice(0, cb), i * cb));
  const preT = gpu.tensor([g * cb], "u32", pre);
  const preOut = gpu.tensor([g * cb, c.hiddenSize], "f32");
  temps.push(preT, preOut);
  const c1 = new KvCache(model, g, cb, mask);
  const cap = cb + t;
  const c2 = new KvCache(model, r, cap, mask);
  caches.push(c1, c2);
  recordForward(rec, model, preT, {
    batch: g,
    tokens: cb,
    cache: c1,
    mask,
    output: "hidden",
    out: preOut,
  });
  const kvWidthBytes = c.numKvHeads * c.headDim * 4;
  const bytes = cb * kvWidthBytes;
  for (let b = 0; b < c1.keys.length; b++) {
    const [k1, v1, k2, v2] = [c1.keys[b], c1.values[b], c2.keys[b], c2.values[b]];
    if (!k1 || !v1 || !k2 || !v2) continue;
    let row = 0;
    batch.groups.forEach((grp, gi) => {
      for (let j = 0; j < grp.seqs.length; j++, row++) {
        rec.copy(k1, k2, bytes, gi * bytes, row * cap * kvWidthBytes);
        rec.copy(v1, v2, bytes, gi * bytes, row * cap * kvWidthBytes);
      }
    });
  }
  c2.length = cb;
  recordForward(rec, model, idsT, {
    batch: r,
    tokens: t,
    cache: c2,
    mask,
    output: "hidden",
    out: hidden,
  });
  return hidden;
}

/** The hidden rows a batch scores, their targets and accumulators; `identity`: every row, in order. */
function scoredRows(seqs: ScoreSeq[], t: number, cb: number): {
  rows: Uint32Array;
  targets: Uint32Array;
  owner: Uint32Array;
  identity: boolean;
} {
  const nRows = seqs.reduce((s, q) => s + q.scored.length, 0);
  const rows = new Uint32Array(nRows);
  const targets = new Uint32Array(nRows);
  const owner = new Uint32Array(nRows);
  let k = 0;
  seqs.forEach((s, i) => {
    for (const sc of s.scored) {
      rows[k] = i * t + (sc.pos - cb);
      targets[k] = sc.target;
      owner[k] = sc.id;
      k++;
    }
  });
  let identity = nRows === seqs.length * t;
  for (let i = 0; identity && i < nRows; i++) identity = rows[i] === i;
  return { rows, targets, owner, identity };
}

/** lm-eval's `max_length` for a model: the config's `max_position_embeddings` (checked). */
export function modelMaxLength(model: LlamaModel, requested?: number): number {
  const limit = Math.min(model.config.maxPositions, model.rope.maxPositions);
  const L = requested ?? model.config.maxPositions;
  if (!Number.isInteger(L) || L < 1) {
    throw new ToolkitError(`max length must be a positive integer, got ${L}`);
  }
  if (L > limit) {
    throw new ToolkitError(`max length ${L} exceeds the model's context of ${limit} positions`);
  }
  return L;
}

/**
 * Log-likelihoods of token requests (lm-eval `_loglikelihood_tokens` semantics, see the module
 * doc), computed in batches on the GPU.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { encodePair, loglikelihoodTokens } from "@sprint-wgpu/toolkit/eval";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const tok = model.tokenizer!;
 * const reqs = [" States", " Kingdom"].map((c) => ({
 *   ...encodePair(tok, "The people of the United", c),
 *   group: 0, // one group: the shared prefix is computed once
 * }));
 * const [states, kingdom] = await loglikelihoodTokens(model, reqs);
 * assert.ok(states.logLikelihood > kingdom.logLikelihood); // trained on State of the Union addresses
 * model.destroy();
 * ```
 */
export async function loglikelihoodTokens(
  model: LlamaModel,
  requests: readonly TokenRequest[],
  options: ScoreOptions = {},
): Promise<LoglikelihoodResult[]> {
  const L = modelMaxLength(model, options.maxLength);
  const V = model.config.vocabSize;
  const byGroup = new Map<string, { seqs: ScoreSeq[]; n: number }>();
  const truncated = new Uint32Array(requests.length);
  requests.forEach((req, id) => {
    const c = req.continuation.length;
    if (req.context.length === 0) {
      throw new ToolkitError(`request ${id}: the context has no tokens (lm-eval puts EOS there)`);
    }
    if (c > L) {
      throw new ToolkitError(
        `request ${id}: the continuation has ${c} tokens, more than the model's context of ${L}`,
      );
    }
    for (const x of [...req.context, ...req.continuation]) {
      if (!Number.isInteger(x) || x < 0 || x >= V) {
        throw new ToolkitError(`request ${id}: token id ${x} is outside the vocabulary [0, ${V})`);
      }
    }
    const full = [...req.context, ...req.continuation];
    const cut = Math.max(0, full.length - (L + 1));
    truncated[id] = cut;
    const input = full.slice(cut, full.length - 1);
    const n = input.length;
    const scored: ScoredRow[] = req.continuation.map((target, j) => ({
      id,
      pos: n - c + j,
      target,
    }));
    const key = req.group !== undefined ? `g:${req.group}` : `c:${req.context.join(",")}`;
    let grp = byGroup.get(key);
    if (!grp) byGroup.set(key, grp = { seqs: [], n: 0 });
    grp.n++;
    if (c > 0) grp.seqs.push({ input, scored });
  });
  const groups = [...byGroup.values()].filter((g) => g.seqs.length > 0).map((g) =>
    planGroup(g.seqs, g.n)
  );
  const empty = [...byGroup.values()].filter((g) => g.seqs.length === 0).reduce(
    (s, g) => s + g.n,
    0,
  );
  const onProgress = options.onProgress;
  const res = await scoreGroups(model, groups, requests.length, {
    ...options,
    onProgress: onProgress ? (d, t) => onProgress(d + empty, t + empty) : undefined,
  });
  return requests.map((req, id) => ({
    logLikelihood: -res.nll[id],
    isGreedy: res.greedy[id] === 1,
    tokens: req.continuation.length,
    truncated: truncated[id],
  }));
}

/** A context/continuation pair as text. */
export interface TextRequest {
  /** Context text. */
  context: string;
  /** Continuation text (scored). */
  continuation: string;
  /** See {@link TokenRequest.group}. */
  group?: number | string;
}

/**
 * Log-likelihoods of text requests: {@link encodePair} with the model's tokenizer, then
 * {@link loglikelihoodTokens}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * import { loglikelihood } from "@sprint-wgpu/toolkit/eval";
 * import { DEFAULT_MODEL_DIR, loadModel } from "@sprint-wgpu/toolkit/model";
 * const model = await loadModel(await getGpu(), DEFAULT_MODEL_DIR); // the embedded 8-layer model
 * const [r] = await loglikelihood(model, [{ context: "The people of the United", continuation: " States" }]);
 * assert.ok(r.isGreedy && r.logLikelihood < 0); // " States" is the model's top choice
 * model.destroy();
 * ```
 */
export function loglikelihood(
  model: LlamaModel,
  requests: readonly TextRequest[],
  options: ScoreOptions & EncodePairOptions = {},
): Promise<LoglikelihoodResult[]> {
  const tok = model.tokenizer;
  if (!tok) {
    throw new ToolkitError("the model has no tokenizer (tokenizer.json) to encode the requests");
  }
  const reqs = requests.map((r) => ({
    ...encodePair(tok, r.context, r.continuation, options),
    group: r.group,
  }));
  return loglikelihoodTokens(model, reqs, options);
}
