import { relaxedSimdSupported } from "../src/backends/wasm/mod.ts";
import { registerParity } from "./_parity.ts";

// device "cpu" is the WASM backend: both SIMD builds, on 1 and 2 threads
for (const threads of [2, 1]) {
  registerParity("cpu", `wasm plain, ${threads} thread(s)`, { simd: "plain", threads });
  if (relaxedSimdSupported()) {
    registerParity("cpu", `wasm relaxed, ${threads} thread(s)`, { simd: "relaxed", threads });
  } else {
    Deno.test({
      name: `parity with PyTorch (wasm relaxed): not run (no relaxed SIMD here)`,
      ignore: true,
      fn() {},
    });
  }
}
