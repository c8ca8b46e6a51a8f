/** The WGSL preprocessor (`specialise`) and shader location (`shaderUrl`, `loadShader`). */
import assert from "node:assert/strict";
import { loadShader, shaderUrl, specialise } from "../../src/gpu/shader.ts";

const lines = (...l: string[]) => l.join("\n");

Deno.test("specialise: #if / #else / #endif keep the branch chosen by a boolean define", () => {
  const src = lines("a", "// #if X", "x", "// #else", "not x", "// #endif", "b");
  assert.equal(specialise(src, { X: true }), lines("a", "x", "b"));
  assert.equal(specialise(src, { X: false }), lines("a", "not x", "b"));
  assert.equal(specialise(src, {}), lines("a", "not x", "b"), "a missing define is false");
  assert.equal(specialise(src, { X: 1 }), lines("a", "x", "b"), "numbers are truthy");
  assert.equal(specialise(src, { X: 0 }), lines("a", "not x", "b"));
});

Deno.test("specialise: #if !NAME negates, #else is optional, directives may be indented", () => {
  const src = lines("  // #if !X", "  y = 1;", "  // #endif", "z");
  assert.equal(specialise(src, { X: false }), lines("  y = 1;", "z"));
  assert.equal(specialise(src, { X: true }), "z");
  const withElse = lines("// #if !X", "neg", "// #else", "pos", "// #endif");
  assert.equal(specialise(withElse, { X: true }), "pos");
  assert.equal(specialise(withElse, { X: false }), "neg");
});

Deno.test("specialise: nested #if inside #if picks the right inner branch", () => {
  const src = lines(
    "// #if A",
    "// #if B",
    "ab",
    "// #else",
    "a!b",
    "// #endif",
    "// #else",
    "!a",
    "// #endif",
  );
  assert.equal(specialise(src, { A: true, B: true }), "ab");
  assert.equal(specialise(src, { A: true, B: false }), "a!b");
  assert.equal(specialise(src, { A: false, B: true }), "!a");
});

Deno.test("specialise: nested #for repeats lines and substitutes {v}", () => {
  const src = lines(
    "// #for r in 0..R",
    "// #for c in 0..2",
    "var acc{r}_{c} = x{r} * w{c};",
    "// #endfor",
    "// #endfor",
  );
  assert.equal(
    specialise(src, { R: 2 }),
    lines(
      "var acc0_0 = x0 * w0;",
      "var acc0_1 = x0 * w1;",
      "var acc1_0 = x1 * w0;",
      "var acc1_1 = x1 * w1;",
    ),
  );
  // Bounds may both be defines; an empty range yields nothing.
  const ranged = lines("// #for i in LO..HI", "s{i}", "// #endfor", "end");
  assert.equal(specialise(ranged, { LO: 2, HI: 4 }), lines("s2", "s3", "end"));
  assert.equal(specialise(ranged, { LO: 3, HI: 3 }), "end");
});

Deno.test("specialise: #if inside #for sees the defines, {v} in nested blocks", () => {
  const src = lines(
    "// #for i in 0..3",
    "// #if BIAS",
    "y{i} += b{i};",
    "// #endif",
    "out{i} = y{i};",
    "// #endfor",
  );
  assert.equal(
    specialise(src, { BIAS: true }),
    lines("y0 += b0;", "out0 = y0;", "y1 += b1;", "out1 = y1;", "y2 += b2;", "out2 = y2;"),
  );
  assert.equal(specialise(src, { BIAS: false }), lines("out0 = y0;", "out1 = y1;", "out2 = y2;"));
});

Deno.test("specialise: {{NAME}} is replaced anywhere, a missing define throws", () => {
  const src = "@compute @workgroup_size({{WG}}, 1, 1) fn main() { let k = {{K}}u; let s = {{S}}; }";
  assert.equal(
    specialise(src, { WG: 64, K: 7, S: "x" }),
    "@compute @workgroup_size(64, 1, 1) fn main() { let k = 7u; let s = x; }",
  );
  assert.throws(() => specialise(src, { WG: 64, K: 7 }), /shader define S is not set/);
});

Deno.test("specialise: alias rewriting and `enable f16;`", () => {
  const src = lines("alias WT = f32;", "alias AT = vec4<f32>;", "fn f(w: WT) {}");
  assert.equal(
    specialise(src, { WT: "f16" }),
    lines("enable f16;", "alias WT = f16;", "alias AT = vec4<f32>;", "fn f(w: WT) {}"),
  );
  // An f32 define rewrites the alias but needs no extension.
  assert.equal(specialise("alias WT = f16;", { WT: "f32" }), "alias WT = f32;");
  // Defines that are not WGSL scalar types leave the alias alone.
  assert.equal(specialise("alias WT = f32;", { WT: 3 }), "alias WT = f32;");
  assert.equal(specialise("alias WT = f32;", { WT: "vec4" }), "alias WT = f32;");
  // No define equal to "f16": nothing prepended.
  assert.equal(specialise("alias WT = f32;", {}), "alias WT = f32;");
  // Any define equal to "f16" enables the extension, even without an alias of that name.
  assert.equal(specialise("let a = 1;", { T: "f16" }), lines("enable f16;", "let a = 1;"));
});

Deno.test("specialise: malformed blocks and defines throw", () => {
  assert.throws(() => specialise(lines("// #if X", "a"), { X: true }), /unterminated #if/);
  assert.throws(() => specialise(lines("// #for i in 0..2", "a"), {}), /unterminated #for/);
  assert.throws(
    () => specialise(lines("// #for i in 0..2", "// #if X", "a", "// #endif"), {}),
    /unterminated #for/,
  );
  assert.throws(() => specialise(lines("a", "// #endif"), {}), /unmatched preprocessor line/);
  assert.throws(() => specialise(lines("// #else"), {}), /unmatched preprocessor line/);
  assert.throws(() => specialise(lines("// #endfor"), {}), /unmatched preprocessor line/);
  assert.throws(
    () => specialise(lines("// #for i in 0..2", "a", "// #endif"), {}),
    /mismatched block end/,
  );
  assert.throws(
    () => specialise(lines("// #if X", "a", "// #endfor"), { X: true }),
    /mismatched block end/,
  );
  assert.throws(
    () => specialise(lines("// #for i in 0..N", "a", "// #endfor"), {}),
    /shader define N must be a number/,
  );
  assert.throws(
    () => specialise(lines("// #for i in 0..N", "a", "// #endfor"), { N: "4" }),
    /shader define N must be a number/,
  );
});

Deno.test("specialise: text without directives is unchanged", () => {
  const src = lines("// a comment", "fn main() {", "  // #ifdef is not a directive", "}");
  assert.equal(specialise(src), src);
});

Deno.test("shaderUrl resolves shaders/<name> relative to the module URL", async () => {
  const url = shaderUrl("matmul.wgsl");
  const expected = new URL("../../shaders/matmul.wgsl", import.meta.url);
  assert.equal(url.href, expected.href);
  assert.equal(url.protocol, "file:");
  assert.ok((await Deno.stat(url)).isFile);
});

Deno.test("loadShader fetches once and reports a missing file", async () => {
  const a = await loadShader("matmul.wgsl");
  assert.equal(a.name, "matmul.wgsl");
  assert.equal(a.text, await Deno.readTextFile(shaderUrl("matmul.wgsl")));
  assert.equal(await loadShader("matmul.wgsl"), a, "cached: the same object");
  await assert.rejects(loadShader("no-such-shader.wgsl"), /cannot load shader .*no-such-shader/);
});

Deno.test("loadShader expands // #include lines from shaders/lib once, in place", async () => {
  const { loadShader } = await import("../../src/gpu/shader.ts");
  const src = await loadShader("softmax.wgsl");
  if (/^\s*\/\/ #include /m.test(src.text)) throw new Error("an include line was left in place");
  const defs = src.text.match(/fn workgroup_sum\(/g) ?? [];
  if (defs.length !== 1) {
    throw new Error(`expected one workgroup_sum definition, found ${defs.length}`);
  }
  if (!src.text.includes("// ---- begin lib/workgroup_reduce.wgsl (included by softmax.wgsl)")) {
    throw new Error("missing the include marker");
  }
});
