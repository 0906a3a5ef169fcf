import { jumpOptions, SelectionSAE, type SelectionSAEOptions } from "./_selection_sae.ts";
import { topKRows } from "./topk.ts";

/** Options of `new TopKSAE(inputShape, nbConcepts, options)`. */
export interface TopKSAEOptions extends SelectionSAEOptions {
  /** Codes kept per token. Default max(⌊nbConcepts / 10⌋, 1), as the seed. */
  topK?: number;
}

/**
 * Top-k SAE (Gao et al. 2024), the twin of the seed library's `TopKSAE`: the encoder's codes
 * (ReLU(preCodes); the pre-codes for the identity encoder) keep their `topK` largest values per
 * token, the rest are zeroed; x̂ = codes·D. Same encoders, dictionary, backends and state-dict
 * keys as `JumpSAE` (no `thresholds`). Ties: the lower concept index (see `topKRows`).
 *
 * @example
 * ```ts
 * import { TopKSAE } from "../mod.ts";
 * const sae = new TopKSAE(8, 32, { topK: 4, seed: 1, device: "reference" });
 * const x = { data: new Float32Array(4 * 8).map((_, i) => Math.sin(i)), shape: [4, 8] };
 * const { codes } = await sae.forward(x); // 4 non-zero codes per row at most
 * sae.dispose();
 * ```
 */
export class TopKSAE extends SelectionSAE {
  /** Codes kept per token. */
  readonly topK: number;

  /**
   * A top-k SAE of `nbConcepts` concepts over inputs of shape `inputShape`.
   *
   * @param inputShape `dim`, `[seq, dim]` or `[dim, height, width]`.
   * @param nbConcepts Number of concepts.
   * @param options See `TopKSAEOptions`.
   */
  constructor(
    inputShape: number | readonly number[],
    nbConcepts: number,
    options: TopKSAEOptions = {},
  ) {
    super(inputShape, nbConcepts, jumpOptions({ ...options }, ["topK"], "TopKSAE"));
    this.topK = checkTopK(options.topK, nbConcepts, nbConcepts);
  }

  /** Keeps the `topK` largest codes of each row (ties: the lower concept). */
  protected select(candidates: Float32Array, rows: number): Uint8Array {
    return topKRows(candidates, rows, this.nbConcepts, this.topK);
  }
}

/** The seed's `top_k` check and default; `max` bounds it. */
export function checkTopK(topK: number | undefined, nbConcepts: number, max: number): number {
  const k = topK ?? Math.max(Math.floor(nbConcepts / 10), 1);
  if (!Number.isInteger(k) || k < 1 || k > max) {
    throw new RangeError(`topK must be an integer in [1, ${max}], got ${topK}`);
  }
  return k;
}
