/**
 * Parity with PyTorch on the WebGPU backend: every fixture of `tests/fixtures/` replayed by a
 * `JumpSAE` with `device: "webgpu"` (a software adapter is accepted there). Ignored, with the
 * reason in its name, where the device cannot be created (no adapter, or not wired).
 */

import { registerParity } from "./_parity.ts";
import { createBackend } from "../src/backends/select.ts";

let why = "";
try {
  (await createBackend("webgpu")).dispose();
} catch (e) {
  why = (e as Error).message;
}

if (why) {
  Deno.test({
    name: `parity with PyTorch (webgpu backend): not run (${why})`,
    ignore: true,
    fn() {},
  });
} else {
  registerParity("webgpu", "webgpu backend");
}
