import type { Tensor, TensorLike } from "../tensor.ts";
import { input, sameShape } from "./_reduce.ts";
import { symmetricEigen } from "./_symmetric_eigen.ts";
import { EPSILON } from "./sparsity.ts";

function pair(x1: TensorLike, x2: TensorLike) {
  const a = input(x1, "x1", 2), b = input(x2, "x2", 2);
  sameShape(a, b, "x1", "x2");
  return { a, b, N: a.shape[0], d: a.shape[1] };
}

/** Column means and the unbiased covariance (torch.cov of the transposed samples), float64. */
function meanAndCov(t: Tensor): { mean: Float64Array; cov: Float64Array } {
  const [N, d] = t.shape;
  const mean = new Float64Array(d);
  for (let r = 0; r < N; r++) for (let c = 0; c < d; c++) mean[c] += t.data[r * d + c] / N;
  const cov = new Float64Array(d * d);
  for (let r = 0; r < N; r++) {
    for (let i = 0; i < d; i++) {
      const u = t.data[r * d + i] - mean[i];
      for (let j = 0; j < d; j++) cov[i * d + j] += (u * (t.data[r * d + j] - mean[j])) / (N - 1);
    }
  }
  return { mean, cov };
}

/**
 * 1-D Wasserstein-1 distance of each column of two sample sets, averaged over the columns (the
 * seed's `wasserstein_1d`): mean |sort(x1) − sort(x2)| with each column sorted.
 *
 * @param x1 [samples, d]
 * @param x2 [samples, d]
 *
 * @example
 * ```ts
 * import { wasserstein1d } from "./distribution_metrics.ts";
 * wasserstein1d([[0], [1]], [[2], [3]]); // 2
 * ```
 */
export function wasserstein1d(x1: TensorLike, x2: TensorLike): number {
  const { a, b, N, d } = pair(x1, x2);
  const ca = new Float32Array(N), cb = new Float32Array(N);
  let total = 0;
  for (let c = 0; c < d; c++) {
    for (let r = 0; r < N; r++) {
      ca[r] = a.data[r * d + c];
      cb[r] = b.data[r * d + c];
    }
    ca.sort();
    cb.sort();
    for (let r = 0; r < N; r++) total += Math.abs(ca[r] - cb[r]);
  }
  return total / (N * d);
}

/**
 * Fréchet (Wasserstein-2) distance of two sample sets taken as Gaussians (the seed's
 * `frechet_distance`): ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½), with unbiased covariances. The
 * trace of (Σ₁Σ₂)^½ is Σ √λ over the eigenvalues λ of Σ₁^½Σ₂Σ₁^½ (the same as those of Σ₁Σ₂,
 * which the seed takes with a general eigen-solver), negative rounding clipped to 0 (the seed
 * keeps the real part of √λ, 0 for λ < 0).
 *
 * @param x1 [samples, d], at least 2 samples
 * @param x2 [samples, d]
 *
 * @example
 * ```ts
 * import { frechetDistance } from "./distribution_metrics.ts";
 * frechetDistance([[0, 0], [2, 0]], [[1, 0], [3, 0]]); // 1 (means 1 apart, same covariance)
 * ```
 */
export function frechetDistance(x1: TensorLike, x2: TensorLike): number {
  const { a, b, N, d } = pair(x1, x2);
  if (N < 2) throw new RangeError(`x1 and x2 must hold at least 2 samples, got ${N}`);
  const s1 = meanAndCov(a), s2 = meanAndCov(b);
  let dist = 0;
  for (let c = 0; c < d; c++) {
    dist += (s1.mean[c] - s2.mean[c]) ** 2 + s1.cov[c * d + c] + s2.cov[c * d + c];
  }
  // Σ₁^½ = V·diag(√λ)·Vᵀ, then M = Σ₁^½·Σ₂·Σ₁^½
  const e1 = symmetricEigen(s1.cov, d);
  const root = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) {
        s += e1.vectors[i * d + k] * Math.sqrt(Math.max(e1.values[k], 0)) * e1.vectors[j * d + k];
      }
      root[i * d + j] = s;
    }
  }
  const tmp = new Float64Array(d * d), m = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += root[i * d + k] * s2.cov[k * d + j];
      tmp[i * d + j] = s;
    }
  }
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += tmp[i * d + k] * root[k * d + j];
      m[i * d + j] = s;
    }
  }
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) m[i * d + j] = m[j * d + i] = (m[i * d + j] + m[j * d + i]) / 2;
  }
  for (const lambda of symmetricEigen(m, d).values) dist -= 2 * Math.sqrt(Math.max(lambda, 0));
  return dist;
}

/**
 * Correlation matrix of the codes (the seed's `codes_correlation_matrix`): cov / (σσᵀ + 1e-6)
 * with the unbiased covariance, and the largest |correlation| between two different codes.
 *
 * @param codes [batch, nbConcepts], batch ≥ 2, nbConcepts ≥ 2
 *
 * @example
 * ```ts
 * import { codesCorrelationMatrix } from "./distribution_metrics.ts";
 * codesCorrelationMatrix([[1, 2], [2, 4], [3, 6]]).maxCorr; // ≈ 1
 * ```
 */
export function codesCorrelationMatrix(codes: TensorLike): { maxCorr: number; corrs: Tensor } {
  const t = input(codes, "codes", 2);
  const [N, C] = t.shape;
  if (N < 2) throw new RangeError(`codes must hold at least 2 samples, got ${N}`);
  if (C < 2) throw new RangeError(`codes must have at least 2 columns, got ${C}`);
  const { cov } = meanAndCov(t);
  const std = Float64Array.from({ length: C }, (_, i) => Math.sqrt(cov[i * C + i]));
  const corrs = new Float32Array(C * C);
  let max = -Infinity;
  for (let i = 0; i < C; i++) {
    for (let j = 0; j < C; j++) {
      const r = cov[i * C + j] / (std[i] * std[j] + EPSILON);
      corrs[i * C + j] = r;
      if (i !== j) max = Math.max(max, Math.abs(r));
    }
  }
  return { maxCorr: max, corrs: { data: corrs, shape: [C, C] } };
}
