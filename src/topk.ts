/**
 * Top-k selection on host arrays, for `TopKSAE` and `BatchTopKSAE`.
 *
 * Tie rule: larger values first; among equal values the lower index (row-major for
 * `kthLargest`'s users, which keep every value equal to the k-th, as the seed's `>=` mask does).
 * torch.topk leaves the order of ties unspecified; with the candidates of these models (ReLU
 * outputs) ties are exact zeros, whose selection changes neither the codes nor the gradients
 * (the ReLU passes no gradient at 0).
 *
 * @module
 */

/**
 * Marks the k largest values of each row of a [rows, cols] array.
 *
 * @param values Row-major values.
 * @param rows Number of rows.
 * @param cols Row length.
 * @param k How many to keep per row, 1 ≤ k ≤ cols.
 * @returns A [rows, cols] mask, 1 where selected.
 *
 * @example
 * ```ts
 * import { topKRows } from "./topk.ts";
 * topKRows(Float32Array.of(3, 1, 3, 2), 1, 4, 2); // [1, 0, 1, 0]
 * ```
 */
export function topKRows(values: Float32Array, rows: number, cols: number, k: number): Uint8Array {
  if (!Number.isInteger(k) || k < 1 || k > cols) {
    throw new RangeError(`k must be an integer in [1, ${cols}], got ${k}`);
  }
  const mask = new Uint8Array(rows * cols);
  const sorted = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    const row = values.subarray(r * cols, (r + 1) * cols);
    sorted.set(row);
    sorted.sort();
    const kth = sorted[cols - k];
    let left = k;
    for (let c = 0; c < cols; c++) {
      if (row[c] > kth) {
        mask[r * cols + c] = 1;
        left--;
      }
    }
    for (let c = 0; c < cols && left > 0; c++) {
      if (row[c] === kth) {
        mask[r * cols + c] = 1;
        left--;
      }
    }
  }
  return mask;
}

/**
 * The k-th largest of all values (the seed's `torch.topk(values.view(-1), k).values[-1]`).
 *
 * @param values Any values.
 * @param k 1 ≤ k ≤ values.length.
 *
 * @example
 * ```ts
 * import { kthLargest } from "./topk.ts";
 * kthLargest(Float32Array.of(0.5, 2, 1), 2); // 1
 * ```
 */
export function kthLargest(values: Float32Array, k: number): number {
  if (!Number.isInteger(k) || k < 1 || k > values.length) {
    throw new RangeError(`k must be an integer in [1, ${values.length}], got ${k}`);
  }
  return Float32Array.from(values).sort()[values.length - k];
}
