/**
 * Worker entry of the WASM backend's thread pool (located by `pool.ts` as
 * `new URL("./worker.js", import.meta.url)`): runs `workerMain` with the layout of `control.ts`.
 */

import { workerLayout } from "./worker_layout.ts";
import { workerMain } from "./worker_main.ts";

workerMain(workerLayout);
