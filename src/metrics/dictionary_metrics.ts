import type { Tensor, TensorLike } from "../tensor.ts";
import { input, sameShape } from "./_reduce.ts";
import { linearSumAssignment } from "./hungarian.ts";
import { EPSILON } from "./sparsity.ts";

/** Rows of a [n, d] tensor divided by (their norm + eps), in float64. */
function normalizedRows(t: Tensor, eps: number): Float64Array {
  const [n, d] = t.shape;
  const out = new Float64Array(n * d);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += t.data[r * d + c] ** 2;
    const norm = Math.sqrt(s) + eps;
    for (let c = 0; c < d; c++) out[r * d + c] = t.data[r * d + c] / norm;
  }
  return out;
}

/**
 * Cosine similarity of every row of `a` [n, d] with every row of `b` [m, d], as [n, m].
 *
 * @example
 * ```ts
 * import { cosineSimilarityMatrix } from "./dictionary_metrics.ts";
 * cosineSimilarityMatrix([[1, 0]], [[1, 1], [0, 2]]).data; // [≈0.707, 0]
 * ```
 */
export function cosineSimilarityMatrix(a: TensorLike, b: TensorLike): Tensor {
  const A = input(a, "a", 2), B = input(b, "b", 2);
  if (A.shape[1] !== B.shape[1]) {
    throw new RangeError(
      `a and b must have rows of the same length, got ${A.shape[1]} and ${B.shape[1]}`,
    );
  }
  const [n, d] = A.shape, m = B.shape[0];
  const na = normalizedRows(A, 0), nb = normalizedRows(B, 0);
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += na[i * d + c] * nb[j * d + c];
      out[i * m + j] = s;
    }
  }
  return { data: out, shape: [n, m] };
}

/**
 * Collinearity of a dictionary (the seed's `dictionary_collinearity`): the largest |cosine|
 * between two different atoms, and the full cosine matrix (rows divided by norm + 1e-6).
 *
 * @param dictionary [nbConcepts, dim]
 *
 * @example
 * ```ts
 * import { dictionaryCollinearity } from "./dictionary_metrics.ts";
 * dictionaryCollinearity([[1, 0], [0, 1], [1, 1]]).maxCollinearity; // ≈ 0.707
 * ```
 */
export function dictionaryCollinearity(
  dictionary: TensorLike,
): { maxCollinearity: number; cosineSimilarity: Tensor } {
  const D = input(dictionary, "dictionary", 2);
  const [n, d] = D.shape;
  if (n < 2) throw new RangeError(`dictionary must have at least 2 atoms, got ${n}`);
  const u = normalizedRows(D, EPSILON);
  const out = new Float32Array(n * n);
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += u[i * d + c] * u[j * d + c];
      out[i * n + j] = s;
      if (i !== j) max = Math.max(max, Math.abs(s));
    }
  }
  return { maxCollinearity: max, cosineSimilarity: { data: out, shape: [n, n] } };
}

/**
 * Cosine Hungarian loss between two dictionaries (the seed's `cosine_hungarian_loss`): the
 * minimum over atom matchings of Σ (1 − cos). 0 when they are equal up to a permutation.
 *
 * @param dictionary1 [nbConcepts, dim]
 * @param dictionary2 [nbConcepts, dim]
 *
 * @example
 * ```ts
 * import { cosineHungarianLoss } from "./dictionary_metrics.ts";
 * cosineHungarianLoss([[1, 0], [0, 1]], [[0, 2], [3, 0]]); // 0
 * ```
 */
export function cosineHungarianLoss(dictionary1: TensorLike, dictionary2: TensorLike): number {
  const a = input(dictionary1, "dictionary1", 2), b = input(dictionary2, "dictionary2", 2);
  sameShape(a, b, "dictionary1", "dictionary2");
  const cos = cosineSimilarityMatrix(a, b);
  const n = a.shape[0];
  const cost = Float64Array.from(cos.data, (c) => 1 - c);
  return linearSumAssignment(cost, n, n).total;
}

/**
 * Hungarian loss between two dictionaries (the seed's `hungarian_loss`): the minimum over atom
 * matchings of Σ ‖a_i − b_π(i)‖_p (`torch.cdist` distances).
 *
 * @param dictionary1 [nbConcepts, dim]
 * @param dictionary2 [nbConcepts, dim]
 * @param pNorm The distance's p, a finite number > 0. Default 2.
 *
 * @example
 * ```ts
 * import { hungarianLoss } from "./dictionary_metrics.ts";
 * hungarianLoss([[1, 0], [0, 1]], [[0, 1], [1, 1]]); // 0 + 1 = 1
 * ```
 */
export function hungarianLoss(dictionary1: TensorLike, dictionary2: TensorLike, pNorm = 2): number {
  const a = input(dictionary1, "dictionary1", 2), b = input(dictionary2, "dictionary2", 2);
  sameShape(a, b, "dictionary1", "dictionary2");
  if (typeof pNorm !== "number" || !(pNorm > 0) || !Number.isFinite(pNorm)) {
    throw new RangeError(`pNorm must be a finite number > 0, got ${pNorm}`);
  }
  const [n, d] = a.shape;
  const cost = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += Math.abs(a.data[i * d + k] - b.data[j * d + k]) ** pNorm;
      cost[i * n + j] = s ** (1 / pNorm);
    }
  }
  return linearSumAssignment(cost, n, n).total;
}

/**
 * Energy of each code (the seed's `energy_of_codes`): ‖mean_batch(z_c)·D_c‖₂.
 *
 * @param codes [batch, nbConcepts]
 * @param dictionary [nbConcepts, dim]
 * @returns [nbConcepts]
 *
 * @example
 * ```ts
 * import { energyOfCodes } from "./dictionary_metrics.ts";
 * energyOfCodes([[2, 0], [0, 0]], [[3, 4], [1, 0]]).data; // [5, 0]
 * ```
 */
export function energyOfCodes(codes: TensorLike, dictionary: TensorLike): Tensor {
  const z = input(codes, "codes", 2), D = input(dictionary, "dictionary", 2);
  const [B, C] = z.shape, d = D.shape[1];
  if (D.shape[0] !== C) {
    throw new RangeError(`dictionary must have ${C} atoms (one per code), got ${D.shape[0]}`);
  }
  const out = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    let mean = 0;
    for (let r = 0; r < B; r++) mean += z.data[r * C + c];
    mean /= B;
    let s = 0;
    for (let k = 0; k < d; k++) s += (mean * D.data[c * d + k]) ** 2;
    out[c] = Math.sqrt(s);
  }
  return { data: out, shape: [C] };
}
