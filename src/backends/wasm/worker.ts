/**
 * Worker entry of the WASM backend's thread pool: instantiates the kernels over the shared
 * memory, then loops on the control block (Atomics.wait on GEN) running its part of each
 * dispatch. A kernel that throws sets ERROR (with its message) instead of hanging the caller.
 */

import { parentPort } from "../../platform/workers.ts";
import {
  ARGS_BASE,
  CTRL_BASE,
  DONE,
  ERROR,
  ERROR_TEXT_BASE,
  ERROR_TEXT_LENGTH,
  FUNC,
  GEN,
  type KernelExports,
  KERNELS,
  NARGS,
  NTHREADS,
  QUIT,
  type WorkerInit,
} from "./control.ts";

const port = await parentPort();
port.onMessage(async (data) => {
  const { module, memory, tid } = data as WorkerInit;
  try {
    const instance = await WebAssembly.instantiate(module, { env: { memory, abort } });
    serve(
      instance.exports as unknown as KernelExports,
      memory,
      tid,
      () => port.postMessage({ ready: tid }),
    );
  } catch (e) {
    port.postMessage({ error: String((e as Error)?.stack ?? e) });
  }
});

function abort(): never {
  throw new Error("abort() called in a WASM kernel");
}

/** Signals `ready` once the current generation is read (no dispatch can be missed), then serves. */
function serve(
  exports: KernelExports,
  memory: WebAssembly.Memory,
  tid: number,
  ready: () => void,
): void {
  const buffer = memory.buffer as unknown as SharedArrayBuffer;
  const ctrl = new Int32Array(buffer, CTRL_BASE, 16);
  const args = new Float64Array(buffer, ARGS_BASE, 32);
  const fns = KERNELS.map((name) => exports[name]);
  let gen = Atomics.load(ctrl, GEN);
  ready();
  for (;;) {
    Atomics.wait(ctrl, GEN, gen);
    const now = Atomics.load(ctrl, GEN);
    if (now === gen) continue;
    gen = now;
    if (Atomics.load(ctrl, QUIT) !== 0) return;
    const nt = ctrl[NTHREADS], n = ctrl[NARGS];
    try {
      const a = new Array<number>(n + 2);
      for (let i = 0; i < n; i++) a[i] = args[i];
      a[n] = tid;
      a[n + 1] = nt;
      fns[ctrl[FUNC]](...a);
    } catch (e) {
      if (Atomics.compareExchange(ctrl, ERROR, 0, tid + 1) === 0) {
        const text = new Uint16Array(buffer, ERROR_TEXT_BASE, ERROR_TEXT_LENGTH);
        const msg = `worker ${tid}: ${(e as Error)?.message ?? e}`.slice(0, ERROR_TEXT_LENGTH - 1);
        for (let i = 0; i < msg.length; i++) text[i] = msg.charCodeAt(i);
        text[msg.length] = 0;
      }
    }
    Atomics.add(ctrl, DONE, 1);
    Atomics.notify(ctrl, DONE);
  }
}
