import type { Tensor, TensorLike } from "../tensor.ts";
import { input, reduce } from "./_reduce.ts";

/** The seed library's `Epsilon`. */
export const EPSILON = 1e-6;

/**
 * L2 norm: sqrt(Σ v²) over everything, or over axis `dims` (the seed's `l2`).
 *
 * @param v Any tensor.
 * @param dims An axis (negative counts from the end); omitted: all elements.
 * @returns A number, or a tensor of the remaining axes.
 *
 * @example Row norms
 * ```ts
 * import { l2 } from "./sparsity.ts";
 * l2([[3, 4], [0, 1]]); // √26
 * l2([[3, 4], [0, 1]], -1); // { data: [5, 1], shape: [2] }
 * ```
 */
export function l2(v: TensorLike): number;
export function l2(v: TensorLike, dims: number): Tensor;
export function l2(v: TensorLike, dims?: number): number | Tensor {
  return reduce(input(v, "v"), dims, (a) => a * a, (acc) => Math.sqrt(acc), "l2");
}

/**
 * L1 norm: Σ |v| over everything or over axis `dims` (the seed's `l1`).
 *
 * @example Row sums of absolute values
 * ```ts
 * import { l1 } from "./sparsity.ts";
 * l1([[1, -2], [0, 3]], 1); // { data: [3, 3], shape: [2] }
 * ```
 */
export function l1(v: TensorLike): number;
export function l1(v: TensorLike, dims: number): Tensor;
export function l1(v: TensorLike, dims?: number): number | Tensor {
  return reduce(input(v, "v"), dims, Math.abs, (acc) => acc, "l1");
}

/**
 * Fraction of non-zero elements, over everything or averaged along axis `dims` (the seed's `l0`).
 *
 * @example Mean L0 per token: the fraction along axis 0, summed over concepts
 * ```ts
 * import { l0 } from "./sparsity.ts";
 * l0([[0, 1], [2, 3]]); // 0.75
 * l0([[0, 1], [2, 3]], 0); // { data: [0.5, 1], shape: [2] }
 * ```
 */
export function l0(x: TensorLike): number;
export function l0(x: TensorLike, dims: number): Tensor;
export function l0(x: TensorLike, dims?: number): number | Tensor {
  return reduce(input(x, "x"), dims, (a) => (a !== 0 ? 1 : 0), (acc, n) => acc / n, "l0");
}

/**
 * Fraction of elements with |x| ≥ threshold (the seed's `l0_eps`), over everything or along `dims`.
 *
 * @example Tiny values do not count
 * ```ts
 * import { l0Eps } from "./sparsity.ts";
 * l0Eps([1e-9, 0.5, -2, 0]); // 0.5
 * ```
 */
export function l0Eps(x: TensorLike, dims?: undefined, threshold?: number): number;
export function l0Eps(x: TensorLike, dims: number, threshold?: number): Tensor;
export function l0Eps(x: TensorLike, dims?: number, threshold = EPSILON): number | Tensor {
  return reduce(
    input(x, "x"),
    dims,
    (a) => (Math.abs(a) >= threshold ? 1 : 0),
    (acc, n) => acc / n,
    "l0Eps",
  );
}

/**
 * Hoyer sparsity of each row of a 2-D tensor (the seed's `hoyer`):
 * (√d − ‖x‖₁ / (‖x‖₂ + 1e-6)) / (√d − 1); 1 for a one-hot row, 0 for a constant one.
 *
 * @param x [batch, d]
 * @returns [batch]
 *
 * @example
 * ```ts
 * import { hoyer } from "./sparsity.ts";
 * hoyer([[0, 0, 0, 5]]).data[0]; // ≈ 1
 * ```
 */
export function hoyer(x: TensorLike): Tensor {
  const t = input(x, "x", 2);
  const [B, d] = t.shape;
  const out = new Float32Array(B);
  const sq = Math.sqrt(d);
  for (let r = 0; r < B; r++) {
    let a = 0, s = 0;
    for (let c = 0; c < d; c++) {
      const v = t.data[r * d + c];
      a += Math.abs(v);
      s += v * v;
    }
    out[r] = (sq - a / (Math.sqrt(s) + EPSILON)) / (sq - 1);
  }
  return { data: out, shape: [B] };
}

/**
 * Kappa-4 (kurtosis) sparsity of each row of a 2-D tensor (the seed's `kappa_4`):
 * Σ x⁴ / ((Σ x²)² + 1e-6).
 *
 * @param x [batch, d]
 * @returns [batch]
 *
 * @example
 * ```ts
 * import { kappa4 } from "./sparsity.ts";
 * kappa4([[1, 1]]).data[0]; // 2 / (4 + 1e-6) ≈ 0.5
 * ```
 */
export function kappa4(x: TensorLike): Tensor {
  const t = input(x, "x", 2);
  const [B, d] = t.shape;
  const out = new Float32Array(B);
  for (let r = 0; r < B; r++) {
    let s2 = 0, s4 = 0;
    for (let c = 0; c < d; c++) {
      const v = t.data[r * d + c];
      s2 += v * v;
      s4 += v * v * v * v;
    }
    out[r] = s4 / (s2 * s2 + EPSILON);
  }
  return { data: out, shape: [B] };
}
