import { deepStrictEqual as assertEquals, match, rejects, throws } from "node:assert";
import { join } from "node:path";
import { parseJsonl } from "../../src/data/jsonl.ts";
import {
  parseHellaswag,
  readChoiceFile,
  readLambada,
  readWinogrande,
} from "../../src/data/zeroshot_files.ts";
import { wikitextRows, wikitextText } from "../../src/data/corpus.ts";
import { ToolkitError } from "../../src/errors.ts";

Deno.test("parseJsonl: blank lines skipped, line numbers kept, limit stops early", () => {
  const recs = parseJsonl('{"a":1}\n\n{"a":2}\r\n{"a":3}\n', "x.jsonl");
  assertEquals(recs.map((r) => r.line), [1, 3, 4]);
  assertEquals(parseJsonl('{"a":1}\n{"a":2}\nnot json\n', "x.jsonl", 2).length, 2);
});

Deno.test("parseJsonl: malformed lines are one-line errors with the line number", () => {
  throws(() => parseJsonl('{"a":1}\n{"a":\n', "bench/piqa.jsonl"), (e: Error) => {
    match(e.message, /^bench\/piqa\.jsonl:2: not valid JSON/);
    return e instanceof ToolkitError && !e.message.includes("\n");
  });
  throws(
    () => parseJsonl('{"a":1}\n[1,2]\n', "f.jsonl"),
    /f\.jsonl:2: expected a JSON object, got an array/,
  );
});

Deno.test("bench readers: field errors name the file, line and field", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const p = join(dir, "piqa.jsonl");
    await Deno.writeTextFile(
      p,
      '{"query":"Q","choices":["a","b"],"gold":0}\n{"query":"Q","choices":["a","b"],"gold":2}\n',
    );
    await rejects(readChoiceFile(p), (e: Error) => {
      match(
        e.message,
        /piqa\.jsonl:2: field "gold" is number 2 \(expected an integer in \[0, 2\)\)/,
      );
      return true;
    });
    assertEquals((await readChoiceFile(p, 1)).length, 1);
    const w = join(dir, "w.jsonl");
    await Deno.writeTextFile(w, '{"context_options":["a","b"],"gold":1}\n');
    await rejects(
      readWinogrande(w),
      /w\.jsonl:1: field "continuation" is missing \(expected a string\)/,
    );
    const l = join(dir, "l.jsonl");
    await Deno.writeTextFile(
      l,
      '{"context":"a b","continuation":"c"}\n{"context":5,"continuation":"c"}\n',
    );
    await rejects(readLambada(l), /l\.jsonl:2: field "context" is number 5/);
    await rejects(readLambada(join(dir, "missing.jsonl")), /missing\.jsonl: JSONL file not found/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseHellaswag: 6 lines per item, gold index checked", () => {
  const text = "A: b. c\n1\ne1\ne2\ne3\ne4\nD: e\n3\nf1\nf2\nf3\nf4\n";
  const items = parseHellaswag(text, "h.txt");
  assertEquals(items.map((i) => [i.line, i.ctx, i.gold, i.endings.length]), [[1, "A: b. c", 1, 4], [
    7,
    "D: e",
    3,
    4,
  ]]);
  throws(
    () => parseHellaswag("A: b\nx\ne1\ne2\ne3\ne4\n", "h.txt"),
    /h\.txt:2: expected the gold index \(0–3\)/,
  );
  throws(
    () => parseHellaswag("A: b\n1\ne1\n", "h.txt"),
    /h\.txt:1: incomplete item \(3 of 6 lines/,
  );
});

Deno.test("WikiText-2 rows: lines keep their newline, blank lines are empty rows, joined with \\n\\n", () => {
  const raw = " \n = Robert = \n \n Robert is an actor . \n";
  assertEquals(wikitextRows(raw), ["", " = Robert = \n", "", " Robert is an actor . \n"]);
  assertEquals(wikitextText(raw), "\n\n = Robert = \n\n\n\n\n Robert is an actor . \n");
});

const SHARED_WIKI =
  new URL("../../../shared/data/corpus/wikitext2_test.raw", import.meta.url).pathname;
const hasWiki = await Deno.stat(SHARED_WIKI).then(() => true, () => false);
if (!hasWiki) {
  console.warn("skipping the WikiText-2 row count test: ../shared/data/corpus is absent");
}

Deno.test({
  name: "WikiText-2 test split has the HF dataset's 4358 rows",
  ignore: !hasWiki,
  async fn() {
    const rows = wikitextRows(await Deno.readTextFile(SHARED_WIKI));
    assertEquals(rows.length, 4358);
    assertEquals(rows[0], "");
    assertEquals(rows[1], " = Robert Boulter = \n");
  },
});
