import { registerParity } from "./_parity.ts";

// device "cpu" is the WASM backend: both SIMD builds, on 1 and 2 threads
registerParity("cpu", "wasm relaxed, 2 threads", { simd: "relaxed", threads: 2 });
registerParity("cpu", "wasm plain, 2 threads", { simd: "plain", threads: 2 });
registerParity("cpu", "wasm relaxed, 1 thread", { simd: "relaxed", threads: 1 });
registerParity("cpu", "wasm plain, 1 thread", { simd: "plain", threads: 1 });
