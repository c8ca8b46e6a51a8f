/**
 * The toolkit works as a remote module: a local HTTP server serves mod.ts, src/ and shaders/
 * read-only, and a separate Deno process imports `http://127.0.0.1:PORT/mod.ts`, runs a matmul
 * through the public API and prints the result. This proves that shaders (fetched relative to
 * `import.meta.url`) and npm dependencies (full `npm:` specifiers in src/deps.ts, since import
 * maps do not apply to remote modules) resolve without a checkout.
 *
 * No network is used beyond the local server: the child shares this process's npm cache (already
 * filled, because this file imports ../mod.ts, whose graph `deno test` resolves first) and a copy
 * of its lockfile (so npm resolution needs no registry metadata beyond what the parent fetched),
 * keeps its remote-module cache in a temporary DENO_DIR, and gets a dead proxy for everything but
 * 127.0.0.1.
 */
import assert from "node:assert/strict";
import { matmul, packLinear } from "../mod.ts";
import { GPU_TEST, testGpu } from "./util.ts";

const ROOT = new URL("../", import.meta.url);
const CONTENT_TYPES: Record<string, string> = {
  ".ts": "application/typescript; charset=utf-8",
  ".wgsl": "text/plain; charset=utf-8",
};

/** Serves mod.ts, src/** and shaders/** of the checkout, GET/HEAD only. */
async function serveRepo(req: Request, served: Set<string>): Promise<Response> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response("read-only\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  const path = decodeURIComponent(new URL(req.url).pathname).slice(1);
  const type = CONTENT_TYPES[path.slice(path.lastIndexOf("."))];
  const allowed = path === "mod.ts" || /^(src|shaders)\/[\w\-./]+$/.test(path);
  if (!type || !allowed || path.split("/").includes("..")) {
    return new Response("not found\n", { status: 404 });
  }
  let body: Uint8Array<ArrayBuffer>;
  try {
    body = await Deno.readFile(new URL(path, ROOT));
  } catch {
    return new Response("not found\n", { status: 404 });
  }
  served.add(path);
  return new Response(req.method === "HEAD" ? null : body, {
    headers: { "content-type": type },
  });
}

/** The parent's npm cache directory (`deno info --json`). */
async function npmCacheDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdin: "null",
    stderr: "inherit",
  }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).npmCache;
}

/**
 * The checkout's deno.lock, which `deno test` writes (or reads) when it resolves this module's
 * graph, so it holds every npm package the parent put in the cache.
 */
async function parentLockfile(): Promise<string> {
  const path = new URL("deno.lock", ROOT).pathname;
  try {
    await Deno.stat(path);
  } catch {
    throw new Error(`${path} is missing: run the tests from the checkout (deno.json enables it)`);
  }
  return path;
}

// Small integers: exact in f32 and in f16 weights, so any adapter gives the same numbers.
const [M, K, N] = [3, 5, 4];
const W = Array.from({ length: N * K }, (_, i) => ((i * 3) % 7) - 3); // HF layout [out N, in K]
const X = Array.from({ length: M * K }, (_, i) => ((i * 2) % 5) - 2);

function expected(): number[] {
  const y: number[] = [];
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += X[m * K + k] * W[n * K + k];
      y.push(s);
    }
  }
  return y;
}

function childScript(port: number): string {
  return `import { getGpu, matmul, packLinear } from "http://127.0.0.1:${port}/mod.ts";
const gpu = await getGpu();
const lin = packLinear(gpu, new Float32Array(${JSON.stringify(W)}), ${N}, ${K});
const x = gpu.tensor([${M}, ${K}], "f32", new Float32Array(${JSON.stringify(X)}));
const y = gpu.run((rec) => matmul(rec, x, lin));
console.log(JSON.stringify({ device: gpu.description, y: Array.from(await y.read()) }));
`;
}

Deno.test({
  name: "mod.ts imported from an http: URL runs a matmul (shaders and npm deps resolve)",
  ...GPU_TEST,
  async fn() {
    // The same product through the local checkout, as a cross-check of the expected numbers.
    const gpu = await testGpu();
    const local = gpu.run((rec) =>
      matmul(rec, gpu.tensor([M, K], "f32", new Float32Array(X)), packLinear(gpu, W, N, K))
    );
    assert.deepEqual(Array.from(await local.read()), expected());

    const served = new Set<string>();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req) => serveRepo(req, served),
    );
    const dir = await Deno.makeTempDir({ prefix: "sprint-wgpu-import-" });
    try {
      const host = `127.0.0.1:${server.addr.port}`;
      const denoDir = `${dir}/deno_dir`;
      await Deno.mkdir(denoDir);
      await Deno.symlink(await npmCacheDir(), `${denoDir}/npm`);
      // The parent's lockfile pins the whole npm tree (d3-array → internmap@2.0.3). Without it the
      // child would re-resolve every transitive dependency from registry metadata, which a cache
      // filled through the lockfile never downloaded (a fresh clone with an empty DENO_DIR).
      await Deno.copyFile(await parentLockfile(), `${dir}/deno.lock`);
      await Deno.writeTextFile(`${dir}/main.ts`, childScript(server.addr.port));
      const deadProxy = "http://127.0.0.1:9"; // discard port: any attempt to go online fails
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-config",
          "--lock=deno.lock",
          `--allow-import=${host}`,
          `--allow-net=${host}`,
          "--allow-env=DENO_WEBGPU_BACKEND",
          "main.ts",
        ],
        cwd: dir,
        env: {
          DENO_DIR: denoDir,
          NO_COLOR: "1",
          HTTP_PROXY: deadProxy,
          HTTPS_PROXY: deadProxy,
          NO_PROXY: "127.0.0.1",
        },
        stdin: "null",
        signal: AbortSignal.timeout(180_000),
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `child exited ${out.code}\nstdout: ${stdout}\nstderr: ${stderr}`);
      const lines = stdout.trim().split("\n");
      const result = JSON.parse(lines[lines.length - 1]);
      assert.deepEqual(result.y, expected());
      assert.ok(served.has("mod.ts"));
      assert.ok(served.has("src/deps.ts"), "the npm dependencies module was imported remotely");
      assert.ok(served.has("shaders/matmul.wgsl"), "the shader was fetched from the server");
    } finally {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
