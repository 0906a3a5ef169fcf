import { formatShape, type TensorLike, toTensor } from "../tensor.ts";

/**
 * Tracks which codes have fired (the seed library's `DeadCodeTracker`): a code is alive once any
 * token gives it a positive value; `deadRatio()` is the fraction never seen alive.
 *
 * @example Over two batches
 * ```ts
 * import { DeadCodeTracker } from "./dead_code_tracker.ts";
 * const tracker = new DeadCodeTracker(3);
 * tracker.update([[0, 1, 0]]);
 * tracker.update([[0, 0, 2]]);
 * console.log(tracker.deadRatio()); // 1/3
 * ```
 */
export class DeadCodeTracker {
  /** 1 where the code has fired, else 0. */
  readonly alive: Uint8Array;

  /**
   * A tracker with every code dead.
   *
   * @param nbConcepts Number of codes tracked.
   */
  constructor(readonly nbConcepts: number) {
    if (!Number.isInteger(nbConcepts) || nbConcepts < 1) {
      throw new RangeError(`nbConcepts must be an integer >= 1, got ${nbConcepts}`);
    }
    this.alive = new Uint8Array(nbConcepts);
  }

  /** Marks the codes that fire in `z` [tokens, nbConcepts]. */
  update(z: TensorLike): void {
    const t = toTensor(z, "z");
    const C = this.nbConcepts;
    if (t.shape.length !== 2 || t.shape[1] !== C) {
      throw new RangeError(`z must have shape [tokens, ${C}], got ${formatShape(t.shape)}`);
    }
    for (let i = 0; i < t.data.length; i++) if (t.data[i] > 0) this.alive[i % C] = 1;
  }

  /** Marks code c alive where `columnSums[c] > 0` (sums of non-negative codes over a batch). */
  updateFromColumnSums(columnSums: ArrayLike<number>): void {
    if (columnSums.length !== this.nbConcepts) {
      throw new RangeError(
        `columnSums must have ${this.nbConcepts} values, got ${columnSums.length}`,
      );
    }
    for (let c = 0; c < this.nbConcepts; c++) if (columnSums[c] > 0) this.alive[c] = 1;
  }

  /** Fraction of codes that never fired, in [0, 1]. */
  deadRatio(): number {
    let n = 0;
    for (const a of this.alive) n += a;
    return 1 - n / this.nbConcepts;
  }

  /** Forgets everything (a new epoch). */
  reset(): void {
    this.alive.fill(0);
  }
}
