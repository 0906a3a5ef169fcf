/**
 * The WebGPU implementation of `Backend`: every op validates its sizes on the host, then records
 * one or more dispatches of the kernels in `wgsl/` on a `GpuContext` (nothing runs until a
 * download or a flush). Fused ops: jumpReluBackward (dPre and the threshold gradient in one
 * pass), heavisideL0 (count and threshold gradient), squaredError and absSum (loss partials and
 * gradient), batchNormTrain (statistics, running statistics and output), batchNormBackward
 * (sums, parameter gradients and dx), adam and sgd (one pass each).
 */

import { AUXK_BACKWARD, auxKSelectKernel } from "./wgsl/aux_k.ts";
import { csrFromDense, type SparseCodes } from "../../sparse_codes.ts";
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
import { GpuBuffer, type GpuContext } from "./context.ts";
import { topKKernel } from "./wgsl/top_k.ts";
import { batchNormBackwardKernel, batchNormTrainKernel } from "./wgsl/batch_norm.ts";
import { COLUMN_TILE, sumRowsKernel } from "./wgsl/columns.ts";
import type { KernelSource } from "./wgsl/common.ts";
import {
  ADD_BIAS,
  BATCH_NORM_EVAL,
  DIVIDE_ROWS,
  DIVIDE_SCALAR,
  FILL,
  MAP_WORKGROUP,
  mapKernel,
  type MapSpec,
  RELU,
  RELU_BACKWARD,
  SCALE,
  SCALE_BY_EXP,
} from "./wgsl/elementwise.ts";
import { gemmKernel, gemmTile } from "./wgsl/gemm.ts";
import { chooseKernel, SPARSE_COLS, SPARSE_ROWS, sparseGemmKernel } from "./wgsl/sparse_gemm.ts";
import { heavisideL0Kernel, JUMP_RELU, jumpReluBackwardKernel } from "./wgsl/jump_relu.ts";
import {
  layerNormBackwardKernel,
  layerNormKernel,
  layerNormParamGradKernel,
} from "./wgsl/layer_norm.ts";
import { maxKernel, rowNormKernel } from "./wgsl/normalize_rows.ts";
import { ADAM, SGD, SGD_PLAIN } from "./wgsl/optimizer.ts";
import {
  ABS_SUM,
  DOT,
  finishKernel,
  NONZERO,
  partialCount,
  partialKernel,
  type PartialSpec,
  REDUCE_WORKGROUP,
  SQUARED_ERROR,
  SUM,
  SUM_SQUARES,
} from "./wgsl/reduce.ts";

/** Builds kernels once per key (the key never holds a size). */
class KernelCache {
  private readonly map = new Map<string, KernelSource>();
  get(key: string, make: () => KernelSource): KernelSource {
    let k = this.map.get(key);
    if (!k) this.map.set(key, k = make());
    return k;
  }
}

/** Register block of the GEMM: "4x4" (64×64 tiles), "8x8" (128×128 tiles) or chosen per product. */
export type GemmTileChoice = "auto" | "4x4" | "8x8";

/** Backend ops on a WebGPU device. */
export class WebGpuBackend implements Backend {
  readonly name = "webgpu";
  private readonly kernels = new KernelCache();

  readonly gemmTile: GemmTileChoice;
  readonly fallback: boolean;
  readonly sparseDensity: number;

  /**
   * @param ctx The device context.
   * @param options `gemmTile` "auto" (default): 8x8 for products of at least 512×512 on hardware
   *   adapters, else 4x4 (software adapters JIT-compile the 8x8 kernel very slowly and gain
   *   nothing from it). `fallback`: whether the adapter is a software fallback.
   *   `sparseDensity` (default 0.01 on hardware adapters, 0 on software ones, which JIT-compile
   *   the sparse kernel for a minute): with the `sparseA` hint (and B not transposed), products
   *   whose A has at most this fraction of nonzeros take the sparse kernel (decided on the GPU,
   *   same bits as the dense one); 0 disables it, 1 always takes it.
   */
  constructor(
    readonly ctx: GpuContext,
    options: { gemmTile?: GemmTileChoice; fallback?: boolean; sparseDensity?: number } = {},
  ) {
    this.gemmTile = options.gemmTile ?? "auto";
    this.fallback = options.fallback ?? false;
    this.sparseDensity = options.sparseDensity ?? (this.fallback ? 0 : 0.01);
    if (!(this.sparseDensity >= 0 && this.sparseDensity <= 1)) {
      throw new RangeError(`sparseDensity must be in [0, 1], got ${options.sparseDensity}`);
    }
  }

  /** Submits recorded work and waits for the GPU (for benchmarks). */
  sync(): Promise<void> {
    return this.ctx.sync();
  }

  alloc(length: number): DeviceBuffer {
    return this.ctx.alloc(length);
  }
  upload(dst: DeviceBuffer, data: Float32Array, offset = 0): void {
    const b = this.buf(dst, "upload", "dst");
    if (!Number.isInteger(offset) || offset < 0 || offset + data.length > b.length) {
      throw new RangeError(
        `upload: expected offset + data.length ≤ ${b.length} (the buffer's length), got offset ${offset} and ${data.length} values`,
      );
    }
    if (data.length > 0) this.ctx.write(b, data, offset);
  }
  download(
    src: DeviceBuffer,
    offset = 0,
    length?: number,
    into?: Float32Array,
  ): Promise<Float32Array> {
    try {
      const b = this.buf(src, "download", "src");
      const len = length ?? b.length - offset;
      if (
        !Number.isInteger(offset) || offset < 0 || !Number.isInteger(len) || len < 0 ||
        offset + len > b.length
      ) {
        throw new RangeError(
          `download: expected 0 ≤ offset and offset + length ≤ ${b.length} (the buffer's length), got offset ${offset} and length ${len}`,
        );
      }
      if (into && into.length < len) {
        throw new RangeError(`download: expected into to hold ${len} floats, got ${into.length}`);
      }
      const read = this.ctx.read(b, offset, len);
      return into ? read.then((data) => (into.set(data), into)) : read;
    } catch (e) {
      return Promise.reject(e);
    }
  }
  async downloadSparseRows(src: DeviceBuffer, rows: number, cols: number): Promise<SparseCodes> {
    return csrFromDense(await this.download(src, 0, rows * cols), rows, cols);
  }
  free(buffer: DeviceBuffer): void {
    this.ctx.free(this.buf(buffer, "free", "buffer"));
  }
  dispose(): void {
    this.ctx.dispose();
  }

  copy(dst: DeviceBuffer, src: DeviceBuffer, n: number): void {
    this.size("copy", { n });
    const d = this.need("copy", "dst", dst, n), s = this.need("copy", "src", src, n);
    if (d === s) {
      throw new RangeError(
        "copy: expected dst and src to be distinct buffers, got the same buffer",
      );
    }
    this.ctx.copyBuffer(d, s, n);
  }
  fill(dst: DeviceBuffer, value: number, n: number): void {
    this.size("fill", { n });
    this.map(FILL, { dst: this.need("fill", "dst", dst, n) }, n, 0, { value });
  }
  scale(out: DeviceBuffer, x: DeviceBuffer, alpha: number, n: number): void {
    this.size("scale", { n });
    this.map(
      SCALE,
      { out: this.need("scale", "out", out, n), x: this.need("scale", "x", x, n) },
      n,
      0,
      { alpha },
    );
  }

  matmul(out: DeviceBuffer, a: DeviceBuffer, b: DeviceBuffer, p: MatmulParams): void {
    const { m, n, k } = p;
    this.size("matmul", { m, n, k });
    const o = this.need("matmul", "out", out, m * n);
    const A = this.need("matmul", "a", a, m * k), B = this.need("matmul", "b", b, k * n);
    if (m * n === 0) return;
    if (k === 0) {
      if (!p.accumulate) this.fill(out, 0, m * n);
      return;
    }
    // Small products use 64×64 tiles to keep enough workgroups; large ones 128×128.
    const big = this.gemmTile === "8x8" ||
      (this.gemmTile === "auto" && !this.fallback && m >= 512 && n >= 512);
    // vec4 loads and stores when every size is a multiple of 4 (a vec4 never straddles an edge).
    const vec4 = m % 4 === 0 && n % 4 === 0 && k % 4 === 0;
    const tile = big ? { tm: 8, tn: 8, vec4 } : { tm: 4, tn: 4, vec4 };
    const src = this.kernels.get(`gemm:${tile.tm}x${tile.tn}:${vec4}`, () => gemmKernel(tile));
    const { bm, bn } = gemmTile(tile);
    const flags = {
      trans_a: p.transA ? 1 : 0,
      trans_b: p.transB ? 1 : 0,
      accumulate: p.accumulate ? 1 : 0,
    };
    const values = { m, n, k, ...flags };
    const dense = [Math.ceil(n / bn), Math.ceil(m / bm)];
    const sparse = [Math.ceil(m / SPARSE_ROWS), Math.ceil(n / SPARSE_COLS)];
    const fits = Math.max(...dense, ...sparse) <= this.ctx.maxWorkgroups;
    if (p.sparseA && !p.transB && this.sparseDensity > 0 && fits) {
      // Count A's nonzeros, let the GPU pick the path, dispatch both indirectly (one is empty).
      const count = this.ctx.temp(1);
      this.map(FILL, { dst: count }, 1, 0, { value: 0 });
      this.reduce(NONZERO, count, [A], m * k, 1);
      const args = this.ctx.indirectArgs();
      this.ctx.run(this.kernels.get("choose_sparse", chooseKernel), [args, count], {
        limit: this.sparseDensity * m * k,
        dense_x: dense[0],
        dense_y: dense[1],
        sparse_x: sparse[0],
        sparse_y: sparse[1],
      }, 1);
      this.ctx.release(count);
      this.ctx.runIndirect(src, [o, A, B], values, args, 0);
      this.ctx.runIndirect(
        this.kernels.get("sparse_gemm", sparseGemmKernel),
        [o, A, B],
        values,
        args,
        12,
      );
      return;
    }
    this.ctx.run(src, [o, A, B], values, dense[0], dense[1]);
  }
  addBias(out: DeviceBuffer, bias: DeviceBuffer, rows: number, cols: number): void {
    this.size("addBias", { rows, cols });
    const o = this.need("addBias", "out", out, rows * cols);
    this.map(
      ADD_BIAS,
      { out: o, bias: this.need("addBias", "bias", bias, cols) },
      rows * cols,
      cols,
    );
  }
  sumRows(out: DeviceBuffer, x: DeviceBuffer, rows: number, cols: number): void {
    this.size("sumRows", { rows, cols });
    const o = this.need("sumRows", "out", out, cols), X = this.need("sumRows", "x", x, rows * cols);
    this.columns(this.kernels.get("sum_rows", sumRowsKernel), [o, X], { rows, cols }, cols);
  }

  relu(out: DeviceBuffer, x: DeviceBuffer, n: number): void {
    this.size("relu", { n });
    this.map(RELU, { out: this.need("relu", "out", out, n), x: this.need("relu", "x", x, n) }, n);
  }
  reluBackward(dx: DeviceBuffer, dy: DeviceBuffer, x: DeviceBuffer, n: number): void {
    this.size("reluBackward", { n });
    const op = "reluBackward";
    this.map(RELU_BACKWARD, {
      dx: this.need(op, "dx", dx, n),
      dy: this.need(op, "dy", dy, n),
      x: this.need(op, "x", x, n),
    }, n);
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
    const op = "batchNormTrain";
    this.size(op, { rows, cols });
    if (rows < 2) throw new RangeError(`${op}: expected rows ≥ 2 (batch statistics), got ${rows}`);
    const n = rows * cols;
    this.columns(
      this.kernels.get("batch_norm_train", batchNormTrainKernel),
      [
        this.need(op, "out", out, n),
        this.need(op, "mean", mean, cols),
        this.need(op, "rstd", rstd, cols),
        this.need(op, "runningMean", runningMean, cols),
        this.need(op, "runningVar", runningVar, cols),
        this.need(op, "x", x, n),
        this.need(op, "weight", weight, cols),
        this.need(op, "bias", bias, cols),
      ],
      { rows, cols, momentum, eps },
      cols,
    );
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
    const op = "batchNormEval";
    this.size(op, { rows, cols });
    const n = rows * cols;
    this.map(
      BATCH_NORM_EVAL,
      {
        out: this.need(op, "out", out, n),
        x: this.need(op, "x", x, n),
        rmean: this.need(op, "runningMean", runningMean, cols),
        rvar: this.need(op, "runningVar", runningVar, cols),
        weight: this.need(op, "weight", weight, cols),
        bias: this.need(op, "bias", bias, cols),
      },
      n,
      cols,
      { eps },
    );
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
    const op = "batchNormBackward";
    this.size(op, { rows, cols });
    const n = rows * cols;
    this.columns(
      this.kernels.get("batch_norm_backward", batchNormBackwardKernel),
      [
        this.need(op, "dx", dx, n),
        this.need(op, "dweight", dweight, cols),
        this.need(op, "dbias", dbias, cols),
        this.need(op, "dy", dy, n),
        this.need(op, "x", x, n),
        this.need(op, "mean", mean, cols),
        this.need(op, "rstd", rstd, cols),
        this.need(op, "weight", weight, cols),
      ],
      { rows, cols },
      cols,
    );
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
    const op = "layerNorm";
    this.size(op, { rows, cols });
    const n = rows * cols;
    const bufs = [
      this.need(op, "out", out, n),
      this.need(op, "mean", mean, rows),
      this.need(op, "rstd", rstd, rows),
      this.need(op, "x", x, n),
      this.need(op, "weight", weight, cols),
      this.need(op, "bias", bias, cols),
    ];
    if (cols === 0) return;
    this.ctx.run(this.kernels.get("layer_norm", layerNormKernel), bufs, { cols, eps }, rows);
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
    const op = "layerNormBackward";
    this.size(op, { rows, cols });
    const n = rows * cols;
    const DX = this.need(op, "dx", dx, n), DW = this.need(op, "dweight", dweight, cols);
    const DB = this.need(op, "dbias", dbias, cols), DY = this.need(op, "dy", dy, n);
    const X = this.need(op, "x", x, n), MU = this.need(op, "mean", mean, rows);
    const RS = this.need(op, "rstd", rstd, rows), W = this.need(op, "weight", weight, cols);
    if (cols === 0) return;
    this.ctx.run(
      this.kernels.get("layer_norm_backward", layerNormBackwardKernel),
      [DX, DY, X, MU, RS, W],
      { cols },
      rows,
    );
    this.columns(
      this.kernels.get("layer_norm_param_grad", layerNormParamGradKernel),
      [DW, DB, DY, X, MU, RS],
      { rows, cols },
      cols,
    );
  }

  jumpRelu(
    codes: DeviceBuffer,
    preCodes: DeviceBuffer,
    logThreshold: DeviceBuffer,
    rows: number,
    cols: number,
  ): void {
    const op = "jumpRelu";
    this.size(op, { rows, cols });
    const n = rows * cols;
    this.map(
      JUMP_RELU,
      {
        codes: this.need(op, "codes", codes, n),
        pre: this.need(op, "preCodes", preCodes, n),
        log_threshold: this.need(op, "logThreshold", logThreshold, cols),
      },
      n,
      cols,
    );
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
    const op = "jumpReluBackward";
    this.size(op, { rows, cols });
    const n = rows * cols;
    const bufs = [
      this.need(op, "dPre", dPre, n),
      this.need(op, "dLogThreshold", dLogThreshold, cols),
      this.need(op, "dCodes", dCodes, n),
      this.need(op, "preCodes", preCodes, n),
      this.need(op, "logThreshold", logThreshold, cols),
    ];
    const { kernel, eps, s } = this.pseudoGradient(op, pg);
    const src = this.kernels.get("jump_relu_backward", jumpReluBackwardKernel);
    this.columns(src, bufs, { rows, cols, kernel, eps, s, scale: 1 }, cols);
  }
  maskedCodeGradient(
    dCodes: DeviceBuffer,
    dXHat: DeviceBuffer,
    dictionary: DeviceBuffer,
    _preCodes: DeviceBuffer,
    _logThreshold: DeviceBuffer,
    rows: number,
    cols: number,
    dim: number,
    _pg: PseudoGradient,
  ): void {
    // the dense product: every entry (a GPU is not short of FLOPs here)
    this.matmul(dCodes, dXHat, dictionary, {
      m: rows,
      n: cols,
      k: dim,
      transB: true,
      accumulate: true,
    });
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
    const op = "heavisideL0";
    this.size(op, { rows, cols });
    const L = this.need(op, "loss", loss, 1),
      DT = this.need(op, "dLogThreshold", dLogThreshold, cols);
    const PRE = this.need(op, "preCodes", preCodes, rows * cols);
    const T = this.need(op, "logThreshold", logThreshold, cols);
    const { kernel, eps, s } = this.pseudoGradient(op, pg);
    if (cols === 0) return;
    const counts = this.ctx.temp(cols);
    const src = this.kernels.get("heaviside_l0", heavisideL0Kernel);
    this.columns(src, [counts, DT, PRE, T], { rows, cols, kernel, eps, s, scale }, cols);
    this.reduce(SUM, L, [counts], cols, scale);
    this.ctx.release(counts);
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
    const op = "auxKSelect";
    this.size(op, { rows, cols, k });
    const n = rows * cols;
    const bufs = [
      this.need(op, "aux", aux, n),
      this.need(op, "selected", selected, n),
      this.need(op, "preCodes", preCodes, n),
      this.need(op, "codes", codes, n),
    ];
    if (n === 0) return;
    this.ctx.run(this.kernels.get("aux_k_select", auxKSelectKernel), bufs, { cols, k }, rows);
  }
  auxKBackward(
    dPreCodes: DeviceBuffer,
    dCodes: DeviceBuffer,
    dAux: DeviceBuffer,
    selected: DeviceBuffer,
    preCodes: DeviceBuffer,
    n: number,
  ): void {
    const op = "auxKBackward";
    this.size(op, { n });
    this.map(AUXK_BACKWARD, {
      dPre: this.need(op, "dPreCodes", dPreCodes, n),
      dCodes: this.need(op, "dCodes", dCodes, n),
      dAux: this.need(op, "dAux", dAux, n),
      selected: this.need(op, "selected", selected, n),
      pre: this.need(op, "preCodes", preCodes, n),
    }, n);
  }
  squaredError(
    loss: DeviceBuffer,
    grad: DeviceBuffer,
    a: DeviceBuffer,
    b: DeviceBuffer,
    n: number,
    scale: number,
  ): void {
    const op = "squaredError";
    this.size(op, { n });
    const L = this.need(op, "loss", loss, 1), G = this.need(op, "grad", grad, n);
    this.reduce(
      SQUARED_ERROR,
      L,
      [G, this.need(op, "a", a, n), this.need(op, "b", b, n)],
      n,
      scale,
      { scale },
    );
  }
  absSum(loss: DeviceBuffer, grad: DeviceBuffer, a: DeviceBuffer, n: number, scale: number): void {
    const op = "absSum";
    this.size(op, { n });
    const L = this.need(op, "loss", loss, 1), G = this.need(op, "grad", grad, n);
    this.reduce(ABS_SUM, L, [G, this.need(op, "a", a, n)], n, scale, { scale });
  }
  sumSquares(out: DeviceBuffer, x: DeviceBuffer, n: number): void {
    this.size("sumSquares", { n });
    const o = this.need("sumSquares", "out", out, 1);
    this.reduce(SUM_SQUARES, o, [this.need("sumSquares", "x", x, n)], n, 1);
  }

  normalizeRows(weights: DeviceBuffer, rows: number, cols: number, kind: NormalizationKind): void {
    const op = "normalizeRows";
    this.size(op, { rows, cols });
    if (!["l2", "max_l2", "l1", "max_l1"].includes(kind)) {
      throw new TypeError(
        `${op}: expected kind "l2", "max_l2", "l1" or "max_l1", got ${JSON.stringify(kind)}`,
      );
    }
    const W = this.need(op, "weights", weights, rows * cols);
    if (rows * cols === 0) return;
    const norms = this.ctx.temp(rows);
    this.ctx.run(this.kernels.get(`row_norm:${kind}`, () => rowNormKernel(kind)), [norms, W], {
      cols,
    }, rows);
    if (kind === "max_l2" || kind === "max_l1") {
      const max = this.ctx.temp(1);
      this.ctx.run(this.kernels.get("max", maxKernel), [max, norms], { n: rows }, 1);
      this.map(DIVIDE_SCALAR, { w: W, norm: max }, rows * cols);
      this.ctx.release(max);
    } else {
      this.map(DIVIDE_ROWS, { w: W, norm: norms }, rows * cols, cols);
    }
    this.ctx.release(norms);
  }
  scaleByExp(out: DeviceBuffer, x: DeviceBuffer, logScale: DeviceBuffer, n: number): void {
    const op = "scaleByExp";
    this.size(op, { n });
    this.map(SCALE_BY_EXP, {
      out: this.need(op, "out", out, n),
      x: this.need(op, "x", x, n),
      log_scale: this.need(op, "logScale", logScale, 1),
    }, n);
  }
  dotScaledByExp(
    out: DeviceBuffer,
    a: DeviceBuffer,
    b: DeviceBuffer,
    logScale: DeviceBuffer,
    n: number,
  ): void {
    const op = "dotScaledByExp";
    this.size(op, { n });
    const o = this.need(op, "out", out, 1);
    const bufs = [this.need(op, "a", a, n), this.need(op, "b", b, n)];
    this.reduce(DOT, o, bufs, n, 1, {}, this.need(op, "logScale", logScale, 1));
  }

  adam(
    param: DeviceBuffer,
    grad: DeviceBuffer,
    m: DeviceBuffer,
    v: DeviceBuffer,
    n: number,
    p: AdamParams,
  ): void {
    const op = "adam";
    this.size(op, { n });
    if (!Number.isInteger(p.step) || p.step < 1) {
      throw new RangeError(`${op}: expected step to be an integer ≥ 1, got ${p.step}`);
    }
    const bc1 = 1 - p.beta1 ** p.step, bc2 = 1 - p.beta2 ** p.step;
    this.map(
      ADAM,
      {
        param: this.need(op, "param", param, n),
        m: this.need(op, "m", m, n),
        v: this.need(op, "v", v, n),
        grad: this.need(op, "grad", grad, n),
      },
      n,
      0,
      {
        lr: p.lr,
        wd: p.weightDecay,
        decoupled: p.decoupled ? 1 : 0,
        beta1: p.beta1,
        beta2: p.beta2,
        eps: p.eps,
        step_size: p.lr / bc1,
        bc2_sqrt: Math.sqrt(bc2),
      },
    );
  }
  sgd(param: DeviceBuffer, grad: DeviceBuffer, buf: DeviceBuffer, n: number, p: SgdParams): void {
    const op = "sgd";
    this.size(op, { n });
    const values = {
      lr: p.lr,
      momentum: p.momentum,
      dampening: p.dampening,
      wd: p.weightDecay,
      nesterov: p.nesterov ? 1 : 0,
      first: p.firstStep ? 1 : 0,
    };
    const P = this.need(op, "param", param, n), G = this.need(op, "grad", grad, n);
    if (p.momentum === 0) this.map(SGD_PLAIN, { param: P, grad: G }, n, 0, values);
    else this.map(SGD, { param: P, buf: this.need(op, "buf", buf, n), grad: G }, n, 0, values);
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
    const op = "topK";
    this.size(op, { rows, cols, k });
    const buffers = [
      this.need(op, "values", values, rows * k),
      this.need(op, "indices", indices, rows * k),
      this.need(op, "nnz", nnz, rows),
      this.need(op, "codes", codes, rows * cols),
    ];
    this.ctx.run(this.kernels.get("top_k", topKKernel), buffers, { cols, k }, rows);
  }

  // ---- helpers ----

  /** Our buffer behind a handle, or a TypeError. */
  private buf(b: DeviceBuffer, op: string, name: string): GpuBuffer {
    if (op !== "free") this.ctx.check(); // a disposed or lost device says so first
    if (!(b instanceof GpuBuffer) || b.owner !== this.ctx) {
      throw new TypeError(
        `${op}: expected ${name} to be a buffer of this WebGPU backend, got ${describe(b)}`,
      );
    }
    if (!this.ctx.isLive(b) && op !== "free") {
      throw new TypeError(`${op}: expected ${name} to be a live buffer, got a freed one`);
    }
    return b;
  }

  /** Our buffer, checked to hold at least `length` floats. */
  private need(op: string, name: string, b: DeviceBuffer, length: number): GpuBuffer {
    const g = this.buf(b, op, name);
    if (g.length < length) {
      throw new RangeError(
        `${op}: expected ${name} to hold at least ${length} values, got a buffer of ${g.length}`,
      );
    }
    return g;
  }

  /** Checks that sizes are non-negative integers whose products stay addressable (u32). */
  private size(op: string, sizes: Record<string, number>): void {
    for (const [name, v] of Object.entries(sizes)) {
      if (!Number.isInteger(v) || v < 0) {
        throw new RangeError(`${op}: expected ${name} to be a non-negative integer, got ${v}`);
      }
    }
  }

  private pseudoGradient(
    op: string,
    pg: PseudoGradient,
  ): { kernel: number; eps: number; s: number } {
    const kernel = kernelIndex(pg.kernel);
    if (kernel < 0) {
      throw new TypeError(
        `${op}: expected a known pseudo-gradient kernel, got ${JSON.stringify(pg.kernel)}`,
      );
    }
    const eps = Math.fround(pg.bandwidth);
    if (!(eps > 0)) throw new RangeError(`${op}: expected bandwidth > 0, got ${pg.bandwidth}`);
    if (pg.mode !== "overcomplete" && pg.mode !== "paper") {
      throw new TypeError(
        `${op}: expected mode "overcomplete" or "paper", got ${JSON.stringify(pg.mode)}`,
      );
    }
    return { kernel, eps, s: pseudoGradientScale(pg.kernel, eps, pg.mode) };
  }

  /**
   * Records an elementwise kernel over n elements. Buffers are given by operand name; an input
   * that is the same buffer as an output is read from the output (the alias variant).
   */
  private map(
    spec: MapSpec,
    named: Record<string, GpuBuffer>,
    n: number,
    cols = 0,
    values: Record<string, number> = {},
  ): void {
    const aliased: [string, string][] = [];
    for (const input of spec.inputs ?? []) {
      const out = spec.outputs.find((o) => named[o] === named[input]);
      if (out) aliased.push([input, out]);
    }
    const key = `${spec.family}:${aliased.map((p) => p.join("=")).join(",")}`;
    const src = this.kernels.get(key, () => mapKernel(spec, aliased));
    const buffers = src.bindings.map((b) => named[b.name]);
    if (n === 0) return;
    const nvec = Math.ceil(n / 4);
    this.ctx.run(src, buffers, { ...values, n, nvec, cols }, Math.ceil(nvec / MAP_WORKGROUP));
  }

  /** Records a column-layout kernel over `cols` columns. */
  private columns(
    src: KernelSource,
    buffers: GpuBuffer[],
    values: Record<string, number>,
    cols: number,
  ): void {
    if (cols === 0) return;
    this.ctx.run(src, buffers, values, Math.ceil(cols / COLUMN_TILE));
  }

  /** out[0] += scale·Σ (two deterministic passes; `logScale` makes scale exp(logScale[0])). */
  private reduce(
    spec: PartialSpec,
    out: GpuBuffer,
    buffers: GpuBuffer[],
    n: number,
    scale: number,
    values: Record<string, number> = {},
    logScale?: GpuBuffer,
  ): void {
    if (n === 0) return;
    const groups = partialCount(n);
    const partials = this.ctx.temp(groups);
    const nvec = Math.ceil(n / 4);
    const src = this.kernels.get(`partial:${spec.family}`, () => partialKernel(spec));
    this.ctx.run(src, [partials, ...buffers], { ...values, n, nvec, groups }, groups);
    const finish = this.kernels.get(`finish:${!!logScale}`, () => finishKernel(!!logScale));
    this.ctx.run(
      finish,
      logScale ? [out, partials, logScale] : [out, partials],
      { groups, scale },
      1,
    );
    this.ctx.release(partials);
  }
}

function describe(v: unknown): string {
  if (v === null || typeof v !== "object") return String(v);
  return v.constructor?.name ?? "object";
}

/** Workgroup size of the reduction passes (re-exported for tests). */
export { REDUCE_WORKGROUP };
