/** The one flag parser: every flag of every task misspelt, without its value, out of range; help. */
import { deepStrictEqual as assertEquals, match, ok } from "node:assert";
import { ToolkitError } from "../../src/errors.ts";
import {
  closest,
  type CommandSpec,
  defineCommand,
  type FlagSpec,
  helpText,
  invocation,
  parseBytes,
  parseFlags,
} from "../../src/cli/flags.ts";
import {
  BENCH_COMMAND,
  CORPUS_COMMAND,
  GENERATE_COMMAND,
  PRETRAIN_COMMAND,
  TUNE_COMMAND,
} from "../../src/cli/commands.ts";
import { parsePruneArgs, PRUNE_COMMAND } from "../../src/prune/flags.ts";
import { EVAL_COMMAND } from "../../src/cli/eval.ts";
import { COMPARE_COMMAND } from "../../src/cli/compare.ts";

const COMMANDS: CommandSpec[] = [
  PRUNE_COMMAND,
  EVAL_COMMAND,
  COMPARE_COMMAND,
  GENERATE_COMMAND,
  TUNE_COMMAND,
  BENCH_COMMAND,
  PRETRAIN_COMMAND,
  CORPUS_COMMAND,
];

/** Arguments that satisfy a command's required flags. */
function base(cmd: CommandSpec, except?: string): string[] {
  return cmd.flags.filter((f) => f.required && f.name !== except).flatMap((f) => [
    `--${f.name}`,
    "x",
  ]);
}

/** A valid value for a flag. */
function goodValue(f: FlagSpec): string {
  if (f.type === "choice") return f.choices![0];
  if (f.type === "list") return f.items ? String((f.min ?? 0) + 1) : (f.choices?.[0] ?? "a");
  if (f.type === "int" || f.type === "bytes") return String(Math.max(1, f.min ?? 1));
  if (f.type === "float") {
    if (f.max === undefined) return String((f.min ?? 0) + 1);
    return String(f.maxExclusive ? ((f.min ?? 0) + f.max) / 2 : f.max);
  }
  return "x";
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    ok(e instanceof ToolkitError, `expected a ToolkitError, got ${e}`);
    assertEquals((e as ToolkitError).exitCode, 2);
    ok(!(e as Error).message.includes("\n"), `one line: ${(e as Error).message}`);
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

/** A misspelling: the middle character dropped. */
function misspell(name: string): string {
  const i = Math.floor(name.length / 2);
  return name.slice(0, i) + name.slice(i + 1);
}

for (const cmd of COMMANDS) {
  Deno.test(`${cmd.name}: every flag misspelt is refused naming the flag meant`, () => {
    const names = cmd.flags.map((f) => f.name);
    for (const f of cmd.flags) {
      const bad = misspell(f.name);
      if (names.includes(bad)) continue;
      const msg = errorOf(() => parseFlags(cmd, [...base(cmd), `--${bad}`]));
      match(msg, new RegExp(`^unknown flag --${bad} \\(did you mean --`), msg);
      ok(closest(bad, names) !== undefined);
      // The suggestion is the meant flag, or one equally close (e.g. --latency-gen / --seq-len).
      const hint = /did you mean --([a-z0-9-]+)\?/.exec(msg)![1];
      ok(names.includes(hint), msg);
    }
    match(errorOf(() => parseFlags(cmd, ["--zzzzzzzzzz"])), /^unknown flag --zzzzzzzzzz; see/);
  });

  Deno.test(`${cmd.name}: missing values, values given to booleans, twice, positionals`, () => {
    for (const f of cmd.flags) {
      const others = base(cmd, f.name);
      if (f.type === "bool") {
        match(
          errorOf(() => parseFlags(cmd, [...others, `--${f.name}=yes`])),
          new RegExp(`^--${f.name} takes no value \\(got "yes"\\)`),
        );
        assertEquals(parseFlags(cmd, [...others, `--${f.name}`]).values?.[f.name], true);
        continue;
      }
      match(
        errorOf(() => parseFlags(cmd, [...others, `--${f.name}`])),
        new RegExp(`^--${f.name}: missing value`),
      );
      match(
        errorOf(() => parseFlags(cmd, [`--${f.name}`, "--help-me", ...others])),
        new RegExp(`^--${f.name}: missing value`),
      );
      const v = goodValue(f);
      const a = parseFlags(cmd, [...others, `--${f.name}`, v]);
      const b = parseFlags(cmd, [...others, `--${f.name}=${v}`]);
      assertEquals(a.values?.[f.name], b.values?.[f.name]);
      ok(a.given?.has(f.name));
      match(
        errorOf(() => parseFlags(cmd, [...others, `--${f.name}=${v}`, `--${f.name}`, v])),
        new RegExp(`^--${f.name} is given twice$`),
      );
    }
    match(errorOf(() => parseFlags(cmd, [...base(cmd), "extra"])), /^unexpected argument "extra"/);
  });

  Deno.test(`${cmd.name}: ranges, numbers and choices are checked`, () => {
    for (const f of cmd.flags) {
      const others = base(cmd, f.name);
      const numeric = f.type === "int" || f.type === "float" ||
        (f.type === "list" && f.items !== undefined);
      if (numeric) {
        match(
          errorOf(() => parseFlags(cmd, [...others, `--${f.name}`, "abc"])),
          new RegExp(`^--${f.name}( item)?: expected an? (integer|number)`),
        );
        if (f.min !== undefined) {
          const low = f.minExclusive ? f.min : f.min - 1;
          match(
            errorOf(() => parseFlags(cmd, [...others, `--${f.name}`, String(low)])),
            new RegExp(`^--${f.name}( item)?: expected .*${f.minExclusive ? ">" : "≥"} ${f.min}`),
          );
        }
        if (f.max !== undefined) {
          const high = f.maxExclusive ? f.max : f.max + 1;
          match(
            errorOf(() => parseFlags(cmd, [...others, `--${f.name}`, String(high)])),
            new RegExp(`^--${f.name}( item)?: expected .*${f.maxExclusive ? "<" : "≤"} ${f.max}`),
          );
        }
      }
      if (f.type === "int") {
        match(
          errorOf(() => parseFlags(cmd, [...others, `--${f.name}`, "2.5"])),
          new RegExp(`^--${f.name}: expected an integer`),
        );
      }
      if (f.choices) {
        match(
          errorOf(() => parseFlags(cmd, [...others, `--${f.name}`, "bogus"])),
          new RegExp(`^--${f.name}( item)?: "bogus" is not one of ${f.choices[0]}`),
        );
      }
    }
  });

  Deno.test(`${cmd.name}: --help lists every flag with its default, from the same table`, () => {
    const r = parseFlags(cmd, ["--model", "--help"]);
    ok(r.help !== undefined);
    assertEquals(r.help, helpText(cmd));
    ok(r.help.startsWith(`${invocation(cmd)} [flags]`));
    for (const f of cmd.flags) {
      ok(r.help.includes(`--${f.name}`), `--${f.name} in help`);
      if (f.default !== undefined && f.type !== "bool" && !f.defaultText) {
        const d = Array.isArray(f.default) ? f.default.join(",") || "none" : String(f.default);
        ok(r.help.includes(`default ${d}`), `default of --${f.name}`);
      }
    }
    assertEquals(parseFlags(cmd, ["-h"]).help, r.help);
  });

  Deno.test(`${cmd.name}: defaults are filled in`, () => {
    const v = parseFlags(cmd, base(cmd)).values!;
    for (const f of cmd.flags) {
      if (f.type === "bool") assertEquals(v[f.name], false);
      else if (f.default !== undefined) assertEquals(v[f.name], f.default);
    }
  });
}

Deno.test("required flags, mutually exclusive flags, negative values", () => {
  match(errorOf(() => parseFlags(TUNE_COMMAND, ["--out", "o"])), /^--model DIR is required/);
  match(
    errorOf(() => parsePruneArgs(["--target-speedup", "1.5", "--num-sublayers", "2"])),
    /^give either --target-speedup or --num-sublayers, not both$/,
  );
  match(
    errorOf(() => parsePruneArgs(["--target-speedup", "-1"])),
    /^--target-speedup: expected a number ≥ 1, got -1$/,
  );
  match(errorOf(() => parsePruneArgs(["--resume=yes"])), /^--resume takes no value/);
  match(errorOf(() => parsePruneArgs(["--metric", "bogus"])), /^--metric: /);
  match(errorOf(() => parsePruneArgs(["--method", "slebb"])), /did you mean sleb\?/);
  match(
    errorOf(() => parsePruneArgs(["--method", "sleb", "--no-tuning"])),
    /apply to --method sprint only/,
  );
  match(errorOf(() => parsePruneArgs(["--taget-speedup", "2"])), /did you mean --target-speedup/);
  const a = parsePruneArgs(["--model", "m/", "--num-sublayers", "2", "--seed=3"])!;
  assertEquals([a.outDir, a.numSublayers, a.targetSpeedup, a.flags.seed], [
    "out/m-sprint",
    2,
    undefined,
    3,
  ]);
  assertEquals(parsePruneArgs([])!.targetSpeedup, 1.25);
  // A value that starts with a single dash is a value (checked by its range), `=` takes anything.
  assertEquals(parseFlags(GENERATE_COMMAND, ["--prompt=--x"]).values?.prompt, "--x");
  assertEquals(parseFlags(GENERATE_COMMAND, ["--prompt", "-x"]).values?.prompt, "-x");
});

Deno.test("bytes type: sizes with units, refused garbage", () => {
  assertEquals(parseBytes("4096"), 4096);
  assertEquals(parseBytes("8GiB"), 8 * 2 ** 30);
  assertEquals(parseBytes("8G"), 8 * 2 ** 30);
  assertEquals(parseBytes("1.5GB"), 1.5e9);
  assertEquals(parseBytes("512 MiB"), 512 * 2 ** 20);
  assertEquals(parseBytes("8 parsecs"), undefined);
  assertEquals(parseBytes("-1"), undefined);
  const cmd = defineCommand({
    name: "t",
    summary: "t",
    flags: [{ name: "device-memory", type: "bytes", min: 1024, help: "budget" }],
  });
  assertEquals(parseFlags(cmd, ["--device-memory=2KiB"]).values?.["device-memory"], 2048);
  match(
    errorOf(() => parseFlags(cmd, ["--device-memory", "lots"])),
    /^--device-memory: expected a byte size .* ≥ 1024, got "lots"$/,
  );
  match(errorOf(() => parseFlags(cmd, ["--device-memory", "1000"])), /≥ 1024, got 1000$/);
});

Deno.test("defineCommand refuses a table with a duplicate flag", () => {
  let err = "";
  try {
    defineCommand({
      name: "t",
      summary: "t",
      flags: [{ name: "a", type: "bool", help: "" }, { name: "a", type: "int", help: "" }],
    });
  } catch (e) {
    err = (e as Error).message;
  }
  match(err, /declared twice/);
});
