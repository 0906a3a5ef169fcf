/**
 * The control block shared by the main thread and the workers, at a fixed place in the WASM
 * memory (below the heap). One dispatch = the function index and its arguments written here,
 * `GEN` incremented and notified; each worker runs its part and increments `DONE`.
 */

/** Byte offset of the control block (above the kernels' static data, which ends below 4 KiB). */
export const CTRL_BASE = 16384;
/** Int32 slots of the control block. */
export const GEN = 0, DONE = 1, FUNC = 2, NTHREADS = 3, ERROR = 4, QUIT = 5, NARGS = 6;
/** Byte offset of the f64 arguments. */
export const ARGS_BASE = CTRL_BASE + 64;
/** Most arguments of one kernel (before tid, nt). */
export const MAX_ARGS = 24;
/** Byte offset of the per-thread f64 partial results of reductions. */
export const PARTIALS_BASE = ARGS_BASE + MAX_ARGS * 8;
/** Most threads (workers + main). */
export const MAX_THREADS = 64;
/** Byte offset and length (UTF-16 code units) of the first worker error message. */
export const ERROR_TEXT_BASE = PARTIALS_BASE + MAX_THREADS * 8;
export const ERROR_TEXT_LENGTH = 512;
/** Where the heap starts (64 KiB). */
export const HEAP_BASE = 65536;

/** The kernels a dispatch may name, by index. */
export const KERNELS = [
  "copy",
  "fill",
  "scale",
  "addBias",
  "relu",
  "reluBackward",
  "scaleByExp",
  "gemm",
  "sparseGemmNN",
  "sparseGemmTN",
  "sumRows",
  "squaredError",
  "absSum",
  "dot",
  "batchNormTrain",
  "batchNormEval",
  "batchNormBackward",
  "layerNorm",
  "layerNormBackward",
  "layerNormReduce",
  "jumpRelu",
  "jumpReluBackward",
  "heavisideL0",
  "rowNorms",
  "divideRows",
  "adam",
  "sgd",
  "peakFma",
  "codeMaskCount",
  "maskedCodeGradient",
  "rowNonZeros",
  "compactRows",
  "auxKSelect",
  "auxKBackward",
  "topK",
] as const;

/** A kernel name. */
export type KernelExport = typeof KERNELS[number];

/** The exports of the kernel module. */
// deno-lint-ignore no-explicit-any
export type KernelExports = Record<string, (...args: number[]) => any>;

/** The message that starts a worker. */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  tid: number;
}
