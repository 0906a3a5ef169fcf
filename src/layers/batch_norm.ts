import type { Backend, DeviceBuffer } from "../backends/backend.ts";
import { Parameter } from "../parameter.ts";
import { gradOf, type Layer, type RunContext, valueOf, Workspace } from "./layer.ts";

const MOMENTUM = 0.1;
const EPS = 1e-5;

/**
 * `nn.BatchNorm1d(features)` with PyTorch's semantics: in training mode it normalizes with the
 * batch mean and biased variance and updates the running statistics (momentum 0.1, unbiased
 * running variance, `num_batches_tracked` + 1); in eval mode it uses the running statistics.
 */
export class BatchNorm1d implements Layer {
  readonly parameters: Parameter[];
  readonly needsBatch = true;
  /** Affine scale γ, [features]. */
  readonly weight: Parameter;
  /** Affine shift β, [features]. */
  readonly bias: Parameter;
  /** Running mean, [features] (a buffer). */
  readonly runningMean: Parameter;
  /** Running unbiased variance, [features] (a buffer). */
  readonly runningVar: Parameter;
  /** Training-mode batches seen (int64, kept on the host). */
  readonly numBatchesTracked: Parameter;
  /** Output width, inFeatures. */
  readonly outFeatures: number;
  #x: DeviceBuffer | null = null;
  #trainingForward = true;
  #out = new Workspace();
  #dx = new Workspace();
  #mean = new Workspace();
  #rstd = new Workspace();
  #zeros = new Workspace();
  #ones = new Workspace();
  #evalRstd = new Workspace();

  /**
   * `nn.BatchNorm1d(inFeatures)` named `name`.
   *
   * @param name Module name, the prefix of its state-dict keys.
   * @param inFeatures Features normalized.
   */
  constructor(readonly name: string, readonly inFeatures: number) {
    const n = inFeatures;
    this.outFeatures = n;
    this.weight = new Parameter(`${name}.weight`, [n], true, new Float32Array(n).fill(1));
    this.bias = new Parameter(`${name}.bias`, [n], true, new Float32Array(n));
    this.runningMean = new Parameter(`${name}.running_mean`, [n], false, new Float32Array(n));
    this.runningVar = new Parameter(`${name}.running_var`, [n], false, new Float32Array(n).fill(1));
    this.numBatchesTracked = new Parameter(
      `${name}.num_batches_tracked`,
      [],
      false,
      new Float32Array(1),
      "I64",
    );
    this.parameters = [
      this.weight,
      this.bias,
      this.runningMean,
      this.runningVar,
      this.numBatchesTracked,
    ];
  }

  /** Normalizes x [rows, features]: batch statistics in training mode, else running ones. */
  forward(ctx: RunContext, x: DeviceBuffer, rows: number): DeviceBuffer {
    const B = rows, C = this.inFeatures, be = ctx.backend;
    const out = this.#out.get(be, B * C); // (B, C)
    if (ctx.training) {
      const mean = this.#mean.get(be, C), rstd = this.#rstd.get(be, C);
      be.batchNormTrain(
        out,
        mean,
        rstd,
        valueOf(this.runningMean),
        valueOf(this.runningVar),
        x,
        valueOf(this.weight),
        valueOf(this.bias),
        B,
        C,
        MOMENTUM,
        EPS,
      );
      this.numBatchesTracked.initial[0] += 1;
    } else {
      be.batchNormEval(
        out,
        x,
        valueOf(this.runningMean),
        valueOf(this.runningVar),
        valueOf(this.weight),
        valueOf(this.bias),
        B,
        C,
        EPS,
      );
    }
    this.#x = x;
    this.#trainingForward = ctx.training;
    return out;
  }

  backward(
    ctx: RunContext,
    dy: DeviceBuffer,
    rows: number,
    needInputGrad: boolean,
  ): DeviceBuffer | null {
    const B = rows, C = this.inFeatures, be = ctx.backend;
    const dx = this.#dx.get(be, B * C);
    // Eval mode is an affine map per column, y = (x − μ)·r·w + b with r = 1/√(σ² + ε): the
    // train-mode backward given the running (μ, r) accumulates exactly dw = Σ dy·(x − μ)·r and
    // db = Σ dy; only its dx (which subtracts batch means) is wrong there, redone as dy·w·r.
    const [mean, rstd] = this.#trainingForward
      ? [this.#mean.get(be, C), this.#rstd.get(be, C)]
      : [valueOf(this.runningMean), this.#runningRstd(be, C)];
    be.batchNormBackward(
      dx,
      gradOf(this.weight),
      gradOf(this.bias),
      dy,
      this.#x!,
      mean,
      rstd,
      valueOf(this.weight),
      B,
      C,
    );
    if (!needInputGrad) return null;
    if (!this.#trainingForward) {
      const zeros = this.#zeros.get(be, C);
      be.batchNormEval(
        dx,
        dy,
        zeros,
        valueOf(this.runningVar),
        valueOf(this.weight),
        zeros,
        B,
        C,
        EPS,
      );
    }
    return dx;
  }

  /** r = 1/√(running_var + ε), computed with `batchNormEval` on a row of ones (zero mean, bias). */
  #runningRstd(be: Backend, C: number): DeviceBuffer {
    const zeros = this.#zeros.get(be, C), ones = this.#ones.get(be, C);
    const rstd = this.#evalRstd.get(be, C);
    be.fill(zeros, 0, C);
    be.fill(ones, 1, C);
    be.batchNormEval(rstd, ones, zeros, valueOf(this.runningVar), ones, zeros, 1, C, EPS);
    return rstd;
  }
}
