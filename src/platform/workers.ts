/**
 * Runtime differences for threads: starting a worker (`node:worker_threads` in Node and Deno,
 * unref'd so that it never keeps the process alive; a web `Worker` in browsers), and whether
 * shared memory can be used at all (browsers need a cross-origin isolated page).
 *
 * Nothing here names `node:worker_threads` as a literal: browser bundlers (esbuild, Vite,
 * webpack, Rollup) neither resolve it nor warn about it, and browsers never run that branch.
 */

/** A started worker, whatever the runtime. */
export interface WorkerHandle {
  postMessage(message: unknown): void;
  terminate(): void;
}

/** Events a started worker reports. */
export interface WorkerEvents {
  onMessage(data: unknown): void;
  onError(error: Error): void;
}

/** The part of a web `Worker` used here. */
export interface WebWorker extends WorkerHandle {
  onmessage: ((e: { data: unknown }) => void) | null;
  onerror: ((e: { message?: string; preventDefault?(): void }) => void) | null;
  onmessageerror: (() => void) | null;
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** Whether this runtime is Node.js (and not Deno or a browser). */
export function isNode(): boolean {
  return typeof g.Deno === "undefined" && typeof g.process?.versions?.node === "string";
}

/** Whether workers are `node:worker_threads` ones: Node and Deno (whose web Workers can't unref). */
export function usesWorkerThreads(): boolean {
  return typeof g.Deno !== "undefined" || isNode();
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
  if (usesWorkerThreads()) return true;
  return g.crossOriginIsolated === true;
}

/** Whether `buffer` is a SharedArrayBuffer (false where the global does not exist). */
export function isSharedBuffer(buffer: ArrayBufferLike): boolean {
  return typeof SharedArrayBuffer !== "undefined" && buffer instanceof SharedArrayBuffer;
}

/** Whether the calling thread may block in `Atomics.wait` (browser main threads may not). */
export function canBlock(): boolean {
  if (usesWorkerThreads()) return true;
  // browser: workers may block, the window may not
  return typeof g.document === "undefined";
}

/** Wires a web `Worker` (`what` names it in errors) to `events`. */
export function wrapWebWorker(w: WebWorker, what: string, events: WorkerEvents): WorkerHandle {
  w.onmessage = (e) => events.onMessage(e.data);
  w.onerror = (e) => {
    e.preventDefault?.();
    // A script that could not be fetched or parsed gives an error event without a message.
    const why = e.message || "could not be loaded (missing file, wrong MIME type or blocked)";
    events.onError(new Error(`worker ${what}: ${why}`));
  };
  w.onmessageerror = () => events.onError(new Error("worker message could not be deserialized"));
  return w;
}

/** A web `Worker` running `source` (a module script) from a Blob URL. */
export function blobWorker(source: string, events: WorkerEvents): WorkerHandle {
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  try {
    return wrapWebWorker(new g.Worker(url, { type: "module" }), "from a Blob", events);
  } finally {
    // The worker has its own reference to the script once constructed.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
}

interface ThreadsWorker {
  postMessage(m: unknown): void;
  terminate(): Promise<number>;
  unref(): void;
  on(event: string, f: (arg: never) => void): void;
}
interface WorkerThreads {
  Worker: new (url: URL) => ThreadsWorker;
}

let running = 0;

/** How many `node:worker_threads` workers started here have not exited yet. */
export function runningWorkerThreads(): number {
  return running;
}

/** Starts the module at `url` with `node:worker_threads` (Node, Deno), unref'd. */
export async function threadsWorker(url: URL, events: WorkerEvents): Promise<WorkerHandle> {
  const specifier = "node:worker_threads";
  const { Worker } = await import(
    /* webpackIgnore: true */ /* @vite-ignore */ specifier
  ) as WorkerThreads;
  const w = new Worker(url);
  running++;
  w.on("message", (data: unknown) => events.onMessage(data));
  w.on("error", (e: Error) => events.onError(e));
  w.on("exit", (code: number) => {
    running--;
    if (code !== 0) events.onError(new Error(`worker exited with code ${code}`));
  });
  // An idle worker (blocked in Atomics.wait) must not keep the process alive: a script that
  // forgets dispose() still exits.
  w.unref();
  return { postMessage: (m: unknown) => w.postMessage(m), terminate: () => void w.terminate() };
}

/** `./name` next to `base`, with the extension of `base` (`.ts` in Deno, `.js` once built). */
export function siblingModule(base: string, name: string): URL {
  const ext = /\.[cm]?[jt]s$/.exec(new URL(base).pathname)?.[0] ?? ".js";
  return new URL(`./${name}${ext}`, base);
}
