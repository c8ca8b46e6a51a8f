/**
 * The `tokenizer.ggml.*` metadata of a GGUF file from a Hugging Face `tokenizer.json`.
 *
 * - SentencePiece-style BPE (`▁` for spaces, byte fallback tokens `<0xXX>`) becomes
 *   `tokenizer.ggml.model = "llama"`. llama.cpp's SPM tokenizer merges by score, so normal tokens
 *   get score −id (earlier merges win, as in the BPE merge ranks) and control, unknown and byte
 *   tokens score 0.
 * - Byte-level BPE (GPT-2 style pre-tokenizer) becomes `"gpt2"` with the merges and
 *   `tokenizer.ggml.pre = "gpt-2"` (the GPT-2 split regex).
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import type { GgufValue } from "./gguf_writer.ts";

/** llama.cpp token types. */
export const TOKEN_TYPE = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

/** A parsed JSON object. */
export type Json = Record<string, unknown>;

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
}

function tokenContent(t: unknown): string | undefined {
  if (typeof t === "string") return t;
  if (t && typeof t === "object" && typeof (t as Json).content === "string") {
    return (t as Json).content as string;
  }
  return undefined;
}

/** Whether a tokenizer's normalizer/pre-tokenizer maps spaces to `▁` (SentencePiece style). */
function usesMetaspace(tj: Json): { metaspace: boolean; prependSpace: boolean } {
  let metaspace = false;
  let prependSpace = false;
  const visit = (n: unknown) => {
    if (!n || typeof n !== "object") return;
    const o = n as Json;
    if (o.type === "Sequence") {
      for (const c of (o.normalizers ?? o.pretokenizers ?? []) as unknown[]) visit(c);
      return;
    }
    if (o.type === "Prepend" && o.prepend === "\u2581") prependSpace = true;
    if (o.type === "Replace" && o.content === "\u2581") metaspace = true;
    if (o.type === "Metaspace") {
      metaspace = true;
      const scheme = o.prepend_scheme ?? (o.add_prefix_space === false ? "never" : "always");
      if (scheme !== "never") prependSpace = true;
    }
  };
  visit(tj.normalizer);
  visit(tj.pre_tokenizer);
  return { metaspace, prependSpace };
}

/**
 * The ByteLevel pre-tokenizer when it is the only one (GPT-2's split regex); `{ unsupported }`
 * naming the other pre-tokenizers when there are more (e.g. Llama 3's Split + ByteLevel, whose
 * regex llama.cpp's "gpt-2" would not reproduce).
 */
function byteLevelPre(tj: Json): Json | undefined {
  const all: Json[] = [];
  const visit = (n: unknown) => {
    if (!n || typeof n !== "object") return;
    const o = n as Json;
    if (o.type === "Sequence") {
      for (const c of (o.pretokenizers ?? []) as unknown[]) visit(c);
    } else if (o.type !== undefined) all.push(o);
  };
  visit(tj.pre_tokenizer);
  const byteLevel = all.find((o) => o.type === "ByteLevel");
  if (!byteLevel) {
    return all.length ? { unsupported: all.map((o) => o.type).join(" + ") } : undefined;
  }
  if (all.length > 1) return { unsupported: all.map((o) => o.type).join(" + ") };
  return byteLevel;
}

/** Whether the post-processor puts a special token before the sequence (what HF's encode adds). */
function templateAddsBos(tj: Json): boolean | undefined {
  const pp = tj.post_processor as Json | null | undefined;
  if (!pp || pp.type !== "TemplateProcessing") return undefined;
  const single = pp.single as Json[] | undefined;
  if (!Array.isArray(single) || single.length === 0) return undefined;
  return "SpecialToken" in single[0];
}

function templateAddsEos(tj: Json): boolean | undefined {
  const pp = tj.post_processor as Json | null | undefined;
  if (!pp || pp.type !== "TemplateProcessing") return undefined;
  const single = pp.single as Json[] | undefined;
  if (!Array.isArray(single) || single.length < 2) return undefined;
  return "SpecialToken" in single[single.length - 1];
}

/**
 * Builds the tokenizer metadata for a model with `vocabSize` embedding rows. `tj` is the parsed
 * tokenizer.json, `tc` tokenizer_config.json (may be empty), `file` names tokenizer.json in errors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tokenizerMetadata } from "@sprint-wgpu/toolkit/export";
 * import { DEFAULT_MODEL_DIR } from "@sprint-wgpu/toolkit/model";
 * const path = `${DEFAULT_MODEL_DIR}/tokenizer.json`;
 * const kv = tokenizerMetadata(JSON.parse(await Deno.readTextFile(path)), {}, 4096, path);
 * assert.ok(kv.has("tokenizer.ggml.model") && kv.has("tokenizer.ggml.tokens"));
 * ```
 */
export function tokenizerMetadata(
  tj: Json,
  tc: Json,
  vocabSize: number,
  file: string,
  ids: { bos?: number; eos?: number } = {},
): Map<string, GgufValue> {
  const model = tj.model as Json | undefined;
  if (!model || typeof model !== "object") {
    throw new ToolkitError(`${file}: field model is missing`);
  }
  if (model.type !== "BPE") {
    throw new ToolkitError(
      `${file}: field model.type is ${JSON.stringify(model.type)}; GGUF export supports BPE`,
    );
  }
  const vocab = model.vocab;
  if (!vocab || typeof vocab !== "object" || Array.isArray(vocab)) {
    throw new ToolkitError(`${file}: field model.vocab must be an object of token -> id`);
  }
  const added = ((tj.added_tokens ?? []) as AddedToken[]).filter((t) =>
    t && typeof t.id === "number" && typeof t.content === "string"
  );
  const tokens: (string | undefined)[] = new Array(vocabSize).fill(undefined);
  const put = (tok: string, id: number, where: string) => {
    if (!Number.isInteger(id) || id < 0) {
      throw new ToolkitError(`${file}: ${where} id ${id} of ${JSON.stringify(tok)} is invalid`);
    }
    if (id >= vocabSize) {
      throw new ToolkitError(
        `${file}: ${where} id ${id} of ${
          JSON.stringify(tok)
        } is beyond the model's vocab_size ${vocabSize}`,
      );
    }
    tokens[id] = tok;
  };
  for (const [tok, id] of Object.entries(vocab as Record<string, number>)) {
    put(tok, id, "model.vocab");
  }
  for (const t of added) put(t.content, t.id, "added_tokens");

  const unkContent = tokenContent(model.unk_token);
  const unkId = unkContent !== undefined
    ? (vocab as Record<string, number>)[unkContent]
    : undefined;
  const specialIds = new Set(added.filter((t) => t.special).map((t) => t.id));
  const userIds = new Set(added.filter((t) => !t.special).map((t) => t.id));

  const idOf = (t: unknown): number | undefined => {
    const c = tokenContent(t);
    if (c === undefined) return undefined;
    const a = added.find((x) => x.content === c);
    return a ? a.id : (vocab as Record<string, number>)[c];
  };
  const bos = idOf(tc.bos_token) ?? ids.bos;
  const eos = idOf(tc.eos_token) ?? ids.eos;
  const pad = idOf(tc.pad_token);

  const out = new Map<string, GgufValue>();
  const types = new Int32Array(vocabSize);
  const names: string[] = new Array(vocabSize);
  const { metaspace, prependSpace } = usesMetaspace(tj);
  const pre = byteLevelPre(tj);

  if (model.byte_fallback === true || (metaspace && !pre)) {
    // SentencePiece-style BPE.
    const scores = new Float32Array(vocabSize);
    for (let id = 0; id < vocabSize; id++) {
      const tok = tokens[id];
      if (tok === undefined) {
        names[id] = `[PAD${id}]`;
        types[id] = TOKEN_TYPE.unused;
        continue;
      }
      names[id] = tok;
      if (id === unkId) types[id] = TOKEN_TYPE.unknown;
      else if (specialIds.has(id)) types[id] = TOKEN_TYPE.control;
      else if (userIds.has(id)) types[id] = TOKEN_TYPE.userDefined;
      else if (/^<0x[0-9A-Fa-f]{2}>$/.test(tok)) types[id] = TOKEN_TYPE.byte;
      else {
        types[id] = TOKEN_TYPE.normal;
        scores[id] = -id;
      }
    }
    out.set("tokenizer.ggml.model", { type: "string", value: "llama" });
    out.set("tokenizer.ggml.tokens", { type: "array", itemType: "string", value: names });
    out.set("tokenizer.ggml.scores", { type: "array", itemType: "f32", value: scores });
    out.set("tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: types });
    out.set("tokenizer.ggml.add_space_prefix", { type: "bool", value: prependSpace });
    if (unkId !== undefined) {
      out.set("tokenizer.ggml.unknown_token_id", { type: "u32", value: unkId });
    }
  } else if (pre && !("unsupported" in pre)) {
    if (tj.normalizer !== null && tj.normalizer !== undefined) {
      throw new ToolkitError(
        `${file}: field normalizer must be null for a byte-level BPE tokenizer in the GGUF export (got ${
          JSON.stringify((tj.normalizer as Json).type)
        })`,
      );
    }
    if (pre.add_prefix_space === true) {
      throw new ToolkitError(
        `${file}: pre_tokenizer ByteLevel.add_prefix_space true is not supported by the GGUF export`,
      );
    }
    if (pre.use_regex === false) {
      throw new ToolkitError(
        `${file}: pre_tokenizer ByteLevel.use_regex false is not supported by the GGUF export`,
      );
    }
    for (let id = 0; id < vocabSize; id++) {
      const tok = tokens[id];
      if (tok === undefined) {
        names[id] = `[PAD${id}]`;
        types[id] = TOKEN_TYPE.unused;
        continue;
      }
      names[id] = tok;
      types[id] = specialIds.has(id)
        ? TOKEN_TYPE.control
        : userIds.has(id)
        ? TOKEN_TYPE.userDefined
        : TOKEN_TYPE.normal;
    }
    const rawMerges = model.merges;
    if (!Array.isArray(rawMerges)) {
      throw new ToolkitError(`${file}: field model.merges must be an array`);
    }
    const merges = rawMerges.map((m, i) => {
      if (typeof m === "string") return m;
      if (Array.isArray(m) && m.length === 2 && m.every((x) => typeof x === "string")) {
        return `${m[0]} ${m[1]}`;
      }
      throw new ToolkitError(`${file}: model.merges[${i}] must be "a b" or ["a", "b"]`);
    });
    out.set("tokenizer.ggml.model", { type: "string", value: "gpt2" });
    out.set("tokenizer.ggml.pre", { type: "string", value: "gpt-2" });
    out.set("tokenizer.ggml.tokens", { type: "array", itemType: "string", value: names });
    out.set("tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: types });
    out.set("tokenizer.ggml.merges", { type: "array", itemType: "string", value: merges });
  } else {
    throw new ToolkitError(
      `${file}: tokenizer is neither SentencePiece-style BPE (byte_fallback / "\u2581") nor byte-level BPE (pre_tokenizer ByteLevel)${
        pre && "unsupported" in pre ? `; pre_tokenizer ${pre.unsupported} is not supported` : ""
      }`,
    );
  }
  if (bos !== undefined) out.set("tokenizer.ggml.bos_token_id", { type: "u32", value: bos });
  if (eos !== undefined) out.set("tokenizer.ggml.eos_token_id", { type: "u32", value: eos });
  if (pad !== undefined) out.set("tokenizer.ggml.padding_token_id", { type: "u32", value: pad });
  const addBos = templateAddsBos(tj) ?? (tc.add_bos_token === true);
  const addEos = templateAddsEos(tj) ?? (tc.add_eos_token === true);
  out.set("tokenizer.ggml.add_bos_token", { type: "bool", value: addBos });
  out.set("tokenizer.ggml.add_eos_token", { type: "bool", value: addEos });
  return out;
}
