/**
 * The batch's mean L0 as a loss term whose coefficient depends on the L0 itself (`targetL0`,
 * `l0Controller`): the Heaviside L0 and its threshold pseudo-gradient into scratch buffers, the
 * L0 read back, then value and scaled gradient added to the context.
 *
 * @module
 */
import { Workspace } from "./layers/layer.ts";
import type { LossContext } from "./losses.ts";

/** Scratch of one such term (reused across steps). */
export class BatchL0Term {
  #value = new Workspace();
  #grad = new Workspace();

  /**
   * Adds `term(l0).value` to the loss and `term(l0).slope` × ∂L0/∂thresholds to the threshold
   * gradient, where L0 is the batch mean of Σ_c H(relu(preCodes) − θ).
   *
   * @returns The batch's mean L0.
   */
  async accumulate(
    ctx: LossContext,
    term: (l0: number) => { value: number; slope: number },
  ): Promise<number> {
    const be = ctx.backend, B = ctx.rows, C = ctx.concepts;
    const l = this.#value.get(be, 1), dt = this.#grad.get(be, C);
    be.fill(l, 0, 1);
    be.fill(dt, 0, C);
    be.heavisideL0(l, dt, ctx.preCodes, ctx.logThreshold, B, C, 1 / B, ctx.pseudoGradient);
    const [l0] = await be.download(l, 0, 1);
    const { value, slope } = term(l0);
    be.scale(dt, dt, slope, C);
    be.addBias(ctx.dLogThreshold, dt, 1, C);
    be.upload(l, Float32Array.of(value));
    be.addBias(ctx.loss, l, 1, 1);
    return l0;
  }
}
