import { checkHyper } from "./_checks.ts";

/** What a scheduler drives: anything with a settable `lr` (every `Optimizer`). */
export interface HasLearningRate {
  /** The learning rate, set by the scheduler. */
  lr: number;
}

/**
 * The seed library's `CosineScheduler`: a linear warm-up from `startWarmupValue` to `baseValue`
 * over `warmupIters` values (numpy's `linspace`, both ends included), then a cosine decay
 * finalValue + ½(baseValue − finalValue)(1 + cos(π·i / (totalIters − warmupIters))), the whole
 * schedule rounded to float32. As in the seed, the constructor leaves the optimizer's learning
 * rate alone; each `step()` advances the iteration and sets lr = schedule[iteration] (so
 * schedule[0] is never applied), and from `totalIters` on the learning rate is `finalValue`.
 *
 * @example Warm-up then cosine decay over 1000 steps
 * ```ts
 * import { CosineScheduler } from "../../mod.ts";
 * const optimizer = { lr: 1e-3 }; // any Optimizer
 * const scheduler = new CosineScheduler(optimizer, 1e-3, 1e-5, 1000, 50);
 * scheduler.step();
 * console.log(scheduler.lr === optimizer.lr); // true
 * ```
 */
export class CosineScheduler {
  /** The learning rates (float32): the i-th `step()` sets schedule[i]. */
  readonly schedule: Float32Array;
  #iter = 0;

  /**
   * The seed's cosine schedule for `optimizer`.
   *
   * @param optimizer The optimizer whose `lr` is set.
   * @param baseValue Learning rate at the end of the warm-up.
   * @param finalValue Learning rate at the end (and after).
   * @param totalIters Length of the schedule, >= warmupIters (equal: a warm-up only, as the seed
   *   accepts).
   * @param warmupIters Warm-up length. Default 0.
   * @param startWarmupValue First warm-up value. Default 0.
   */
  constructor(
    readonly optimizer: HasLearningRate,
    readonly baseValue: number,
    readonly finalValue: number,
    readonly totalIters: number,
    readonly warmupIters = 0,
    readonly startWarmupValue = 0,
  ) {
    if (!optimizer || typeof optimizer !== "object" || typeof optimizer.lr !== "number") {
      throw new TypeError(`optimizer must have a numeric lr, got ${typeof optimizer}`);
    }
    checkHyper("baseValue", baseValue, -Infinity);
    checkHyper("finalValue", finalValue, -Infinity);
    checkHyper("startWarmupValue", startWarmupValue, -Infinity);
    if (!Number.isInteger(warmupIters) || warmupIters < 0) {
      throw new RangeError(`warmupIters must be an integer >= 0, got ${warmupIters}`);
    }
    if (!Number.isInteger(totalIters) || totalIters < warmupIters) {
      throw new RangeError(
        `totalIters must be an integer >= warmupIters (${warmupIters}), got ${totalIters}`,
      );
    }
    const s = new Float32Array(totalIters);
    for (let i = 0; i < warmupIters; i++) {
      s[i] = warmupIters === 1
        ? startWarmupValue
        : startWarmupValue + (baseValue - startWarmupValue) * (i / (warmupIters - 1));
    }
    const n = totalIters - warmupIters;
    for (let i = 0; i < n; i++) {
      s[warmupIters + i] = finalValue +
        0.5 * (baseValue - finalValue) * (1 + Math.cos((Math.PI * i) / n));
    }
    this.schedule = s;
  }

  /** The learning rate of iteration `it` (the seed's `scheduler[it]`). */
  valueAt(it: number): number {
    return it >= this.totalIters ? this.finalValue : this.schedule[Math.max(0, Math.floor(it))];
  }

  /** Iterations taken (number of `step()` calls). */
  get iteration(): number {
    return this.#iter;
  }

  /** The optimizer's current learning rate. */
  get lr(): number {
    return this.optimizer.lr;
  }

  /** Advances one iteration and sets the optimizer's learning rate. */
  step(): void {
    this.#iter++;
    this.optimizer.lr = this.valueAt(this.#iter);
  }

  /** `{ iteration }`, for checkpoints. */
  stateDict(): { iteration: number } {
    return { iteration: this.#iter };
  }

  /** Restores a `stateDict()` and the learning rate it implies. */
  loadStateDict(state: { iteration: number }): void {
    if (!state || !Number.isInteger(state.iteration) || state.iteration < 0) {
      throw new RangeError(`state.iteration must be an integer >= 0, got ${state?.iteration}`);
    }
    this.#iter = state.iteration;
    if (this.#iter > 0) this.optimizer.lr = this.valueAt(this.#iter);
  }
}
