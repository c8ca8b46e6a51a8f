/**
 * WebGPU adapter and device acquisition, the pipeline cache and the entry point to every GPU
 * operation of the toolkit ({@link Gpu}).
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import { type Defines, type ShaderSource, specialise } from "./shader.ts";
import { type DType, Tensor } from "./tensor.ts";
import { Recorder, type RecorderDevice } from "./recorder.ts";
import { Workspace } from "./workspace.ts";
import type { GpuCapabilities } from "./caps.ts";
import { DeviceMemory } from "./memory.ts";
import { UniformPool } from "./uniform_pool.ts";
import { BindGroupCache } from "./bind_groups.ts";

export type { GpuCapabilities } from "./caps.ts";
export { DeviceMemory } from "./memory.ts";

/** Options for {@link createGpu}. */
export interface GpuOptions {
  /** Do not use `shader-f16` even when the adapter offers it (f32 weights everywhere). */
  disableF16?: boolean;
  /** Do not use `timestamp-query` even when offered (wall-clock timing only). */
  disableTimestamps?: boolean;
  /** Adapter power preference, passed to `requestAdapter`. */
  powerPreference?: GPUPowerPreference;
}

/** The limits the toolkit raises to the adapter's maximum when requesting a device. */
const RAISED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupsPerDimension",
] as const;

/**
 * A WebGPU device with the toolkit's conveniences: tensors, a compiled-pipeline cache,
 * command recording ({@link Recorder}) and error capture. Obtain one with {@link getGpu}
 * (shared per process) or {@link createGpu}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * const gpu = await getGpu();
 * const x = gpu.tensor([2, 3], "f32", new Float32Array([1, 2, 3, 4, 5, 6]));
 * assert.deepEqual([...await x.read()], [1, 2, 3, 4, 5, 6]);
 * console.log(gpu.description);
 * ```
 */
export class Gpu implements RecorderDevice {
  /** The underlying WebGPU device. */
  readonly device: GPUDevice;
  /** Adapter information (vendor, architecture, description). */
  readonly adapterInfo: GPUAdapterInfo;
  /** Enabled capabilities and granted limits. */
  readonly caps: GpuCapabilities;
  /** Device bytes held by tensors, and their peak (see {@link DeviceMemory}). */
  readonly memory: DeviceMemory = new DeviceMemory();
  /** Uniform buffers for kernel parameters, reused by this device's recorders. */
  readonly uniforms: UniformPool;
  /** Bind groups reused by this device's recorders, dropped by {@link Gpu.destroy}. */
  readonly bindGroups: BindGroupCache;
  /** Per-device kernel scratch (partial sums and the like), freed by {@link Gpu.destroy}. */
  readonly workspace: Workspace = new Workspace(this);
  /** Submissions waited for (submit→await round trips): {@link Gpu.sync} and tensor reads. */
  syncs = 0;
  readonly #pipelines = new Map<string, GPUComputePipeline>();
  #errors: string[] = [];
  #lost = false;

  /** Use {@link createGpu}; the constructor only wraps an existing device. */
  constructor(device: GPUDevice, adapterInfo: GPUAdapterInfo, caps: GpuCapabilities) {
    this.device = device;
    this.adapterInfo = adapterInfo;
    this.caps = caps;
    this.uniforms = new UniformPool(device);
    this.bindGroups = new BindGroupCache(device);
    device.addEventListener("uncapturederror", (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.#errors.push(err.message);
    });
    device.lost.then((info) => {
      this.#lost = true;
      if (info.reason !== "destroyed") this.#errors.push(`device lost: ${info.message}`);
    });
  }

  /** One line naming the adapter and back end, for reports (e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`). */
  get description(): string {
    const i = this.adapterInfo;
    const parts = [i.description || i.device || "unknown adapter"];
    if (i.vendor) parts.push(`vendor ${i.vendor}`);
    if (i.architecture) parts.push(i.architecture);
    const backend = Deno.env.get("DENO_WEBGPU_BACKEND");
    if (backend) parts.push(`backend ${backend}`);
    return parts.join(", ");
  }

  /** Weight storage type for this device: `f16` when shader-f16 is enabled, else `f32`. */
  get weightDType(): "f16" | "f32" {
    return this.caps.f16 ? "f16" : "f32";
  }

  /**
   * A compute pipeline for `source` specialised with `defines`, compiled once per device.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { getGpu, loadShader, Params } from "@sprint-wgpu/toolkit/gpu";
   * const gpu = await getGpu();
   * const pipe = gpu.pipeline(await loadShader("scale.wgsl"), { WG: 64 }); // OUT = alpha·X
   * const x = gpu.tensor([3], "f32", new Float32Array([1, 2, 3]));
   * const out = gpu.tensor([3], "f32");
   * gpu.run((rec) => rec.dispatch(pipe, [x, out], [1, 1], new Params().u32(3).f32(2)));
   * assert.deepEqual([...await out.read()], [2, 4, 6]);
   * ```
   */
  pipeline(source: ShaderSource, defines: Defines = {}, entryPoint = "main"): GPUComputePipeline {
    const key = `${source.name}|${entryPoint}|${JSON.stringify(defines)}`;
    let p = this.#pipelines.get(key);
    if (!p) {
      const t0 = performance.now();
      const code = specialise(source.text, defines);
      const module = this.device.createShaderModule({ code, label: source.name });
      p = this.device.createComputePipeline({
        layout: "auto",
        compute: { module, entryPoint },
        label: `${source.name}:${entryPoint}`,
      });
      this.#pipelines.set(key, p);
      if (PROFILE) {
        const ms = performance.now() - t0;
        const k = `${source.name}:${entryPoint}`;
        const s = profileStats.get(k) ?? { n: 0, ms: 0, codes: new Set<string>() };
        s.n++;
        s.ms += ms;
        s.codes.add(code);
        const dir = granted({ name: "env", variable: "SPRINT_GPU_PROFILE_DIR" }) &&
          Deno.env.get("SPRINT_GPU_PROFILE_DIR");
        if (dir) {
          Deno.writeTextFileSync(`${dir}/${k.replace(":", "_")}.${s.codes.size}.wgsl`, code);
        }
        profileStats.set(k, s);
      }
    }
    return p;
  }

  /** Number of compiled pipelines (for tests and diagnostics). */
  get pipelineCount(): number {
    return this.#pipelines.size;
  }

  /**
   * A tensor on the device. With `data` the buffer is initialised from it (f16 tensors accept a
   * Float32Array and convert, or raw Uint16Array bits); without, it is zero-filled.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
   * const gpu = await getGpu();
   * const ids = gpu.tensor([4], "u32", new Uint32Array([1, 2, 3, 4]));
   * assert.deepEqual([...await ids.read()], [1, 2, 3, 4]);
   * ```
   */
  tensor(shape: readonly number[], dtype: DType, data?: ArrayBufferView): Tensor {
    return Tensor.create(this, shape, dtype, data);
  }

  /** Starts recording commands; see {@link Recorder}. */
  recorder(): Recorder {
    return new Recorder(this);
  }

  /**
   * Records with `fn`, submits once, and returns what `fn` returned. Does not wait for the GPU:
   * reading a result (`tensor.read()`) or {@link Gpu.sync} waits.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
   * import { rmsnorm } from "@sprint-wgpu/toolkit/kernels";
   * const gpu = await getGpu();
   * const x = gpu.tensor([1, 2], "f32", new Float32Array([3, 4]));
   * const w = gpu.tensor([2], "f32", new Float32Array([1, 1]));
   * const y = gpu.run((rec) => rmsnorm(rec, x, w, 0)); // recorded, submitted
   * const [a, b] = await y.read();
   * assert.ok(Math.abs(a - 3 / Math.sqrt(12.5)) < 1e-6 && Math.abs(b - 4 / Math.sqrt(12.5)) < 1e-6);
   * ```
   */
  run<T>(fn: (rec: Recorder) => T): T {
    const rec = this.recorder();
    const result = fn(rec);
    rec.submit();
    return result;
  }

  /** Waits until all submitted work is done; throws if a validation error was raised. */
  async sync(): Promise<void> {
    this.syncs++;
    await this.device.queue.onSubmittedWorkDone();
    this.throwIfErrors();
  }

  /** Throws (and clears) any WebGPU error reported since the last check. */
  throwIfErrors(): void {
    if (this.#errors.length > 0) {
      const msg = this.#errors.join("; ");
      this.#errors = [];
      throw new Error(`WebGPU error: ${msg}`);
    }
    if (this.#lost) throw new Error("WebGPU device was lost");
  }

  /** Releases the device. */
  destroy(): void {
    this.workspace.destroy();
    this.uniforms.destroy();
    this.bindGroups.clear();
    this.#pipelines.clear();
    this.device.destroy();
  }
}

/**
 * `SPRINT_GPU_PROFILE=1`: pipelines created per shader entry, their distinct WGSL variants and the
 * milliseconds spent creating them, printed to stderr at exit (lavapipe compiles at creation;
 * Mesa's GL path compiles at the first dispatch, which these figures do not include).
 * `SPRINT_GPU_PROFILE_DIR=DIR` also writes each variant's WGSL there.
 */
const PROFILE = granted({ name: "env", variable: "SPRINT_GPU_PROFILE" }) &&
  Deno.env.get("SPRINT_GPU_PROFILE") === "1";
const profileStats = new Map<string, { n: number; ms: number; codes: Set<string> }>();
if (PROFILE) {
  globalThis.addEventListener("unload", () => {
    const rows = [...profileStats].sort((a, b) => b[1].ms - a[1].ms);
    let n = 0, ms = 0;
    for (const [k, s] of rows) {
      n += s.n;
      ms += s.ms;
      console.error(
        `gpu-profile ${k}: ${s.n} pipelines, ${s.codes.size} distinct WGSL, ${s.ms.toFixed(0)} ms`,
      );
    }
    console.error(`gpu-profile total: ${n} pipelines, ${ms.toFixed(0)} ms compiling`);
  });
}

const VULKAN_ICD_DIRS = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"];

function granted(desc: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(desc).state === "granted";
  } catch {
    return false;
  }
}

/**
 * The Vulkan driver manifests (ICD JSON files) the Vulkan loader would use: the files named by
 * `VK_DRIVER_FILES` / `VK_ICD_FILENAMES` when set (only those that exist), otherwise the JSON
 * files of the system ICD directories. Unreadable locations count as empty. Needs env and read
 * permission (it may prompt without them; {@link selectBackend} checks first).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vulkanIcds } from "@sprint-wgpu/toolkit/gpu";
 * const icds = vulkanIcds(); // e.g. ["/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"]
 * assert.ok(icds.every((f) => typeof f === "string" && f !== ""));
 * const lavapipe = icds.some((f) => f.includes("lvp_icd"));
 * console.log(lavapipe ? "lavapipe installed" : "no lavapipe");
 * ```
 */
export function vulkanIcds(): string[] {
  const env = (name: string) => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined;
    }
  };
  const listed = env("VK_DRIVER_FILES") ?? env("VK_ICD_FILENAMES");
  if (listed !== undefined) {
    return listed.split(":").filter((f) => {
      try {
        return f !== "" && Deno.statSync(f).isFile;
      } catch {
        return false;
      }
    });
  }
  const found: string[] = [];
  for (const dir of VULKAN_ICD_DIRS) {
    try {
      for (const e of Deno.readDirSync(dir)) {
        if (e.name.endsWith(".json")) found.push(`${dir}/${e.name}`);
      }
    } catch { /* absent or unreadable */ }
  }
  return found;
}

/**
 * Chooses the WebGPU back end before the first adapter request, deliberately, on Linux:
 * - `DENO_WEBGPU_BACKEND` set: kept as it is (`vulkan` or `gl` forces one);
 * - unset, with Mesa's lavapipe Vulkan driver among the Vulkan ICDs ({@link vulkanIcds};
 *   Debian/Ubuntu `mesa-vulkan-drivers`): `vulkan` — f16, fast shader compilation, none of the
 *   GL back end's flaky exit crash;
 * - unset, with no Vulkan ICD at all: `gl` (Mesa llvmpipe through OpenGL, present on a fresh
 *   machine; naming it keeps wgpu from also starting a Vulkan instance);
 * - unset, with another Vulkan driver (a GPU): left unset, wgpu picks (it prefers Vulkan).
 *
 * Also points an unset `XDG_RUNTIME_DIR` at a private directory (silences a Mesa warning).
 * Does nothing without the needed permissions (it never prompts). Returns the back end in
 * effect (`"default"` when left to wgpu) and why.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { selectBackend } from "@sprint-wgpu/toolkit/gpu";
 * const { backend, reason } = selectBackend();
 * // A back end other than "default" is the one DENO_WEBGPU_BACKEND now names.
 * assert.ok(backend === "default" || Deno.env.get("DENO_WEBGPU_BACKEND") === backend);
 * console.log(`WebGPU back end ${backend} (${reason})`);
 * ```
 */
export function selectBackend(): { backend: string; reason: string } {
  if (!granted({ name: "env", variable: "DENO_WEBGPU_BACKEND" })) {
    return { backend: "default", reason: "no env permission: left to wgpu" };
  }
  const current = Deno.env.get("DENO_WEBGPU_BACKEND");
  if (current) return { backend: current, reason: "DENO_WEBGPU_BACKEND from the environment" };
  if (!granted({ name: "env" })) {
    return { backend: "default", reason: "no env permission: left to wgpu" };
  }
  if (Deno.build.os !== "linux") return { backend: "default", reason: "not Linux: left to wgpu" };
  if (!granted({ name: "read" })) {
    return { backend: "default", reason: "no read permission: left to wgpu" };
  }
  const icds = vulkanIcds();
  let choice: { backend: string; reason: string };
  if (icds.some((f) => /(^|\/)lvp_icd[^/]*\.json$/.test(f))) {
    choice = { backend: "vulkan", reason: "Mesa lavapipe Vulkan driver found" };
  } else if (icds.length === 0) {
    choice = {
      backend: "gl",
      reason: "no Vulkan driver (install mesa-vulkan-drivers for the faster Vulkan back end)",
    };
  } else {
    return { backend: "default", reason: "a non-lavapipe Vulkan driver: left to wgpu" };
  }
  Deno.env.set("DENO_WEBGPU_BACKEND", choice.backend);
  if (!Deno.env.get("XDG_RUNTIME_DIR")) {
    try {
      const dir = `/tmp/sprint-wgpu-xdg-${Deno.uid() ?? 0}`;
      Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
      Deno.chmodSync(dir, 0o700);
      Deno.env.set("XDG_RUNTIME_DIR", dir);
    } catch { /* no permission: keep Mesa's warning */ }
  }
  return choice;
}

/**
 * The former name of {@link selectBackend}, kept for callers: selects the back end and
 * returns it (`undefined` when left to wgpu).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { preferLavapipe, selectBackend } from "@sprint-wgpu/toolkit/gpu";
 * const backend = preferLavapipe(); // "vulkan" where lavapipe is installed
 * assert.equal(backend ?? "default", selectBackend().backend);
 * ```
 */
export function preferLavapipe(): string | undefined {
  const { backend } = selectBackend();
  return backend === "default" ? undefined : backend;
}

/**
 * Requests an adapter and a device with the adapter's highest limits for storage bindings,
 * buffers and workgroups, and `shader-f16` / `timestamp-query` when offered.
 * Throws a {@link ToolkitError} (exit code 2) when WebGPU or an adapter is unavailable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createGpu } from "@sprint-wgpu/toolkit/gpu";
 * const gpu = await createGpu({ disableF16: true });
 * assert.equal(gpu.caps.f16, false);
 * gpu.destroy();
 * ```
 */
export async function createGpu(options: GpuOptions = {}): Promise<Gpu> {
  if (typeof navigator === "undefined" || !("gpu" in navigator) || !navigator.gpu) {
    throw new ToolkitError(
      "WebGPU is not available in this runtime (navigator.gpu is missing); run with Deno 2.x",
    );
  }
  const { backend } = selectBackend();
  const adapter = await navigator.gpu.requestAdapter({
    powerPreference: options.powerPreference,
  });
  if (!adapter) {
    const backend = Deno.env.get("DENO_WEBGPU_BACKEND");
    throw new ToolkitError(
      `no WebGPU adapter found${backend ? ` for DENO_WEBGPU_BACKEND=${backend}` : ""}` +
        " (on a CPU-only Linux machine install mesa-vulkan-drivers and set DENO_WEBGPU_BACKEND=vulkan)",
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === "number") requiredLimits[name] = v;
  }
  const features: GPUFeatureName[] = [];
  const f16 = !options.disableF16 && adapter.features.has("shader-f16");
  const timestamps = !options.disableTimestamps && adapter.features.has("timestamp-query");
  if (f16) features.push("shader-f16");
  if (timestamps) features.push("timestamp-query");
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  } catch (e) {
    throw new ToolkitError(`WebGPU device request failed: ${(e as Error).message}`);
  }
  const l = device.limits;
  return new Gpu(device, adapter.info, {
    f16,
    timestamps,
    maxStorageBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxStorageBuffersPerStage: l.maxStorageBuffersPerShaderStage,
    backend,
    slowCompile: backend === "gl",
  });
}

let shared: Promise<Gpu> | undefined;

/**
 * The process-wide {@link Gpu}, created on first use with default options.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * assert.equal(await getGpu(), await getGpu()); // one shared device per process
 * ```
 */
export function getGpu(): Promise<Gpu> {
  if (!shared) {
    shared = createGpu();
    shared.catch(() => (shared = undefined));
  }
  return shared;
}
