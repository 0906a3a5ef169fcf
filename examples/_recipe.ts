/**
 * The demo's synthetic data and training recipe, shared by `examples/demo.ts` and
 * `tests/demo_test.ts` (which runs a smaller version).
 *
 * Data: `nbFeatures` random unit directions in R^dim (the ground truth), each sample a sparse
 * non-negative combination of them (each feature fires independently with probability
 * `meanActive / nbFeatures`, with a magnitude uniform in `magnitude`) plus a little Gaussian
 * noise: features in superposition, since nbFeatures > dim.
 *
 * @module
 */
import {
  Adam,
  batchLoader,
  CosineScheduler,
  JumpSAE,
  type JumpSAEOptions,
  losses,
  Random,
  type Tensor,
  type TrainLogs,
  trainSae,
} from "./_deps.ts";

/** Sizes of the synthetic problem and of the training run. */
export interface RecipeConfig {
  dim: number;
  nbFeatures: number;
  nbConcepts: number;
  samples: number;
  meanActive: number;
  noise: number;
  batchSize: number;
  nbEpochs: number;
  lr: number;
  penalty: number;
  warmupSteps: number;
  bandwith: number;
  seed: number;
  device: JumpSAEOptions["device"];
  /** Initial value of the `thresholds` parameter (log θ); the seed's default is −3. */
  thresholdInit: number;
  /** Use a target-L0 penalty `penalty·(L0/target − 1)²` instead of `penalty·L0`. */
  targetL0?: number;
  /** Initialise the encoder's weight with the dictionary atoms (tied initialisation). */
  tiedInit?: boolean;
  /** Weight of the seed's `topKAuxiliaryLoss` term (0: none). */
  auxK?: number;
  /** Weight of the seed's `reanimationRegularizer` (0: none). */
  reanimation?: number;
  /** Encoder (default: the seed's Linear + BatchNorm). */
  encoder?: JumpSAEOptions["encoderModule"];
  /** Range of the feature magnitudes. */
  magnitude: [number, number];
  /** Adam betas. Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Kernel of the threshold pseudo-gradient (default: the seed's silverman). */
  kernel?: JumpSAEOptions["kernel"];
}

/** The demo's configuration (finishes in a few minutes on 2 cores with the reference backend). */
export const DEMO_CONFIG: RecipeConfig = {
  dim: 64,
  nbFeatures: 128,
  nbConcepts: 152,
  samples: 4096,
  meanActive: 2,
  magnitude: [0.75, 1.25],
  noise: 0.01,
  batchSize: 64,
  nbEpochs: 30,
  lr: 5e-3,
  penalty: 3e-2,
  warmupSteps: 300,
  bandwith: 0.05,
  thresholdInit: 0,
  auxK: 0.1,
  seed: 0,
  device: "auto",
};

/** The synthetic data set: samples [n, dim] and the true features [nbFeatures, dim]. */
export interface SyntheticData {
  x: Tensor;
  features: Tensor;
  /** Mean number of active features per sample. */
  meanL0: number;
  /** The factor the raw samples were multiplied by (unit mean square per element). */
  scale: number;
}

/** Builds the data set of `config` (deterministic in `config.seed`). */
export function makeSyntheticData(config: RecipeConfig): SyntheticData {
  const { dim, nbFeatures, samples, meanActive, noise } = config;
  const rng = new Random(config.seed + 1);
  const features = new Float32Array(nbFeatures * dim);
  for (let f = 0; f < nbFeatures; f++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += (features[f * dim + d] = rng.normal()) ** 2;
    const n = Math.sqrt(s);
    for (let d = 0; d < dim; d++) features[f * dim + d] /= n;
  }
  const x = new Float32Array(samples * dim);
  const p = meanActive / nbFeatures;
  let active = 0;
  for (let i = 0; i < samples; i++) {
    const row = x.subarray(i * dim, (i + 1) * dim);
    for (let f = 0; f < nbFeatures; f++) {
      if (rng.next() >= p) continue;
      active++;
      const [lo, hi] = config.magnitude;
      const a = lo + (hi - lo) * rng.next();
      for (let d = 0; d < dim; d++) row[d] += a * features[f * dim + d];
    }
    for (let d = 0; d < dim; d++) row[d] += noise * rng.normal();
  }
  // standardize the scale (JumpReLU thresholds and the L0 penalty are scale-sensitive): unit
  // mean square per element. No centring: the data are non-negative combinations of the features.
  let ms = 0;
  for (const v of x) ms += v * v;
  const scale = 1 / Math.sqrt(ms / x.length);
  for (let i = 0; i < x.length; i++) x[i] *= scale;
  return {
    x: { data: x, shape: [samples, dim] },
    features: { data: features, shape: [nbFeatures, dim] },
    meanL0: active / samples,
    scale,
  };
}

/** Best |cosine| of each true feature with any atom of the dictionary. */
export function bestCosines(features: Tensor, dictionary: Tensor): Float32Array {
  const [F, D] = features.shape, C = dictionary.shape[0];
  const norms = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += dictionary.data[c * D + d] ** 2;
    norms[c] = Math.sqrt(s) || 1;
  }
  const best = new Float32Array(F);
  for (let f = 0; f < F; f++) {
    let m = -1;
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += features.data[f * D + d] * dictionary.data[c * D + d];
      m = Math.max(m, s / norms[c]);
    }
    best[f] = m;
  }
  return best;
}

/** What `runRecipe` returns. */
export interface RecipeResult {
  sae: JumpSAE;
  logs: TrainLogs;
  data: SyntheticData;
  bestCos: Float32Array;
  recovered: number;
  r2: number;
  meanL0: number;
  deadFraction: number;
}

/**
 * Trains a JumpSAE on the synthetic data. The recipe, and why:
 * - the seed's model defaults: Linear + BatchNorm encoder, silverman kernel, l2-normalised
 *   dictionary, and its training loop (Adam, gradient clipping at 1.0);
 * - data standardised to unit mean square (JumpReLU thresholds and the L0 penalty are
 *   scale-sensitive);
 * - `thresholds` initialised at 0 (θ = 1) instead of −3 (θ ≈ 0.05): BatchNorm standardises every
 *   pre-code over the batch, so θ = 0.05 lets half of the codes fire at first, and Adam moves
 *   log θ by about lr per step, so the run would spend ~1000 steps only on reaching the right
 *   sparsity. From θ = 1 (one batch standard deviation, ~16 % of codes fire) the atoms align
 *   with the features from the start (on 16 orthogonal features, 640 steps: 15 of 16 recovered
 *   against 5 of 16 from −3);
 * - `bandwith` 0.05 and `pseudoGradient: "paper"`: pre-codes are O(1) after BatchNorm, and with
 *   ε = 1e-3 hardly any pre-code of a 64-token batch falls in the kernel window, so the threshold
 *   gradient is zero most of the time and huge otherwise; 0.05 makes it smooth. The paper's
 *   unit-mass kernel keeps the L0 term's threshold gradient the derivative of the expected L0
 *   (the seed's scaling multiplies it by mass/ε = 40 here, which clipping then fights);
 * - the seed's `top_k_auxiliary_loss` (weight 0.1) as reconstruction loss, plus an L0 penalty
 *   0.03 warmed up linearly over 300 steps (`sparsityWarmup`). AuxK asks the strongest codes
 *   that did not fire to explain the residual, so codes that are losing their feature keep
 *   learning instead of dying;
 * - Adam lr 5e-3 with a cosine schedule (5 % warm-up from lr/10, decay to lr/10), 30 epochs;
 * - about 1.2× more concepts (152) than features (128): an L0 penalty leaves spare codes
 *   nothing to do, so in the end they die (with 2×, a quarter of the codes died and the ≤ 5 %
 *   dead target is out of reach); with exactly as many, some atoms stayed mixtures of features
 *   (83 % recovered).
 * The problem itself is sized for recovery: with 2 features per sample in 64 dimensions the
 * interference between features stays well below their magnitudes. In 16 or 32 dimensions with
 * 4 features per sample, a linear encoder fires on interference and fewer than 15 % of the
 * features were recovered in the same budget.
 */
export async function runRecipe(
  config: RecipeConfig,
  options: {
    verbose?: boolean;
    onEpoch?: (info: { epoch: number; r2: number; zSparsity: number }) => void;
  } = {},
): Promise<RecipeResult> {
  const data = makeSyntheticData(config);
  const sae = new JumpSAE(config.dim, config.nbConcepts, {
    seed: config.seed,
    device: config.device,
    bandwith: config.bandwith,
    pseudoGradient: "paper",
    ...(config.encoder ? { encoderModule: config.encoder } : {}),
    ...(config.kernel ? { kernel: config.kernel } : {}),
  });
  const state = await sae.stateDict();
  state.thresholds.data.fill(config.thresholdInit);
  if (config.tiedInit) {
    state["encoder.final_block.0.weight"].data.set(state["dictionary._weights"].data);
  }
  await sae.loadStateDict(state);
  const loader = await batchLoader(data.x, {
    batchSize: config.batchSize,
    seed: config.seed,
    dropLast: true,
  });
  const optimizer = new Adam(sae, {
    lr: config.lr,
    ...(config.betas ? { betas: config.betas } : {}),
  });
  const total = loader.length * config.nbEpochs;
  const scheduler = new CosineScheduler(
    optimizer,
    config.lr,
    config.lr / 10,
    total,
    Math.floor(total / 20),
    config.lr / 10,
  );
  const sparsity = config.targetL0
    ? losses.targetL0(config.targetL0, config.penalty)
    : losses.l0Penalty(config.penalty);
  const reconstruction = config.auxK ? losses.topKAuxiliaryLoss(config.auxK) : losses.mse();
  let criterion = losses.sparsityWarmup(reconstruction, sparsity, config.warmupSteps);
  if (config.reanimation) {
    criterion = losses.sum(criterion, losses.reanimationRegularizer(config.reanimation));
  }
  const logs = await trainSae(sae, loader, criterion, optimizer, {
    nbEpochs: config.nbEpochs,
    scheduler,
    verbose: options.verbose ?? true,
    onEpoch: options.onEpoch,
  });
  // final evaluation on the whole data set, in eval mode
  sae.eval();
  const { codes, xHat } = await sae.forward(data.x);
  let res = 0, tot = 0, mean = 0, active = 0;
  for (const v of data.x.data) mean += v;
  mean /= data.x.data.length;
  for (let i = 0; i < data.x.data.length; i++) {
    res += (data.x.data[i] - xHat.data[i]) ** 2;
    tot += (data.x.data[i] - mean) ** 2;
  }
  const C = config.nbConcepts;
  const fired = new Uint8Array(C);
  for (let i = 0; i < codes.data.length; i++) {
    if (codes.data[i] !== 0) {
      active++;
      fired[i % C] = 1;
    }
  }
  const dictionary = await sae.getDictionary();
  const bestCos = bestCosines(data.features, dictionary);
  return {
    sae,
    logs,
    data,
    bestCos,
    recovered: bestCos.filter((c) => c >= 0.9).length,
    r2: 1 - res / tot,
    meanL0: active / config.samples,
    deadFraction: (C - fired.reduce((a, b) => a + b, 0)) / C,
  };
}
