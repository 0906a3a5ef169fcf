/** The layout of `control.ts` that a worker needs, as one plain object (see `worker_main.ts`). */

import {
  ARGS_BASE,
  CTRL_BASE,
  DONE,
  ERROR,
  ERROR_TEXT_BASE,
  ERROR_TEXT_LENGTH,
  FUNC,
  GEN,
  KERNELS,
  NARGS,
  NTHREADS,
  QUIT,
} from "./control.ts";
import type { WorkerLayout } from "./worker_main.ts";

/** Offsets, slots and kernel names of the control block. */
export const workerLayout: WorkerLayout = {
  CTRL_BASE,
  ARGS_BASE,
  ERROR_TEXT_BASE,
  ERROR_TEXT_LENGTH,
  GEN,
  DONE,
  FUNC,
  NTHREADS,
  ERROR,
  QUIT,
  NARGS,
  KERNELS,
};
