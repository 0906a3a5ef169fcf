/**
 * The WebGPU backend: `createWebGpuBackend` opens a device and returns a `Backend` whose ops run
 * as WGSL compute kernels; `hasRealGpu` tells whether a hardware (non-fallback) adapter exists.
 *
 * Limits: every buffer is bound whole, so a buffer larger than the device's
 * `maxStorageBufferBindingSize` (or `maxBufferSize`) is refused by `alloc` with a RangeError;
 * the device is requested with the adapter's largest limits. Grids larger than
 * `maxComputeWorkgroupsPerDimension` are split into several dispatches.
 */

import { type GemmTileChoice, WebGpuBackend } from "./backend.ts";
import { type ContextOptions, GpuContext } from "./context.ts";

export { type GemmTileChoice, WebGpuBackend } from "./backend.ts";

/** Options of `createWebGpuBackend`. */
export interface WebGpuOptions extends ContextOptions {
  /** Accept a software (fallback) adapter such as llvmpipe or SwiftShader. Default false. */
  allowFallback?: boolean;
  /** Adapter preference passed to `requestAdapter`. */
  powerPreference?: GPUPowerPreference;
  /** GEMM register block (default "auto", see `WebGpuBackend`). */
  gemmTile?: GemmTileChoice;
  /**
   * Largest density of A for the sparse product under the `sparseA` hint (default 0.01 on
   * hardware adapters, 0 = off on software ones), see `WebGpuBackend`.
   */
  sparseDensity?: number;
}

/** `navigator.gpu`, where the runtime has it. */
function gpu(): GPU | undefined {
  return (globalThis.navigator as Navigator & { gpu?: GPU } | undefined)?.gpu;
}

/** Whether an adapter is a software fallback (`info.isFallbackAdapter`, or the older flag). */
function isFallback(adapter: GPUAdapter): boolean {
  const a = adapter as GPUAdapter & {
    isFallbackAdapter?: boolean;
    info?: { isFallbackAdapter?: boolean };
  };
  return !!(a.info?.isFallbackAdapter ?? a.isFallbackAdapter);
}

/**
 * Whether a hardware GPU is available: `navigator.gpu` exists and its adapter is not a fallback.
 *
 * @returns true when WebGPU runs on real hardware.
 *
 * @example Choosing a device
 * ```ts
 * import { hasRealGpu } from "./mod.ts";
 * const device = (await hasRealGpu()) ? "webgpu" : "cpu";
 * ```
 */
export async function hasRealGpu(): Promise<boolean> {
  const g = gpu();
  if (!g) return false;
  try {
    for (const powerPreference of ["high-performance", "low-power"] as const) {
      const adapter = await g.requestAdapter({ powerPreference });
      if (adapter && !isFallback(adapter)) return true;
    }
  } catch {
    return false;
  }
  return false;
}

/**
 * Opens a WebGPU device and returns the backend named "webgpu".
 *
 * @param options `allowFallback` (default false) accepts software adapters; `powerPreference`
 *   chooses the adapter; `maxWorkgroupsPerDimension` lowers the dispatch limit (tests).
 * @returns The backend; call `dispose()` to destroy its device.
 * @throws Error when `navigator.gpu` or an adapter is missing, or when the adapter is a fallback
 *   and `allowFallback` is false.
 *
 * @example Running an op
 * ```ts ignore
 * import { createWebGpuBackend } from "./mod.ts";
 * const gpu = await createWebGpuBackend({ allowFallback: true });
 * const x = gpu.alloc(4);
 * gpu.upload(x, new Float32Array([-1, 2, -3, 4]));
 * gpu.relu(x, x, 4);
 * console.log(await gpu.download(x)); // Float32Array [0, 2, 0, 4]
 * gpu.dispose();
 * ```
 */
export async function createWebGpuBackend(options: WebGpuOptions = {}): Promise<WebGpuBackend> {
  const g = gpu();
  if (!g) {
    throw new Error("WebGPU is not available: expected navigator.gpu, got undefined");
  }
  const adapter = await g.requestAdapter({
    powerPreference: options.powerPreference ?? "high-performance",
  });
  if (!adapter) {
    throw new Error(
      "WebGPU is available but no adapter was found: expected a GPU adapter, got null",
    );
  }
  if (isFallback(adapter) && !options.allowFallback) {
    throw new Error(
      "The WebGPU adapter is a software fallback: expected a hardware adapter, got a fallback " +
        "(pass allowFallback: true to use it anyway)",
    );
  }
  const wanted = [
    "maxStorageBufferBindingSize",
    "maxBufferSize",
    "maxComputeWorkgroupStorageSize",
    "maxComputeInvocationsPerWorkgroup",
    "maxComputeWorkgroupSizeX",
    "maxComputeWorkgroupSizeY",
    "maxComputeWorkgroupsPerDimension",
    "maxStorageBuffersPerShaderStage",
  ] as const;
  const requiredLimits: Record<string, number> = {};
  for (const name of wanted) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === "number") requiredLimits[name] = v;
  }
  const device = await adapter.requestDevice({ requiredLimits });
  return new WebGpuBackend(new GpuContext(device, options), {
    gemmTile: options.gemmTile,
    fallback: isFallback(adapter),
    sparseDensity: options.sparseDensity,
  });
}
