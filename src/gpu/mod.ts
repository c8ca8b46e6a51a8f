/**
 * The GPU runtime: device acquisition, tensors, the one dispatch path (`Recorder`), shader loading with `#if` defines, chunked tensors, timing and scratch workspaces.
 *
 * @module
 */
export * from "./device.ts";
export * from "./tensor.ts";
export * from "./chunked.ts";
export * from "./recorder.ts";
export * from "./shader.ts";
export * from "./timing.ts";
export * from "./f16.ts";
export * from "./workspace.ts";
export * from "./uniform_pool.ts";
export * from "./bind_groups.ts";
