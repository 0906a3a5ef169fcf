import type { Backend, DeviceBuffer, PseudoGradient } from "./backends/backend.ts";

/**
 * Everything a loss sees during `valueAndGrad`, as device buffers of the model's backend.
 * Sizes: B tokens, D input dim, C concepts. A loss adds its value into `loss[0]` and its
 * gradients into the `d*` buffers (all zeroed before the loss runs); the model then
 * back-propagates them.
 */
export interface LossContext {
  backend: Backend;
  rows: number; // B
  dim: number; // D
  concepts: number; // C
  x: DeviceBuffer; // (B, D) the input tokens
  xHat: DeviceBuffer; // (B, D)
  preCodes: DeviceBuffer; // (B, C)
  codes: DeviceBuffer; // (B, C)
  dictionary: DeviceBuffer; // (C, D)
  logThreshold: DeviceBuffer; // (C,) the `thresholds` parameter (log of θ)
  pseudoGradient: PseudoGradient; // the model's kernel, bandwith and mode
  loss: DeviceBuffer; // (1,)
  dXHat: DeviceBuffer; // (B, D)
  dCodes: DeviceBuffer; // (B, C)
  dPreCodes: DeviceBuffer; // (B, C), only read back if `touchesPreCodes`
  dDictionary: DeviceBuffer; // (C, D)
  dLogThreshold: DeviceBuffer; // (C,) gradient of the `thresholds` parameter
}

/**
 * A training objective. Built-in ones run on the backend; write your own with the same ops,
 * or use `hostLoss` to compute on plain arrays.
 *
 * @example Composing two losses
 * ```ts
 * import { losses } from "../mod.ts";
 * const l = losses.sum(losses.mse(), losses.mseL1(1e-3));
 * ```
 */
export interface Loss {
  readonly name: string;
  /** Set when the loss writes `dPreCodes` (a gradient that bypasses the JumpReLU). */
  readonly touchesPreCodes?: boolean;
  /** Adds the value into `ctx.loss` and the gradients into `ctx.d*`. */
  accumulate(ctx: LossContext): void | Promise<void>;
}

/** Mean over all elements of (x − x̂)². */
export function mse(): Loss {
  return {
    name: "mse",
    accumulate(ctx) {
      const n = ctx.rows * ctx.dim;
      ctx.backend.squaredError(ctx.loss, ctx.dXHat, ctx.xHat, ctx.x, n, 1 / n);
    },
  };
}

/** The seed's `mse_l1`: mse + penalty · mean(|codes|). */
export function mseL1(penalty = 1.0): Loss {
  checkPenalty(penalty);
  return {
    name: "mseL1",
    accumulate(ctx) {
      mse().accumulate(ctx);
      const n = ctx.rows * ctx.concepts;
      ctx.backend.absSum(ctx.loss, ctx.dCodes, ctx.codes, n, penalty / n);
    },
  };
}

/**
 * mse + penalty · mean over the batch of Σ_c H(relu(preCodes) − exp(thresholds)). The Heaviside
 * gives no gradient to its input; the thresholds get the pseudo-gradient −(1/ε)·kernel(x − θ, ε)
 * (or the paper's, per the model's `pseudoGradient`), chained through exp.
 */
export function mseL0(penalty = 1.0): Loss {
  checkPenalty(penalty);
  return {
    name: "mseL0",
    accumulate(ctx) {
      mse().accumulate(ctx);
      ctx.backend.heavisideL0(
        ctx.loss,
        ctx.dLogThreshold,
        ctx.preCodes,
        ctx.logThreshold,
        ctx.rows,
        ctx.concepts,
        penalty / ctx.rows,
        ctx.pseudoGradient,
      );
    },
  };
}

/** The sum of several losses. */
export function sum(...parts: Loss[]): Loss {
  return {
    name: parts.map((p) => p.name).join("+"),
    touchesPreCodes: parts.some((p) => p.touchesPreCodes),
    async accumulate(ctx) {
      for (const p of parts) await p.accumulate(ctx);
    },
  };
}

function checkPenalty(penalty: number): void {
  if (!Number.isFinite(penalty) || penalty < 0) {
    throw new RangeError(`penalty must be a finite number >= 0, got ${penalty}`);
  }
}
