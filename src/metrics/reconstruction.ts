import type { TensorLike } from "../tensor.ts";
import { input, sameShape } from "./_reduce.ts";
import { EPSILON } from "./sparsity.ts";

function pair(x: TensorLike, xHat: TensorLike) {
  const a = input(x, "x", 2), b = input(xHat, "xHat", 2);
  sameShape(a, b, "x", "xHat");
  return { a, b, B: a.shape[0], D: a.shape[1] };
}

/**
 * R² of a reconstruction (the seed's `r2_score`): 1 − mean((x − x̂)²) / (mean((x − mean(x))²) + 1e-6),
 * where mean(x) is the mean of all elements.
 *
 * @param x [batch, d]
 * @param xHat [batch, d]
 * @returns 1 for a perfect reconstruction, 0 for one as good as the mean.
 *
 * @example
 * ```ts
 * import { r2Score } from "./reconstruction.ts";
 * r2Score([[1, 2], [3, 4]], [[1, 2], [3, 4]]); // ≈ 1
 * ```
 */
export function r2Score(x: TensorLike, xHat: TensorLike): number {
  const { a, b } = pair(x, xHat);
  const n = a.data.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += a.data[i];
  mean /= n;
  let res = 0, tot = 0;
  for (let i = 0; i < n; i++) {
    res += (a.data[i] - b.data[i]) ** 2;
    tot += (a.data[i] - mean) ** 2;
  }
  return 1 - (res / n) / (tot / n + EPSILON);
}

/**
 * Mean over samples of ‖x − x̂‖₂ (the seed's `avg_l2_loss`).
 *
 * @example
 * ```ts
 * import { avgL2Loss } from "./reconstruction.ts";
 * avgL2Loss([[3, 4], [0, 0]], [[0, 0], [0, 0]]); // 2.5
 * ```
 */
export function avgL2Loss(x: TensorLike, xHat: TensorLike): number {
  const { a, b, B, D } = pair(x, xHat);
  let total = 0;
  for (let r = 0; r < B; r++) {
    let s = 0;
    for (let c = 0; c < D; c++) s += (a.data[r * D + c] - b.data[r * D + c]) ** 2;
    total += Math.sqrt(s);
  }
  return total / B;
}

/**
 * Mean over samples of ‖x − x̂‖₂ / (‖x‖₂ + 1e-6) (the seed's `relative_avg_l2_loss`).
 *
 * @example
 * ```ts
 * import { relativeAvgL2Loss } from "./reconstruction.ts";
 * relativeAvgL2Loss([[3, 4]], [[0, 0]]); // ≈ 1
 * ```
 */
export function relativeAvgL2Loss(x: TensorLike, xHat: TensorLike, epsilon = EPSILON): number {
  const { a, b, B, D } = pair(x, xHat);
  let total = 0;
  for (let r = 0; r < B; r++) {
    let e = 0, s = 0;
    for (let c = 0; c < D; c++) {
      e += (a.data[r * D + c] - b.data[r * D + c]) ** 2;
      s += a.data[r * D + c] ** 2;
    }
    total += Math.sqrt(e) / (Math.sqrt(s) + epsilon);
  }
  return total / B;
}

/**
 * Mean over samples of ‖x − x̂‖₁ (the seed's `avg_l1_loss`).
 *
 * @example
 * ```ts
 * import { avgL1Loss } from "./reconstruction.ts";
 * avgL1Loss([[3, -4], [0, 0]], [[0, 0], [0, 1]]); // (7 + 1) / 2 = 4
 * ```
 */
export function avgL1Loss(x: TensorLike, xHat: TensorLike): number {
  const { a, b, B, D } = pair(x, xHat);
  let total = 0;
  for (let r = 0; r < B; r++) {
    let s = 0;
    for (let c = 0; c < D; c++) s += Math.abs(a.data[r * D + c] - b.data[r * D + c]);
    total += s;
  }
  return total / B;
}

/**
 * Mean over samples of ‖x − x̂‖₁ / (‖x‖₁ + 1e-6) (the seed's `relative_avg_l1_loss`).
 *
 * @example
 * ```ts
 * import { relativeAvgL1Loss } from "./reconstruction.ts";
 * relativeAvgL1Loss([[3, -4]], [[0, 0]]); // ≈ 1
 * ```
 */
export function relativeAvgL1Loss(x: TensorLike, xHat: TensorLike, epsilon = EPSILON): number {
  const { a, b, B, D } = pair(x, xHat);
  let total = 0;
  for (let r = 0; r < B; r++) {
    let e = 0, s = 0;
    for (let c = 0; c < D; c++) {
      e += Math.abs(a.data[r * D + c] - b.data[r * D + c]);
      s += Math.abs(a.data[r * D + c]);
    }
    total += e / (s + epsilon);
  }
  return total / B;
}
