/**
 * The hostile tester's sweep: command-line cases over every task (prune, eval, generate, tune,
 * bench, compare, export, pretrain) and every input class of issue 10 — flags, paths and
 * outputs, malformed safetensors, shard indexes, configs, tokenizers, calibration text,
 * benchmark JSONL, latency tables, unreachable targets, generation past the context, concurrent
 * runs and corrupted resume states. Every case is generated into a temporary folder from the
 * real checkpoint stories260K (`../shared/data`) or the embedded default model; nothing
 * corrupted is checked in. Run by `tests/inputs/sweep.ts` (all cases) and
 * `tests/inputs/sweep_test.ts` (a representative subset).
 *
 * @module
 */
import { dirname, join } from "node:path";

/** What a case must do. */
export type SweepExpect =
  /** exit 2, one `error: ` stderr line matching `match`, nothing in the case folder changed. */
  | "fail"
  /** exit 0 (and `after`, when given, is satisfied). */
  | "ok"
  /** either of the two, cleanly. */
  | "any";

/** One command-line case. */
export interface SweepCase {
  cls: string;
  name: string;
  task: string;
  args: string[];
  expect: SweepExpect;
  /** The one stderr line of a failure must match (it names the file or field). */
  match?: RegExp;
  /** Needs a model load or a GPU run (the expensive group). */
  heavy?: boolean;
  /** Builds the case's inputs (inside `dir`). */
  setup?: () => Promise<void>;
  /** Extra check after the run; a string says what went wrong. */
  after?: (r: RunResult) => Promise<string | null>;
  /** Replaces the single run (concurrency cases). */
  custom?: () => Promise<string | null>;
  env?: Record<string, string>;
  /** The case's own folder: snapshotted before and after a failing case. */
  dir: string;
}

/** Result of one subprocess. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const enc = new TextEncoder();
const ROOT_URL = new URL("../../", import.meta.url);
/** Repository root. */
export const REPO: string = decodeURIComponent(ROOT_URL.pathname).replace(/\/$/, "");
/** The shared data folder (absent in a fresh clone elsewhere). */
export const SHARED: string = join(REPO, "..", "shared", "data");
const STORIES = join(SHARED, "models", "stories260K-hf");
const DEFAULT_MODEL = join(REPO, "data", "models", "default");

/** Runs `deno run -A tasks/<task>.ts ...args` with a timeout. */
export async function runTask(
  task: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 300_000,
): Promise<RunResult> {
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, timeoutMs);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(REPO, "tasks", `${task}.ts`), ...args],
      cwd: REPO,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
      env: { NO_COLOR: "1", ...env },
    }).output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
      timedOut,
    };
  } finally {
    clearTimeout(timer);
  }
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isFile) await Deno.copyFile(join(from, e.name), join(to, e.name));
  }
}

type Entry = [string, unknown];

/** Splits a safetensors file into ordered header entries and the data section. */
async function readSt(path: string): Promise<{ entries: Entry[]; data: Uint8Array }> {
  const b = await Deno.readFile(path);
  const n = Number(new DataView(b.buffer).getBigUint64(0, true));
  const h = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n)));
  return { entries: Object.entries(h), data: b.slice(8 + n) };
}

/** Safetensors bytes from ordered entries (duplicates allowed) or a raw header text. */
function writeSt(header: Entry[] | string, data: Uint8Array, lenOverride?: bigint): Uint8Array {
  let text = typeof header === "string"
    ? header
    : `{${header.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`;
  while ((8 + enc.encode(text).length) % 8) text += " ";
  const json = enc.encode(text);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** `base` with every flag that `extra` gives removed (with its value), then `extra`. */
function override(base: string[], extra: string[]): string[] {
  const names = new Set(extra.filter((a) => a.startsWith("--")).map((a) => a.split("=")[0]));
  const out: string[] = [];
  for (let i = 0; i < base.length; i++) {
    if (names.has(base[i])) {
      if (i + 1 < base.length && !base[i + 1].startsWith("--")) i++;
      continue;
    }
    out.push(base[i]);
  }
  return [...out, ...extra];
}

interface TensorInfo {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Builds every case under `root`. `shared` false: only cases that need no shared data. */
export async function buildSweep(root: string): Promise<SweepCase[]> {
  const haveShared = await exists(STORIES);
  const cases: SweepCase[] = [];
  let n = 0;
  const newDir = () => join(root, `c${String(++n).padStart(3, "0")}`);
  const calibText = haveShared
    ? (await Deno.readTextFile(join(SHARED, "corpus", "tinystories_val_subset.txt"))).slice(
      0,
      20_000,
    )
    : "Once upon a time there was a little girl. She liked to play.\n\n".repeat(200);
  const baseCalib = join(root, "calib.txt");
  await Deno.writeTextFile(baseCalib, calibText);
  const sentinel = join(root, "SENTINEL.txt");
  await Deno.writeTextFile(sentinel, "outside the model folder");

  const add = (c: Omit<SweepCase, "dir"> & { dir?: string }) => {
    const dir = c.dir ?? newDir();
    cases.push({ ...c, dir });
    return dir;
  };

  // ---------------------------------------------------------------- model builders
  const srcModel = haveShared ? STORIES : DEFAULT_MODEL;
  /** A copy of the source model under `dir/m`, mutated. */
  const model = async (
    dir: string,
    mut: {
      config?: (c: Record<string, unknown>) => unknown;
      configText?: string | null;
      st?: (e: Entry[], d: Uint8Array) => Uint8Array;
      tok?: (t: Record<string, unknown>) => unknown;
      tokText?: string | null;
      files?: Record<string, string | Uint8Array | null>;
    } = {},
  ): Promise<string> => {
    const m = join(dir, "m");
    await copyDir(srcModel, m);
    await Deno.writeTextFile(join(m, "calibration.txt"), calibText);
    const cfgPath = join(m, "config.json");
    if (mut.config) {
      const c = JSON.parse(await Deno.readTextFile(cfgPath));
      const r = mut.config(c);
      await Deno.writeTextFile(cfgPath, JSON.stringify(r === undefined ? c : r));
    }
    if (mut.configText === null) await Deno.remove(cfgPath);
    else if (mut.configText !== undefined) await Deno.writeTextFile(cfgPath, mut.configText);
    if (mut.st) {
      const p = join(m, "model.safetensors");
      const { entries, data } = await readSt(p);
      await Deno.writeFile(p, mut.st(entries, data));
    }
    const tokPath = join(m, "tokenizer.json");
    if (mut.tok) {
      const t = JSON.parse(await Deno.readTextFile(tokPath));
      const r = mut.tok(t);
      await Deno.writeTextFile(tokPath, JSON.stringify(r === undefined ? t : r));
    }
    if (mut.tokText === null) await Deno.remove(tokPath);
    else if (mut.tokText !== undefined) await Deno.writeTextFile(tokPath, mut.tokText);
    for (const [name, v] of Object.entries(mut.files ?? {})) {
      const p = join(m, name);
      if (v === null) {
        await Deno.remove(p, { recursive: true });
        continue;
      }
      await Deno.mkdir(dirname(p), { recursive: true });
      if (typeof v === "string") await Deno.writeTextFile(p, v);
      else await Deno.writeFile(p, v);
    }
    return m;
  };

  const pruneArgs = (dir: string, extra: string[] = []) => [
    "--model",
    join(dir, "m"),
    "--calib",
    baseCalib,
    "--out",
    join(dir, "out"),
    "--nsamples",
    "2",
    "--seq-len",
    "8",
    "--num-sublayers",
    "1",
    "--no-tuning",
    "--quiet",
    "--no-latency-aware",
    ...extra,
  ];
  const evalArgs = (dir: string) => [
    "--model",
    join(dir, "m"),
    "--tasks",
    `text:${baseCalib}`,
    "--limit",
    "2",
    "--seq-len",
    "16",
    "--quiet",
  ];
  const genArgs = (dir: string) => [
    "--model",
    join(dir, "m"),
    "--prompt",
    "Once upon a time",
    "--max-new-tokens",
    "4",
  ];
  const exportArgs = (dir: string) => ["--model", join(dir, "m"), "--out", join(dir, "m.gguf")];
  const tuneArgs = (dir: string) => [
    "--model",
    join(dir, "m"),
    "--out",
    join(dir, "tuned"),
    "--steps",
    "1",
    "--batch",
    "1",
    "--seq-len",
    "8",
    "--data",
    baseCalib,
  ];
  const TASK_ARGS: Record<string, (d: string) => string[]> = {
    prune: (d) => pruneArgs(d),
    eval: evalArgs,
    generate: genArgs,
    export: exportArgs,
    tune: tuneArgs,
  };

  /** A broken model, tried through `tasks`. */
  const broken = (
    cls: string,
    name: string,
    mut: Parameters<typeof model>[1],
    match: RegExp,
    tasks: string[] = ["prune", "eval", "generate"],
    expect: SweepExpect = "fail",
  ) => {
    for (const task of tasks) {
      const dir = newDir();
      add({
        cls,
        name: `${name} (${task})`,
        task,
        args: TASK_ARGS[task](dir),
        expect,
        match,
        heavy: true,
        dir,
        setup: async () => void await model(dir, mut),
      });
    }
  };

  // ---------------------------------------------------------------- flags (cheap)
  const TASKS = ["prune", "eval", "generate", "tune", "bench", "compare", "export", "pretrain"];
  const intFlag: Record<string, string> = {
    prune: "--seed",
    eval: "--limit",
    generate: "--max-new-tokens",
    tune: "--rank",
    bench: "--reps",
    compare: "--seed",
    export: "",
    pretrain: "--steps",
  };
  const boolFlag: Record<string, string> = {
    prune: "--resume",
    eval: "--quiet",
    generate: "--f32",
    tune: "--overwrite",
    bench: "--quick",
    compare: "--quiet",
    export: "--overwrite",
    pretrain: "--resume",
  };
  const pathFlag: Record<string, string> = {
    prune: "--out",
    eval: "--json",
    generate: "--model",
    tune: "--data",
    bench: "--json",
    compare: "--out",
    export: "--out",
    pretrain: "--out",
  };
  for (const t of TASKS) {
    const F = "flags";
    add({
      cls: F,
      name: `${t} --help`,
      task: t,
      args: ["--help"],
      expect: "ok",
      after: (r) =>
        Promise.resolve(
          r.stdout.includes("--help") || r.stderr.includes("--help") ? null : "no help text",
        ),
    });
    add({
      cls: F,
      name: `${t} unknown flag`,
      task: t,
      args: ["--bogus"],
      expect: "fail",
      match: /--bogus/,
    });
    add({
      cls: F,
      name: `${t} misspelt flag`,
      task: t,
      args: [t === "generate" ? "--promt" : "--modle", "x"],
      expect: "fail",
      match: /--(promt|modle)/,
    });
    add({
      cls: F,
      name: `${t} positional`,
      task: t,
      args: ["extra"],
      expect: "fail",
      match: /extra/,
    });
    add({
      cls: F,
      name: `${t} single dash`,
      task: t,
      args: ["-x"],
      expect: "fail",
      match: /-x/,
    });
    add({
      cls: F,
      name: `${t} ${pathFlag[t]} without value`,
      task: t,
      args: [pathFlag[t]],
      expect: "fail",
      match: new RegExp(pathFlag[t]),
    });
    add({
      cls: F,
      name: `${t} ${boolFlag[t]}=yes`,
      task: t,
      args: [`${boolFlag[t]}=yes`],
      expect: "fail",
      match: new RegExp(boolFlag[t]),
    });
    if (intFlag[t]) {
      for (const v of ["abc", "1.5", "-1", "1e400", "0x10", ""]) {
        add({
          cls: F,
          name: `${t} ${intFlag[t]} ${JSON.stringify(v)}`,
          task: t,
          args: [intFlag[t], v],
          expect: "fail",
          match: new RegExp(intFlag[t]),
        });
      }
      add({
        cls: F,
        name: `${t} ${intFlag[t]}= (empty =value)`,
        task: t,
        args: [`${intFlag[t]}=`],
        expect: "fail",
        match: new RegExp(intFlag[t]),
      });
      add({
        cls: F,
        name: `${t} ${intFlag[t]} repeated`,
        task: t,
        args: [intFlag[t], "3", `${intFlag[t]}=4`],
        expect: "fail",
        match: new RegExp(`${intFlag[t]}.*twice`),
      });
    }
  }
  const flagFail = (task: string, args: string[], match: RegExp, name?: string) =>
    add({
      cls: "flags",
      name: name ?? `${task} ${args.join(" ")}`,
      task,
      args,
      expect: "fail",
      match,
    });
  flagFail("prune", ["--target-speedup", "-1"], /--target-speedup/);
  flagFail("prune", ["--target-speedup", "0.5"], /--target-speedup/);
  flagFail("prune", ["--target-speedup", "NaN"], /--target-speedup/);
  flagFail("prune", ["--target-speedup", "Infinity"], /--target-speedup/);
  flagFail("prune", ["--num-sublayers", "0"], /--num-sublayers/);
  flagFail(
    "prune",
    ["--target-speedup", "1.2", "--num-sublayers", "2"],
    /--target-speedup|--num-sublayers/,
  );
  flagFail("prune", ["--method", "bogus"], /--method/);
  flagFail("prune", ["--metric", "bogus"], /--metric|bogus/);
  flagFail("prune", ["--metric", "l2_sentence,,cosine"], /--metric/);
  flagFail("prune", ["--nsamples", "0"], /--nsamples/);
  flagFail("prune", ["--seq-len", "1"], /--seq-len/);
  flagFail("prune", ["--tuning-ratio", "0"], /--tuning-ratio/);
  flagFail("prune", ["--tuning-ratio", "2"], /--tuning-ratio/);
  flagFail("prune", ["--damping", "-1"], /--damping/);
  flagFail("prune", ["--device-memory", "0"], /--device-memory/);
  flagFail("prune", ["--device-memory", "8XB"], /--device-memory/);
  flagFail("prune", ["--calib-sampling", "zigzag"], /--calib-sampling/);
  flagFail("prune", ["--speedup-model", "both"], /--speedup-model/);
  flagFail("prune", ["--latency-table", "x.json", "--latency-mode", "prefill"], /--latency/);
  flagFail("prune", ["--threads", "1000"], /--threads/);
  flagFail("prune", ["--method", "sleb", "--no-tuning"], /--no-tuning|sleb/);
  flagFail("prune", ["--resume", "--overwrite"], /--resume|--overwrite/);
  flagFail("eval", ["--tasks", "bogus"], /--tasks|bogus/);
  flagFail("eval", ["--tasks", ""], /--tasks/);
  flagFail("eval", ["--dtype", "f8"], /--dtype/);
  flagFail("eval", ["--engine", "torch"], /--engine/);
  flagFail("eval", ["--threads", "0"], /--threads/);
  flagFail("eval", ["--seq-len", "1"], /--seq-len/);
  flagFail("eval", ["--stride", "0"], /--stride/);
  flagFail("eval", ["--batch-tokens", "-5"], /--batch-tokens/);
  flagFail("eval", ["--tasks", "text:"], /--tasks|text:/);
  flagFail("generate", ["--top-p", "0"], /--top-p/);
  flagFail("generate", ["--top-p", "1.5"], /--top-p/);
  flagFail("generate", ["--temperature", "-1"], /--temperature/);
  flagFail("generate", ["--temperature", "hot"], /--temperature/);
  flagFail("tune", ["--model", "x", "--out", "y", "--targets", "q,zz"], /--targets|zz/);
  flagFail("tune", ["--model", "x", "--out", "y", "--lr", "0"], /--lr/);
  flagFail("tune", ["--model", "x"], /--out/, "tune without required --out");
  flagFail("bench", ["--only", "gpu"], /--only/);
  flagFail("bench", ["--vs", "llamacpp", "--quick"], /--vs|--quick/);
  flagFail("bench", ["--threads", "1,x"], /--threads/);
  flagFail("bench", ["--dtypes", "f32,q4"], /--dtypes|q4/);
  flagFail("export", ["--model", "x", "--out", "y.gguf", "--dtype", "q4"], /--dtype/);
  flagFail("export", ["--out", "y.gguf"], /--model/, "export without required --model");
  flagFail("compare", ["--methods", "sprint,magic"], /--methods|magic/);
  flagFail("compare", ["--speedups", "1.2,abc"], /--speedups/);
  flagFail("compare", ["--speedups", "0.5"], /--speedups/);
  flagFail("pretrain", ["--seq-len", "1"], /--seq-len/);
  flagFail("pretrain", ["--lr", "-0.1"], /--lr/);

  // ---------------------------------------------------------------- paths and outputs
  const P = "paths/outputs";
  {
    const missing = join(root, "no-such-model");
    for (const t of ["prune", "eval", "generate", "export", "tune"]) {
      const dir = newDir();
      const args = TASK_ARGS[t](dir).map((a) => (a === join(dir, "m") ? missing : a));
      add({
        cls: P,
        name: `${t} --model missing`,
        task: t,
        args,
        expect: "fail",
        match: /no-such-model/,
        dir,
      });
    }
    for (const t of ["prune", "eval", "generate"]) {
      const dir = newDir();
      add({
        cls: P,
        name: `${t} --model is a file`,
        task: t,
        args: TASK_ARGS[t](dir),
        expect: "fail",
        match: /\/m\b/,
        dir,
        setup: () => Deno.mkdir(dir).then(() => Deno.writeTextFile(join(dir, "m"), "x")),
      });
      const dir2 = newDir();
      add({
        cls: P,
        name: `${t} --model is an empty folder`,
        task: t,
        args: TASK_ARGS[t](dir2),
        expect: "fail",
        match: /config\.json|\/m\b/,
        dir: dir2,
        setup: () => Deno.mkdir(join(dir2, "m"), { recursive: true }),
      });
    }
    // prune outputs
    const pr = (
      name: string,
      setup: (dir: string) => Promise<void>,
      extra: (d: string) => string[],
      match: RegExp,
      expect: SweepExpect = "fail",
      after?: (dir: string) => (r: RunResult) => Promise<string | null>,
    ) => {
      const dir = newDir();
      add({
        cls: P,
        name,
        task: "prune",
        args: override(pruneArgs(dir), extra(dir)),
        expect,
        match,
        heavy: expect !== "fail",
        dir,
        setup: async () => {
          await model(dir);
          await setup(dir);
        },
        after: after?.(dir),
      });
    };
    const userFile = async (d: string) => {
      await Deno.mkdir(join(d, "out"));
      await Deno.writeTextFile(join(d, "out", "my-notes.txt"), "keep me");
    };
    pr(
      "prune --out existing folder with a user file",
      userFile,
      (d) => ["--out", join(d, "out")],
      /--out|exists/,
    );
    pr(
      "prune --resume onto a user's folder",
      userFile,
      (d) => ["--out", join(d, "out"), "--resume"],
      /--out|exists|resume/,
    );
    pr(
      "prune --out existing regular file",
      (d) => Deno.writeTextFile(join(d, "out"), "a file"),
      (d) => ["--out", join(d, "out")],
      /--out|exists|file/,
    );
    pr(
      "prune --resume onto an existing regular file",
      (d) => Deno.writeTextFile(join(d, "out"), "a file"),
      (d) => ["--out", join(d, "out"), "--resume"],
      /--out|exists|file/,
    );
    pr(
      "prune --out equal to the model folder",
      async () => {},
      (d) => ["--out", join(d, "m")],
      /--out|model/,
    );
    pr(
      "prune --out inside the model folder",
      async () => {},
      (d) => ["--out", join(d, "m", "pruned")],
      /--out|model/,
    );
    pr(
      "prune --out with a trailing slash onto the model",
      async () => {},
      (d) => ["--out", join(d, "m") + "/"],
      /--out|model/,
    );
    pr(
      "prune --out under a regular file",
      (d) => Deno.writeTextFile(join(d, "afile"), "x"),
      (d) => ["--out", join(d, "afile", "out")],
      /--out|afile/,
    );
    pr(
      "prune --out on a read-only file system",
      async () => {},
      () => ["--out", "/proc/sprint-out"],
      /--out|\/proc/,
    );
    pr(
      "prune --overwrite onto a model folder",
      async () => {},
      (d) => ["--out", join(d, "m"), "--overwrite"],
      /--out|model/,
    );
    pr(
      "prune --out existing empty folder",
      (d) => Deno.mkdir(join(d, "out")),
      (d) => ["--out", join(d, "out")],
      /--out|exists/,
    );
    pr(
      "prune --overwrite replaces an existing output",
      userFile,
      (d) => ["--out", join(d, "out"), "--overwrite"],
      /x/,
      "ok",
      (d) => async () =>
        (await exists(join(d, "out", "model.safetensors"))) ? null : "no model written",
    );
    pr(
      "prune --calib missing",
      async () => {},
      (d) => ["--out", join(d, "out"), "--calib", join(d, "nope.txt")],
      /nope\.txt/,
    );
    pr(
      "prune --calib is a folder",
      (d) => Deno.mkdir(join(d, "cdir")),
      (d) => ["--out", join(d, "out"), "--calib", join(d, "cdir")],
      /cdir/,
    );
    pr(
      "prune --latency-table missing",
      async () => {},
      (d) => ["--out", join(d, "out"), "--latency-table", join(d, "lat.json")],
      /lat\.json/,
    );
    pr(
      "prune the lock of a live run",
      (d) =>
        Deno.writeTextFile(
          join(d, "out.lock"),
          JSON.stringify({ pid: 1, host: Deno.hostname(), started: new Date().toISOString() }),
        ),
      (d) => ["--out", join(d, "out")],
      /lock|--out/,
      "any",
    );
    // eval / bench / export / tune outputs
    const ev = (
      name: string,
      setup: (d: string) => Promise<void>,
      extra: (d: string) => string[],
      match: RegExp,
      task = "eval",
    ) => {
      const dir = newDir();
      add({
        cls: P,
        name,
        task,
        args: task === "bench"
          ? ["--quick", "--only", "kernels", "--filter", "zzz-none", ...extra(dir)]
          : override(TASK_ARGS[task](dir), extra(dir)),
        expect: "fail",
        match,
        dir,
        setup: async () => {
          if (task !== "bench") await model(dir);
          else await Deno.mkdir(dir, { recursive: true });
          await setup(dir);
        },
      });
    };
    ev(
      "eval --json onto a folder",
      (d) => Deno.mkdir(join(d, "j")),
      (d) => ["--json", join(d, "j")],
      /--json|\/j\b/,
    );
    ev(
      "eval --json in a read-only place",
      async () => {},
      () => ["--json", "/proc/sprint.json"],
      /--json|\/proc/,
    );
    ev(
      "eval --json under a regular file",
      (d) => Deno.writeTextFile(join(d, "f"), "x"),
      (d) => ["--json", join(d, "f", "r.json")],
      /--json|\/f\b/,
    );
    ev(
      "eval --samples onto a folder",
      (d) => Deno.mkdir(join(d, "s")),
      (d) => ["--samples", join(d, "s")],
      /--samples|\/s\b/,
    );
    ev(
      "eval --json into the model folder's config.json",
      async () => {},
      (d) => ["--json", join(d, "m", "config.json")],
      /--json|config\.json|model/,
    );
    ev("eval --baseline missing", async () => {}, (d) => ["--baseline", join(d, "nob")], /nob/);
    ev(
      "eval --data missing",
      async () => {},
      (d) => ["--data", join(d, "nod"), "--tasks", "piqa"],
      /nod|piqa/,
    );
    ev(
      "eval text: task missing",
      async () => {},
      (d) => ["--tasks", `text:${join(d, "none.txt")}`],
      /none\.txt/,
    );
    ev(
      "bench --json onto a folder",
      (d) => Deno.mkdir(join(d, "j")),
      (d) => ["--json", join(d, "j")],
      /--json|\/j\b/,
      "bench",
    );
    ev(
      "bench --json in a read-only place",
      async () => {},
      () => ["--json", "/proc/b.json"],
      /--json|\/proc/,
      "bench",
    );
    ev(
      "export --out existing file",
      (d) => Deno.writeTextFile(join(d, "m.gguf"), "mine"),
      (d) => ["--out", join(d, "m.gguf")],
      /--out|exists|m\.gguf/,
      "export",
    );
    ev(
      "export --out is a folder",
      (d) => Deno.mkdir(join(d, "g")),
      (d) => ["--out", join(d, "g")],
      /--out|\/g\b/,
      "export",
    );
    ev(
      "export --out inside the model folder",
      async () => {},
      (d) => ["--out", join(d, "m", "x.gguf")],
      /--out|model/,
      "export",
    );
    ev(
      "export --out on a read-only file system",
      async () => {},
      () => ["--out", "/proc/x.gguf"],
      /--out|\/proc/,
      "export",
    );
    ev(
      "tune --out existing folder",
      userFile,
      (d) => ["--out", join(d, "out")],
      /--out|exists/,
      "tune",
    );
    ev(
      "tune --out equal to the model",
      async () => {},
      (d) => ["--out", join(d, "m")],
      /--out|model/,
      "tune",
    );
    ev(
      "tune --data missing",
      async () => {},
      (d) => ["--out", join(d, "t2"), "--data", join(d, "nodata.txt")],
      /nodata\.txt/,
      "tune",
    );
    const pre = (
      name: string,
      setup: (d: string) => Promise<void>,
      extra: (d: string) => string[],
      match: RegExp,
    ) => {
      const dir = newDir();
      add({
        cls: P,
        name,
        task: "pretrain",
        args: extra(dir),
        expect: "fail",
        match,
        dir,
        setup: async () => {
          await Deno.mkdir(dir, { recursive: true });
          await setup(dir);
        },
      });
    };
    pre(
      "pretrain --out existing folder",
      userFile,
      (d) => ["--out", join(d, "out"), "--steps", "1"],
      /--out|exists/,
    );
    pre(
      "pretrain --out existing file",
      (d) => Deno.writeTextFile(join(d, "out"), "x"),
      (d) => ["--out", join(d, "out"), "--steps", "1"],
      /--out|exists|file/,
    );
    pre(
      "pretrain --corpus-dir missing",
      async () => {},
      (d) => ["--out", join(d, "o"), "--corpus-dir", join(d, "nocorp"), "--steps", "1"],
      /nocorp|train\.txt/,
    );
    pre(
      "pretrain --corpus-dir with empty train.txt",
      async (d) => {
        await Deno.mkdir(join(d, "corp"));
        await Deno.writeTextFile(join(d, "corp", "train.txt"), "");
        await Deno.writeTextFile(join(d, "corp", "validation.txt"), "x");
      },
      (d) => ["--out", join(d, "o"), "--corpus-dir", join(d, "corp"), "--steps", "1"],
      /train\.txt/,
    );
    pre(
      "compare --out existing file",
      (d) => Deno.writeTextFile(join(d, "cmp"), "x"),
      (d) => ["--out", join(d, "cmp"), "--model", join(d, "nomodel")],
      /--out|--model|cmp|nomodel/,
    );
  }

  if (!haveShared) return cases;

  // ---------------------------------------------------------------- safetensors
  const S = "safetensors";
  const st = (f: (e: Entry[], d: Uint8Array) => Uint8Array) => ({ st: f });
  const mapT = (e: Entry[], name: string, f: (t: TensorInfo) => TensorInfo | null): Entry[] =>
    e.flatMap(([k, v]) => {
      if (k !== name) return [[k, v] as Entry];
      const r = f(structuredClone(v) as TensorInfo);
      return r ? [[k, r] as Entry] : [];
    });
  const EMB = "model.embed_tokens.weight";
  const Q0 = "model.layers.0.self_attn.q_proj.weight";
  const N0 = "model.layers.0.input_layernorm.weight";
  const ST_RE = /model\.safetensors/;
  broken(S, "empty file", { files: { "model.safetensors": new Uint8Array(0) } }, ST_RE, [
    "prune",
    "eval",
    "generate",
    "export",
    "tune",
  ]);
  broken(S, "5-byte file", { files: { "model.safetensors": new Uint8Array(5) } }, ST_RE, [
    "prune",
    "eval",
  ]);
  broken(S, "truncated in the header", st((e, d) => writeSt(e, d).slice(0, 200)), ST_RE, [
    "prune",
    "eval",
    "export",
  ]);
  broken(S, "truncated data", st((e, d) => writeSt(e, d.slice(0, d.length - 1000))), ST_RE, [
    "prune",
    "eval",
    "generate",
    "export",
    "tune",
  ]);
  broken(S, "one byte short", st((e, d) => writeSt(e, d.slice(0, d.length - 1))), ST_RE, [
    "prune",
    "eval",
  ]);
  broken(S, "header length 2^62", st((e, d) => writeSt(e, d, 1n << 62n)), ST_RE, ["prune", "eval"]);
  broken(S, "header not JSON", st((_e, d) => writeSt("{not json", d)), ST_RE, [
    "prune",
    "eval",
    "export",
  ]);
  broken(S, "header is null", st((_e, d) => writeSt("null", d)), ST_RE, ["prune", "eval"]);
  broken(
    S,
    "header invalid UTF-8",
    st((e, d) => {
      const b = writeSt(e, d);
      b[20] = 0xff;
      b[21] = 0xfe;
      return b;
    }),
    ST_RE,
    ["prune", "eval"],
  );
  broken(
    S,
    "unknown dtype",
    st((e, d) => writeSt(mapT(e, Q0, (t) => ({ ...t, dtype: "Q4_K" })), d)),
    /Q4_K|dtype/,
    ["prune", "eval", "generate", "export"],
  );
  broken(
    S,
    "dtype not a string",
    st((e, d) => writeSt(mapT(e, Q0, (t) => ({ ...t, dtype: 32 as unknown as string })), d)),
    /dtype/,
    ["prune", "eval"],
  );
  broken(
    S,
    "offsets out of range",
    st((e, d) =>
      writeSt(
        mapT(
          e,
          Q0,
          (t) => ({
            ...t,
            data_offsets: [d.length, d.length + t.data_offsets[1] - t.data_offsets[0]],
          }),
        ),
        d,
      )
    ),
    /data_offsets|q_proj/,
    ["prune", "eval", "generate", "export"],
  );
  broken(
    S,
    "offsets reversed",
    st((e, d) =>
      writeSt(
        mapT(e, Q0, (t) => ({ ...t, data_offsets: [t.data_offsets[1], t.data_offsets[0]] })),
        d,
      )
    ),
    /data_offsets|q_proj/,
    ["prune", "eval"],
  );
  broken(
    S,
    "negative offset",
    st((e, d) => writeSt(mapT(e, Q0, (t) => ({ ...t, data_offsets: [-4, t.data_offsets[1]] })), d)),
    /data_offsets|q_proj/,
    ["prune", "eval"],
  );
  broken(
    S,
    "overlapping tensors",
    st((e, d) => writeSt(mapT(e, N0, (t) => ({ ...t, data_offsets: [0, 256] })), d)),
    /overlap|data_offsets/,
    ["prune", "eval", "generate", "export"],
  );
  broken(
    S,
    "duplicated tensor name",
    st((e, d) => writeSt([...e, e.find(([k]) => k === N0)!], d)),
    /twice|duplicat|input_layernorm/,
    ["prune", "eval", "generate", "export", "tune"],
  );
  broken(
    S,
    "shape not a list",
    st((e, d) => writeSt(mapT(e, N0, (t) => ({ ...t, shape: "64" as unknown as number[] })), d)),
    /shape|input_layernorm/,
    ["prune", "eval"],
  );
  broken(
    S,
    "fractional dimension",
    st((e, d) => writeSt(mapT(e, N0, (t) => ({ ...t, shape: [32.5, 2] })), d)),
    /shape|input_layernorm/,
    ["prune", "eval"],
  );
  broken(
    S,
    "__metadata__ is a number",
    st((e, d) => writeSt([["__metadata__", 5], ...e.filter(([k]) => k !== "__metadata__")], d)),
    /__metadata__/,
    ["prune", "eval"],
  );
  const nanAt = (val: number, name: string) =>
    st((e, d) => {
      const t = e.find(([k]) => k === name)![1] as TensorInfo;
      const out = d.slice();
      new DataView(out.buffer).setFloat32(t.data_offsets[0] + 8, val, true);
      return writeSt(e, out);
    });
  broken("weights", "NaN weight", nanAt(NaN, Q0), /q_proj|NaN|non-finite/, [
    "prune",
    "eval",
    "generate",
    "export",
    "tune",
  ]);
  broken(
    "weights",
    "+Inf weight",
    nanAt(Infinity, "model.layers.3.mlp.down_proj.weight"),
    /down_proj|Inf|non-finite/,
    ["prune", "eval", "generate", "export"],
  );
  broken(
    "weights",
    "-Inf norm weight",
    nanAt(-Infinity, "model.norm.weight"),
    /model\.norm|Inf|non-finite/,
    ["prune", "eval"],
  );
  broken("weights", "NaN embedding", nanAt(NaN, EMB), /embed_tokens|NaN|non-finite/, [
    "prune",
    "generate",
  ]);
  broken(
    "weights",
    "extra tensor",
    st((e, d) => {
      const extra = new Uint8Array(256);
      return writeSt([...e, ["model.layers.9.extra.weight", {
        dtype: "F32",
        shape: [64],
        data_offsets: [d.length, d.length + 256],
      }]], new Uint8Array([...d, ...extra]));
    }),
    /extra|layers\.9/,
    ["prune", "eval", "generate", "export"],
  );
  broken(
    "weights",
    "missing tensor",
    st((e, d) => writeSt(mapT(e, "model.layers.2.mlp.up_proj.weight", () => null), d)),
    /up_proj|missing/,
    ["prune", "eval", "generate", "export", "tune"],
  );
  broken(
    "weights",
    "wrong shape (transposed)",
    st((e, d) =>
      writeSt(
        mapT(
          e,
          "model.layers.1.mlp.gate_proj.weight",
          (t) => ({ ...t, shape: [t.shape[1], t.shape[0]] }),
        ),
        d,
      )
    ),
    /gate_proj|shape/,
    ["prune", "eval", "generate", "export"],
  );
  broken(
    "weights",
    "wrong dtype for its bytes",
    st((e, d) => writeSt(mapT(e, N0, (t) => ({ ...t, dtype: "F16" })), d)),
    /input_layernorm|F16|data_offsets|span/,
    ["prune", "eval"],
  );
  broken(
    S,
    "model.safetensors is a folder",
    { files: { "model.safetensors": null, "model.safetensors/x": "x" } },
    ST_RE,
    ["prune", "eval", "generate", "export", "tune"],
  );
  broken(S, "model.safetensors missing", { files: { "model.safetensors": null } }, ST_RE, [
    "prune",
    "eval",
    "generate",
  ]);
  {
    // a symlinked checkpoint outside the model folder
    for (const t of ["prune", "eval"]) {
      const dir = newDir();
      add({
        cls: "shards",
        name: `model.safetensors is a symlink outside the folder (${t})`,
        task: t,
        args: TASK_ARGS[t](dir),
        expect: "fail",
        match: /model\.safetensors|symlink|outside/,
        heavy: true,
        dir,
        setup: async () => {
          const m = await model(dir);
          await Deno.rename(join(m, "model.safetensors"), join(dir, "outside.safetensors"));
          await Deno.symlink(join(dir, "outside.safetensors"), join(m, "model.safetensors"));
        },
      });
    }
  }

  // ---------------------------------------------------------------- shard indexes
  const SH = "shards";
  const sharded = (
    name: string,
    weightMap: (names: string[]) => Record<string, string> | unknown,
    extra: (dir: string, m: string) => Promise<void>,
    match: RegExp,
    tasks = ["prune", "eval"],
    indexText?: string,
  ) => {
    for (const t of tasks) {
      const dir = newDir();
      add({
        cls: SH,
        name: `${name} (${t})`,
        task: t,
        args: TASK_ARGS[t](dir),
        expect: "fail",
        match,
        heavy: true,
        dir,
        setup: async () => {
          const m = await model(dir);
          const { entries } = await readSt(join(m, "model.safetensors"));
          const names = entries.map(([k]) => k).filter((k) => k !== "__metadata__");
          await Deno.rename(
            join(m, "model.safetensors"),
            join(m, "model-00001-of-00001.safetensors"),
          );
          await Deno.writeTextFile(
            join(m, "model.safetensors.index.json"),
            indexText ?? JSON.stringify({ metadata: {}, weight_map: weightMap(names) }),
          );
          await extra(dir, m);
        },
      });
    }
  };
  const allTo = (file: string, names: string[]) => Object.fromEntries(names.map((k) => [k, file]));
  // a complete, valid checkpoint placed outside the model folder: following it would succeed
  const outsideCopy = async (dir: string, m: string) => {
    await Deno.copyFile(join(m, "model-00001-of-00001.safetensors"), join(dir, "x.safetensors"));
  };
  sharded(
    "index names ../x.safetensors",
    (n) => allTo("../x.safetensors", n),
    outsideCopy,
    /\.\.\/x\.safetensors|outside|index/,
    ["prune", "eval", "generate", "export"],
  );
  sharded(
    "index names an absolute path",
    (n) => allTo("/etc/passwd", n),
    async () => {},
    /\/etc\/passwd|outside|index/,
    ["prune", "eval", "generate"],
  );
  sharded(
    "index names ../../../etc/passwd",
    (n) => allTo("../../../etc/passwd", n),
    async () => {},
    /passwd|outside|index/,
    ["prune", "eval"],
  );
  sharded(
    "index shard is a symlink escaping the folder",
    (n) => allTo("s.safetensors", n),
    async (dir, m) => {
      await outsideCopy(dir, m);
      await Deno.symlink(join(dir, "x.safetensors"), join(m, "s.safetensors"));
    },
    /s\.safetensors|symlink|outside/,
    ["prune", "eval", "export"],
  );
  sharded(
    "index names a missing shard",
    (n) => ({
      ...allTo("model-00001-of-00001.safetensors", n),
      [n[3]]: "model-00002-of-00002.safetensors",
    }),
    async () => {},
    /00002|missing|index/,
    ["prune", "eval", "generate"],
  );
  sharded(
    "index is not JSON",
    () => ({}),
    async () => {},
    /index\.json/,
    ["prune", "eval"],
    "{oops",
  );
  sharded("index weight_map missing", () => undefined, async () => {}, /weight_map|index\.json/, [
    "prune",
    "eval",
  ]);
  sharded(
    "index weight_map value not a string",
    (n) => ({ ...allTo("model-00001-of-00001.safetensors", n), [n[0]]: 7 }),
    async () => {},
    /weight_map|index\.json/,
    ["prune", "eval"],
  );
  sharded(
    "index omits a tensor the shard has",
    (n) => allTo("model-00001-of-00001.safetensors", n.slice(1)),
    async () => {},
    /index|weight_map|embed|not listed|missing/,
    ["prune", "eval"],
  );
  sharded(
    "index lists a tensor the shard lacks",
    (n) => ({
      ...allTo("model-00001-of-00001.safetensors", n),
      "model.layers.0.bogus.weight": "model-00001-of-00001.safetensors",
    }),
    async () => {},
    /bogus|index/,
    ["prune", "eval"],
  );
  sharded(
    "index shard name is a folder",
    (n) => allTo("sub", n),
    async (_d, m) => void await Deno.mkdir(join(m, "sub")),
    /sub|index/,
    ["prune"],
  );

  // ---------------------------------------------------------------- config.json
  const C = "config";
  const cfg = (
    name: string,
    f: (c: Record<string, unknown>) => unknown,
    match: RegExp,
    tasks?: string[],
  ) => broken(C, name, { config: f }, match, tasks);
  cfg("missing hidden_size", (c) => void delete c.hidden_size, /hidden_size/);
  cfg("hidden_size is a string", (c) => void (c.hidden_size = "64"), /hidden_size/, [
    "prune",
    "eval",
  ]);
  cfg("hidden_size negative", (c) => void (c.hidden_size = -64), /hidden_size/, ["prune", "eval"]);
  cfg("hidden_size 0", (c) => void (c.hidden_size = 0), /hidden_size/, ["prune"]);
  cfg("hidden_size 1e9 (huge)", (c) => void (c.hidden_size = 1e9), /hidden_size/, [
    "prune",
    "eval",
  ]);
  cfg("hidden_size 63.5", (c) => void (c.hidden_size = 63.5), /hidden_size/, ["prune"]);
  cfg("num_hidden_layers 0", (c) => void (c.num_hidden_layers = 0), /num_hidden_layers/, [
    "prune",
    "eval",
  ]);
  cfg("num_hidden_layers 1e6", (c) => void (c.num_hidden_layers = 1e6), /num_hidden_layers/, [
    "prune",
  ]);
  cfg(
    "num_hidden_layers fewer than the weights",
    (c) => void (c.num_hidden_layers = 4),
    /layers|num_hidden_layers|unaccounted|config/,
    ["prune", "eval", "generate"],
  );
  cfg(
    "num_hidden_layers more than the weights",
    (c) => void (c.num_hidden_layers = 6),
    /layers\.5|missing|num_hidden_layers/,
    ["prune", "eval"],
  );
  cfg("vocab_size 0", (c) => void (c.vocab_size = 0), /vocab_size/, ["prune", "eval"]);
  cfg(
    "vocab_size mismatching the embedding",
    (c) => void (c.vocab_size = 500),
    /vocab_size|embed_tokens|shape/,
    ["prune", "eval", "generate"],
  );
  cfg(
    "intermediate_size mismatching the weights",
    (c) => void (c.intermediate_size = 100),
    /intermediate_size|shape|mlp/,
    ["prune", "eval"],
  );
  cfg(
    "max_position_embeddings 1e12",
    (c) => void (c.max_position_embeddings = 1e12),
    /max_position_embeddings/,
    ["prune", "eval", "generate"],
  );
  cfg(
    "max_position_embeddings 0",
    (c) => void (c.max_position_embeddings = 0),
    /max_position_embeddings/,
    ["prune", "generate"],
  );
  // null is read as "not given" (the Hugging Face default of 2048), like a missing field
  broken(
    C,
    "max_position_embeddings null",
    { config: (c) => void (c.max_position_embeddings = null) },
    /max_position_embeddings/,
    ["prune"],
    "any",
  );
  cfg(
    "unsupported architecture (gpt2)",
    (c) => {
      c.model_type = "gpt2";
      c.architectures = ["GPT2LMHeadModel"];
    },
    /gpt2|model_type|architecture/,
    ["prune", "eval", "generate", "export"],
  );
  cfg(
    "architectures not a list",
    (c) => void (c.architectures = "LlamaForCausalLM"),
    /architectures/,
    ["prune"],
  );
  cfg(
    "heads do not divide hidden",
    (c) => {
      c.num_attention_heads = 7;
      delete c.head_dim;
    },
    /num_attention_heads|hidden_size|head/,
    ["prune", "eval", "generate"],
  );
  cfg(
    "kv heads do not divide heads",
    (c) => void (c.num_key_value_heads = 3),
    /num_key_value_heads/,
    ["prune", "eval"],
  );
  cfg("num_key_value_heads 0", (c) => void (c.num_key_value_heads = 0), /num_key_value_heads/, [
    "prune",
  ]);
  cfg("head_dim inconsistent", (c) => void (c.head_dim = 16), /head_dim|shape|q_proj/, [
    "prune",
    "eval",
  ]);
  cfg(
    "rope_scaling unknown type",
    (c) => void (c.rope_scaling = { type: "yarn", factor: 4 }),
    /rope_scaling/,
    ["prune", "eval", "generate"],
  );
  cfg(
    "rope_scaling factor negative",
    (c) => void (c.rope_scaling = { rope_type: "linear", factor: -2 }),
    /rope_scaling|factor/,
    ["prune", "eval"],
  );
  cfg("rope_scaling is a string", (c) => void (c.rope_scaling = "linear"), /rope_scaling/, [
    "prune",
  ]);
  cfg("rope_theta negative", (c) => void (c.rope_theta = -1), /rope_theta/, ["prune", "eval"]);
  cfg("rms_norm_eps is a string", (c) => void (c.rms_norm_eps = "1e-5"), /rms_norm_eps/, ["prune"]);
  cfg("rms_norm_eps negative", (c) => void (c.rms_norm_eps = -1), /rms_norm_eps/, ["prune"]);
  cfg(
    'tie_word_embeddings "yes"',
    (c) => void (c.tie_word_embeddings = "yes"),
    /tie_word_embeddings/,
    ["prune", "eval"],
  );
  cfg(
    "tie_word_embeddings false without lm_head",
    (c) => void (c.tie_word_embeddings = false),
    /lm_head|tie_word_embeddings/,
    ["prune", "eval", "generate"],
  );
  cfg("hidden_act gelu", (c) => void (c.hidden_act = "gelu"), /hidden_act/, ["prune", "eval"]);
  cfg(
    "attention_bias true without biases",
    (c) => void (c.attention_bias = true),
    /attention_bias|bias/,
    ["prune"],
  );
  const nas = (blocks: unknown) => (c: Record<string, unknown>) => {
    c.model_type = "nemotron-nas";
    c.architectures = ["DeciLMForCausalLM"];
    c.block_configs = blocks;
  };
  const blk = (a: boolean, f: boolean) => ({ attention: { no_op: a }, ffn: { no_op: f } });
  cfg("block_configs wrong length", nas([blk(false, false)]), /block_configs/, ["prune", "eval"]);
  cfg(
    "block_configs no_op a string",
    nas(Array.from({ length: 5 }, () => ({ attention: { no_op: "yes" }, ffn: { no_op: false } }))),
    /no_op/,
    ["prune"],
  );
  cfg(
    "block_configs every sublayer no_op",
    nas(Array.from({ length: 5 }, () => blk(true, true))),
    /no_op|unexpected tensor|block_configs/,
    ["prune", "eval"],
  );
  cfg(
    "no_op marks a sublayer whose weights are present",
    nas([blk(true, false), ...Array.from({ length: 4 }, () => blk(false, false))]),
    /unexpected tensor|no_op/,
    ["prune", "generate"],
  );
  cfg("config is an array", () => [1, 2], /config\.json/, ["prune", "eval", "generate"]);
  broken(C, "config not JSON", { configText: '{"hidden_size": 64,' }, /config\.json/, [
    "prune",
    "eval",
    "generate",
    "export",
    "tune",
  ]);
  broken(C, "config empty file", { configText: "" }, /config\.json/, ["prune", "eval"]);
  broken(C, "config missing", { configText: null }, /config\.json/, [
    "prune",
    "eval",
    "generate",
    "export",
  ]);
  broken(
    C,
    "config is a folder",
    { configText: null, files: { "config.json/x": "x" } },
    /config\.json/,
    ["prune", "eval"],
  );

  // ---------------------------------------------------------------- tokenizer
  const T = "tokenizer";
  broken(T, "tokenizer.json missing", { tokText: null }, /tokenizer\.json|tokenizer/, [
    "prune",
    "eval",
    "generate",
    "export",
  ]);
  broken(T, "tokenizer.json not JSON", { tokText: '{"model": ' }, /tokenizer\.json/, [
    "prune",
    "eval",
    "generate",
    "export",
  ]);
  broken(T, "tokenizer.json empty", { tokText: "" }, /tokenizer\.json/, ["prune", "generate"]);
  broken(
    T,
    "tokenizer.json is a folder",
    { tokText: null, files: { "tokenizer.json/x": "x" } },
    /tokenizer\.json/,
    ["prune", "generate"],
  );
  broken(
    T,
    "vocab id ≥ vocab_size",
    {
      tok: (t) => {
        (t.model as { vocab: Record<string, number> }).vocab["zzz"] = 600;
      },
    },
    /tokenizer\.json|vocab_size|600/,
    ["prune", "eval", "generate", "export"],
  );
  broken(
    T,
    "added token id ≥ vocab_size",
    {
      tok: (t) =>
        void (t.added_tokens as unknown[]).push({
          id: 9999,
          content: "<x>",
          special: true,
          single_word: false,
          lstrip: false,
          rstrip: false,
          normalized: false,
        }),
    },
    /tokenizer\.json|9999|vocab_size/,
    ["prune", "eval", "generate"],
  );
  broken(
    T,
    "config vocab_size smaller than the tokenizer (embedding cut)",
    {
      config: (c) => void (c.vocab_size = 256),
      st: (e, d) => {
        // cut the embedding to 256 rows, keeping offsets consistent
        const emb = e.find(([k]) => k === EMB)![1] as TensorInfo;
        const cut = 256 * 64 * 4;
        const removed = emb.data_offsets[1] - emb.data_offsets[0] - cut;
        const out = new Uint8Array(d.length - removed);
        out.set(d.subarray(0, emb.data_offsets[0] + cut), 0);
        out.set(d.subarray(emb.data_offsets[1]), emb.data_offsets[0] + cut);
        const ents = e.map(([k, v]) => {
          if (k === "__metadata__") return [k, v] as Entry;
          const t = structuredClone(v) as TensorInfo;
          if (k === EMB) {
            t.shape = [256, 64], t.data_offsets = [t.data_offsets[0], t.data_offsets[0] + cut];
          } else if (t.data_offsets[0] >= emb.data_offsets[1]) {
            t.data_offsets = [t.data_offsets[0] - removed, t.data_offsets[1] - removed];
          }
          return [k, t] as Entry;
        });
        return writeSt(ents, out);
      },
    },
    /tokenizer\.json|vocab_size/,
    ["prune", "eval", "generate", "export"],
  );
  broken(
    T,
    "unknown tokenizer model type",
    { tok: (t) => void ((t.model as Record<string, unknown>).type = "Unigram2") },
    /tokenizer\.json|Unigram2|type/,
    ["prune", "generate"],
  );
  broken(
    T,
    "vocab not an object",
    { tok: (t) => void ((t.model as Record<string, unknown>).vocab = [1, 2]) },
    /tokenizer\.json|vocab/,
    ["prune", "generate"],
  );
  broken(
    T,
    "merges not a list",
    { tok: (t) => void ((t.model as Record<string, unknown>).merges = 5) },
    /tokenizer\.json|merges/,
    ["prune", "generate"],
  );

  // ---------------------------------------------------------------- calibration text
  const CA = "calibration";
  const calib = (
    name: string,
    content: string | Uint8Array | null,
    match: RegExp,
    tasks = ["prune", "eval", "tune"],
    expect: SweepExpect = "fail",
  ) => {
    for (const t of tasks) {
      const dir = newDir();
      const file = join(dir, "cal.txt");
      let args: string[];
      if (t === "prune") args = override(pruneArgs(dir), ["--calib", file]);
      else if (t === "eval") args = override(evalArgs(dir), ["--tasks", `text:${file}`]);
      else args = override(tuneArgs(dir), ["--data", file]);
      add({
        cls: CA,
        name: `${name} (${t})`,
        task: t,
        args,
        expect,
        match,
        heavy: true,
        dir,
        setup: async () => {
          await model(dir);
          if (typeof content === "string") await Deno.writeTextFile(file, content);
          else if (content) await Deno.writeFile(file, content);
        },
      });
    }
  };
  const bin = new Uint8Array(4096).map((_, i) => (i * 37) % 256);
  calib("binary (NUL bytes)", bin, /cal\.txt/);
  calib(
    "invalid UTF-8",
    new Uint8Array([
      ...enc.encode("Once upon a time "),
      0xc3,
      0x28,
      0xff,
      0xfe,
      ...enc.encode(" there was").slice(),
      ...new Array(3000).fill(0x61),
    ]),
    /cal\.txt/,
  );
  calib("empty", "", /cal\.txt/);
  calib("whitespace only", "   \n\n\t  \n", /cal\.txt/);
  calib("one token", "a", /cal\.txt/, ["prune", "tune"]);
  // eval: BOS + one token is one scored position, a (poor but) well-defined perplexity
  calib("one token", "a", /cal\.txt/, ["eval"], "any");
  calib(
    "UTF-16 text",
    new Uint8Array([
      0xff,
      0xfe,
      ...[...("Once upon a time ".repeat(200))].flatMap((ch) => [ch.charCodeAt(0), 0]),
    ]),
    /cal\.txt/,
    ["prune", "eval"],
  );
  calib(
    "a gzip file",
    new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, ...bin.slice(0, 500)]),
    /cal\.txt/,
    ["prune"],
  );
  calib("UTF-8 BOM then text (valid)", "\ufeff" + calibText, /x/, ["prune", "eval"], "ok");

  // ---------------------------------------------------------------- benchmark JSONL
  const B = "bench-data";
  const benchCase = (
    name: string,
    task: string,
    file: string,
    content: string | null,
    match: RegExp,
    expect: SweepExpect = "fail",
  ) => {
    const dir = newDir();
    const data = join(dir, "data");
    add({
      cls: B,
      name: `${task}: ${name}`,
      task: "eval",
      args: ["--model", join(dir, "m"), "--data", data, "--tasks", task, "--limit", "3", "--quiet"],
      expect,
      match,
      heavy: true,
      dir,
      setup: async () => {
        await model(dir);
        await Deno.mkdir(join(data, "bench"), { recursive: true });
        if (content !== null) {
          await Deno.mkdir(dirname(join(data, "bench", file)), { recursive: true });
          await Deno.writeTextFile(join(data, "bench", file), content);
        }
      },
    });
  };
  const piqa = (o: unknown) => JSON.stringify(o);
  const good = piqa({
    query: "Question: How do I open a jar?\n",
    choices: ["twist the lid", "eat it"],
    gold: 0,
  });
  benchCase("file missing", "piqa", "piqa.jsonl", null, /piqa\.jsonl/);
  benchCase("empty file", "piqa", "piqa.jsonl", "", /piqa\.jsonl/);
  benchCase("only blank lines", "piqa", "piqa.jsonl", "\n\n\n", /piqa\.jsonl/);
  benchCase(
    "a line not JSON",
    "piqa",
    "piqa.jsonl",
    `${good}\n{oops\n${good}\n`,
    /piqa\.jsonl.*(line 2|:2)/,
  );
  benchCase("a line is an array", "piqa", "piqa.jsonl", `${good}\n[1,2]\n`, /piqa\.jsonl/);
  benchCase(
    "missing gold",
    "piqa",
    "piqa.jsonl",
    piqa({ query: "q", choices: ["a", "b"] }),
    /piqa\.jsonl.*gold/,
  );
  benchCase(
    "missing choices",
    "piqa",
    "piqa.jsonl",
    piqa({ query: "q", gold: 0 }),
    /piqa\.jsonl.*choices/,
  );
  benchCase(
    "missing query",
    "piqa",
    "piqa.jsonl",
    piqa({ choices: ["a", "b"], gold: 0 }),
    /piqa\.jsonl.*query/,
  );
  benchCase(
    "gold out of range",
    "piqa",
    "piqa.jsonl",
    piqa({ query: "q", choices: ["a", "b"], gold: 2 }),
    /piqa\.jsonl.*gold/,
  );
  benchCase(
    "gold negative",
    "piqa",
    "piqa.jsonl",
    piqa({ query: "q", choices: ["a", "b"], gold: -1 }),
    /piqa\.jsonl.*gold/,
  );
  benchCase(
    "gold a string",
    "piqa",
    "piqa.jsonl",
    piqa({ query: "q", choices: ["a", "b"], gold: "0" }),
    /piqa\.jsonl.*gold/,
  );
  benchCase(
    "gold 0.5",
    "piqa",
    "piqa.jsonl",
    piqa({ query: "q", choices: ["a", "b"], gold: 0.5 }),
    /piqa\.jsonl.*gold/,
  );
  benchCase(
    "choices empty",
    "piqa",
    "piqa.jsonl",
    piqa({ query: "q", choices: [], gold: 0 }),
    /piqa\.jsonl.*(choices|gold)/,
  );
  benchCase(
    "choices not strings",
    "piqa",
    "piqa.jsonl",
    piqa({ query: "q", choices: [1, 2], gold: 0 }),
    /piqa\.jsonl.*choices/,
  );
  benchCase(
    "duplicated lines (valid)",
    "piqa",
    "piqa.jsonl",
    `${good}\n${good}\n${good}\n`,
    /x/,
    "ok",
  );
  benchCase("binary file", "piqa", "piqa.jsonl", "\u0000\u0001\u0002garbage\u0000", /piqa\.jsonl/);
  benchCase(
    "arc gold out of range",
    "arc_easy",
    "arc_easy.jsonl",
    piqa({ query: "Question: q", choices: ["a", "b", "c", "d"], gold: 4 }),
    /arc_easy\.jsonl.*gold/,
  );
  benchCase(
    "boolq missing choices",
    "boolq",
    "boolq.jsonl",
    piqa({ query: "Passage: p\nQuestion: q?", gold: 1 }),
    /boolq\.jsonl.*choices/,
  );
  benchCase(
    "winogrande missing continuation",
    "winogrande",
    "winogrande.jsonl",
    piqa({ context_options: ["a", "b"], gold: 0 }),
    /winogrande\.jsonl.*continuation/,
  );
  benchCase(
    "winogrande gold out of range",
    "winogrande",
    "winogrande.jsonl",
    piqa({ context_options: ["a", "b"], continuation: "c", gold: 5 }),
    /winogrande\.jsonl.*gold/,
  );
  benchCase(
    "lambada missing context",
    "lambada",
    "lambada_openai.jsonl",
    piqa({ continuation: "end" }),
    /lambada_openai\.jsonl.*context/,
  );
  benchCase(
    "lambada empty continuation",
    "lambada",
    "lambada_openai.jsonl",
    piqa({ context: "The end of the", continuation: "" }),
    /lambada_openai\.jsonl.*continuation/,
  );
  benchCase(
    "hellaswag truncated item",
    "hellaswag",
    "hellaswag_val.txt",
    "activity: ctx\n0\nend one\nend two\n",
    /hellaswag_val\.txt/,
  );
  benchCase(
    "hellaswag gold not a number",
    "hellaswag",
    "hellaswag_val.txt",
    "activity: ctx\nx\na\nb\nc\nd\n",
    /hellaswag_val\.txt/,
  );
  benchCase(
    "hellaswag gold out of range",
    "hellaswag",
    "hellaswag_val.txt",
    "activity: ctx\n7\na\nb\nc\nd\n",
    /hellaswag_val\.txt/,
  );
  benchCase("hellaswag empty", "hellaswag", "hellaswag_val.txt", "", /hellaswag_val\.txt/);
  benchCase(
    "openbook file is a folder",
    "openbookqa",
    "openbook_qa.jsonl/x",
    "x",
    /openbook_qa\.jsonl/,
  );

  // ---------------------------------------------------------------- latency tables
  const L = "latency";
  const lat = (
    name: string,
    table: string,
    match: RegExp,
    extra: string[] = ["--num-sublayers", "1"],
    expect: SweepExpect = "fail",
    after?: (dir: string) => (r: RunResult) => Promise<string | null>,
  ) => {
    const dir = newDir();
    const file = join(dir, "lat.json");
    add({
      cls: L,
      name,
      task: "prune",
      args: override(
        override(
          pruneArgs(dir).filter((a) =>
            a !== "--no-latency-aware" && !(a === "--no-tuning" && extra.includes("sleb"))
          ),
          ["--num-sublayers", "0"],
        )
          .slice(0, -2),
        [
          "--latency-table",
          file,
          ...extra,
        ],
      ),
      expect,
      match,
      heavy: true,
      dir,
      setup: async () => {
        await model(dir);
        await Deno.writeTextFile(file, table);
      },
      after: after?.(dir),
    });
  };
  const LT = /lat\.json/;
  lat("attention null", `{"attention":null,"mlp":1,"dense":20}`, /lat\.json.*attention/);
  lat("mlp negative", `{"attention":1,"mlp":-1,"dense":20}`, /lat\.json.*mlp/);
  lat("mlp zero", `{"attention":1,"mlp":0,"dense":20}`, /lat\.json.*mlp/);
  lat(
    "attention huge (1e300)",
    `{"attention":1e300,"mlp":1,"dense":1e301}`,
    /lat\.json.*attention/,
  );
  lat("attention a string", `{"attention":"1","mlp":1,"dense":20}`, /lat\.json.*attention/);
  lat("dense a string", `{"attention":1,"mlp":1,"dense":"20"}`, /lat\.json.*dense/);
  lat("dense negative", `{"attention":1,"mlp":1,"dense":-3}`, /lat\.json.*dense/);
  lat(
    "dense < Σ sublayers (reported, not clamped silently)",
    `{"attention":1,"mlp":1,"dense":3}`,
    /x/,
    ["--num-sublayers", "1"],
    "ok",
    (dir) => async (r) => {
      const t = JSON.parse(await Deno.readTextFile(join(dir, "out", "latency.json")));
      const log = await Deno.readTextFile(join(dir, "out", "prune_log.json"));
      if (!/dense .* < Σ sublayers/.test(r.stderr)) return "no warning on stderr";
      if (!(t.warnings?.length > 0) || !(t.fixedCost < 0)) return "latency.json has no warning";
      return log.includes("Σ sublayers") ? null : "prune_log.json has no warning";
    },
  );
  lat("not JSON", `{"attention":1,`, LT);
  lat("empty file", ``, LT);
  lat("an array", `[1,2]`, LT);
  lat("missing mlp", `{"attention":1,"dense":20}`, /lat\.json.*mlp/);
  lat(
    "probeBlocks out of range",
    `{"attention":1,"mlp":1,"dense":20,"probeBlocks":[99]}`,
    /lat\.json.*probeBlocks/,
  );
  lat(
    "valid table (control)",
    `{"attention":1,"mlp":2,"dense":20}`,
    /x/,
    ["--num-sublayers", "1"],
    "ok",
  );
  lat(
    "--target-speedup 100 unreachable",
    `{"attention":1,"mlp":2,"dense":20}`,
    /--target-speedup.*largest reachable/,
    ["--target-speedup", "100"],
  );
  lat(
    "--target-speedup just above reachable",
    `{"attention":1,"mlp":2,"dense":20}`,
    /--target-speedup.*largest reachable/,
    ["--target-speedup", "3.4"],
  );
  lat(
    "--num-sublayers 999",
    `{"attention":1,"mlp":2,"dense":20}`,
    /--num-sublayers.*largest reachable/,
    ["--num-sublayers", "999"],
  );
  lat(
    "--num-sublayers 10 (all)",
    `{"attention":1,"mlp":2,"dense":20}`,
    /--num-sublayers.*largest reachable/,
    ["--num-sublayers", "10"],
  );
  lat(
    "sleb --num-sublayers 8 (first and last blocks stay)",
    `{"attention":1,"mlp":2,"dense":20}`,
    /--num-sublayers.*largest reachable/,
    ["--num-sublayers", "8", "--method", "sleb"],
  );
  lat(
    "--no-latency-aware --num-sublayers 999",
    `{"attention":1,"mlp":2,"dense":20}`,
    /--num-sublayers.*largest reachable/,
    ["--num-sublayers", "999", "--no-latency-aware"],
  );

  // ---------------------------------------------------------------- generate past the context
  const G = "generate";
  const gen = (
    name: string,
    args: (d: string) => string[],
    match: RegExp,
    expect: SweepExpect = "fail",
    mut: Parameters<typeof model>[1] = {},
  ) => {
    const dir = newDir();
    add({
      cls: G,
      name,
      task: "generate",
      args: ["--model", join(dir, "m"), ...args(dir)],
      expect,
      match,
      heavy: true,
      dir,
      setup: async () => void await model(dir, mut),
    });
  };
  gen(
    "--max-new-tokens past the context",
    () => ["--max-new-tokens", "100000"],
    /--max-new-tokens.*largest allowed/,
  );
  gen(
    "--max-new-tokens exactly the context",
    () => ["--max-new-tokens", "512"],
    /--max-new-tokens/,
  );
  gen(
    "prompt longer than the context",
    () => ["--prompt", "Once upon a time ".repeat(400), "--max-new-tokens", "1"],
    /--prompt|--max-new-tokens|positions/,
  );
  gen("small context (config 16)", () => ["--max-new-tokens", "40"], /--max-new-tokens/, "fail", {
    config: (c) => void (c.max_position_embeddings = 16),
  });
  gen("empty prompt", () => ["--prompt", "", "--max-new-tokens", "4"], /--prompt/, "any");
  gen(
    "prompt with invalid characters (lone surrogate)",
    () => ["--prompt", "a\udc00b", "--max-new-tokens", "2"],
    /--prompt/,
    "any",
  );
  gen("--max-new-tokens 0 (control)", () => ["--max-new-tokens", "0"], /x/, "ok");
  gen(
    "sampling control",
    () => ["--max-new-tokens", "8", "--temperature", "0.8", "--top-p", "0.9", "--seed", "3"],
    /x/,
    "ok",
  );

  // ---------------------------------------------------------------- controls
  const K = "controls";
  for (const t of ["prune", "eval", "generate", "export", "tune"]) {
    const dir = newDir();
    add({
      cls: K,
      name: `stories260K ${t}`,
      task: t,
      args: TASK_ARGS[t](dir),
      expect: "ok",
      heavy: true,
      dir,
      setup: async () => void await model(dir),
      after: () => {
        const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((x) =>
          x.includes("partial") || x.endsWith(".lock") || x.endsWith(".state")
        );
        return Promise.resolve(left.length ? `left behind: ${left.join(", ")}` : null);
      },
    });
  }
  {
    const dir = newDir();
    add({
      cls: K,
      name: "default model eval heldout",
      task: "eval",
      args: ["--tasks", "heldout", "--limit", "2", "--seq-len", "16", "--quiet"],
      expect: "ok",
      heavy: true,
      dir,
      setup: () => Deno.mkdir(dir),
    });
  }

  // ---------------------------------------------------------------- state, resume, concurrency
  const R = "state/resume";
  const run2Args = (dir: string, extra: string[] = []) =>
    override(pruneArgs(dir), ["--num-sublayers", "3", ...extra]);
  const crashed = async (dir: string, at = "step:2", extra: string[] = []) => {
    await model(dir);
    const r = await runTask("prune", run2Args(dir, extra), { SPRINT_TEST_CRASH_AT: at });
    if (r.code === 0 || !(await exists(join(dir, "out.state")))) {
      throw new Error(
        `setup: the crashed run left no state (exit ${r.code}) ${r.stderr.slice(0, 500)}`,
      );
    }
  };
  const resume = (
    name: string,
    corrupt: (dir: string, state: string) => Promise<void>,
    match: RegExp,
    expect: SweepExpect = "fail",
    extra: string[] = [],
    at = "step:2",
  ) => {
    const dir = newDir();
    add({
      cls: R,
      name,
      task: "prune",
      args: override(run2Args(dir), ["--resume", ...extra]),
      expect,
      match,
      heavy: true,
      dir,
      setup: async () => {
        await crashed(dir, at);
        await corrupt(dir, join(dir, "out.state"));
      },
      after: async () => {
        const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((x) =>
          x.includes("partial") || x.endsWith(".lock") || x.endsWith(".state")
        );
        if (left.length) return `left behind: ${left.join(", ")}`;
        return (await exists(join(dir, "out", "model.safetensors"))) ? null : "no model written";
      },
    });
  };
  const STATE = /out\.state/;
  resume("resume an intact state (control)", async () => {}, /x/, "ok");
  resume(
    "resume after a kill between the state write and rename",
    async () => {},
    /x/,
    "ok",
    [],
    "state-written:2",
  );
  resume("resume after a kill during the final save", async () => {}, /x/, "ok", [], "save");
  resume("state truncated to half", async (_d, s) => {
    const b = await Deno.readFile(s);
    await Deno.writeFile(s, b.slice(0, b.length >> 1));
  }, STATE);
  resume("state truncated to 10 bytes", async (_d, s) => {
    const b = await Deno.readFile(s);
    await Deno.writeFile(s, b.slice(0, 10));
  }, STATE);
  resume("state empty", (_d, s) => Deno.writeFile(s, new Uint8Array(0)), STATE);
  resume("state one byte flipped", async (_d, s) => {
    const b = await Deno.readFile(s);
    b[b.length - 100] ^= 0x55;
    await Deno.writeFile(s, b);
  }, STATE);
  resume("state duplicated (concatenated twice)", async (_d, s) => {
    const b = await Deno.readFile(s);
    await Deno.writeFile(s, new Uint8Array([...b, ...b]));
  }, STATE);
  resume("state is {}", (_d, s) => Deno.writeTextFile(s, "{}"), STATE);
  resume("state is null", (_d, s) => Deno.writeTextFile(s, "null"), STATE);
  resume("state is a folder", async (_d, s) => {
    await Deno.remove(s);
    await Deno.mkdir(s);
  }, STATE);
  resume("resume with different settings", async () => {}, /--resume|different|differs/, "fail", [
    "--seed",
    "7",
  ]);
  resume(
    "resume with a different calibration file",
    async (d) => {
      await Deno.writeTextFile(join(d, "cal2.txt"), calibText.slice(100));
    },
    /--resume|different|differs/,
    "fail",
    [],
  );
  resume("resume after the model's weights changed", async (d) => {
    const p = join(d, "m", "model.safetensors");
    const { entries, data } = await readSt(p);
    const t = entries.find(([k]) => k === N0)![1] as TensorInfo;
    new DataView(data.buffer).setFloat32(t.data_offsets[0], 0.123, true);
    await Deno.writeFile(p, writeSt(entries, data));
  }, /--resume|different|differs/);
  resume("resume with the state of another run swapped in", async (d, s) => {
    const other = join(d, "other");
    await Deno.mkdir(other);
    await copyDir(join(d, "m"), join(other, "m"));
    await runTask("prune", run2Args(other, ["--seed", "9"]), { SPRINT_TEST_CRASH_AT: "step:2" });
    await Deno.copyFile(join(other, "out.state"), s);
    await Deno.remove(other, { recursive: true });
  }, /--resume|different|differs/);
  // the different-calibration case must actually use the other file
  const diffCal = cases.find((c) => c.name === "resume with a different calibration file")!;
  diffCal.args = diffCal.args.map((a) => (a === baseCalib ? join(diffCal.dir, "cal2.txt") : a));
  {
    const dir = newDir();
    add({
      cls: R,
      name: "rerun without --resume over a leftover state",
      task: "prune",
      args: run2Args(dir),
      expect: "fail",
      match: /out\.state|--resume|--overwrite/,
      heavy: true,
      dir,
      setup: () => crashed(dir),
    });
  }
  {
    const dir = newDir();
    add({
      cls: R,
      name: "--resume of a finished run reports done",
      task: "prune",
      args: [...pruneArgs(dir), "--resume"],
      expect: "ok",
      heavy: true,
      dir,
      setup: async () => {
        await model(dir);
        const r = await runTask("prune", pruneArgs(dir));
        if (r.code !== 0) throw new Error(`setup prune failed: ${r.stderr}`);
      },
    });
  }
  for (const k of [0, 1]) {
    const dir = newDir();
    add({
      cls: R,
      name: `two concurrent runs into one --out (${k === 0 ? "same" : "different"} settings)`,
      task: "prune",
      args: [],
      expect: "ok",
      heavy: true,
      dir,
      setup: async () => void await model(dir),
      custom: async () => {
        const [a, b] = await Promise.all([
          runTask("prune", pruneArgs(dir)),
          runTask("prune", pruneArgs(dir, k ? ["--seed", "5"] : [])),
        ]);
        const codes = [a.code, b.code].sort();
        if (codes[0] !== 0 || codes[1] !== 2) {
          return `exits ${a.code}/${b.code}: ${a.stderr.slice(0, 300)} | ${b.stderr.slice(0, 300)}`;
        }
        const loser = a.code === 2 ? a : b;
        const why = cleanLine(loser.stderr, /--out|lock|exists|running/);
        if (why) return `loser: ${why}`;
        const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((x) =>
          x.includes("partial") || x.endsWith(".lock") || x.endsWith(".state")
        );
        if (left.length) return `left behind: ${left.join(", ")}`;
        return (await exists(join(dir, "out", "model.safetensors"))) ? null : "no model";
      },
    });
  }
  void sentinel;
  return cases;
}

/** Lines the GPU driver itself prints (lavapipe's conformance warning), not the toolkit. */
export function isDriverNoise(line: string): boolean {
  return /^WARNING: lavapipe is not a conformant vulkan implementation/.test(line) ||
    /^MESA: /.test(line);
}

/** `null` when `stderr` is one clean `error: ` line matching `match`, else why not. */
export function cleanLine(stderr: string, match?: RegExp): string | null {
  if (/^\s+at /m.test(stderr) || stderr.includes("Uncaught")) {
    return `stack trace: ${stderr.slice(0, 600)}`;
  }
  const lines = stderr.split("\n").filter((l) => l.trim() !== "" && !isDriverNoise(l));
  if (lines.length !== 1) return `${lines.length} stderr lines: ${stderr.slice(0, 600)}`;
  if (!lines[0].startsWith("error: ")) return `not an error line: ${lines[0]}`;
  if (match && !match.test(lines[0])) return `${JSON.stringify(lines[0])} !~ ${match}`;
  return null;
}

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** A recursive listing (name, size, mtime) of `dir`, to tell whether a run changed anything. */
export async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string, rel: string) => {
    let it: AsyncIterable<Deno.DirEntry>;
    try {
      it = Deno.readDir(d);
    } catch {
      return;
    }
    for await (const e of it) {
      const p = join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      const s = await Deno.lstat(p);
      // folders by name only (a writability probe touches their mtime), files by size and mtime
      out.set(r, s.isDirectory ? "d" : `${s.size}:${s.mtime?.getTime()}`);
      if (s.isDirectory) await walk(p, r);
    }
  };
  if (await exists(dir)) await walk(dir, "");
  return out;
}

/** Runs one case; `null` when it behaved, else what went wrong. */
export async function runCase(c: SweepCase): Promise<string | null> {
  if (c.setup) {
    try {
      await c.setup();
    } catch (e) {
      return `setup failed: ${(e as Error).message}`;
    }
  }
  if (c.custom) return await c.custom();
  const before = await snapshot(c.dir);
  const r = await runTask(c.task, c.args, c.env);
  if (r.timedOut) return "timed out";
  const clean = cleanLine(r.stderr, c.match);
  if (r.code === 2 && (c.expect === "fail" || c.expect === "any")) {
    if (clean) return `exit 2 but ${clean}`;
    const after = await snapshot(c.dir);
    // A stale lock of a killed run (setup) may be reclaimed; anything else must be untouched.
    const diff = [...new Set([...before.keys(), ...after.keys()])].filter((k) =>
      before.get(k) !== after.get(k) && !(k.endsWith(".lock") && !after.has(k))
    );
    if (diff.length) return `changed the case folder: ${diff.slice(0, 5).join(", ")}`;
    return null;
  }
  if (r.code === 0 && (c.expect === "ok" || c.expect === "any")) {
    if (/^\s+at /m.test(r.stderr) || r.stderr.includes("Uncaught")) return "stack trace on success";
    return c.after ? await c.after(r) : null;
  }
  return `exit ${r.code} (expected ${c.expect}): ${r.stderr.slice(0, 800)}`;
}
