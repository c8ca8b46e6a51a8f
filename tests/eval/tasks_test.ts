/** One test per task format: hand-made items in a temporary data dir → lm-eval's exact requests. */
import { deepStrictEqual as assertEquals, match, rejects, throws } from "node:assert";
import { join } from "node:path";
import {
  hellaswagPreprocess,
  knownTaskNames,
  parseTaskList,
  perplexitySource,
  pyCapitalize,
  restoreHellaswagCtx,
  TASKS,
} from "../../src/eval/tasks.ts";
import { writeTinyData } from "./helpers.ts";

const dir = await Deno.makeTempDir({ prefix: "eval-tasks-" });
await writeTinyData(dir);
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

const load = (task: keyof typeof TASKS, limit?: number) =>
  TASKS[task].load(join(dir, TASKS[task].file), limit);

Deno.test("piqa: 'Question: {goal}\\nAnswer:' and ' {sol}'", async () => {
  const docs = await load("piqa");
  assertEquals(docs[0].requests, [
    { context: "Question: is the cat hot?\nAnswer:", continuation: " the cat is hot." },
    { context: "Question: is the cat hot?\nAnswer:", continuation: " the cat." },
  ]);
  assertEquals(docs[0].choices, ["the cat is hot.", "the cat."]);
  assertEquals([docs[0].gold, docs[1].gold], [0, 1]);
  assertEquals((await load("piqa", 1)).length, 1);
});

Deno.test("arc_easy / arc_challenge: 'Question: {q}\\nAnswer:' and ' {choice}'", async () => {
  for (const t of ["arc_easy", "arc_challenge"] as const) {
    const docs = await load(t);
    assertEquals(
      docs[0].requests.map((r) => r.context),
      Array(4).fill("Question: What is the cat?\nAnswer:"),
    );
    assertEquals(docs[0].requests.map((r) => r.continuation), [
      " a cat",
      " the cat",
      " no",
      " yes",
    ]);
    assertEquals(docs[0].gold, 1);
  }
});

Deno.test("boolq: '{passage}\\nQuestion: {question}?\\nAnswer:' and ' no' / ' yes'", async () => {
  const docs = await load("boolq");
  assertEquals(docs[0].requests, [
    { context: "the cat is hot.\nQuestion: is the cat hot?\nAnswer:", continuation: " no" },
    { context: "the cat is hot.\nQuestion: is the cat hot?\nAnswer:", continuation: " yes" },
  ]);
  assertEquals(docs.map((d) => d.gold), [1, 0]);
  assertEquals(TASKS.boolq.metrics, ["acc"]);
});

Deno.test("openbookqa: the bare question stem and ' {choice}'", async () => {
  const docs = await load("openbookqa");
  assertEquals(docs[0].requests.map((r) => r.context), Array(4).fill("The cat is"));
  assertEquals(docs[0].requests[1].continuation, " a cat");
  assertEquals(docs[1].gold, 2);
});

Deno.test("winogrande: one partial context per option, the shared ' {rest}' continuation, acc only", async () => {
  const docs = await load("winogrande");
  assertEquals(docs[0].requests, [
    { context: "the cat is hot so the cat", continuation: " is hot." },
    { context: "the cat is hot so the hat", continuation: " is hot." },
  ]);
  assertEquals(TASKS.winogrande.metrics, ["acc"]);
});

Deno.test("lambada: the passage without its last word and ' {last word}'", async () => {
  const docs = await load("lambada");
  assertEquals(docs[0].requests, [{ context: "the cat is hot. the cat is", continuation: " hot" }]);
  assertEquals(TASKS.lambada.metrics, ["acc", "ppl"]);
});

Deno.test("hellaswag: ctx_b capitalised, lm-eval preprocess on the context and every ending", async () => {
  const docs = await load("hellaswag");
  assertEquals(
    docs[0].requests.map((r) => r.context),
    Array(4).fill("Cats: The cat is hot. The cat"),
  );
  assertEquals(docs[0].choices, ["is a hat.", "is. hot.", "is a cat now.", "sits."]);
  assertEquals(docs[0].requests[2].continuation, " is a cat now.");
  assertEquals(docs[0].gold, 2);
  assertEquals(docs[1].requests[0].context, "Hats: How to wear a hat. Put it on. You");
});

Deno.test("hellaswag preprocess and ctx_b restoration match lm-eval's Python", () => {
  // lm-eval: strip → " [title]" → ". " → remove [..] (non-greedy) → "  " → " " (one pass).
  // (the leading space is Python's too: "[header]" is removed after the strip)
  assertEquals(
    hellaswagPreprocess(" [header] How to x [title] Do y. [step] Z "),
    " How to x. Do y. Z",
  );
  assertEquals(
    hellaswagPreprocess("Label: [header] How to x [title] Do y."),
    "Label: How to x. Do y.",
  );
  assertEquals(hellaswagPreprocess("a   b"), "a  b"); // Python's replace is a single pass
  assertEquals(hellaswagPreprocess("see [a | b] and [c]."), "see and .");
  assertEquals(pyCapitalize("the MAN"), "The man");
  assertEquals(
    restoreHellaswagCtx("Roof shingle removal: A man is sitting on a roof. he"),
    "Roof shingle removal: A man is sitting on a roof. He",
  );
  assertEquals(
    restoreHellaswagCtx("Sumo: A video is shown. Two men"),
    "Sumo: A video is shown. Two men",
  );
  assertEquals(
    restoreHellaswagCtx("Family: How to x. Do y. If you go, do z."),
    "Family: How to x. Do y. If you go, do z.",
  );
  assertEquals(restoreHellaswagCtx("Cheer: They dance! they all"), "Cheer: They dance! They all");
});

Deno.test("task lists: unknown names list the known ones; text:PATH and perplexity sources", () => {
  assertEquals(parseTaskList("piqa, arc_easy,piqa,text:a.txt"), ["piqa", "arc_easy", "text:a.txt"]);
  throws(() => parseTaskList("piqa,squad"), (e: Error) => {
    match(
      e.message,
      /unknown task "squad"; known tasks: piqa, arc_easy, arc_challenge, boolq, hellaswag/,
    );
    return !e.message.includes("\n");
  });
  throws(() => parseTaskList(" , "), /no task given/);
  for (const n of ["wikitext2", "tinystories", "text:PATH", "lambada"]) {
    if (!knownTaskNames().includes(n)) throw new Error(`${n} missing from the known tasks`);
  }
  assertEquals(perplexitySource("wikitext2", "/d").path, "/d/corpus/wikitext2_test.raw");
  assertEquals(perplexitySource("tinystories", "/d").format, "plain");
  assertEquals(perplexitySource("text:notes.txt", "/d"), {
    name: "text:notes.txt",
    path: "notes.txt",
    format: "plain",
  });
  assertEquals(perplexitySource("heldout", "/d", "/m").path, "/m/heldout.txt");
});

Deno.test("prompt shape checks: a file whose query does not fit lm-eval's prompt is an error", async () => {
  const p = join(dir, "bad_piqa.jsonl");
  await Deno.writeTextFile(p, '{"query":"How?\\n","choices":["a","b"],"gold":0}\n');
  await rejects(
    TASKS.piqa.load(p),
    /bad_piqa\.jsonl:1: field "query" is not "Question: \{goal\}\\n"/,
  );
  const b = join(dir, "bad_boolq.jsonl");
  await Deno.writeTextFile(
    b,
    '{"query":"Passage: x\\nQuestion: y?","choices":["yes","no"],"gold":0}\n',
  );
  await rejects(
    TASKS.boolq.load(b),
    /bad_boolq\.jsonl:1: field "choices" is \["yes","no"\], expected \["no","yes"\]/,
  );
});
