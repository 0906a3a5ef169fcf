/**
 * The whole of a thread-pool worker as one self-contained function: it references nothing
 * outside its own body but globals, so that `workerMain.toString()` is a complete worker script
 * (the Blob fallback of `pool.ts`, for bundlers that do not copy `worker.js`). `worker.ts` calls
 * it with the layout of `control.ts`.
 *
 * The worker instantiates the kernels over the shared memory, then loops on the control block
 * (Atomics.wait on GEN) running its part of each dispatch. A kernel that throws sets ERROR (with
 * its message) instead of hanging the caller.
 */

/** The control-block layout and kernel names a worker needs (see `control.ts`). */
export interface WorkerLayout {
  CTRL_BASE: number;
  ARGS_BASE: number;
  ERROR_TEXT_BASE: number;
  ERROR_TEXT_LENGTH: number;
  GEN: number;
  DONE: number;
  FUNC: number;
  NTHREADS: number;
  ERROR: number;
  QUIT: number;
  NARGS: number;
  KERNELS: readonly string[];
}

/**
 * Runs a worker: listens on its parent port (`node:worker_threads` in Node and Deno, `self` in
 * browsers) for `{ module, memory, tid }`, answers `{ ready: tid }` or `{ error }`, then serves.
 */
export function workerMain(L: WorkerLayout): void {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  type Port = { post(m: unknown): void; listen(h: (d: unknown) => void): void };
  const start = (port: Port) =>
    port.listen(async (data) => {
      const { module, memory, tid } = data as {
        module: WebAssembly.Module;
        memory: WebAssembly.Memory;
        tid: number;
      };
      const abort = () => {
        throw new Error("abort() called in a WASM kernel");
      };
      let exports: Record<string, (...a: number[]) => unknown>;
      try {
        const instance = await WebAssembly.instantiate(module, { env: { memory, abort } });
        exports = instance.exports as typeof exports;
      } catch (e) {
        port.post({ error: String((e as Error)?.stack ?? e) });
        return;
      }
      serve(exports, memory, tid, () => port.post({ ready: tid }));
    });

  /** Signals `ready` once the current generation is read (no dispatch is missed), then serves. */
  const serve = (
    exports: Record<string, (...a: number[]) => unknown>,
    memory: WebAssembly.Memory,
    tid: number,
    ready: () => void,
  ): void => {
    const buffer = memory.buffer as unknown as SharedArrayBuffer;
    const ctrl = new Int32Array(buffer, L.CTRL_BASE, 16);
    const args = new Float64Array(buffer, L.ARGS_BASE, 32);
    const fns = L.KERNELS.map((name) => exports[name]);
    let gen = Atomics.load(ctrl, L.GEN);
    ready();
    for (;;) {
      Atomics.wait(ctrl, L.GEN, gen);
      const now = Atomics.load(ctrl, L.GEN);
      if (now === gen) continue;
      gen = now;
      if (Atomics.load(ctrl, L.QUIT) !== 0) return;
      const nt = ctrl[L.NTHREADS], n = ctrl[L.NARGS];
      try {
        const a = new Array<number>(n + 2);
        for (let i = 0; i < n; i++) a[i] = args[i];
        a[n] = tid;
        a[n + 1] = nt;
        fns[ctrl[L.FUNC]](...a);
      } catch (e) {
        if (Atomics.compareExchange(ctrl, L.ERROR, 0, tid + 1) === 0) {
          const text = new Uint16Array(buffer, L.ERROR_TEXT_BASE, L.ERROR_TEXT_LENGTH);
          const msg = `worker ${tid}: ${(e as Error)?.message ?? e}`.slice(
            0,
            L.ERROR_TEXT_LENGTH - 1,
          );
          for (let i = 0; i < msg.length; i++) text[i] = msg.charCodeAt(i);
          text[msg.length] = 0;
        }
      }
      Atomics.add(ctrl, L.DONE, 1);
      Atomics.notify(ctrl, L.DONE);
    }
  };

  const web: Port = {
    post: (m) => g.postMessage(m),
    listen: (h) => g.onmessage = (e: MessageEvent) => h(e.data),
  };
  if (typeof g.process?.versions?.node !== "string") {
    start(web);
    return;
  }
  // Node and Deno start the pool with node:worker_threads. The specifier is not a literal, so
  // browser bundlers (which never run this branch) neither resolve nor warn about it.
  const specifier = "node:worker_threads";
  import(/* webpackIgnore: true */ /* @vite-ignore */ specifier).then(({ parentPort }) => {
    if (!parentPort) return start(web); // a Deno web Worker
    start({ post: (m) => parentPort.postMessage(m), listen: (h) => parentPort.on("message", h) });
  });
}
