/**
 * `deno task test [deno test args…]`: runs the whole test suite and ends with one plain summary
 * line, `N passed, N failed[, N skipped]`, which the CI harness reads (Deno's own summary is
 * `ok | N passed | N failed`).
 *
 * - Selects the WebGPU back end: `DENO_WEBGPU_BACKEND=vulkan` when Mesa's lavapipe Vulkan driver
 *   is installed and the variable is unset (Vulkan has shader-f16 and no flaky exit crash);
 *   otherwise the variable is left as it is (unset: the GL back end on llvmpipe).
 * - Sets `XDG_RUNTIME_DIR` to a private temporary directory when unset (Mesa warns otherwise).
 * - Runs `deno test --allow-all --junit-path=<tmp>` with the extra arguments (e.g. a file filter)
 *   and inherited stdio, then counts the tests in the JUnit report: passed and failed tests (as
 *   Deno's own summary counts them), and skipped = ignored tests + ignored test steps.
 * - If `deno test` exits non-zero while no test case failed (a module that threw at load time, a
 *   type error, a crash at exit, a missing JUnit file), one failure is added and the reason is
 *   printed. Crashes are reported, never masked.
 *
 * Exit code: non-zero iff `deno test` failed or a test case failed.
 *
 * @module
 */

/** Counts of JUnit test cases. */
export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/**
 * Counts the tests of a Deno JUnit report. Deno writes each test step as a `<testcase>` too,
 * named `<parent> > <step>`: tests count as passed or failed (a failed step fails its test), and
 * ignored tests and ignored steps (how a test reports a skipped part) count as skipped.
 */
export function countJUnit(xml: string): Counts {
  const counts: Counts = { passed: 0, failed: 0, skipped: 0 };
  const re = /<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g;
  const cases = [...xml.matchAll(re)].map((m) => {
    const attr = (k: string) => new RegExp(`\\b${k}="([^"]*)"`).exec(m[1])?.[1] ?? "";
    const body = m[2] ?? "";
    const outcome: keyof Counts = /<(failure|error)\b/.test(body)
      ? "failed"
      : /<skipped\b/.test(body)
      ? "skipped"
      : "passed";
    return { id: `${attr("classname")}\0${attr("name")}`, outcome };
  });
  const ids = new Set(cases.map((c) => c.id));
  for (const c of cases) {
    const parts = c.id.split(" &gt; ");
    const isStep = parts.some((_, i) => i > 0 && ids.has(parts.slice(0, i).join(" &gt; ")));
    if (c.outcome === "skipped" || !isStep) counts[c.outcome]++;
  }
  return counts;
}

/** The CI closing line. */
export function closingLine(c: Counts): string {
  return `${c.passed} passed, ${c.failed} failed` + (c.skipped ? `, ${c.skipped} skipped` : "");
}

async function hasLavapipe(): Promise<boolean> {
  try {
    for await (const e of Deno.readDir("/usr/share/vulkan/icd.d")) {
      if (/^lvp_icd.*\.json$/.test(e.name)) return true;
    }
  } catch {
    // no ICD directory: no Vulkan drivers installed
  }
  return false;
}

async function main(): Promise<number> {
  const backend = Deno.env.get("DENO_WEBGPU_BACKEND");
  if (backend) {
    console.log(`test: DENO_WEBGPU_BACKEND=${backend} (from the environment)`);
  } else if (Deno.build.os === "linux" && await hasLavapipe()) {
    Deno.env.set("DENO_WEBGPU_BACKEND", "vulkan");
    console.log("test: lavapipe found, using DENO_WEBGPU_BACKEND=vulkan");
  } else {
    console.log(
      "test: DENO_WEBGPU_BACKEND unset and no lavapipe ICD: WebGPU picks its default back end" +
        " (GL/llvmpipe on a CPU-only Linux machine: no f16; install mesa-vulkan-drivers for Vulkan)",
    );
  }
  let runtimeDir: string | undefined;
  if (Deno.build.os === "linux" && !Deno.env.get("XDG_RUNTIME_DIR")) {
    runtimeDir = await Deno.makeTempDir({ prefix: "xdg-" });
    await Deno.chmod(runtimeDir, 0o700);
    Deno.env.set("XDG_RUNTIME_DIR", runtimeDir);
  }
  const junit = await Deno.makeTempFile({ prefix: "junit-", suffix: ".xml" });
  await Deno.remove(junit); // deno test writes it; absence afterwards means it did not finish
  try {
    const args = ["test", "--allow-all", `--junit-path=${junit}`, ...Deno.args];
    const status = await new Deno.Command(Deno.execPath(), {
      args,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
    const how = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
    let counts: Counts;
    try {
      counts = countJUnit(await Deno.readTextFile(junit));
    } catch {
      console.log(`test: no JUnit report (deno test exited with ${how} before writing it)`);
      counts = { passed: 0, failed: 1, skipped: 0 };
    }
    if (!status.success && counts.failed === 0) {
      console.log(
        `test: deno test exited with ${how} although no test case failed` +
          " (a module failed to load or type-check, or the process crashed); counted as 1 failure",
      );
      counts.failed = 1;
    }
    console.log(closingLine(counts));
    return status.success && counts.failed === 0 ? 0 : status.code || 1;
  } finally {
    await Deno.remove(junit).catch(() => {});
    if (runtimeDir) await Deno.remove(runtimeDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main());
