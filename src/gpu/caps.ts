/**
 * The capabilities of a WebGPU device as the toolkit uses them ({@link GpuCapabilities}), in a
 * module of their own so that tensors, recorders and the device can all name them.
 *
 * @module
 */

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
  /**
   * The WebGPU back end as selected by `DENO_WEBGPU_BACKEND` (see `selectBackend`):
   * `"vulkan"`, `"gl"`, … or `"default"` when the variable is unset.
   */
  backend: string;
  /**
   * Shader JIT compilation is slow enough to choose smaller unrolled kernels (the GL back end:
   * Mesa compiles naga's GLSL of a large register block or workgroup array for seconds to
   * minutes on llvmpipe, against well under a second on Vulkan).
   */
  slowCompile: boolean;
}
