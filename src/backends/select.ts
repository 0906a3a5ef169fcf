import type { Backend } from "./backend.ts";
import { createReferenceBackend } from "./reference.ts";
import { createWasmBackend } from "./wasm/mod.ts";
import { createWebGpuBackend, hasRealGpu } from "./webgpu/mod.ts";

/** Where a model runs: see `JumpSAEOptions.device`. */
export type Device = "auto" | "cpu" | "webgpu" | "reference";

/** The accepted device names. */
export const DEVICES: readonly Device[] = ["auto", "cpu", "webgpu", "reference"];

/** Options for creating a backend. */
export interface BackendOptions {
  /** Worker threads for the CPU backend (default: available cores). */
  threads?: number;
  /** SIMD build of the CPU backend: relaxed SIMD where supported (`"auto"`), or forced. */
  simd?: "auto" | "relaxed" | "plain";
}

/**
 * Creates the backend for `device`: `"cpu"` is the WASM backend, `"auto"` prefers a real
 * (non-fallback) WebGPU adapter and otherwise takes the CPU backend. Where there is no shared
 * memory (a browser page that is not cross-origin isolated) the WASM backend runs on one thread.
 */
export async function createBackend(
  device: Device,
  options: BackendOptions = {},
): Promise<Backend> {
  switch (device) {
    case "reference":
      return createReferenceBackend();
    case "auto":
      if (await hasRealGpu()) {
        try {
          return await createWebGpuBackend();
        } catch {
          // a real adapter that cannot give a device: the CPU backend still works
        }
      }
      return await createBackend("cpu", options);
    case "cpu":
      return await createWasmBackend({ threads: options.threads, simd: options.simd });
    case "webgpu":
      return await createWebGpuBackend({ allowFallback: true });
  }
}
