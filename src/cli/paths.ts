/**
 * Path checks a command runs before it loads a model or starts a search: a model directory with a
 * config.json, a readable input file, an output file that is not a folder and whose folder is
 * writable, an output directory whose parent is writable. Each failure is a one-line
 * {@link ToolkitError} naming the flag and the path.
 *
 * @module
 */
import { basename, dirname, join, resolve, sep } from "node:path";
import { ToolkitError } from "../errors.ts";

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw new ToolkitError(`${path}: cannot be inspected (${(e as Error).message})`);
  }
}

/**
 * Checks that `dir` is a Hugging Face model directory (a folder with a config.json).
 * `given` false: the default model was meant, which the message says.
 *
 * @example
 * ```ts
 * import { checkModelDir } from "./paths.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/config.json`, "{}");
 * await checkModelDir(dir, true);
 * ```
 */
export async function checkModelDir(dir: string, given: boolean, flag = "--model"): Promise<void> {
  const st = await statOrUndefined(dir);
  if (st?.isDirectory) {
    const cfg = await statOrUndefined(join(dir, "config.json"));
    if (cfg?.isFile) return;
  }
  if (!given) {
    throw new ToolkitError(
      `no ${flag} given and the embedded default model (${dir}) is not there yet; pass ${flag} DIR` +
        " (e.g. --model ../shared/data/models/stories260K-hf)",
    );
  }
  if (!st) throw new ToolkitError(`${flag} ${dir}: model directory not found`);
  if (!st.isDirectory) throw new ToolkitError(`${flag} ${dir}: not a directory`);
  throw new ToolkitError(
    `${flag} ${dir}: no config.json (expected a Hugging Face model directory)`,
  );
}

/**
 * Checks that `path` is a readable regular file.
 *
 * @example
 * ```ts
 * import { checkReadableFile } from "./paths.ts";
 * const f = await Deno.makeTempFile();
 * await checkReadableFile(f, "--calib");
 * ```
 */
export async function checkReadableFile(path: string, flag: string): Promise<void> {
  const st = await statOrUndefined(path);
  if (!st) throw new ToolkitError(`${flag} ${path}: file not found`);
  if (!st.isFile) throw new ToolkitError(`${flag} ${path}: not a regular file`);
  try {
    (await Deno.open(path, { read: true })).close();
  } catch (e) {
    throw new ToolkitError(`${flag} ${path}: cannot be read (${(e as Error).message})`);
  }
}

/**
 * Checks that `dir` exists (creating it and its parents when `create`) and that a file can be
 * created in it; `what` names it in messages.
 */
export async function checkWritableDir(dir: string, what: string, create = false): Promise<void> {
  const st = await statOrUndefined(dir);
  if (st && !st.isDirectory) throw new ToolkitError(`${what} ${dir}: not a folder`);
  if (!st) {
    if (!create) throw new ToolkitError(`${what} ${dir}: folder not found`);
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (e) {
      throw new ToolkitError(`${what} ${dir}: cannot create the folder (${(e as Error).message})`);
    }
  }
  const probe = join(dir, `.sprint-wgpu-write-test.${Deno.pid}`);
  try {
    (await Deno.open(probe, { write: true, createNew: true })).close();
    await Deno.remove(probe);
  } catch (e) {
    throw new ToolkitError(`${what} ${dir}: folder is not writable (${(e as Error).message})`);
  }
}

/**
 * Checks an output file before any work: not a folder, and its folder writable (created if
 * missing). An existing regular file is replaced atomically at the end, as before.
 *
 * @example
 * ```ts
 * import { checkOutputFile } from "./paths.ts";
 * const dir = await Deno.makeTempDir();
 * await checkOutputFile(`${dir}/report.json`, "--json");
 * ```
 */
export async function checkOutputFile(path: string, flag: string): Promise<void> {
  const st = await statOrUndefined(path);
  if (st?.isDirectory) {
    throw new ToolkitError(`${flag} ${path}: is a folder (expected a file name)`);
  }
  if (st && !st.isFile) throw new ToolkitError(`${flag} ${path}: not a regular file`);
  await checkWritableDir(dirname(resolve(path)), `${flag} ${path}: folder`, true);
}

/**
 * Checks an output directory before any work: its parent is a writable folder (created if
 * missing). Whether an existing `dir` may be replaced is the command's decision.
 */
export async function checkOutputDirParent(dir: string, flag: string): Promise<void> {
  await checkWritableDir(dirname(resolve(dir)), `${flag} ${dir}: parent`, true);
}

/** Whether `path` exists (file, folder or anything else). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** The real path of `p`, or of its nearest existing ancestor joined with the rest. */
async function realish(p: string): Promise<string> {
  const abs = resolve(p);
  try {
    return await Deno.realPath(abs);
  } catch {
    const parent = dirname(abs);
    if (parent === abs) return abs;
    return join(await realish(parent), basename(abs));
  }
}

function within(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);
}

/**
 * Refuses an output that would overwrite or land inside one of the run's inputs, or that holds
 * one: `out` equal to an input, a folder holding an input, or a path inside an input folder
 * (symlinks resolved). `inputs` are `[flag, path]` pairs.
 *
 * @example
 * ```ts
 * import { checkOutputApart } from "./paths.ts";
 * const dir = await Deno.makeTempDir();
 * await checkOutputApart(`${dir}/out`, "--out", [["--model", `${dir}/model`]]);
 * ```
 */
export async function checkOutputApart(
  out: string,
  flag: string,
  inputs: [string, string][],
): Promise<void> {
  const o = await realish(out);
  for (const [inFlag, path] of inputs) {
    const p = await realish(path);
    if (p === o) {
      throw new ToolkitError(
        `${flag} ${out}: is the ${inFlag} input ${path}; choose another ${flag}`,
      );
    }
    if (within(p, o)) {
      throw new ToolkitError(
        `${flag} ${out}: is a folder holding the ${inFlag} input ${path}; choose another ${flag}`,
      );
    }
    if (within(o, p)) {
      throw new ToolkitError(
        `${flag} ${out}: is inside the ${inFlag} folder ${path}; choose a place outside it`,
      );
    }
  }
}
