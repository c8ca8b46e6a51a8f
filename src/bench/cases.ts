/**
 * All kernel benchmark cases.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { BenchCase } from "./harness.ts";
import { kernelCases } from "./kernel_cases.ts";
import { matmulCases } from "./matmul_cases.ts";
import { solveCases } from "./cholesky_cases.ts";
import { ceilingCases } from "./ceiling_cases.ts";

/** Every case, with f16-weight variants when the device supports shader-f16. */
export function allCases(gpu: Gpu): BenchCase[] {
  const dtypes: ("f32" | "f16")[] = gpu.caps.f16 ? ["f32", "f16"] : ["f32"];
  return [...matmulCases(dtypes), ...kernelCases(gpu), ...solveCases(), ...ceilingCases(dtypes)];
}
