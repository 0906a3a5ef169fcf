import type { Backend, DeviceBuffer } from "../backends/backend.ts";
import { Workspace } from "../layers/layer.ts";
import type { Loss, LossContext } from "../losses.ts";

/** Statistics of one training step, measured on the backend right after the loss. */
export interface StepStats {
  /** Σ (x − x̂)² over the batch. */
  ssRes: number;
  /** Tokens B and input dim D. */
  rows: number;
  dim: number;
  /** Number of active codes in the batch (relu(preCodes) above the threshold). */
  active: number;
  /** Σ over tokens of each code, [C] (codes are ≥ 0: > 0 means the code fired). */
  columnSums: Float32Array;
  /** Σ z² (monitoring 2 only, else NaN). */
  codesSquared: number;
}

/**
 * Wraps a criterion so that, after it has run, a few reductions of the step's device buffers are
 * computed by backend ops and read back (2 + C floats), instead of downloading codes and x̂.
 */
export class StepMonitor {
  last: StepStats | null = null;
  #ss = new Workspace();
  #scratchBD = new Workspace();
  #count = new Workspace();
  #scratchC = new Workspace();
  #cols = new Workspace();
  #sq = new Workspace();

  constructor(readonly level: number) {}

  wrap(inner: Loss): Loss {
    const measure = (ctx: LossContext) => this.#measure(ctx);
    return {
      name: inner.name,
      touchesPreCodes: inner.touchesPreCodes,
      async accumulate(ctx) {
        await inner.accumulate(ctx);
        await measure(ctx);
      },
      setStep: inner.setStep ? (s: number) => inner.setStep!(s) : undefined,
    };
  }

  async #measure(ctx: LossContext): Promise<void> {
    const be: Backend = ctx.backend;
    const B = ctx.rows, D = ctx.dim, C = ctx.concepts;
    const ss = this.#ss.get(be, 1), count = this.#count.get(be, 1), cols = this.#cols.get(be, C);
    const scratchBD = this.#scratchBD.get(be, B * D), scratchC = this.#scratchC.get(be, C);
    be.fill(ss, 0, 1);
    be.fill(scratchBD, 0, B * D);
    be.squaredError(ss, scratchBD, ctx.xHat, ctx.x, B * D, 1);
    be.fill(count, 0, 1);
    be.fill(scratchC, 0, C);
    // codes > θ: the same count as relu(pre) > θ for a JumpSAE, and the selected codes of a TopKSAE
    be.heavisideL0(count, scratchC, ctx.codes, ctx.logThreshold, B, C, 1, ctx.pseudoGradient);
    be.fill(cols, 0, C);
    be.sumRows(cols, ctx.codes, B, C);
    let sq: DeviceBuffer | null = null;
    if (this.level > 1) {
      sq = this.#sq.get(be, 1);
      be.fill(sq, 0, 1);
      be.sumSquares(sq, ctx.codes, B * C);
    }
    this.last = {
      ssRes: (await be.download(ss, 0, 1))[0],
      rows: B,
      dim: D,
      active: (await be.download(count, 0, 1))[0],
      columnSums: await be.download(cols, 0, C),
      codesSquared: sq ? (await be.download(sq, 0, 1))[0] : NaN,
    };
  }
}
