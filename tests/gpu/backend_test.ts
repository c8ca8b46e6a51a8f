// Back-end selection (selectBackend, vulkanIcds) and the test task's GL exit-crash rule.
import assert from "node:assert/strict";
import { vulkanIcds } from "../../src/gpu/device.ts";
import { isGlExitCrash } from "../../tasks/test.ts";

const deviceUrl = new URL("../../src/gpu/device.ts", import.meta.url).href;

/** Runs selectBackend in a child with a clean environment plus `env`; returns its JSON line. */
async function selectIn(env: Record<string, string>): Promise<{ backend: string; env?: string }> {
  const base: Record<string, string> = {};
  for (const k of ["HOME", "PATH", "DENO_DIR", "XDG_RUNTIME_DIR"]) {
    const v = Deno.env.get(k);
    if (v) base[k] = v;
  }
  const code = `import { selectBackend } from "${deviceUrl}";
const { backend } = selectBackend();
console.log(JSON.stringify({ backend, env: Deno.env.get("DENO_WEBGPU_BACKEND") }));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", code],
    clearEnv: true,
    env: { ...base, NO_COLOR: "1", ...env },
    stdin: "null",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim();
  assert.equal(out.code, 0, `child: ${stdout} ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(stdout.split("\n").pop()!);
}

Deno.test("selectBackend: lavapipe → vulkan, no Vulkan driver → gl, a set value is kept", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const lvp = `${dir}/lvp_icd.x86_64.json`;
    const other = `${dir}/nvidia_icd.json`;
    for (const f of [lvp, other]) await Deno.writeTextFile(f, "{}");
    if (Deno.build.os !== "linux") return; // selection is Linux-only; elsewhere wgpu picks
    assert.deepEqual(await selectIn({ VK_ICD_FILENAMES: lvp }), {
      backend: "vulkan",
      env: "vulkan",
    });
    assert.deepEqual(await selectIn({ VK_ICD_FILENAMES: `${dir}/absent.json` }), {
      backend: "gl",
      env: "gl",
    });
    assert.deepEqual(await selectIn({ VK_DRIVER_FILES: "" }), { backend: "gl", env: "gl" });
    assert.deepEqual(await selectIn({ VK_ICD_FILENAMES: other }), { backend: "default" });
    assert.deepEqual(
      await selectIn({ VK_ICD_FILENAMES: `${dir}/absent.json`, DENO_WEBGPU_BACKEND: "vulkan" }),
      { backend: "vulkan", env: "vulkan" },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vulkanIcds lists the existing files of VK_ICD_FILENAMES only", async () => {
  const dir = await Deno.makeTempDir();
  const saved = Deno.env.get("VK_ICD_FILENAMES");
  const savedDriver = Deno.env.get("VK_DRIVER_FILES");
  try {
    await Deno.writeTextFile(`${dir}/a.json`, "{}");
    Deno.env.delete("VK_DRIVER_FILES");
    Deno.env.set("VK_ICD_FILENAMES", `${dir}/a.json:${dir}/missing.json:${dir}`);
    assert.deepEqual(vulkanIcds(), [`${dir}/a.json`]);
  } finally {
    if (saved === undefined) Deno.env.delete("VK_ICD_FILENAMES");
    else Deno.env.set("VK_ICD_FILENAMES", saved);
    if (savedDriver !== undefined) Deno.env.set("VK_DRIVER_FILES", savedDriver);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("isGlExitCrash: only a GL abort/segfault after a complete, passing report", () => {
  const pass = { passed: 10, failed: 0, skipped: 1 };
  const abort = { code: 134, signal: "SIGABRT" };
  assert.equal(isGlExitCrash("gl", abort, true, pass), true);
  assert.equal(isGlExitCrash("gl", { code: 139, signal: null }, true, pass), true);
  assert.equal(isGlExitCrash("vulkan", abort, true, pass), false, "not on Vulkan");
  assert.equal(isGlExitCrash("default", abort, true, pass), false);
  assert.equal(isGlExitCrash("gl", abort, false, pass), false, "incomplete report");
  assert.equal(isGlExitCrash("gl", abort, true, { ...pass, failed: 1 }), false, "a failure");
  assert.equal(isGlExitCrash("gl", abort, true, { passed: 0, failed: 0, skipped: 0 }), false);
  assert.equal(isGlExitCrash("gl", { code: 1, signal: null }, true, pass), false, "exit 1");
  assert.equal(isGlExitCrash("gl", { code: 137, signal: "SIGKILL" }, true, pass), false);
});
