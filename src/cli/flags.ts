/**
 * The one flag parser of every task: a command is a declarative table of flags
 * ({@link FlagSpec}: name, type, range, choices, default, help, group) and {@link parseFlags}
 * turns `Deno.args` into typed values or a one-line {@link ToolkitError} (exit 2): unknown flags
 * (with the closest known flag suggested), missing values, `--flag=value`, values given to
 * booleans, positional arguments, ranges, choices, mutually exclusive flags, flags given twice.
 * `--help` / `-h` prints the help generated from the same table ({@link helpText}).
 *
 * Adding a flag is one entry in a command's table.
 *
 * @example
 * ```ts
 * import { defineCommand, parseFlags } from "./flags.ts";
 * const cmd = defineCommand({
 *   name: "demo",
 *   summary: "a demo",
 *   flags: [
 *     { name: "steps", type: "int", min: 1, default: 10, help: "steps to run" },
 *     { name: "quiet", type: "bool", help: "no progress" },
 *   ],
 * });
 * const r = parseFlags(cmd, ["--steps=3"]);
 * if (r.help === undefined && r.values.steps !== 3) throw new Error("parse");
 * ```
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";

/** Value types a flag can have. */
export type FlagType =
  | "string"
  | "int"
  | "float"
  | "bool"
  | "list"
  | "path"
  | "choice"
  | "bytes";

/** One flag of a command. */
export interface FlagSpec {
  /** Name without the leading `--` (e.g. `target-speedup`). */
  readonly name: string;
  /** Value type: `bool` flags take no value; `list` is comma-separated; `bytes` takes `8GiB`. */
  readonly type: FlagType;
  /** One line of help. */
  readonly help: string;
  /** Default value (in the parsed type); a `bool` defaults to false. */
  readonly default?: string | number | boolean | readonly string[] | readonly number[];
  /** Text shown for a default computed at run time (e.g. "the model's context"). */
  readonly defaultText?: string;
  /** Smallest allowed value (numbers; for a `list` of numbers, of every item). */
  readonly min?: number;
  /** Largest allowed value. */
  readonly max?: number;
  /** `min` itself is not allowed. */
  readonly minExclusive?: boolean;
  /** `max` itself is not allowed. */
  readonly maxExclusive?: boolean;
  /** Allowed values (`choice`; for a `list`, of every item). */
  readonly choices?: readonly string[];
  /** Item type of a `list` (default string). */
  readonly items?: "string" | "int" | "float";
  /** Placeholder in help and messages (default from the type: N, X, DIR, FILE, …). */
  readonly valueName?: string;
  /** Heading the flag is listed under in `--help`. */
  readonly group?: string;
  /** The flag must be given. */
  readonly required?: boolean;
}

/** A command: name, one-line summary, optional longer description, flags and exclusions. */
export interface CommandSpec<F extends readonly FlagSpec[] = readonly FlagSpec[]> {
  /** How the command is invoked, e.g. `prune` (shown as `deno task prune`). */
  readonly name: string;
  /** How to run it (default `deno task <name>`). */
  readonly invocation?: string;
  /** One line: what the command does. */
  readonly summary: string;
  /** Further help text (paragraphs). */
  readonly description?: string;
  /** The flags. */
  readonly flags: F;
  /** Groups of flags of which at most one may be given. */
  readonly exclusive?: readonly (readonly string[])[];
}

type Item<F> = F extends { items: "int" | "float" } ? number : string;
type ValueOf<F> = F extends { type: "int" | "float" | "bytes" } ? number
  : F extends { type: "bool" } ? boolean
  : F extends { type: "list" } ? Item<F>[]
  : F extends { type: "choice"; choices: readonly (infer C)[] } ? C
  : string;
type Present<F> = F extends { type: "bool" } ? true
  : F extends { default: unknown } ? true
  : F extends { required: true } ? true
  : false;

/** Typed values of a command's flags (flags without default and not given are undefined). */
export type FlagValues<F extends readonly FlagSpec[]> = {
  -readonly [S in F[number] as S["name"]]: Present<S> extends true ? ValueOf<S>
    : ValueOf<S> | undefined;
};

/** What {@link parseFlags} returns: the values and which flags were given explicitly. */
export type ParseResult<F extends readonly FlagSpec[]> =
  | { help: undefined; values: FlagValues<F>; given: ReadonlySet<string> }
  | { help: string; values?: undefined; given?: undefined };

/**
 * Declares a command, keeping the literal flag names and types for {@link FlagValues}.
 *
 * @example
 * ```ts
 * import { defineCommand } from "./flags.ts";
 * const cmd = defineCommand({ name: "x", summary: "x", flags: [{ name: "n", type: "int", help: "n" }] });
 * if (cmd.flags[0].name !== "n") throw new Error();
 * ```
 */
export function defineCommand<const F extends readonly FlagSpec[]>(
  spec: CommandSpec<F>,
): CommandSpec<F> {
  const seen = new Set<string>();
  for (const f of spec.flags) {
    if (seen.has(f.name) || f.name === "help") {
      throw new Error(`${spec.name}: flag --${f.name} declared twice`);
    }
    seen.add(f.name);
    if (f.type === "choice" && !f.choices?.length) {
      throw new Error(`${spec.name}: --${f.name} needs choices`);
    }
  }
  for (const g of spec.exclusive ?? []) {
    for (const n of g) if (!seen.has(n)) throw new Error(`${spec.name}: exclusive --${n} unknown`);
  }
  return spec;
}

/** How a command is run: its `invocation`, or `deno task <name>`. */
export function invocation(cmd: CommandSpec): string {
  return cmd.invocation ?? `deno task ${cmd.name}`;
}

/** Levenshtein distance (for "did you mean"). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/**
 * The known name closest to `name` (edit distance ≤ max(2, ⅓ of its length), or a prefix), or
 * undefined.
 *
 * @example
 * ```ts
 * import { closest } from "./flags.ts";
 * if (closest("modle", ["model", "out"]) !== "model") throw new Error();
 * ```
 */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = k.startsWith(name) || name.startsWith(k) ? 1 : editDistance(name, k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function placeholder(f: FlagSpec): string {
  if (f.valueName) return f.valueName;
  switch (f.type) {
    case "int":
      return "N";
    case "float":
      return "X";
    case "bytes":
      return "BYTES";
    case "path":
      return "PATH";
    case "list":
      return "LIST";
    case "choice":
      return f.choices!.join("|");
    default:
      return "TEXT";
  }
}

function rangeText(f: FlagSpec): string {
  const parts: string[] = [];
  if (f.min !== undefined) parts.push(`${f.minExclusive ? ">" : "≥"} ${f.min}`);
  if (f.max !== undefined) parts.push(`${f.maxExclusive ? "<" : "≤"} ${f.max}`);
  return parts.join(" and ");
}

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1e3,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1e9,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1e12,
  tib: 1024 ** 4,
};

/**
 * Parses a byte size: `4096`, `512KiB`, `8GiB`, `1.5GB` (K/M/G/T alone are binary).
 *
 * @example
 * ```ts
 * import { parseBytes } from "./flags.ts";
 * if (parseBytes("8GiB") !== 8 * 2 ** 30) throw new Error();
 * ```
 */
export function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = BYTE_UNITS[m[2].toLowerCase()];
  if (unit === undefined) return undefined;
  const v = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(v) ? v : undefined;
}

function parseNumber(f: FlagSpec, kind: "int" | "float" | "bytes", raw: string, label: string) {
  let x: number | undefined;
  if (kind === "bytes") x = parseBytes(raw);
  else if (kind === "int") x = /^\s*[+-]?\d+\s*$/.test(raw) ? Number(raw) : undefined;
  else {
    x = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(raw) ? Number(raw) : undefined;
  }
  const what = kind === "int"
    ? "an integer"
    : kind === "bytes"
    ? "a byte size (e.g. 4096, 512MiB, 8GiB)"
    : "a number";
  const range = rangeText(f);
  const expected = `expected ${what}${range ? ` ${range}` : ""}`;
  if (x === undefined || !Number.isFinite(x) || (kind === "int" && !Number.isSafeInteger(x))) {
    throw new ToolkitError(`${label}: ${expected}, got ${JSON.stringify(raw)}`);
  }
  const low = f.min !== undefined && (f.minExclusive ? x <= f.min : x < f.min);
  const high = f.max !== undefined && (f.maxExclusive ? x >= f.max : x > f.max);
  if (low || high) throw new ToolkitError(`${label}: ${expected}, got ${raw.trim()}`);
  return x;
}

function checkChoice(f: FlagSpec, v: string, label: string): void {
  if (!f.choices || f.choices.includes(v)) return;
  const hint = closest(v, f.choices);
  throw new ToolkitError(
    `${label}: ${JSON.stringify(v)} is not one of ${f.choices.join(", ")}${
      hint ? ` (did you mean ${hint}?)` : ""
    }`,
  );
}

/** Converts the text of flag `f` to its typed value (throws a one-line ToolkitError). */
export function convertValue(f: FlagSpec, raw: string): unknown {
  const label = `--${f.name}`;
  switch (f.type) {
    case "int":
    case "float":
    case "bytes":
      return parseNumber(f, f.type, raw, label);
    case "choice":
      checkChoice(f, raw, label);
      return raw;
    case "list": {
      const items = raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
      return items.map((it) => {
        if (f.items === "int" || f.items === "float") {
          return parseNumber(f, f.items, it, `${label} item`);
        }
        checkChoice(f, it, `${label} item`);
        return it;
      });
    }
    case "path":
    case "string":
      if (f.type === "path" && raw.trim() === "") {
        throw new ToolkitError(`${label}: expected a path, got an empty string`);
      }
      return raw;
    case "bool":
      return true;
  }
}

/**
 * Parses `argv` against `cmd`. Returns `{ help }` when `--help` / `-h` was given (print it and
 * exit 0), else the typed values (defaults filled in) and the set of flags given.
 *
 * @example
 * ```ts
 * import { defineCommand, parseFlags } from "./flags.ts";
 * const cmd = defineCommand({ name: "x", summary: "x", flags: [{ name: "n", type: "int", min: 1, help: "n" }] });
 * let message = "";
 * try { parseFlags(cmd, ["--n", "0"]); } catch (e) { message = (e as Error).message; }
 * if (message !== "--n: expected an integer ≥ 1, got 0") throw new Error(message);
 * ```
 */
export function parseFlags<F extends readonly FlagSpec[]>(
  cmd: CommandSpec<F>,
  argv: readonly string[],
): ParseResult<F> {
  if (argv.includes("--help") || argv.includes("-h")) return { help: helpText(cmd) };
  const byName = new Map(cmd.flags.map((f) => [f.name, f] as const));
  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--") || arg === "--") {
      throw new ToolkitError(
        `unexpected argument ${JSON.stringify(arg)}: ${cmd.name} takes no positional arguments ` +
          `(flags start with --; see --help)`,
      );
    }
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const f = byName.get(name);
    if (!f) {
      const hint = closest(name, [...byName.keys()]);
      throw new ToolkitError(
        `unknown flag --${name}${hint ? ` (did you mean --${hint}?)` : ""}; ` +
          `see ${invocation(cmd)} --help`,
      );
    }
    if (given.has(name)) throw new ToolkitError(`--${name} is given twice`);
    given.add(name);
    if (f.type === "bool") {
      if (eq >= 0) {
        throw new ToolkitError(
          `--${name} takes no value (got ${JSON.stringify(arg.slice(eq + 1))}); ` +
            `give --${name} alone to switch it on, leave it out for off`,
        );
      }
      values[name] = true;
      continue;
    }
    let raw: string;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) {
        throw new ToolkitError(`--${name}: missing value (expected --${name} ${placeholder(f)})`);
      }
      raw = next;
      i++;
    }
    values[name] = convertValue(f, raw);
  }
  for (const group of cmd.exclusive ?? []) {
    const set = group.filter((n) => given.has(n));
    if (set.length > 1) {
      throw new ToolkitError(
        `give either ${set.map((n) => `--${n}`).join(" or ")}, not ${
          set.length > 2 ? "several" : "both"
        }`,
      );
    }
  }
  for (const f of cmd.flags) {
    if (values[f.name] !== undefined) continue;
    if (f.required) {
      throw new ToolkitError(`--${f.name} ${placeholder(f)} is required (${f.help})`);
    }
    if (f.type === "bool") values[f.name] = false;
    else if (f.default !== undefined) {
      values[f.name] = Array.isArray(f.default) ? [...f.default] : f.default;
    }
  }
  return { help: undefined, values: values as FlagValues<F>, given };
}

function defaultText(f: FlagSpec): string {
  if (f.defaultText) return f.defaultText;
  if (f.type === "bool" || f.default === undefined) return "";
  if (Array.isArray(f.default)) return f.default.join(",") || "none";
  return String(f.default);
}

/**
 * The `--help` text of a command, generated from its table (grouped, with types, ranges,
 * choices and defaults).
 *
 * @example
 * ```ts
 * import { defineCommand, helpText } from "./flags.ts";
 * const cmd = defineCommand({ name: "x", summary: "does x", flags: [{ name: "n", type: "int", default: 2, help: "count" }] });
 * if (!helpText(cmd).includes("--n N")) throw new Error();
 * ```
 */
export function helpText(cmd: CommandSpec): string {
  const lines = [`${invocation(cmd)} [flags]`, "", cmd.summary];
  if (cmd.description) lines.push("", cmd.description.trim());
  const groups = new Map<string, FlagSpec[]>();
  for (const f of cmd.flags) {
    const g = f.group ?? "Flags";
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(f);
  }
  const head = (f: FlagSpec) => `--${f.name}${f.type === "bool" ? "" : ` ${placeholder(f)}`}`;
  const width = Math.min(
    26,
    Math.max(...cmd.flags.map((f) => head(f).length), "--help".length) + 2,
  );
  for (const [g, flags] of groups) {
    lines.push("", `${g}:`);
    for (const f of flags) {
      const extra: string[] = [];
      const range = rangeText(f);
      if (range) extra.push(range);
      if (f.type === "list" && f.choices) extra.push(`items: ${f.choices.join(", ")}`);
      if (f.required) extra.push("required");
      const d = defaultText(f);
      if (d) extra.push(`default ${d}`);
      const h = head(f);
      const text = `${f.help}${extra.length ? ` (${extra.join("; ")})` : ""}`;
      lines.push(
        h.length + 2 > width
          ? `  ${h}\n  ${" ".repeat(width)}${text}`
          : `  ${h.padEnd(width)}${text}`,
      );
    }
  }
  lines.push("", `  ${"--help".padEnd(width)}this text`);
  const ex = cmd.exclusive ?? [];
  if (ex.length) {
    lines.push("", ...ex.map((g) => `At most one of ${g.map((n) => `--${n}`).join(", ")}.`));
  }
  lines.push(
    "",
    "Values: --flag VALUE or --flag=VALUE; bad flags end with a one-line error and exit code 2.",
  );
  return lines.join("\n");
}

/**
 * Parses `argv` for a task: prints the help and returns undefined on `--help`, else the values.
 *
 * @example
 * ```ts
 * import { defineCommand, parseTaskArgs } from "./flags.ts";
 * const cmd = defineCommand({ name: "x", summary: "x", flags: [{ name: "q", type: "bool", help: "quiet" }] });
 * const v = parseTaskArgs(cmd, ["--q"]);
 * if (v?.q !== true) throw new Error();
 * ```
 */
export function parseTaskArgs<F extends readonly FlagSpec[]>(
  cmd: CommandSpec<F>,
  argv: readonly string[],
): FlagValues<F> | undefined {
  const r = parseFlags(cmd, argv);
  if (r.help !== undefined) {
    console.log(r.help);
    return undefined;
  }
  return r.values;
}

/**
 * Prints the command's help and returns true when `argv` asks for it (`--help` / `-h`).
 *
 * @example
 * ```ts
 * import { defineCommand, showHelp } from "./flags.ts";
 * const cmd = defineCommand({ name: "x", summary: "x", flags: [] });
 * if (showHelp(cmd, [])) throw new Error();
 * ```
 */
export function showHelp(cmd: CommandSpec, argv: readonly string[]): boolean {
  if (!argv.includes("--help") && !argv.includes("-h")) return false;
  console.log(helpText(cmd));
  return true;
}

/**
 * Like {@link parseFlags} but for callers that handled `--help` already ({@link showHelp}).
 *
 * @example
 * ```ts
 * import { defineCommand, parseValues } from "./flags.ts";
 * const cmd = defineCommand({ name: "x", summary: "x", flags: [{ name: "n", type: "int", default: 1, help: "n" }] });
 * if (parseValues(cmd, []).n !== 1) throw new Error();
 * ```
 */
export function parseValues<F extends readonly FlagSpec[]>(
  cmd: CommandSpec<F>,
  argv: readonly string[],
): FlagValues<F> {
  const r = parseFlags(cmd, argv);
  if (r.help !== undefined) throw new ToolkitError(`see ${invocation(cmd)} --help`);
  return r.values;
}
