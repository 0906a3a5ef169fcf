import type { Backend } from "./backend.ts";
import { createReferenceBackend } from "./reference.ts";

/** Where a model runs: see `JumpSAEOptions.device`. */
export type Device = "auto" | "cpu" | "webgpu" | "reference";

/** The accepted device names. */
export const DEVICES: readonly Device[] = ["auto", "cpu", "webgpu", "reference"];

/** Options for creating a backend. */
export interface BackendOptions {
  /** Worker threads for the CPU backend (default: available cores). */
  threads?: number;
}

/** Creates the backend for `device`. */
export function createBackend(device: Device, _options: BackendOptions = {}): Promise<Backend> {
  switch (device) {
    case "reference":
    case "cpu":
    case "auto":
      return Promise.resolve(createReferenceBackend());
    case "webgpu":
      return Promise.reject(new Error("The WebGPU backend is not available in this build"));
  }
}
