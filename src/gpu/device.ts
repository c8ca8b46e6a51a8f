/**
 * WebGPU adapter and device acquisition, the pipeline cache and the entry point to every GPU
 * operation of the toolkit ({@link Gpu}).
 *
 * @module
 */
import { ToolkitError } from "../errors.ts";
import { type Defines, type ShaderSource, specialise } from "./shader.ts";
import { type DType, Tensor } from "./tensor.ts";
import { Recorder } from "./recorder.ts";
import { Workspace } from "./workspace.ts";

/** Options for {@link createGpu}. */
export interface GpuOptions {
  /** Do not use `shader-f16` even when the adapter offers it (f32 weights everywhere). */
  disableF16?: boolean;
  /** Do not use `timestamp-query` even when offered (wall-clock timing only). */
  disableTimestamps?: boolean;
  /** Adapter power preference, passed to `requestAdapter`. */
  powerPreference?: GPUPowerPreference;
}

/** What the adapter and device offer, as used by the toolkit. */
export interface GpuCapabilities {
  /** `shader-f16` is enabled: f16 storage and arithmetic are available in WGSL. */
  f16: boolean;
  /** `timestamp-query` is enabled: passes can be timed on the GPU timeline. */
  timestamps: boolean;
  /** Largest storage binding in bytes (the device limit as granted). */
  maxStorageBindingSize: number;
  /** Largest buffer in bytes. */
  maxBufferSize: number;
  /** Workgroup memory in bytes. */
  maxWorkgroupStorageSize: number;
  /** Invocations per workgroup. */
  maxInvocationsPerWorkgroup: number;
  /** Workgroups per dispatch dimension. */
  maxWorkgroupsPerDimension: number;
  /** Storage buffers per shader stage. */
  maxStorageBuffersPerStage: number;
}

/**
 * Bytes of device memory held by the toolkit's tensors: the current total and the peak since
 * the last {@link DeviceMemory.resetPeak}. Every tensor buffer is counted when created and
 * uncounted when destroyed (or garbage-collected undestroyed). Staging and uniform buffers
 * (transient, small) are not counted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getGpu } from "@sprint-wgpu/toolkit/gpu";
 * const gpu = await getGpu();
 * gpu.memory.resetPeak();
 * const before = gpu.memory.current;
 * const t = gpu.tensor([256], "f32");
 * assert.equal(gpu.memory.current - before, 1024);
 * t.destroy();
 * assert.ok(gpu.memory.peak >= before + 1024);
 * ```
 */
export class DeviceMemory {
  #current = 0;
  #peak = 0;
  readonly #registry = new FinalizationRegistry<{ size: number; freed: boolean }>((held) => {
    if (!held.freed) this.#current -= held.size;
  });
  readonly #held = new WeakMap<GPUBuffer, { size: number; freed: boolean }>();

  /** Bytes currently held. */
  get current(): number {
    return this.#current;
  }

  /** Most bytes held at once since the last {@link DeviceMemory.resetPeak} (or creation). */
  get peak(): number {
    return this.#peak;
  }

  /** Starts a new peak measurement from the current total. */
  resetPeak(): void {
    this.#peak = this.#current;
  }

  /** @internal Counts a new buffer of `size` bytes. */
  allocated(buffer: GPUBuffer, size: number): void {
    this.#current += size;
    if (this.#current > this.#peak) this.#peak = this.#current;
    const held = { size, freed: false };
    this.#held.set(buffer, held);
    this.#registry.register(buffer, held);
  }

  /** @internal Uncounts a buffer being destroyed (once; views of it share the count). */
  freed(buffer: GPUBuffer): void {
    const held = this.#held.get(buffer);
    if (!held || held.freed) return;
    held.freed = true;
    this.#current -= held.size;
  }
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
export class Gpu {
  /** The underlying WebGPU device. */
  readonly device: GPUDevice;
  /** Adapter information (vendor, architecture, description). */
  readonly adapterInfo: GPUAdapterInfo;
  /** Enabled capabilities and granted limits. */
  readonly caps: GpuCapabilities;
  /** Device bytes held by tensors, and their peak (see {@link DeviceMemory}). */
  readonly memory: DeviceMemory = new DeviceMemory();
  /** Per-device kernel scratch (partial sums and the like), freed by {@link Gpu.destroy}. */
  readonly workspace: Workspace = new Workspace(this);
  /** Submissions waited for (submit→await round trips): {@link Gpu.sync} and tensor reads. */
  syncs = 0;
  readonly #pipelines = new Map<string, GPUComputePipeline>();
  readonly #uniformPool: GPUBuffer[] = [];
  #errors: string[] = [];
  #lost = false;

  /** Use {@link createGpu}; the constructor only wraps an existing device. */
  constructor(device: GPUDevice, adapterInfo: GPUAdapterInfo, caps: GpuCapabilities) {
    this.device = device;
    this.adapterInfo = adapterInfo;
    this.caps = caps;
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
      const code = specialise(source.text, defines);
      const module = this.device.createShaderModule({ code, label: source.name });
      p = this.device.createComputePipeline({
        layout: "auto",
        compute: { module, entryPoint },
        label: `${source.name}:${entryPoint}`,
      });
      this.#pipelines.set(key, p);
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

  /** @internal A uniform buffer of `size` bytes from the pool (for {@link Recorder}). */
  takeUniformChunk(size: number): GPUBuffer {
    const i = this.#uniformPool.findIndex((b) => b.size === size);
    if (i >= 0) return this.#uniformPool.splice(i, 1)[0];
    return this.device.createBuffer({
      size,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: "params",
    });
  }

  /**
   * @internal Returns a uniform chunk once its contents were written with `queue.writeBuffer`
   * and the commands using it submitted: later writes are ordered after that submission by the
   * queue, so the chunk can be reused at once.
   */
  returnUniformChunk(buf: GPUBuffer): void {
    if (this.#uniformPool.length < 64) this.#uniformPool.push(buf);
    else buf.destroy();
  }

  /** Releases the device. */
  destroy(): void {
    this.workspace.destroy();
    for (const b of this.#uniformPool) b.destroy();
    this.#uniformPool.length = 0;
    this.#pipelines.clear();
    this.device.destroy();
  }
}

const LAVAPIPE_ICD_DIR = "/usr/share/vulkan/icd.d";

function granted(desc: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(desc).state === "granted";
  } catch {
    return false;
  }
}

/**
 * On Linux, when `DENO_WEBGPU_BACKEND` is unset and Mesa's lavapipe Vulkan driver is installed,
 * selects the Vulkan back end (f16, timestamp-query, and none of the GL back end's flaky exit
 * crash), and points an unset `XDG_RUNTIME_DIR` at a private directory (silences a Mesa warning).
 * Does nothing without the needed permissions (it never prompts). Returns the back end chosen.
 */
export function preferLavapipe(): string | undefined {
  if (Deno.build.os !== "linux") return undefined;
  if (!granted({ name: "env", variable: "DENO_WEBGPU_BACKEND" })) return undefined;
  const current = Deno.env.get("DENO_WEBGPU_BACKEND");
  if (current) return current;
  if (!granted({ name: "read", path: LAVAPIPE_ICD_DIR })) return undefined;
  try {
    const hasLvp = [...Deno.readDirSync(LAVAPIPE_ICD_DIR)].some((e) =>
      /^lvp_icd.*\.json$/.test(e.name)
    );
    if (!hasLvp) return undefined;
  } catch {
    return undefined;
  }
  Deno.env.set("DENO_WEBGPU_BACKEND", "vulkan");
  if (granted({ name: "env", variable: "XDG_RUNTIME_DIR" }) && !Deno.env.get("XDG_RUNTIME_DIR")) {
    try {
      const dir = `/tmp/sprint-wgpu-xdg-${Deno.uid() ?? 0}`;
      Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
      Deno.chmodSync(dir, 0o700);
      Deno.env.set("XDG_RUNTIME_DIR", dir);
    } catch { /* no permission: keep Mesa's warning */ }
  }
  return "vulkan";
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
  preferLavapipe();
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
