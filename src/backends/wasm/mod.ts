/**
 * The WASM CPU backend: AssemblyScript kernels (f32x4 SIMD) over one shared memory, run by a
 * pool of workers synchronised with atomics. Two builds are shipped inline: relaxed SIMD
 * (`f32x4.relaxed_madd`; Deno, Chrome, Node ≥ 22) and plain SIMD (Node 20); `simd: "auto"` picks
 * the first that `WebAssembly.validate` accepts.
 *
 * @example Two threads
 * ```ts ignore
 * import { createWasmBackend } from "./mod.ts";
 * const backend = await createWasmBackend({ threads: 2 });
 * const a = backend.alloc(4);
 * backend.fill(a, 1.5, 4);
 * console.log(await backend.download(a)); // Float32Array [1.5, 1.5, 1.5, 1.5]
 * backend.dispose();
 * ```
 */

import type { Backend } from "../backend.ts";
import { hardwareConcurrency, sharedMemoryAvailable } from "../../platform/workers.ts";
import { WasmBackend } from "./backend.ts";
import { HEAP_BASE, type KernelExports, MAX_THREADS } from "./control.ts";
import { Heap } from "./heap.ts";
import { ThreadPool } from "./pool.ts";
import { WASM_BASE64 as PLAIN } from "./generated/kernels_plain.ts";
import { WASM_BASE64 as RELAXED } from "./generated/kernels_relaxed.ts";

export { WasmBackend } from "./backend.ts";

/** Options of `createWasmBackend`. */
export interface WasmBackendOptions {
  /** Threads including the calling one (default: `navigator.hardwareConcurrency`, else 1). */
  threads?: number;
  /** Which SIMD build: "relaxed", "plain" or "auto" (default: relaxed where supported). */
  simd?: "relaxed" | "plain" | "auto";
  /** Milliseconds a dispatch may wait for the workers before it throws (default 120000). */
  timeoutMs?: number;
  /**
   * Work (elements) below which an op stays on the calling thread (default 32768; tests pass 0
   * to run every op split across the threads).
   */
  parallelMin?: number;
  /**
   * Shared memory and workers (default: where SharedArrayBuffer is usable). `false`, or a runtime
   * without SharedArrayBuffer (a browser page that is not cross-origin isolated), runs the same
   * kernels on one thread over an ordinary memory.
   */
  shared?: boolean;
}

const compiled = new Map<string, Promise<WebAssembly.Module>>();

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(base64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Whether this runtime validates the relaxed-SIMD build. */
export function relaxedSimdSupported(): boolean {
  return WebAssembly.validate(decode(RELAXED));
}

/**
 * The build with its memory import declared non-shared: the kernels use no atomics, so the only
 * difference is the limits flag of `env.memory` (0x03: shared with maximum → 0x01: maximum).
 */
function unshare(bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const tag = [0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x03];
  for (let i = 0; i + tag.length <= bytes.length; i++) {
    let hit = true;
    for (let j = 0; j < tag.length && hit; j++) hit = bytes[i + j] === tag[j];
    if (hit) {
      const out = bytes.slice();
      out[i + tag.length - 1] = 0x01;
      return out;
    }
  }
  throw new TypeError("Expected the kernels to import a shared env.memory, found none");
}

/** Compiles (once) the chosen build. */
function compile(kind: "relaxed" | "plain", shared: boolean): Promise<WebAssembly.Module> {
  const key = `${kind}/${shared}`;
  let module = compiled.get(key);
  if (!module) {
    const bytes = decode(kind === "relaxed" ? RELAXED : PLAIN);
    module = WebAssembly.compile(shared ? bytes : unshare(bytes));
    compiled.set(key, module);
  }
  return module;
}

/** A memory with the largest maximum the runtime grants (4 GiB, else less). */
function createMemory(shared: boolean): { memory: WebAssembly.Memory; maxPages: number } {
  const initial = HEAP_BASE / 65536 + 16;
  let last: unknown;
  for (const maxPages of [65536, 32768, 16384]) {
    try {
      return { memory: new WebAssembly.Memory({ initial, maximum: maxPages, shared }), maxPages };
    } catch (e) {
      last = e;
    }
  }
  throw new RangeError(
    `Expected a WebAssembly.Memory of at least 1 GiB, the runtime refused: ${last}`,
  );
}

/**
 * Creates the WASM backend (name "wasm").
 *
 * @param options threads and SIMD build
 * @returns a backend whose `dispose()` terminates its workers
 */
export async function createWasmBackend(options: WasmBackendOptions = {}): Promise<Backend> {
  const simd = options.simd ?? "auto";
  if (simd !== "auto" && simd !== "relaxed" && simd !== "plain") {
    throw new TypeError(`Expected simd to be "relaxed", "plain" or "auto", got ${simd}`);
  }
  let threads = options.threads ?? hardwareConcurrency();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`Expected threads to be a positive integer, got ${options.threads}`);
  }
  threads = Math.min(threads, MAX_THREADS);
  const shared = options.shared ?? sharedMemoryAvailable();
  if (shared && !sharedMemoryAvailable()) {
    throw new TypeError(
      "Expected SharedArrayBuffer for shared: true (a cross-origin isolated page in browsers), found none",
    );
  }
  if (!shared) threads = 1;
  let kind: "relaxed" | "plain" = simd === "plain" ? "plain" : "relaxed";
  if (kind === "relaxed" && !relaxedSimdSupported()) {
    if (simd === "relaxed") {
      throw new TypeError('Expected a runtime with relaxed SIMD for simd: "relaxed", found none');
    }
    kind = "plain";
  }
  const module = await compile(kind, shared);
  const { memory, maxPages } = createMemory(shared);
  const instance = await WebAssembly.instantiate(module, {
    env: {
      memory,
      abort: () => {
        throw new Error("abort() called in a WASM kernel");
      },
    },
  });
  const exports = instance.exports as unknown as KernelExports;
  const pool = await ThreadPool.create(module, exports, memory, threads, options.timeoutMs);
  return new WasmBackend(new Heap(memory, maxPages), pool, kind, options.parallelMin);
}
