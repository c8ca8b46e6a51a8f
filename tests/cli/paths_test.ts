/** Path checks run before any work: model folders, readable inputs, writable outputs. */
import { match, ok } from "node:assert";
import { join } from "node:path";
import { ToolkitError } from "../../src/errors.ts";
import {
  checkModelDir,
  checkOutputDirParent,
  checkOutputFile,
  checkReadableFile,
} from "../../src/cli/paths.ts";

async function refused(p: Promise<unknown>, re: RegExp): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  ok(err instanceof ToolkitError, `expected a ToolkitError: ${err}`);
  match((err as Error).message, re);
  ok(!(err as Error).message.includes("\n"));
}

Deno.test("path checks: model dir, input files, output files and folders", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await refused(
      checkModelDir(join(dir, "nope"), true),
      /--model .*nope: model directory not found$/,
    );
    await refused(
      checkModelDir(join(dir, "nope"), false),
      /no --model given and the embedded default/,
    );
    await Deno.writeTextFile(join(dir, "f"), "x");
    await refused(checkModelDir(join(dir, "f"), true), /: not a directory$/);
    await refused(checkModelDir(dir, true), /no config\.json/);
    await Deno.mkdir(join(dir, "m", "config.json"), { recursive: true });
    await refused(checkModelDir(join(dir, "m"), true), /no config\.json/);
    await refused(
      checkReadableFile(join(dir, "none.txt"), "--calib"),
      /--calib .*: file not found$/,
    );
    await refused(checkReadableFile(dir, "--calib"), /--calib .*: not a regular file$/);
    await checkReadableFile(join(dir, "f"), "--calib");
    // --json onto a folder, into a folder that cannot be written, under a regular file.
    await refused(
      checkOutputFile(dir, "--json"),
      /--json .*: is a folder \(expected a file name\)$/,
    );
    await refused(
      checkOutputFile("/proc/sprint-wgpu.json", "--json"),
      /folder is not writable|cannot create/,
    );
    await refused(checkOutputFile(join(dir, "f", "x.json"), "--json"), /not a folder/);
    await checkOutputFile(join(dir, "new", "sub", "x.json"), "--json"); // folders are created
    await refused(
      checkOutputDirParent(join(dir, "f", "out"), "--out"),
      /--out .*: parent .*not a folder/,
    );
    await refused(checkOutputDirParent("/proc/pruned", "--out"), /not writable|cannot create/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
