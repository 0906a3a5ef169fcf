/**
 * The thread pool: `threads − 1` workers plus the calling thread over one shared memory.
 * `run` writes a dispatch into the control block, wakes the workers with Atomics.notify, runs
 * part 0 itself and waits on DONE; no message is posted per kernel call. A worker that throws
 * sets ERROR and `run` throws it; one that stops answering makes `run` throw after `timeoutMs`.
 */

import { canBlock, siblingModule, spawnWorker, type WorkerHandle } from "../../platform/workers.ts";
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
    const workers: WorkerHandle[] = [];
    const ready: Promise<void>[] = [];
    const url = siblingModule(import.meta.url, "worker");
    let pool: ThreadPool | null = null;
    try {
      for (let tid = 1; tid < threads; tid++) {
        let resolve!: () => void, reject!: (e: Error) => void;
        ready.push(new Promise<void>((res, rej) => (resolve = res, reject = rej)));
        const worker = await spawnWorker(url, {
          onMessage: (data) => {
            const d = data as { ready?: number; error?: string };
            if (d.ready !== undefined) resolve();
            else if (d.error) {
              const e = new Error(`WASM worker ${tid} failed to start: ${d.error}`);
              reject(e);
              if (pool) pool.#failure = e;
            }
          },
          onError: (e) => {
            reject(e);
            if (pool) pool.#failure = e;
          },
        });
        workers.push(worker);
        worker.postMessage({ module, memory, tid } satisfies WorkerInit);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, rej) => {
        timer = setTimeout(
          () => rej(new Error(`WASM workers did not start within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        await Promise.race([Promise.all(ready), timeout]);
      } finally {
        clearTimeout(timer);
      }
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    pool = new ThreadPool(exports, memory, workers, timeoutMs);
    return pool;
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
    if (this.#workers.length > 0) {
      Atomics.store(this.#ctrl, QUIT, 1);
      Atomics.add(this.#ctrl, GEN, 1);
      Atomics.notify(this.#ctrl, GEN);
    }
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
    this.#failure = new Error("The WASM backend was disposed");
  }

  /** The module's exports (single-threaded helpers). */
  get exports(): KernelExports {
    return this.#exports;
  }
}
