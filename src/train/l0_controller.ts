/**
 * An L0 penalty whose coefficient steers itself to a target sparsity: the loss term of the
 * training recipes (`trainSae(model, data, { targetL0 })`).
 *
 * @module
 */
import type { Loss } from "../losses.ts";
import { BatchL0Term } from "../_batch_l0.ts";

/** Options of `l0Controller`. */
export interface L0ControllerOptions {
  /** Coefficient λ at the first step. Default 1e-3. */
  initialPenalty?: number;
  /**
   * Integral gain: λ = unit·sinh(u) and after every step u += gain·(L0/target − 1), the relative
   * error clipped to [−1, 1]. Default 0.05 (|λ| ≫ unit moves ×e in 20 steps at full error).
   */
  gain?: number;
  /** Scale of λ where it turns from linear (near 0) to exponential. Default 1e-4. */
  unit?: number;
  /** |λ| stays at most this. Default 1e3. */
  maxPenalty?: number;
}

/** An `l0Controller` loss: a `Loss` that also reports and restores its coefficient. */
export interface L0Controller extends Loss {
  /** The wanted mean number of active codes per token. */
  readonly target: number;
  /** The coefficient λ the next step will use (negative: codes are too sparse). */
  readonly penalty: number;
  /** Mean L0 of the last batch seen in `accumulate`. */
  readonly lastL0: number;
  /** The controller's state, for checkpoints. */
  stateDict(): { penalty: number; u: number };
  /** Restores a state returned by `stateDict()`. */
  loadStateDict(state: { u: number }): void;
}

/**
 * λ·L0 with λ adapted online so that the mean L0 per token reaches `target`: L0 is the mean over
 * tokens of Σ_c H(relu(preCodes) − θ) with the model's threshold pseudo-gradient (as
 * `losses.l0Penalty`). An integral controller on λ = unit·sinh(u), u += gain·(L0/target − 1)
 * after every step (4× faster while λ still pushes the wrong way, as Adam moves the thresholds at
 * a bounded rate and λ winds up meanwhile): λ grows (geometrically once above `unit`) while
 * codes are too dense and falls while too sparse, through 0 to a negative coefficient when the reconstruction alone
 * keeps the codes sparser than asked (a reward for firing lowers the thresholds). It settles
 * where the reconstruction's pull on the thresholds balances the penalty at the target.
 *
 * @param target Wanted mean active codes per token, > 0.
 * @param options See `L0ControllerOptions`.
 *
 * @example Aim at 16 active codes per token
 * ```ts
 * import { l0Controller, losses } from "../../mod.ts";
 * const sparsity = l0Controller(16);
 * const loss = losses.sum(losses.mse(), sparsity);
 * console.log(sparsity.penalty); // 0.001 before the first step
 * ```
 */
export function l0Controller(target: number, options: L0ControllerOptions = {}): L0Controller {
  if (typeof target !== "number" || !(target > 0) || !Number.isFinite(target)) {
    throw new RangeError(`target must be a finite number > 0, got ${target}`);
  }
  const positive = (name: string, v: number | undefined, fallback: number) => {
    const value = v ?? fallback;
    if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
      throw new RangeError(`${name} must be a finite number > 0, got ${value}`);
    }
    return value;
  };
  const gain = positive("gain", options.gain, 0.05);
  const unit = positive("unit", options.unit, 1e-4);
  const maxPenalty = positive("maxPenalty", options.maxPenalty, 1e3);
  const initial = options.initialPenalty ?? 1e-3;
  if (typeof initial !== "number" || !Number.isFinite(initial)) {
    throw new RangeError(`initialPenalty must be a finite number, got ${initial}`);
  }
  const uMax = Math.asinh(maxPenalty / unit);
  const clamp = (v: number) => Math.min(uMax, Math.max(-uMax, v));
  let u = clamp(Math.asinh(initial / unit));
  let penalty = unit * Math.sinh(u);
  let lastL0 = NaN;
  const term = new BatchL0Term();
  return {
    name: "l0Controller",
    target,
    get penalty() {
      return penalty;
    },
    get lastL0() {
      return lastL0;
    },
    async accumulate(ctx) {
      // this step's gradient uses the current λ; the update applies from the next step on
      const l0 = await term.accumulate(ctx, (l0) => ({ value: penalty * l0, slope: penalty }));
      lastL0 = l0;
      const error = Math.max(-1, Math.min(1, l0 / target - 1));
      if (Number.isFinite(error)) {
        // anti-windup: Adam moves thresholds at a bounded rate whatever λ is, so a λ grown
        // while they caught up is unwound 4× faster once the error changes sign
        const unwinding = (error < 0 && u > 0) || (error > 0 && u < 0);
        u = clamp(u + (unwinding ? 4 : 1) * gain * error);
        penalty = unit * Math.sinh(u);
      }
    },
    stateDict: () => ({ penalty, u }),
    loadStateDict(state) {
      const v = state?.u;
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw new RangeError(`state.u must be a finite number, got ${v}`);
      }
      u = clamp(v);
      penalty = unit * Math.sinh(u);
    },
  };
}
