/**
 * The thread pool: `threads − 1` workers plus the calling thread over one shared memory.
 * `run` writes a dispatch into the control block, wakes the workers with Atomics.notify, runs
 * part 0 itself and waits on DONE; no message is posted per kernel call. A worker that throws
 * sets ERROR and `run` throws it; one that stops answering makes `run` throw after `timeoutMs`.
 */

import {
  blobWorker,
  canBlock,
  siblingModule,
  threadsWorker,
  usesWorkerThreads,
  type WebWorker,
  type WorkerEvents,
  type WorkerHandle,
  wrapWebWorker,
} from "../../platform/workers.ts";
import {
  ARGS_BASE,
  CTRL_BASE,
  DONE,
  ERROR,
  ERROR_TEXT_BASE,
  ERROR_TEXT_LENGTH,
  FUNC,
  GEN,
  type KernelExport,
  type KernelExports,
  KERNELS,
  MAX_ARGS,
  NARGS,
  NTHREADS,
  QUIT,
  type WorkerInit,
} from "./control.ts";
import { workerLayout } from "./worker_layout.ts";
import { workerMain } from "./worker_main.ts";

/** Set once a located `worker.js` failed to load in this page: later workers start from a Blob. */
let locatedWorkerFailed = false;

/**
 * Starts one worker. Node and Deno: `node:worker_threads` on `worker.ts`/`worker.js` beside this
 * module, unref'd (from a data: URL of the same code where this module is not a file: Deno
 * importing it over http). Browsers: the worker located with the literal pattern that bundlers
 * (Vite, webpack) recognise and emit as a file of the bundle, or, `fromBlob`, the same code
 * (`workerMain`) from a Blob URL, which needs no file (esbuild and Rollup emit none).
 */
async function startWorker(events: WorkerEvents, fromBlob: boolean): Promise<WorkerHandle> {
  if (usesWorkerThreads()) {
    // node:worker_threads takes file: and data: URLs only (not Deno's import over http)
    const file = siblingModule(import.meta.url, "worker");
    const url = file.protocol === "file:"
      ? file
      : new URL(`data:text/javascript,${encodeURIComponent(workerSource())}`);
    return await threadsWorker(url, events);
  }
  if (!fromBlob) {
    let located: WebWorker | undefined;
    try {
      located = new Worker(new URL("./worker.ts", import.meta.url), {
        type: "module",
      }) as unknown as WebWorker;
    } catch {
      // no usable import.meta.url (an IIFE bundle): the Blob below
    }
    if (located) return wrapWebWorker(located, "worker.js", events);
  }
  return blobWorker(workerSource(), events);
}

/** The whole worker as one script: `workerMain` called with the layout. */
function workerSource(): string {
  return `(${workerMain.toString()})(${JSON.stringify(workerLayout)});\n`;
}

/** Starts worker `init.tid` (pushed to `started` at once) and resolves once it is ready. */
function launch(
  init: WorkerInit,
  fromBlob: boolean,
  started: WorkerHandle[],
  onFailure: (e: Error) => void,
): Promise<WorkerHandle> {
  return new Promise((resolve, reject) => {
    let handle: WorkerHandle | undefined, ready = false;
    const fail = (e: Error) => {
      if (ready) return onFailure(e);
      handle?.terminate();
      reject(e);
    };
    startWorker({
      onMessage: (data) => {
        const d = data as { ready?: number; error?: string };
        if (d.ready !== undefined) {
          ready = true;
          resolve(handle!);
        } else if (d.error) fail(new Error(`WASM worker ${init.tid} failed to start: ${d.error}`));
      },
      onError: fail,
    }, fromBlob).then((w) => {
      handle = w;
      started.push(w);
      w.postMessage(init);
    }, reject);
  });
}

/** `launch`, retrying from a Blob where a browser could not load the located `worker.js`. */
async function startReady(
  init: WorkerInit,
  started: WorkerHandle[],
  onFailure: (e: Error) => void,
): Promise<WorkerHandle> {
  if (usesWorkerThreads() || locatedWorkerFailed) {
    return await launch(init, !usesWorkerThreads(), started, onFailure);
  }
  try {
    return await launch(init, false, started, onFailure);
  } catch (located) {
    locatedWorkerFailed = true;
    try {
      return await launch(init, true, started, onFailure);
    } catch (e) {
      throw new Error(`${(located as Error).message}; from a Blob: ${(e as Error).message}`);
    }
  }
}

/** Stops the workers of a pool collected without `dispose()`: forgetting it costs nothing. */
const finalizer = new FinalizationRegistry<() => void>((stop) => stop());

/** Runs kernels on one or more threads. */
export class ThreadPool {
  readonly threads: number;
  #exports: KernelExports;
  #memory: WebAssembly.Memory;
  #workers: WorkerHandle[];
  #ctrl: Int32Array;
  #args: Float64Array;
  #timeoutMs: number;
  #failure: Error | null = null;
  #block = canBlock();
  #fns: ((...a: number[]) => unknown)[];

  private constructor(
    exports: KernelExports,
    memory: WebAssembly.Memory,
    workers: WorkerHandle[],
    timeoutMs: number,
  ) {
    this.#exports = exports;
    this.#memory = memory;
    this.#workers = workers;
    this.threads = workers.length + 1;
    this.#timeoutMs = timeoutMs;
    const buffer = memory.buffer;
    this.#ctrl = new Int32Array(buffer, CTRL_BASE, 16);
    this.#args = new Float64Array(buffer, ARGS_BASE, 32);
    this.#fns = KERNELS.map((name) => exports[name]);
  }

  /** Starts `threads − 1` workers (none for 1) and waits until each has instantiated the module. */
  static async create(
    module: WebAssembly.Module,
    exports: KernelExports,
    memory: WebAssembly.Memory,
    threads: number,
    timeoutMs = 120_000,
  ): Promise<ThreadPool> {
    const started: WorkerHandle[] = [];
    // The workers' handlers reach the pool only weakly, so that a pool nobody holds can be
    // collected (and its workers stopped by `finalizer`).
    let pool: WeakRef<ThreadPool> | null = null;
    const onFailure = (e: Error) => {
      const p = pool?.deref();
      if (p && !p.#failure) p.#failure = e; // the first failure (or dispose) is the one told
    };
    const ready: Promise<WorkerHandle>[] = [];
    for (let tid = 1; tid < threads; tid++) {
      ready.push(startReady({ module, memory, tid }, started, onFailure));
    }
    let workers: WorkerHandle[];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, rej) => {
      timer = setTimeout(
        () => rej(new Error(`WASM workers did not start within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      workers = await Promise.race([Promise.all(ready), timeout]);
    } catch (e) {
      for (const w of started) w.terminate();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    const created = new ThreadPool(exports, memory, workers, timeoutMs);
    pool = new WeakRef(created);
    if (workers.length > 0) finalizer.register(created, created.#stopper(), created);
    return created;
  }

  /** Runs kernel `name` with `args` (+ tid, nt) on all threads when `parallel`, else on this one. */
  run(name: KernelExport, args: number[], parallel = true): number {
    if (this.#failure) throw this.#failure;
    const fi = KERNELS.indexOf(name);
    if (!parallel || this.threads === 1) {
      args.push(0, 1);
      const r = this.#fns[fi](...args) as number;
      return r;
    }
    if (args.length > MAX_ARGS) {
      throw new RangeError(`Expected at most ${MAX_ARGS} kernel arguments, got ${args.length}`);
    }
    const ctrl = this.#ctrl;
    for (let i = 0; i < args.length; i++) this.#args[i] = args[i];
    ctrl[FUNC] = fi;
    ctrl[NARGS] = args.length;
    ctrl[NTHREADS] = this.threads;
    Atomics.store(ctrl, DONE, 0);
    Atomics.add(ctrl, GEN, 1);
    Atomics.notify(ctrl, GEN);
    let ownError: unknown = null;
    try {
      args.push(0, this.threads);
      this.#fns[fi](...args);
    } catch (e) {
      ownError = e;
    }
    this.#waitWorkers();
    // take the workers' error flag in every case, so that a failure is reported once
    const failed = Atomics.exchange(ctrl, ERROR, 0);
    if (ownError) throw ownError;
    if (failed !== 0) {
      const text = new Uint16Array(this.#memory.buffer, ERROR_TEXT_BASE, ERROR_TEXT_LENGTH);
      let msg = "";
      for (let i = 0; i < text.length && text[i] !== 0; i++) msg += String.fromCharCode(text[i]);
      throw new Error(`WASM kernel ${name} failed in ${msg}`);
    }
    return 0;
  }

  #waitWorkers(): void {
    const ctrl = this.#ctrl, want = this.threads - 1;
    const deadline = Date.now() + this.#timeoutMs;
    for (;;) {
      const done = Atomics.load(ctrl, DONE);
      if (done >= want) return;
      if (Date.now() > deadline) {
        this.#failure = new Error(
          `WASM workers did not finish within ${this.#timeoutMs} ms (${done} of ${want} done)`,
        );
        throw this.#failure;
      }
      if (this.#block) Atomics.wait(ctrl, DONE, done, 1000);
    }
  }

  /** Stops and terminates the workers. */
  dispose(): void {
    finalizer.unregister(this);
    this.#stopper()();
    this.#workers = [];
    this.#failure = new Error("The WASM backend was disposed");
  }

  /** Stops the workers (QUIT, then terminate); holds no reference to the pool. */
  #stopper(): () => void {
    const ctrl = this.#ctrl, workers = this.#workers;
    return () => {
      if (workers.length === 0) return;
      Atomics.store(ctrl, QUIT, 1);
      Atomics.add(ctrl, GEN, 1);
      Atomics.notify(ctrl, GEN);
      for (const w of workers) w.terminate();
    };
  }

  /** The module's exports (single-threaded helpers). */
  get exports(): KernelExports {
    return this.#exports;
  }
}
