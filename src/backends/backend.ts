/**
 * The seam between the model and the hardware. The model (`src/jump_sae.ts`) calls only these
 * ops; each backend (reference TypeScript, WASM SIMD + threads, WebGPU) implements all of them.
 *
 * Conventions (llm.c style): outputs first, then inputs, then sizes. Sizes: `rows` is the number
 * of tokens B, `cols` the feature count. Ops are enqueued synchronously and may run later (WebGPU);
 * only `download` waits. Ops whose doc says "accumulates" add into their output (`+=`); all
 * others overwrite it. Unless stated, an output buffer must not alias an input.
 */

import type { KernelName, PseudoGradientMode } from "../kernels.ts";
import type { SparseCodes } from "../sparse_codes.ts";

/** An opaque handle to `length` float32 values owned by one backend. */
export interface DeviceBuffer {
  /** Number of float32 values. */
  readonly length: number;
}

/** Shape and options of a matrix product out (m×n) = op(A) · op(B), op(A) m×k, op(B) k×n. */
export interface MatmulParams {
  /** Rows of out and of op(A). */
  m: number;
  /** Columns of out and of op(B). */
  n: number;
  /** The inner dimension: columns of op(A), rows of op(B). */
  k: number;
  /** A is stored k×m (row-major) and used transposed. */
  transA?: boolean;
  /** B is stored n×k (row-major) and used transposed. */
  transB?: boolean;
  /** Add into `out` instead of overwriting it. */
  accumulate?: boolean;
  /** Hint: A is mostly zeros (sparse codes); a backend may skip them. Results must not change. */
  sparseA?: boolean;
}

/** The threshold pseudo-gradient: kernel, bandwith ε and scaling mode (see `src/kernels.ts`). */
export interface PseudoGradient {
  /** The kernel K of the pseudo-gradient. */
  kernel: KernelName;
  /** The bandwith ε of the kernel. */
  bandwidth: number;
  /** How the kernel term is scaled, see `PseudoGradientMode`. */
  mode: PseudoGradientMode;
}

/** Dictionary projections of the seed library's `DictionaryLayer`. */
export type NormalizationKind = "l2" | "max_l2" | "l1" | "max_l1";

/** Hyper-parameters of one Adam(W) step, PyTorch semantics (`step` counts from 1). */
export interface AdamParams {
  /** Learning rate. */
  lr: number;
  /** Decay rate of the first moment. */
  beta1: number;
  /** Decay rate of the second moment. */
  beta2: number;
  /** Added to the denominator. */
  eps: number;
  /** L2 penalty (Adam) or decoupled decay (AdamW). */
  weightDecay: number;
  /** Decoupled weight decay (AdamW) when true, L2 added to the gradient (Adam) when false. */
  decoupled: boolean;
  /** Index of this step, from 1 (bias correction). */
  step: number;
}

/** Hyper-parameters of one SGD step, PyTorch semantics. */
export interface SgdParams {
  /** Learning rate. */
  lr: number;
  /** Momentum factor (0: none). */
  momentum: number;
  /** Dampening of the momentum. */
  dampening: number;
  /** L2 penalty added to the gradient. */
  weightDecay: number;
  /** Nesterov momentum. */
  nesterov: boolean;
  /** First step: the momentum buffer is set to the gradient instead of being updated. */
  firstStep: boolean;
}

/** The ops a backend implements. */
export interface Backend {
  /** Short name, e.g. "reference", "wasm", "webgpu". */
  readonly name: string;

  /** Allocates a zero-filled buffer of `length` floats. */
  alloc(length: number): DeviceBuffer;
  /** Copies `data` into `dst` starting at element `offset` (default 0). */
  upload(dst: DeviceBuffer, data: Float32Array, offset?: number): void;
  /**
   * Reads `length` floats (default all) of `src` from element `offset` (default 0): into the
   * first `length` elements of `into` when given (and resolves to it), else into a new array.
   */
  download(
    src: DeviceBuffer,
    offset?: number,
    length?: number,
    into?: Float32Array,
  ): Promise<Float32Array>;
  /** Reads the non-zeros of the rows×cols matrix `src` as CSR (`csrFromDense` of its download). */
  downloadSparseRows(src: DeviceBuffer, rows: number, cols: number): Promise<SparseCodes>;
  /** Releases a buffer. */
  free(buffer: DeviceBuffer): void;
  /** Releases everything: buffers, workers, devices. */
  dispose(): void;

  /** dst[0..n) = src[0..n). */
  copy(dst: DeviceBuffer, src: DeviceBuffer, n: number): void;
  /** dst[0..n) = value. */
  fill(dst: DeviceBuffer, value: number, n: number): void;
  /** out[i] = alpha * x[i] (out may alias x). */
  scale(out: DeviceBuffer, x: DeviceBuffer, alpha: number, n: number): void;

  /** out = op(A)·op(B), see `MatmulParams`. */
  matmul(out: DeviceBuffer, a: DeviceBuffer, b: DeviceBuffer, p: MatmulParams): void;
  /** out[r, c] += bias[c] for a rows×cols matrix. */
  addBias(out: DeviceBuffer, bias: DeviceBuffer, rows: number, cols: number): void;
  /** Accumulates: out[c] += Σ_r x[r, c] (bias gradients). */
  sumRows(out: DeviceBuffer, x: DeviceBuffer, rows: number, cols: number): void;

  /** out = max(x, 0) (out may alias x). */
  relu(out: DeviceBuffer, x: DeviceBuffer, n: number): void;
  /** dx = dy where x > 0, else 0 (dx may alias dy). */
  reluBackward(dx: DeviceBuffer, dy: DeviceBuffer, x: DeviceBuffer, n: number): void;

  /**
   * BatchNorm1d in training mode over a rows×cols matrix: normalizes with the batch mean and the
   * biased variance, stores mean and rstd = 1/sqrt(var + eps) per column for the backward, and
   * updates the running statistics in place with the unbiased variance:
   * running = (1 − momentum)·running + momentum·batch. Needs rows ≥ 2.
   */
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
  ): void;
  /** BatchNorm1d in eval mode: out = (x − runningMean)/sqrt(runningVar + eps)·weight + bias. */
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
  ): void;
  /** Backward of `batchNormTrain`: writes dx, accumulates dweight and dbias. */
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
  ): void;
  /** LayerNorm over each row: stores mean and rstd per row (biased variance). */
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
  ): void;
  /** Backward of `layerNorm`: writes dx, accumulates dweight and dbias. */
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
  ): void;

  /**
   * codes = JumpReLU(ReLU(preCodes)) with threshold θ[c] = exp(logThreshold[c]):
   * r = max(pre, 0); codes = r if r ≥ θ else 0 (the seed zeroes r < θ).
   */
  jumpRelu(
    codes: DeviceBuffer,
    preCodes: DeviceBuffer,
    logThreshold: DeviceBuffer,
    rows: number,
    cols: number,
  ): void;
  /**
   * Backward of `jumpRelu`, through ReLU and exp. With r = max(pre, 0), θ = exp(t) and s the
   * `pseudoGradientScale`: dPre = dCodes where r ≥ θ and pre > 0, else 0 (written);
   * dLogThreshold[c] += θ·Σ_r −s·θ·kernel(r − θ, ε)·dCodes (accumulates).
   */
  jumpReluBackward(
    dPre: DeviceBuffer,
    dLogThreshold: DeviceBuffer,
    dCodes: DeviceBuffer,
    preCodes: DeviceBuffer,
    logThreshold: DeviceBuffer,
    rows: number,
    cols: number,
    pg: PseudoGradient,
  ): void;
  /**
   * The decoder's code gradient, only where `jumpReluBackward` reads it: accumulates
   * dCodes[r, c] += Σ_d dXHat[r, d]·dictionary[c, d], bit for bit the entry of
   * `matmul(dCodes, dXHat, dictionary, { m: rows, n: cols, k: dim, transB: true, accumulate: true })`,
   * at every entry where the code is active (pre > 0 and r ≥ θ) or this backend's
   * `jumpReluBackward` gives the kernel a non-zero weight. Any other entry is left as it is or
   * gets the product, so `jumpReluBackward` then gives exactly what it gives after the dense
   * product (codes are sparse: this skips most of a B·C·D product).
   */
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
  ): void;
  /**
   * The L0 penalty through a Heaviside with threshold pseudo-gradient: with r = max(pre, 0) and
   * θ = exp(t), loss[0] += scale·Σ H(r − θ) (H(u) = 1 if u > 0), and
   * dLogThreshold[c] += θ·Σ_r −s·kernel(r − θ, ε)·scale (both accumulate; no gradient to pre).
   */
  heavisideL0(
    loss: DeviceBuffer,
    dLogThreshold: DeviceBuffer,
    preCodes: DeviceBuffer,
    logThreshold: DeviceBuffer,
    rows: number,
    cols: number,
    scale: number,
    pg: PseudoGradient,
  ): void;

  /**
   * The selection of the seed's `top_k_auxiliary_loss`: with p = max(pre, 0) − codes, the k
   * largest p of each row get aux = p and selected = 1, every other entry aux = 0 and
   * selected = 0 (both written). A row with fewer than k positive p fills the rest with its tied
   * zeros, each with the weight selected = (slots left)/(zeros): the expectation of the seed's
   * gradient over a random tie-break (`_loss_math.ts` `topKAuxTerm`); ties between equal positive
   * values go to the lower column.
   */
  auxKSelect(
    aux: DeviceBuffer,
    selected: DeviceBuffer,
    preCodes: DeviceBuffer,
    codes: DeviceBuffer,
    rows: number,
    cols: number,
    k: number,
  ): void;
  /** Accumulates, w = selected: dPreCodes += w·dAux where pre > 0; dCodes −= w·dAux. */
  auxKBackward(
    dPreCodes: DeviceBuffer,
    dCodes: DeviceBuffer,
    dAux: DeviceBuffer,
    selected: DeviceBuffer,
    preCodes: DeviceBuffer,
    n: number,
  ): void;
  /** Accumulates: loss[0] += scale·Σ (a − b)², grad += 2·scale·(a − b). */
  squaredError(
    loss: DeviceBuffer,
    grad: DeviceBuffer,
    a: DeviceBuffer,
    b: DeviceBuffer,
    n: number,
    scale: number,
  ): void;
  /** Accumulates: loss[0] += scale·Σ |a|, grad += scale·sign(a) (sign(0) = 0). */
  absSum(loss: DeviceBuffer, grad: DeviceBuffer, a: DeviceBuffer, n: number, scale: number): void;
  /** Accumulates: out[0] += Σ x² (gradient norms). */
  sumSquares(out: DeviceBuffer, x: DeviceBuffer, n: number): void;

  /** Projects each row of a rows×cols dictionary in place, as the seed's normalizations. */
  normalizeRows(weights: DeviceBuffer, rows: number, cols: number, kind: NormalizationKind): void;
  /** out[i] = x[i]·exp(logScale[0]) (the dictionary multiplier; out may alias x). */
  scaleByExp(out: DeviceBuffer, x: DeviceBuffer, logScale: DeviceBuffer, n: number): void;
  /** Accumulates: out[0] += exp(logScale[0])·Σ a[i]·b[i] (the multiplier's gradient). */
  dotScaledByExp(
    out: DeviceBuffer,
    a: DeviceBuffer,
    b: DeviceBuffer,
    logScale: DeviceBuffer,
    n: number,
  ): void;

  /** One Adam(W) update of `param` in place, with moment buffers m and v. */
  adam(
    param: DeviceBuffer,
    grad: DeviceBuffer,
    m: DeviceBuffer,
    v: DeviceBuffer,
    n: number,
    p: AdamParams,
  ): void;
  /** One SGD update of `param` in place, with momentum buffer `buf` (unused if momentum is 0). */
  sgd(param: DeviceBuffer, grad: DeviceBuffer, buf: DeviceBuffer, n: number, p: SgdParams): void;

  /**
   * Per-row top-k of codes [rows, cols] by selection (one pass, a bounded heap): values and
   * indices [rows, k] by descending value, equal values by lower index, only non-zero codes,
   * padded with index −1 and value 0; nnz [rows] the number of non-zero codes of each row.
   * Indices are stored as floats (exact below 2^24 concepts). Written, not accumulated.
   */
  topK(
    values: DeviceBuffer,
    indices: DeviceBuffer,
    nnz: DeviceBuffer,
    codes: DeviceBuffer,
    rows: number,
    cols: number,
    k: number,
  ): void;
}
