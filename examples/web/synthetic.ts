/**
 * Synthetic activations with a known sparse structure: `nbFeatures` random unit directions in
 * `dim` dimensions; each sample switches each feature on with probability `active / nbFeatures`
 * at a magnitude in [0.5, 1.5] and adds Gaussian noise. An SAE trained on it should find the
 * directions again.
 */

/** A seeded generator of uniform numbers in [0, 1) (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options of `createSynthetic`. */
export interface SyntheticOptions {
  dim: number;
  nbFeatures: number;
  /** Mean number of features on per sample. */
  active: number;
  /** Standard deviation of the added noise. */
  noise: number;
  seed: number;
}

/** A batch: `x` `[batch, dim]` and, per sample, the features that are on. */
export interface SyntheticBatch {
  x: { data: Float32Array; shape: number[] };
  on: number[][];
}

/** The generator: its ground-truth `features` `[nbFeatures, dim]` and a `sample(batch)`. */
export interface Synthetic {
  readonly options: SyntheticOptions;
  readonly features: Float32Array;
  sample(batch: number): SyntheticBatch;
}

/** Creates a generator; the same options give the same features and the same batches. */
export function createSynthetic(options: SyntheticOptions): Synthetic {
  const { dim, nbFeatures, active, noise, seed } = options;
  const random = mulberry32(seed);
  const gaussian = () => {
    const u = 1 - random(), v = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const features = new Float32Array(nbFeatures * dim); // (K, D)
  for (let k = 0; k < nbFeatures; k++) {
    const row = features.subarray(k * dim, (k + 1) * dim);
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += (row[d] = gaussian()) ** 2;
    for (let d = 0; d < dim; d++) row[d] /= Math.sqrt(norm);
  }
  const p = active / nbFeatures;
  return {
    options,
    features,
    sample(batch) {
      const data = new Float32Array(batch * dim); // (B, D)
      const on: number[][] = [];
      for (let b = 0; b < batch; b++) {
        const row = data.subarray(b * dim, (b + 1) * dim);
        const mine: number[] = [];
        for (let k = 0; k < nbFeatures; k++) {
          if (random() >= p) continue;
          mine.push(k);
          const a = 0.5 + random();
          for (let d = 0; d < dim; d++) row[d] += a * features[k * dim + d];
        }
        for (let d = 0; d < dim; d++) row[d] += noise * gaussian();
        on.push(mine);
      }
      return { x: { data, shape: [batch, dim] }, on };
    },
  };
}
