import type { Tensor, TensorLike } from "../tensor.ts";
import { type Dims, input, reduce } from "./_reduce.ts";

/** The seed library's `Epsilon`. */
export const EPSILON = 1e-6;

/**
 * L2 norm: sqrt(Σ v²) over everything, or over the axes `dims` (the seed's `l2`).
 *
 * @param v Any tensor.
 * @param dims An axis or a list of axes, as the seed's tuples (negative counts from the end);
 *   omitted: all elements.
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
/** Over the axes `dims`: a tensor of the remaining axes. */
export function l2(v: TensorLike, dims: Dims): Tensor;
export function l2(v: TensorLike, dims?: Dims): number | Tensor {
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
/** Over the axes `dims`: a tensor of the remaining axes. */
export function l1(v: TensorLike, dims: Dims): Tensor;
export function l1(v: TensorLike, dims?: Dims): number | Tensor {
  return reduce(input(v, "v"), dims, Math.abs, (acc) => acc, "l1");
}

/**
 * Fraction of non-zero elements, over everything or averaged along the axes `dims` (the seed's
 * `l0`). This is the newest seed's definition (it counts the non-zeros); older seed versions
 * counted the zeros (1 − this).
 *
 * @example Mean L0 per token: the fraction along axis 0, summed over concepts
 * ```ts
 * import { l0 } from "./sparsity.ts";
 * l0([[0, 1], [2, 3]]); // 0.75
 * l0([[0, 1], [2, 3]], 0); // { data: [0.5, 1], shape: [2] }
 * ```
 */
export function l0(x: TensorLike): number;
/** Over the axes `dims`: a tensor of the remaining axes. */
export function l0(x: TensorLike, dims: Dims): Tensor;
export function l0(x: TensorLike, dims?: Dims): number | Tensor {
  return reduce(input(x, "x"), dims, (a) => (a !== 0 ? 1 : 0), (acc, n) => acc / n, "l0");
}

/**
 * Lp norm (Σ |v|^p)^(1/p) over everything or over the axes `dims` (the seed's `lp`, i.e.
 * `torch.norm(v, p, dims)`). Default p = 0.5.
 *
 * @param v Any tensor.
 * @param p A finite power > 0 (p = 0 and p = ∞ of `torch.norm` are not ported).
 * @param dims An axis or a list of axes; omitted: all elements.
 *
 * @example
 * ```ts
 * import { lp } from "./sparsity.ts";
 * lp([1, 4], 0.5); // (1 + 2)² = 9
 * ```
 */
export function lp(v: TensorLike, p?: number): number;
/** Over the axes `dims`: a tensor of the remaining axes. */
export function lp(v: TensorLike, p: number, dims: Dims): Tensor;
export function lp(v: TensorLike, p = 0.5, dims?: Dims): number | Tensor {
  if (typeof p !== "number" || !(p > 0) || !Number.isFinite(p)) {
    throw new RangeError(`p must be a finite number > 0, got ${p}`);
  }
  return reduce(input(v, "v"), dims, (a) => Math.abs(a) ** p, (acc) => acc ** (1 / p), "lp");
}

/**
 * L1/L2 ratio ‖x‖₁ / (‖x‖₂ + 1e-6) along the axes `dims` (the seed's `l1_l2_ratio`; default the
 * last axis; `null` for all elements, the seed's `dims=None`).
 *
 * @example
 * ```ts
 * import { l1L2Ratio } from "./sparsity.ts";
 * l1L2Ratio([[3, 4], [0, 2]]).data; // [7/5, 1] (up to the 1e-6)
 * ```
 */
export function l1L2Ratio(x: TensorLike, dims?: Dims): Tensor;
/** `dims` null: the ratio over all elements, a number. */
export function l1L2Ratio(x: TensorLike, dims: null): number;
export function l1L2Ratio(x: TensorLike, dims: Dims | null = -1): number | Tensor {
  const t = input(x, "x");
  if (dims === null) return Math.fround(l1(t) / (l2(t) + EPSILON));
  const a = l1(t, dims), b = l2(t, dims);
  return { data: a.data.map((v, i) => v / (b.data[i] + EPSILON)), shape: a.shape };
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
/** Along the axes `dims`: a tensor of the remaining axes. */
export function l0Eps(x: TensorLike, dims: Dims, threshold?: number): Tensor;
export function l0Eps(x: TensorLike, dims?: Dims, threshold = EPSILON): number | Tensor {
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
