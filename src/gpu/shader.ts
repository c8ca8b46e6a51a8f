/**
 * WGSL source loading and specialisation.
 *
 * Shaders live in `shaders/<name>.wgsl` and are fetched relative to this module's URL, so they
 * resolve the same way whether the toolkit is run from a checkout (`file:`) or imported from an
 * `https:` URL. Sources are fetched once per process.
 *
 * `// #include "lib/x.wgsl"` lines are replaced by that file's text when the source is loaded
 * (shared helpers such as the workgroup reductions live in `shaders/lib/`).
 *
 * Specialisation is a small, explicit preprocessor run before compilation:
 * - `// #if NAME` / `// #else` / `// #endif` keep or drop lines by a boolean define;
 * - `// #for v in 0..NAME` / `// #endfor` repeat the enclosed lines for v = 0 … NAME−1,
 *   replacing `{v}` in them (straight-line code for register blocks; Mesa's llvmpipe keeps
 *   array-indexed accumulators in memory, so unrolled scalars are several times faster);
 * - `{{NAME}}` is replaced by the define's value anywhere;
 * - `alias NAME = …;` lines are rewritten when a define of that name is a WGSL type
 *   (e.g. `{ WT: "f16" }`), and `enable f16;` is prepended when any define equals `"f16"`.
 *
 * @module
 */

/** A loaded WGSL file. */
export interface ShaderSource {
  /** File name under `shaders/`, e.g. `matmul.wgsl`. */
  readonly name: string;
  /** Raw text before specialisation. */
  readonly text: string;
}

/** Values a shader can be specialised with. */
export type Defines = Readonly<Record<string, number | string | boolean>>;

const sourceCache = new Map<string, Promise<ShaderSource>>();

/** URL of a file in the shaders directory, relative to this module. */
export function shaderUrl(name: string): URL {
  return new URL(`../../shaders/${name}`, import.meta.url);
}

/**
 * Fetches `shaders/<name>` once (cached).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadShader } from "@sprint-wgpu/toolkit/gpu";
 * const src = await loadShader("scale.wgsl");
 * assert.equal(src.name, "scale.wgsl");
 * ```
 */
export function loadShader(name: string): Promise<ShaderSource> {
  let p = sourceCache.get(name);
  if (!p) {
    p = (async () => ({ name, text: await expandIncludes(name, await fetchText(name), [name]) }))();
    sourceCache.set(name, p);
  }
  return p;
}

async function fetchText(name: string): Promise<string> {
  const url = shaderUrl(name);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`cannot load shader ${url.href}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new Error(`cannot load shader ${url.href}: HTTP ${res.status}`);
  return await res.text();
}

const INCLUDE_RE = /^\s*\/\/ #include "([^"]+)"\s*$/;

/** Replaces each `// #include "file.wgsl"` line (relative to `shaders/`) by that file's text. */
async function expandIncludes(name: string, text: string, stack: string[]): Promise<string> {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = INCLUDE_RE.exec(line);
    if (!m) {
      out.push(line);
      continue;
    }
    if (stack.includes(m[1])) {
      throw new Error(`shader include cycle: ${[...stack, m[1]].join(" → ")}`);
    }
    const inc = await expandIncludes(m[1], await fetchText(m[1]), [...stack, m[1]]);
    out.push(`// ---- begin ${m[1]} (included by ${name})`, inc, `// ---- end ${m[1]}`);
  }
  return out.join("\n");
}

const WGSL_TYPES = new Set(["f32", "f16", "u32", "i32"]);

/**
 * Applies the preprocessor described in the module doc to `text`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { specialise } from "@sprint-wgpu/toolkit/gpu";
 * const text = specialise("// #for r in 0..N\nlet a{r} = {r};\n// #endfor", { N: 2 });
 * assert.equal(text.trim(), "let a0 = 0;\nlet a1 = 1;");
 * ```
 */
export function specialise(text: string, defines: Defines = {}): string {
  const lines = text.split("\n");
  const out = expand(lines, 0, lines.length, defines, {});
  let body = out.join("\n").replace(/\{\{(\w+)\}\}/g, (_m, name: string) => {
    if (!(name in defines)) throw new Error(`shader define ${name} is not set`);
    return String(defines[name]);
  });
  body = body.replace(/^alias (\w+) = [^;]+;/gm, (m, name: string) => {
    const v = defines[name];
    return typeof v === "string" && WGSL_TYPES.has(v) ? `alias ${name} = ${v};` : m;
  });
  const needsF16 = Object.values(defines).some((v) => v === "f16");
  return needsF16 ? `enable f16;\n${body}` : body;
}

const IF_RE = /^\s*\/\/ #if (!?)(\w+)\s*$/;
const ELSE_RE = /^\s*\/\/ #else\s*$/;
const ENDIF_RE = /^\s*\/\/ #endif\s*$/;
const FOR_RE = /^\s*\/\/ #for (\w+) in (\w+)\.\.(\w+)\s*$/;
const ENDFOR_RE = /^\s*\/\/ #endfor\s*$/;

function resolveInt(token: string, defines: Defines): number {
  if (/^\d+$/.test(token)) return Number(token);
  const v = defines[token];
  if (typeof v !== "number") throw new Error(`shader define ${token} must be a number`);
  return v;
}

/** Finds the line closing the block opened at `start` (skipping nested blocks). */
function findClose(lines: string[], start: number, end: number, kind: "if" | "for"): {
  elseAt: number;
  closeAt: number;
} {
  let depth = 0;
  let elseAt = -1;
  for (let i = start + 1; i < end; i++) {
    const l = lines[i];
    if (IF_RE.test(l) || FOR_RE.test(l)) depth++;
    else if (ENDIF_RE.test(l) || ENDFOR_RE.test(l)) {
      if (depth === 0) {
        if ((kind === "if") !== ENDIF_RE.test(l)) throw new Error(`mismatched block end: ${l}`);
        return { elseAt, closeAt: i };
      }
      depth--;
    } else if (ELSE_RE.test(l) && depth === 0 && kind === "if") elseAt = i;
  }
  throw new Error(`unterminated #${kind} block: ${lines[start].trim()}`);
}

function expand(
  lines: string[],
  start: number,
  end: number,
  defines: Defines,
  vars: Record<string, number>,
): string[] {
  const out: string[] = [];
  for (let i = start; i < end; i++) {
    const line = lines[i];
    const mIf = IF_RE.exec(line);
    if (mIf) {
      const { elseAt, closeAt } = findClose(lines, i, end, "if");
      let cond = Boolean(defines[mIf[2]]);
      if (mIf[1] === "!") cond = !cond;
      if (cond) out.push(...expand(lines, i + 1, elseAt >= 0 ? elseAt : closeAt, defines, vars));
      else if (elseAt >= 0) out.push(...expand(lines, elseAt + 1, closeAt, defines, vars));
      i = closeAt;
      continue;
    }
    const mFor = FOR_RE.exec(line);
    if (mFor) {
      const { closeAt } = findClose(lines, i, end, "for");
      const lo = resolveInt(mFor[2], defines);
      const hi = resolveInt(mFor[3], defines);
      for (let v = lo; v < hi; v++) {
        out.push(...expand(lines, i + 1, closeAt, defines, { ...vars, [mFor[1]]: v }));
      }
      i = closeAt;
      continue;
    }
    if (ELSE_RE.test(line) || ENDIF_RE.test(line) || ENDFOR_RE.test(line)) {
      throw new Error(`unmatched preprocessor line: ${line.trim()}`);
    }
    let l = line;
    for (const [k, v] of Object.entries(vars)) l = l.replaceAll(`{${k}}`, String(v));
    out.push(l);
  }
  return out;
}
