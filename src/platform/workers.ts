/**
 * Runtime differences for threads: spawning a module worker (web `Worker` in Deno and browsers,
 * `node:worker_threads` in Node), the worker's side of the channel, and whether shared memory
 * can be used at all (browsers need `crossOriginIsolated`).
 */

/** A started worker, whatever the runtime. */
export interface WorkerHandle {
  postMessage(message: unknown): void;
  terminate(): void;
}

/** Events a spawned worker reports. */
export interface WorkerEvents {
  onMessage(data: unknown): void;
  onError(error: Error): void;
}

/** The worker's own end of the channel to its parent. */
export interface ParentPort {
  postMessage(message: unknown): void;
  onMessage(handler: (data: unknown) => void): void;
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** Whether this runtime is Node.js (and not Deno or a browser). */
export function isNode(): boolean {
  return typeof g.Deno === "undefined" && typeof g.process?.versions?.node === "string";
}

/** The number of logical cores, or 1 where unknown. */
export function hardwareConcurrency(): number {
  const n = g.navigator?.hardwareConcurrency;
  if (typeof n === "number" && n >= 1) return n;
  return 1;
}

/**
 * Whether a shared `WebAssembly.Memory` and `Atomics.wait` in workers are available: needs
 * SharedArrayBuffer, Atomics and, in browsers, a cross-origin isolated page.
 */
export function sharedMemoryAvailable(): boolean {
  if (typeof SharedArrayBuffer === "undefined" || typeof Atomics === "undefined") return false;
  if (typeof g.Deno !== "undefined" || isNode()) return true;
  return g.crossOriginIsolated === true;
}

/** Whether the calling thread may block in `Atomics.wait` (browser main threads may not). */
export function canBlock(): boolean {
  if (typeof g.Deno !== "undefined" || isNode()) return true;
  // browser: workers may block, the window may not
  return typeof g.document === "undefined";
}

/** Starts the module worker at `url`. */
export async function spawnWorker(url: URL, events: WorkerEvents): Promise<WorkerHandle> {
  if (typeof g.Worker === "function") {
    const w = new g.Worker(url.href, { type: "module" });
    w.onmessage = (e: MessageEvent) => events.onMessage(e.data);
    w.onerror = (e: ErrorEvent) => {
      e.preventDefault?.();
      events.onError(new Error(`worker ${url.pathname} failed: ${e.message}`));
    };
    w.onmessageerror = () => events.onError(new Error("worker message could not be deserialized"));
    return w as WorkerHandle;
  }
  if (isNode()) {
    const { Worker } = await import("node:worker_threads");
    const w = new Worker(url);
    w.on("message", (data: unknown) => events.onMessage(data));
    w.on("error", (e: Error) => events.onError(e));
    w.on("exit", (code: number) => {
      if (code !== 0) events.onError(new Error(`worker exited with code ${code}`));
    });
    w.unref?.();
    return {
      postMessage: (m: unknown) => w.postMessage(m),
      terminate: () => void w.terminate(),
    };
  }
  throw new TypeError("Expected a Worker or node:worker_threads in this runtime, found neither");
}

/** The parent channel, from inside a worker. */
export async function parentPort(): Promise<ParentPort> {
  if (isNode()) {
    const { parentPort } = await import("node:worker_threads");
    if (!parentPort) {
      throw new TypeError("Expected to run in a worker thread, found the main thread");
    }
    return {
      postMessage: (m: unknown) => parentPort.postMessage(m),
      onMessage: (h: (data: unknown) => void) => parentPort.on("message", h),
    };
  }
  return {
    postMessage: (m: unknown) => g.postMessage(m),
    onMessage: (h: (data: unknown) => void) => {
      g.onmessage = (e: MessageEvent) => h(e.data);
    },
  };
}

/** `./name` next to `base`, with the extension of `base` (`.ts` in Deno, `.js` once built). */
export function siblingModule(base: string, name: string): URL {
  const ext = /\.[cm]?[jt]s$/.exec(new URL(base).pathname)?.[0] ?? ".js";
  return new URL(`./${name}${ext}`, base);
}
