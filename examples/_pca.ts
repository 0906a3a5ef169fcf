/**
 * PCA by the Jacobi eigenvalue method on the covariance (small dims only): the linear baseline
 * of the real-data report, R² of the best k-dimensional linear reconstruction.
 *
 * @module
 */
import type { Tensor } from "./_deps.ts";

/** Mean [D] and principal directions [D, D] (rows, by decreasing variance) of `x` [N, D]. */
export function pca(x: Tensor): { mean: Float64Array; components: Float64Array[] } {
  const [N, D] = x.shape;
  const mean = new Float64Array(D);
  for (let i = 0; i < N * D; i++) mean[i % D] += x.data[i] / N;
  const a = Array.from({ length: D }, () => new Float64Array(D));
  for (let r = 0; r < N; r++) {
    for (let i = 0; i < D; i++) {
      const u = x.data[r * D + i] - mean[i];
      for (let j = i; j < D; j++) a[i][j] += u * (x.data[r * D + j] - mean[j]);
    }
  }
  for (let i = 0; i < D; i++) for (let j = 0; j < i; j++) a[i][j] = a[j][i];
  const v = Array.from(
    { length: D },
    (_, i) => Float64Array.from({ length: D }, (_, j) => +(i === j)),
  );
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < D; p++) for (let q = p + 1; q < D; q++) off += a[p][q] ** 2;
    if (off < 1e-20) break;
    for (let p = 0; p < D; p++) {
      for (let q = p + 1; q < D; q++) {
        if (Math.abs(a[p][q]) < 1e-300) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < D; k++) {
          const akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < D; k++) {
          const apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < D; k++) {
          const vkp = v[k][p], vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = [...Array(D).keys()].sort((i, j) => a[j][j] - a[i][i]);
  return {
    mean,
    components: order.map((i) => Float64Array.from({ length: D }, (_, k) => v[k][i])),
  };
}

/** Reconstruction of `x` [N, D] from its first `k` principal components. */
export function pcaReconstruct(
  x: Tensor,
  model: { mean: Float64Array; components: Float64Array[] },
  k: number,
): Tensor {
  const [N, D] = x.shape, out = new Float32Array(N * D);
  const u = new Float64Array(D);
  for (let r = 0; r < N; r++) {
    for (let i = 0; i < D; i++) u[i] = x.data[r * D + i] - model.mean[i];
    const rec = Float64Array.from(model.mean);
    for (let c = 0; c < k; c++) {
      const w = model.components[c];
      let dot = 0;
      for (let i = 0; i < D; i++) dot += u[i] * w[i];
      for (let i = 0; i < D; i++) rec[i] += dot * w[i];
    }
    out.set(rec, r * D);
  }
  return { data: out, shape: [N, D] };
}
