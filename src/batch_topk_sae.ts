import { jumpOptions, SelectionSAE, type SelectionSAEOptions } from "./_selection_sae.ts";
import { checkTopK } from "./topk_sae.ts";
import { kthLargest } from "./topk.ts";

/** Options of `new BatchTopKSAE(inputShape, nbConcepts, options)`. */
export interface BatchTopKSAEOptions extends SelectionSAEOptions {
  /**
   * Codes kept per batch: the k-th largest code of the batch is the threshold.
   * Default max(⌊nbConcepts / 10⌋, 1).
   */
  topK?: number;
  /** Momentum of the running threshold, in [0, 1]. Default 0.9. */
  thresholdMomentum?: number;
}

/**
 * Batch top-k SAE (Bussmann et al. 2024), the twin of the seed library's `BatchTopKSAE`: in
 * training mode the `topK`-th largest of all the batch's codes (ReLU(preCodes)) is the
 * threshold, codes ≥ it stay (all of any tie), and the running threshold follows
 * m·running + (1 − m)·threshold (float32, as the seed's tensor arithmetic; the first batch sets
 * it). In eval mode the running threshold is used. As in the seed it is a plain attribute, not
 * in the state dict: set `runningThreshold` after loading a state dict for eval.
 *
 * @example
 * ```ts
 * import { BatchTopKSAE } from "../mod.ts";
 * const sae = new BatchTopKSAE(8, 32, { topK: 40, seed: 1, device: "reference" });
 * const x = { data: new Float32Array(16 * 8).map((_, i) => Math.sin(i)), shape: [16, 8] };
 * await sae.forward(x); // training mode: about 40 codes on in the batch
 * console.log(sae.runningThreshold);
 * sae.dispose();
 * ```
 */
export class BatchTopKSAE extends SelectionSAE {
  /** Codes kept per batch. */
  readonly topK: number;
  /** Momentum of the running threshold. */
  readonly thresholdMomentum: number;
  #running: number | null = null;

  /**
   * A batch top-k SAE of `nbConcepts` concepts over inputs of shape `inputShape`.
   *
   * @param inputShape `dim`, `[seq, dim]` or `[dim, height, width]`.
   * @param nbConcepts Number of concepts.
   * @param options See `BatchTopKSAEOptions`.
   */
  constructor(
    inputShape: number | readonly number[],
    nbConcepts: number,
    options: BatchTopKSAEOptions = {},
  ) {
    super(
      inputShape,
      nbConcepts,
      jumpOptions({ ...options }, ["topK", "thresholdMomentum"], "BatchTopKSAE"),
    );
    this.topK = checkTopK(options.topK, nbConcepts, Number.MAX_SAFE_INTEGER);
    const m = options.thresholdMomentum ?? 0.9;
    if (typeof m !== "number" || !(m >= 0 && m <= 1)) {
      throw new RangeError(`thresholdMomentum must be a number in [0, 1], got ${m}`);
    }
    this.thresholdMomentum = m;
  }

  /** The running threshold (float32), null until a training-mode forward sets it. */
  get runningThreshold(): number | null {
    return this.#running;
  }

  set runningThreshold(value: number | null) {
    if (value !== null && (typeof value !== "number" || !Number.isFinite(value))) {
      throw new RangeError(`runningThreshold must be a finite number or null, got ${value}`);
    }
    this.#running = value === null ? null : Math.fround(value);
  }

  /** Refuses a training batch with fewer codes than `topK`. */
  protected override checkTokens(tokens: number, training: boolean): void {
    if (training && this.topK > tokens * this.nbConcepts) {
      throw new RangeError(
        `topK (${this.topK}) must be at most the number of codes in the batch, got ${
          tokens * this.nbConcepts
        }`,
      );
    }
  }

  /** Keeps the codes ≥ the batch's `topK`-th largest (training), or ≥ the running threshold. */
  protected select(candidates: Float32Array, _rows: number, training: boolean): Uint8Array {
    let threshold: number;
    if (training) {
      threshold = kthLargest(candidates, this.topK);
      const m = Math.fround(this.thresholdMomentum), f = Math.fround;
      this.#running = this.#running === null
        ? threshold
        : f(f(m * this.#running) + f(f(1 - this.thresholdMomentum) * threshold));
    } else {
      if (this.#running === null) {
        throw new RangeError(
          "runningThreshold is not initialized: run a training-mode forward first, or set it",
        );
      }
      threshold = this.#running;
    }
    return Uint8Array.from(candidates, (v) => (v >= threshold ? 1 : 0));
  }
}
