/**
 * The WASM backend: every op of `Backend` as a call into the AssemblyScript kernels
 * (`assembly/`), run on the thread pool when the work is large enough. Buffers are offsets into
 * the one shared memory; ops run synchronously, so `download` resolves at once.
 */

import { kernelIndex, pseudoGradientScale } from "../../kernels.ts";
import type {
  AdamParams,
  Backend,
  DeviceBuffer,
  MatmulParams,
  NormalizationKind,
  PseudoGradient,
  SgdParams,
} from "../backend.ts";
import { MAX_THREADS, PARTIALS_BASE } from "./control.ts";
import type { Heap } from "./heap.ts";
import { type CopyOut, createCopyOut } from "./copy_out.ts";
import type { ThreadPool } from "./pool.ts";
import { isSharedBuffer } from "../../platform/workers.ts";
import type { SparseCodes } from "../../sparse_codes.ts";

/** A WASM buffer: `length` floats at byte offset `ptr` of the shared memory. */
class WasmBuffer implements DeviceBuffer {
  constructor(readonly owner: WasmBackend, public ptr: number, readonly length: number) {}
}

/** Workspace bytes per thread of the batchnorm kernels (BN_WORKSPACE of assembly/batchnorm.ts). */
const BN_WORKSPACE = 256 * 40;

/** Cost of one entry of `maskedCodeGradient` in entries of the dense GEMM (measured ~3). */
const MASKED_COST = 4;

/** Default elements below which an op runs on the calling thread only (a dispatch costs µs). */
export const PARALLEL_MIN = 1 << 15;

/** The backend over a heap and a thread pool (see `createWasmBackend`). */
export class WasmBackend implements Backend {
  readonly name = "wasm";
  readonly heap: Heap;
  readonly pool: ThreadPool;
  /** "relaxed" or "plain": which SIMD build runs. */
  readonly simd: "relaxed" | "plain";
  #ws = 0;
  #wsStride = 0;
  #gemmWs: number;
  #disposed = false;
  #live = new Set<WasmBuffer>();
  #copyOut: CopyOut;

  #parallelMin: number;

  constructor(heap: Heap, pool: ThreadPool, simd: "relaxed" | "plain", parallelMin = PARALLEL_MIN) {
    this.#parallelMin = parallelMin;
    this.heap = heap;
    this.pool = pool;
    this.simd = simd;
    this.#gemmWs = pool.exports.gemmWorkspaceBytes() as number;
    this.#copyOut = createCopyOut(heap.memory, isSharedBuffer(heap.memory.buffer));
  }

  /** Threads (workers + the calling thread). */
  get threads(): number {
    return this.pool.threads;
  }

  #ptr(b: DeviceBuffer, need: number, what: string): number {
    if (!(b instanceof WasmBuffer) || b.owner !== this) {
      throw new TypeError(`Expected ${what} to be a buffer of this WASM backend, got ${b}`);
    }
    if (b.ptr < 0) throw new TypeError(`Expected ${what} to be a live buffer, got a freed one`);
    if (b.length < need) {
      throw new RangeError(`Expected ${what} to hold at least ${need} floats, got ${b.length}`);
    }
    return b.ptr;
  }

  /** Makes sure the workspace has `bytes` per thread; returns [base, stride]. */
  #workspace(bytes: number): [number, number] {
    const stride = Math.ceil(bytes / 64) * 64;
    if (stride > this.#wsStride) {
      if (this.#ws) this.heap.free(this.#ws, this.#wsStride * this.threads);
      this.#wsStride = Math.max(stride, this.#gemmWs);
      this.#ws = this.heap.alloc(this.#wsStride * this.threads);
    }
    return [this.#ws, this.#wsStride];
  }

  #par(n: number): boolean {
    return this.threads > 1 && n >= this.#parallelMin;
  }

  /** Sum of the per-thread f64 partials written by a reduction run on `parallel` threads. */
  #partials(parallel: boolean): number {
    const nt = parallel ? this.threads : 1;
    const p = new Float64Array(this.heap.memory.buffer, PARTIALS_BASE, nt);
    let s = 0;
    for (let i = 0; i < nt; i++) s += p[i];
    return s;
  }

  #addScalar(ptr: number, value: number): void {
    const f = this.heap.f32;
    f[ptr >>> 2] += value;
  }

  alloc(length: number): DeviceBuffer {
    if (this.#disposed) throw new TypeError("Expected a live WASM backend, got a disposed one");
    if (!Number.isInteger(length) || length < 0) {
      throw new RangeError(`Expected length to be a non-negative integer, got ${length}`);
    }
    const buf = new WasmBuffer(this, this.heap.alloc(length * 4), length);
    this.#live.add(buf);
    return buf;
  }
  upload(dst: DeviceBuffer, data: Float32Array, offset = 0): void {
    const p = this.#ptr(dst, offset + data.length, "dst");
    this.heap.f32.set(data, (p >>> 2) + offset);
  }
  download(
    src: DeviceBuffer,
    offset = 0,
    length = src.length - offset,
    into?: Float32Array,
  ): Promise<Float32Array> {
    try {
      const p = this.#ptr(src, offset + length, "src");
      if (offset < 0 || length < 0) {
        throw new RangeError(
          `Expected a non-negative offset and length, got ${offset} and ${length}`,
        );
      }
      if (into && into.length < length) {
        throw new RangeError(`Expected into to hold ${length} floats, got ${into.length}`);
      }
      return Promise.resolve(this.#copyOut((p >>> 2) + offset, length, into));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  downloadSparseRows(src: DeviceBuffer, rows: number, cols: number): Promise<SparseCodes> {
    try {
      const s = this.#ptr(src, rows * cols, "src");
      const parallel = this.#par(rows * cols);
      const counts = this.heap.alloc(rows * 4 + 4);
      this.pool.run("rowNonZeros", [counts, s, rows, cols], parallel);
      const indptr = new Int32Array(rows + 1);
      const view = new Int32Array(this.heap.memory.buffer, counts, rows);
      for (let r = 0; r < rows; r++) indptr[r + 1] = indptr[r] + view[r];
      const nnz = indptr[rows];
      new Int32Array(this.heap.memory.buffer, counts, rows).set(indptr.subarray(0, rows));
      const out = this.heap.alloc(nnz * 8 + 8);
      this.pool.run("compactRows", [out, out + nnz * 4, counts, s, rows, cols], parallel);
      const indices = new Int32Array(this.#copyOut(out >>> 2, nnz).buffer);
      const values = this.#copyOut((out >>> 2) + nnz, nnz);
      this.heap.free(out, nnz * 8 + 8);
      this.heap.free(counts, rows * 4 + 4);
      return Promise.resolve({ indptr, indices, values, shape: [rows, cols] });
    } catch (e) {
      return Promise.reject(e);
    }
  }
  free(buffer: DeviceBuffer): void {
    const b = buffer as WasmBuffer;
    if (!(b instanceof WasmBuffer) || b.owner !== this || b.ptr < 0) return;
    this.heap.free(b.ptr, b.length * 4);
    b.ptr = -1;
    this.#live.delete(b);
  }
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const b of this.#live) b.ptr = -1;
    this.#live.clear();
    this.pool.dispose();
  }

  copy(dst: DeviceBuffer, src: DeviceBuffer, n: number): void {
    const d = this.#ptr(dst, n, "dst"), s = this.#ptr(src, n, "src");
    this.pool.run("copy", [d, s, n], this.#par(n));
  }
  fill(dst: DeviceBuffer, value: number, n: number): void {
    this.pool.run("fill", [this.#ptr(dst, n, "dst"), value, n], this.#par(n));
  }
  scale(out: DeviceBuffer, x: DeviceBuffer, alpha: number, n: number): void {
    const o = this.#ptr(out, n, "out"), a = this.#ptr(x, n, "x");
    this.pool.run("scale", [o, a, alpha, n], this.#par(n));
  }

  matmul(out: DeviceBuffer, a: DeviceBuffer, b: DeviceBuffer, p: MatmulParams): void {
    const { m, n, k } = p;
    const o = this.#ptr(out, m * n, "out"), pa = this.#ptr(a, m * k, "a");
    const pb = this.#ptr(b, k * n, "b");
    const acc = p.accumulate ? 1 : 0;
    if (m === 0 || n === 0) return;
    const parallel = this.#par((m * n * k) / 8);
    if (p.sparseA && !p.transB && k > 0) {
      // sparse paths: workspace for the non-zero lists of one row (NN) or one column block (TN)
      const ex = this.pool.exports;
      const bytes =
        (p.transA ? ex.sparseWorkspaceBytes(k) : ex.sparseNNWorkspaceBytes(k)) as number;
      const [ws, stride] = this.#workspace(bytes);
      const fn = p.transA ? "sparseGemmTN" : "sparseGemmNN";
      this.pool.run(fn, [o, pa, pb, m, n, k, acc, ws, stride], this.#par(m * 4096));
      return;
    }
    const [ws, stride] = this.#workspace(this.#gemmWs);
    const ta = p.transA ? 1 : 0, tb = p.transB ? 1 : 0;
    this.pool.run("gemm", [o, pa, pb, m, n, k, ta, tb, acc, ws, stride], parallel);
  }
  addBias(out: DeviceBuffer, bias: DeviceBuffer, rows: number, cols: number): void {
    const o = this.#ptr(out, rows * cols, "out"), b = this.#ptr(bias, cols, "bias");
    this.pool.run("addBias", [o, b, rows, cols], this.#par(rows * cols));
  }
  sumRows(out: DeviceBuffer, x: DeviceBuffer, rows: number, cols: number): void {
    const o = this.#ptr(out, cols, "out"), a = this.#ptr(x, rows * cols, "x");
    const [ws, stride] = this.#workspace(512 * 8);
    this.pool.run("sumRows", [o, a, rows, cols, ws, stride], this.#par(rows * cols));
  }

  relu(out: DeviceBuffer, x: DeviceBuffer, n: number): void {
    const o = this.#ptr(out, n, "out"), a = this.#ptr(x, n, "x");
    this.pool.run("relu", [o, a, n], this.#par(n));
  }
  reluBackward(dx: DeviceBuffer, dy: DeviceBuffer, x: DeviceBuffer, n: number): void {
    const d = this.#ptr(dx, n, "dx"), g = this.#ptr(dy, n, "dy"), a = this.#ptr(x, n, "x");
    this.pool.run("reluBackward", [d, g, a, n], this.#par(n));
  }

  batchNormTrain(
    out: DeviceBuffer,
    mean: DeviceBuffer,
    rstd: DeviceBuffer,
    runningMean: DeviceBuffer,
    runningVar: DeviceBuffer,
    x: DeviceBuffer,
    weight: DeviceBuffer,
    bias: DeviceBuffer,
    rows: number,
    cols: number,
    momentum: number,
    eps: number,
  ): void {
    const n = rows * cols;
    const args = [
      this.#ptr(out, n, "out"),
      this.#ptr(mean, cols, "mean"),
      this.#ptr(rstd, cols, "rstd"),
      this.#ptr(runningMean, cols, "runningMean"),
      this.#ptr(runningVar, cols, "runningVar"),
      this.#ptr(x, n, "x"),
      this.#ptr(weight, cols, "weight"),
      this.#ptr(bias, cols, "bias"),
      rows,
      cols,
      momentum,
      eps,
      ...this.#workspace(BN_WORKSPACE),
    ];
    this.pool.run("batchNormTrain", args, this.#par(n));
  }
  batchNormEval(
    out: DeviceBuffer,
    x: DeviceBuffer,
    runningMean: DeviceBuffer,
    runningVar: DeviceBuffer,
    weight: DeviceBuffer,
    bias: DeviceBuffer,
    rows: number,
    cols: number,
    eps: number,
  ): void {
    const n = rows * cols;
    const args = [
      this.#ptr(out, n, "out"),
      this.#ptr(x, n, "x"),
      this.#ptr(runningMean, cols, "runningMean"),
      this.#ptr(runningVar, cols, "runningVar"),
      this.#ptr(weight, cols, "weight"),
      this.#ptr(bias, cols, "bias"),
      rows,
      cols,
      eps,
      ...this.#workspace(BN_WORKSPACE),
    ];
    this.pool.run("batchNormEval", args, this.#par(n));
  }
  batchNormBackward(
    dx: DeviceBuffer,
    dweight: DeviceBuffer,
    dbias: DeviceBuffer,
    dy: DeviceBuffer,
    x: DeviceBuffer,
    mean: DeviceBuffer,
    rstd: DeviceBuffer,
    weight: DeviceBuffer,
    rows: number,
    cols: number,
  ): void {
    const n = rows * cols;
    const args = [
      this.#ptr(dx, n, "dx"),
      this.#ptr(dweight, cols, "dweight"),
      this.#ptr(dbias, cols, "dbias"),
      this.#ptr(dy, n, "dy"),
      this.#ptr(x, n, "x"),
      this.#ptr(mean, cols, "mean"),
      this.#ptr(rstd, cols, "rstd"),
      this.#ptr(weight, cols, "weight"),
      rows,
      cols,
      ...this.#workspace(BN_WORKSPACE),
    ];
    this.pool.run("batchNormBackward", args, this.#par(n));
  }
  layerNorm(
    out: DeviceBuffer,
    mean: DeviceBuffer,
    rstd: DeviceBuffer,
    x: DeviceBuffer,
    weight: DeviceBuffer,
    bias: DeviceBuffer,
    rows: number,
    cols: number,
    eps: number,
  ): void {
    const n = rows * cols;
    const args = [
      this.#ptr(out, n, "out"),
      this.#ptr(mean, rows, "mean"),
      this.#ptr(rstd, rows, "rstd"),
      this.#ptr(x, n, "x"),
      this.#ptr(weight, cols, "weight"),
      this.#ptr(bias, cols, "bias"),
      rows,
      cols,
      eps,
    ];
    this.pool.run("layerNorm", args, this.#par(n));
  }
  layerNormBackward(
    dx: DeviceBuffer,
    dweight: DeviceBuffer,
    dbias: DeviceBuffer,
    dy: DeviceBuffer,
    x: DeviceBuffer,
    mean: DeviceBuffer,
    rstd: DeviceBuffer,
    weight: DeviceBuffer,
    rows: number,
    cols: number,
  ): void {
    const n = rows * cols;
    const parallel = this.#par(n);
    const [ws, stride] = this.#workspace(cols * 16);
    const dw = this.#ptr(dweight, cols, "dweight"), db = this.#ptr(dbias, cols, "dbias");
    const args = [
      this.#ptr(dx, n, "dx"),
      this.#ptr(dy, n, "dy"),
      this.#ptr(x, n, "x"),
      this.#ptr(mean, rows, "mean"),
      this.#ptr(rstd, rows, "rstd"),
      this.#ptr(weight, cols, "weight"),
      rows,
      cols,
      ws,
      stride,
    ];
    this.pool.run("layerNormBackward", args, parallel);
    const parts = parallel ? this.threads : 1;
    this.pool.run("layerNormReduce", [dw, db, cols, parts, ws, stride], false);
  }

  jumpRelu(
    codes: DeviceBuffer,
    preCodes: DeviceBuffer,
    logThreshold: DeviceBuffer,
    rows: number,
    cols: number,
  ): void {
    const n = rows * cols;
    const args = [
      this.#ptr(codes, n, "codes"),
      this.#ptr(preCodes, n, "preCodes"),
      this.#ptr(logThreshold, cols, "logThreshold"),
      rows,
      cols,
      ...this.#workspace(cols * 4 + 64),
    ];
    this.pool.run("jumpRelu", args, this.#par(n));
  }
  jumpReluBackward(
    dPre: DeviceBuffer,
    dLogThreshold: DeviceBuffer,
    dCodes: DeviceBuffer,
    preCodes: DeviceBuffer,
    logThreshold: DeviceBuffer,
    rows: number,
    cols: number,
    pg: PseudoGradient,
  ): void {
    const n = rows * cols;
    const eps = Math.fround(pg.bandwidth);
    const s = pseudoGradientScale(pg.kernel, eps, pg.mode);
    const args = [
      this.#ptr(dPre, n, "dPre"),
      this.#ptr(dLogThreshold, cols, "dLogThreshold"),
      this.#ptr(dCodes, n, "dCodes"),
      this.#ptr(preCodes, n, "preCodes"),
      this.#ptr(logThreshold, cols, "logThreshold"),
      rows,
      cols,
      kernelIndex(pg.kernel),
      eps,
      s,
      ...this.#workspace(cols * 12 + 64),
    ];
    this.pool.run("jumpReluBackward", args, this.#par(n));
  }
  maskedCodeGradient(
    dCodes: DeviceBuffer,
    dXHat: DeviceBuffer,
    dictionary: DeviceBuffer,
    preCodes: DeviceBuffer,
    logThreshold: DeviceBuffer,
    rows: number,
    cols: number,
    dim: number,
    pg: PseudoGradient,
  ): void {
    const n = rows * cols;
    const o = this.#ptr(dCodes, n, "dCodes"), g = this.#ptr(dXHat, rows * dim, "dXHat");
    const w = this.#ptr(dictionary, cols * dim, "dictionary");
    const p = this.#ptr(preCodes, n, "preCodes"), t = this.#ptr(logThreshold, cols, "logThreshold");
    if (n === 0 || dim === 0) return;
    const kind = kernelIndex(pg.kernel), eps = Math.fround(pg.bandwidth);
    const parallel = this.#par(n);
    const [ws, stride] = this.#workspace(cols * 8 + 64);
    this.pool.run(
      "codeMaskCount",
      [PARTIALS_BASE, p, t, rows, cols, kind, eps, ws, stride],
      parallel,
    );
    // a gathered dot product costs about MASKED_COST entries of the dense GEMM
    if (this.#partials(parallel) * MASKED_COST >= n) {
      this.matmul(dCodes, dXHat, dictionary, {
        m: rows,
        n: cols,
        k: dim,
        transB: true,
        accumulate: true,
      });
      return;
    }
    const args = [o, g, w, p, t, rows, cols, dim, kind, eps, ws, stride];
    this.pool.run("maskedCodeGradient", args, this.#par(n / 16));
  }
  heavisideL0(
    loss: DeviceBuffer,
    dLogThreshold: DeviceBuffer,
    preCodes: DeviceBuffer,
    logThreshold: DeviceBuffer,
    rows: number,
    cols: number,
    scale: number,
    pg: PseudoGradient,
  ): void {
    const n = rows * cols;
    const eps = Math.fround(pg.bandwidth);
    const s = pseudoGradientScale(pg.kernel, eps, pg.mode);
    const l = this.#ptr(loss, 1, "loss");
    const parallel = this.#par(n);
    const args = [
      PARTIALS_BASE,
      this.#ptr(dLogThreshold, cols, "dLogThreshold"),
      this.#ptr(preCodes, n, "preCodes"),
      this.#ptr(logThreshold, cols, "logThreshold"),
      rows,
      cols,
      scale,
      kernelIndex(pg.kernel),
      eps,
      s,
      ...this.#workspace(cols * 12 + 64),
    ];
    this.pool.run("heavisideL0", args, parallel);
    this.#addScalar(l, scale * this.#partials(parallel));
  }

  auxKSelect(
    aux: DeviceBuffer,
    selected: DeviceBuffer,
    preCodes: DeviceBuffer,
    codes: DeviceBuffer,
    rows: number,
    cols: number,
    k: number,
  ): void {
    const n = rows * cols;
    const args = [
      this.#ptr(aux, n, "aux"),
      this.#ptr(selected, n, "selected"),
      this.#ptr(preCodes, n, "preCodes"),
      this.#ptr(codes, n, "codes"),
      rows,
      cols,
      k,
      ...this.#workspace(256 * 4),
    ];
    this.pool.run("auxKSelect", args, this.#par(n));
  }
  auxKBackward(
    dPreCodes: DeviceBuffer,
    dCodes: DeviceBuffer,
    dAux: DeviceBuffer,
    selected: DeviceBuffer,
    preCodes: DeviceBuffer,
    n: number,
  ): void {
    const args = [
      this.#ptr(dPreCodes, n, "dPreCodes"),
      this.#ptr(dCodes, n, "dCodes"),
      this.#ptr(dAux, n, "dAux"),
      this.#ptr(selected, n, "selected"),
      this.#ptr(preCodes, n, "preCodes"),
      n,
    ];
    this.pool.run("auxKBackward", args, this.#par(n));
  }
  squaredError(
    loss: DeviceBuffer,
    grad: DeviceBuffer,
    a: DeviceBuffer,
    b: DeviceBuffer,
    n: number,
    scale: number,
  ): void {
    const l = this.#ptr(loss, 1, "loss");
    const args = [
      PARTIALS_BASE,
      this.#ptr(grad, n, "grad"),
      this.#ptr(a, n, "a"),
      this.#ptr(b, n, "b"),
      n,
      scale,
    ];
    const parallel = this.#par(n);
    this.pool.run("squaredError", args, parallel);
    this.#addScalar(l, scale * this.#partials(parallel));
  }
  absSum(loss: DeviceBuffer, grad: DeviceBuffer, a: DeviceBuffer, n: number, scale: number): void {
    const l = this.#ptr(loss, 1, "loss");
    const parallel = this.#par(n);
    this.pool.run("absSum", [
      PARTIALS_BASE,
      this.#ptr(grad, n, "grad"),
      this.#ptr(a, n, "a"),
      n,
      scale,
    ], parallel);
    this.#addScalar(l, scale * this.#partials(parallel));
  }
  sumSquares(out: DeviceBuffer, x: DeviceBuffer, n: number): void {
    const o = this.#ptr(out, 1, "out"), p = this.#ptr(x, n, "x");
    const parallel = this.#par(n);
    this.pool.run("dot", [PARTIALS_BASE, p, p, n], parallel);
    this.#addScalar(o, this.#partials(parallel));
  }

  normalizeRows(weights: DeviceBuffer, rows: number, cols: number, kind: NormalizationKind): void {
    const w = this.#ptr(weights, rows * cols, "weights");
    const l1 = kind === "l1" || kind === "max_l1";
    const isMax = kind === "max_l2" || kind === "max_l1";
    if (!l1 && !isMax && kind !== "l2") {
      throw new TypeError(`Expected normalization l2, max_l2, l1 or max_l1, got ${kind}`);
    }
    const [norms] = this.#workspace(Math.ceil((rows * 4) / this.threads) + 64);
    const parallel = this.#par(rows * cols);
    this.pool.run("rowNorms", [norms, w, rows, cols, l1 ? 1 : 0, isMax ? 0 : 1], parallel);
    let common = 0;
    if (isMax) {
      const f = this.heap.f32, base = norms >>> 2;
      for (let r = 0; r < rows; r++) common = Math.max(common, f[base + r]);
      if (common === 0) common = -1; // divide by the zero norms: NaN as the reference
    }
    this.pool.run("divideRows", [w, norms, common, rows, cols], parallel);
  }
  scaleByExp(out: DeviceBuffer, x: DeviceBuffer, logScale: DeviceBuffer, n: number): void {
    const o = this.#ptr(out, n, "out"), a = this.#ptr(x, n, "x");
    this.pool.run("scaleByExp", [o, a, this.#ptr(logScale, 1, "logScale"), n], this.#par(n));
  }
  dotScaledByExp(
    out: DeviceBuffer,
    a: DeviceBuffer,
    b: DeviceBuffer,
    logScale: DeviceBuffer,
    n: number,
  ): void {
    const o = this.#ptr(out, 1, "out"), s = this.#ptr(logScale, 1, "logScale");
    const parallel = this.#par(n);
    this.pool.run("dot", [PARTIALS_BASE, this.#ptr(a, n, "a"), this.#ptr(b, n, "b"), n], parallel);
    const factor = Math.fround(Math.exp(this.heap.f32[s >>> 2]));
    this.#addScalar(o, factor * this.#partials(parallel));
  }

  adam(
    param: DeviceBuffer,
    grad: DeviceBuffer,
    m: DeviceBuffer,
    v: DeviceBuffer,
    n: number,
    p: AdamParams,
  ): void {
    const bc1 = 1 - p.beta1 ** p.step, bc2 = 1 - p.beta2 ** p.step;
    const l2 = p.weightDecay !== 0 && !p.decoupled ? p.weightDecay : 0;
    const decay = p.weightDecay !== 0 && p.decoupled ? 1 - p.lr * p.weightDecay : 1;
    const args = [
      this.#ptr(param, n, "param"),
      this.#ptr(grad, n, "grad"),
      this.#ptr(m, n, "m"),
      this.#ptr(v, n, "v"),
      n,
      p.beta1,
      p.beta2,
      l2,
      decay,
      p.lr / bc1,
      Math.sqrt(bc2),
      p.eps,
    ];
    this.pool.run("adam", args, this.#par(n));
  }
  sgd(param: DeviceBuffer, grad: DeviceBuffer, buf: DeviceBuffer, n: number, p: SgdParams): void {
    const args = [
      this.#ptr(param, n, "param"),
      this.#ptr(grad, n, "grad"),
      p.momentum !== 0 ? this.#ptr(buf, n, "buf") : this.#ptr(buf, 0, "buf"),
      n,
      p.lr,
      p.momentum,
      p.dampening,
      p.weightDecay,
      p.nesterov ? 1 : 0,
      p.firstStep ? 1 : 0,
    ];
    this.pool.run("sgd", args, this.#par(n));
  }

  topK(
    values: DeviceBuffer,
    indices: DeviceBuffer,
    nnz: DeviceBuffer,
    codes: DeviceBuffer,
    rows: number,
    cols: number,
    k: number,
  ): void {
    const args = [
      this.#ptr(values, rows * k, "values"),
      this.#ptr(indices, rows * k, "indices"),
      this.#ptr(nnz, rows, "nnz"),
      this.#ptr(codes, rows * cols, "codes"),
      rows,
      cols,
      k,
      ...this.#workspace(8 * k + 64),
    ];
    this.pool.run("topK", args, this.threads > 1 && rows > 1 && rows * cols >= this.#parallelMin);
  }
}

export { MAX_THREADS };
