/**
 * Named training recipes: everything besides the data that decides how a JumpSAE trains (input
 * scaling, threshold and bandwith, initialisation, optimizer, schedule, sparsity control,
 * dead-feature prevention). `trainSae(model, data, { recipe, targetL0 })` runs one.
 *
 * @module
 */
import type { KernelName, PseudoGradientMode } from "../kernels.ts";

/** The recipe names, the library's own first. */
export const RECIPE_NAMES = ["jumpsae", "overcomplete", "gemma-scope", "anthropic-2025"] as const;

/** A recipe name. */
export type RecipeName = typeof RECIPE_NAMES[number];

/** What a recipe sets. Units of thresholds and bandwith are those of the scaled inputs. */
export interface Recipe {
  /** The recipe's name. */
  readonly name: RecipeName;
  /** Where it comes from. */
  readonly source: string;
  /** The threshold pseudo-gradient the recipe trains with (set on the model by `trainSae`). */
  readonly kernel: KernelName;
  /** The kernel's bandwith ε. */
  readonly bandwith: number;
  /** How the kernel term is scaled. */
  readonly pseudoGradient: PseudoGradientMode;
  /** Train on s·x with E‖s·x‖² = D, then fold s into the parameters. */
  readonly scaleInputs: boolean;
  /**
   * Initial thresholds: `"quantile"` sets each concept's θ so that it fires on targetL0/C of a
   * sample (L0 starts at the target); a number is θ₀ for every concept; null keeps the model's.
   */
  readonly thresholdInit: "quantile" | number | null;
  /** Initialise the encoder's first Linear with the dictionary atoms (W_enc = W_decᵀ). */
  readonly tiedInit: boolean;
  /** Adam's learning rate. */
  readonly lr: number;
  /** Adam's decay rates. */
  readonly betas: readonly [number, number];
  /** Learning-rate warm-up, as a fraction of all steps (from lr/10) and at most this many steps. */
  readonly lrWarmup: { fraction: number; maxSteps: number };
  /** The learning rate at the end of the cosine decay, as a fraction of lr (1: constant). */
  readonly lrFinal: number;
  /**
   * Sparsity: `"controller"` adapts the L0 coefficient to reach `targetL0` (then a last
   * calibration of all thresholds by one common factor); a number is a fixed L0 coefficient.
   */
  readonly sparsity: "controller" | number;
  /** Linear warm-up of the sparsity term, as a fraction of all steps. */
  readonly sparsityWarmup: number;
  /** Weight of the AuxK reconstruction (`losses.topKAuxiliaryLoss`); 0: plain mse. */
  readonly auxK: number;
  /** Global gradient-norm clipping, `trainSae`'s `clipGrad`. */
  readonly clipGrad: number;
  /** Default epochs; more when needed to reach `minSteps` optimizer steps (small data sets). */
  readonly nbEpochs: number;
  /** Optimizer steps at least, epochs added to reach them. */
  readonly minSteps: number;
  /** Rows per batch. */
  readonly batchSize: number;
}

const RECIPES: Record<RecipeName, Recipe> = {
  // Ours: the choices measured best in bench/training_quality.ts on natural-image patches and on
  // the demo's synthetic features (see README, "Training recipes").
  jumpsae: {
    name: "jumpsae",
    source: "this library (bench/training_quality.ts)",
    kernel: "silverman",
    bandwith: 0.05,
    pseudoGradient: "paper",
    scaleInputs: true,
    thresholdInit: "quantile",
    tiedInit: true,
    lr: 3e-3,
    betas: [0.9, 0.999],
    lrWarmup: { fraction: 0.05, maxSteps: 1000 },
    lrFinal: 0.1,
    sparsity: "controller",
    sparsityWarmup: 0,
    auxK: 0.1,
    clipGrad: 1,
    nbEpochs: 20,
    minSteps: 3000,
    batchSize: 256,
  },
  // The seed's defaults, unchanged: the model as constructed (θ₀ = e⁻³, bandwith 1e-3, silverman),
  // PyTorch's Adam defaults, train_sae's 20 epochs and clipping, mse + 1e-3·L0, no scheduler.
  overcomplete: {
    name: "overcomplete",
    source: "the seed library's defaults (overcomplete JumpSAE, train_sae, torch.optim.Adam)",
    kernel: "silverman",
    bandwith: 1e-3,
    pseudoGradient: "overcomplete",
    scaleInputs: false,
    thresholdInit: null,
    tiedInit: false,
    lr: 1e-3,
    betas: [0.9, 0.999],
    lrWarmup: { fraction: 0, maxSteps: 0 },
    lrFinal: 1,
    sparsity: 1e-3,
    sparsityWarmup: 0,
    auxK: 0,
    clipGrad: 1,
    nbEpochs: 20,
    minSteps: 0,
    batchSize: 1024,
  },
  // Rajamanoharan et al. 2024 (JumpReLU SAEs) and Lieberum et al. 2024 (Gemma Scope): inputs
  // scaled to E‖x‖² = D, θ₀ = 1e-3, rectangle kernel with ε = 1e-3, the paper's pseudo-gradient,
  // W_enc = W_decᵀ, Adam β₁ = 0 at 7e-5, 1,000 warm-up steps, the L0 coefficient warmed up
  // over the first 10 % of training. Gemma Scope tunes a fixed coefficient per L0; we let the
  // controller find it for the targetL0 asked.
  "gemma-scope": {
    name: "gemma-scope",
    source: "Rajamanoharan et al. 2024, Lieberum et al. 2024 (Gemma Scope), SAELens jumprelu",
    kernel: "rectangle",
    bandwith: 1e-3,
    pseudoGradient: "paper",
    scaleInputs: true,
    thresholdInit: 1e-3,
    tiedInit: true,
    lr: 7e-5,
    betas: [0, 0.999],
    lrWarmup: { fraction: 1, maxSteps: 1000 },
    lrFinal: 1,
    sparsity: "controller",
    sparsityWarmup: 0.1,
    auxK: 0,
    clipGrad: 1,
    nbEpochs: 20,
    minSteps: 3000,
    batchSize: 4096,
  },
  // Anthropic's 2025 JumpReLU update ("Circuits Updates", January 2025): inputs scaled, θ₀ = 0.1,
  // rectangle kernel with ε = 2 in the paper's form, W_enc = W_decᵀ, Adam 2e-4 with β₁ = 0.9,
  // a linear decay of lr at the end, the sparsity coefficient warmed up over the whole run.
  // Its tanh penalty and pre-activation loss are approximated here by the L0 controller and
  // AuxK (see README).
  "anthropic-2025": {
    name: "anthropic-2025",
    source: "Anthropic, Circuits Updates January 2025 (JumpReLU training)",
    kernel: "rectangle",
    bandwith: 2,
    pseudoGradient: "paper",
    scaleInputs: true,
    thresholdInit: 0.1,
    tiedInit: true,
    lr: 2e-4,
    betas: [0.9, 0.999],
    lrWarmup: { fraction: 0, maxSteps: 0 },
    lrFinal: 0,
    sparsity: "controller",
    sparsityWarmup: 1,
    auxK: 0.03,
    clipGrad: 1,
    nbEpochs: 20,
    minSteps: 3000,
    batchSize: 1024,
  },
};

/**
 * The settings of a named recipe.
 *
 * @param name One of `RECIPE_NAMES`.
 * @returns The recipe (a frozen object).
 *
 * @example What the default recipe trains with
 * ```ts
 * import { getRecipe } from "../../mod.ts";
 * const r = getRecipe("jumpsae");
 * console.log(r.bandwith, r.sparsity); // 0.05 "controller"
 * ```
 */
export function getRecipe(name: RecipeName): Recipe {
  if (!(RECIPE_NAMES as readonly string[]).includes(name)) {
    throw new RangeError(`recipe must be one of ${RECIPE_NAMES.join(", ")}, got ${String(name)}`);
  }
  return Object.freeze({ ...RECIPES[name] });
}

/**
 * The target L0 used when none is given: √D rounded (8 at 64 dims, 28 at 768, 48 at 2304),
 * at least 1 and at most a quarter of the concepts.
 *
 * @param dim Input dimension D.
 * @param nbConcepts Number of concepts C.
 */
export function defaultTargetL0(dim: number, nbConcepts: number): number {
  return Math.max(1, Math.min(Math.round(Math.sqrt(dim)), Math.floor(nbConcepts / 4)));
}

/**
 * The epochs a recipe trains when none are given: its `nbEpochs`, or more to make at least its
 * `minSteps` optimizer steps on a small data set.
 *
 * @param recipe The recipe.
 * @param batchesPerEpoch Batches in one epoch.
 */
export function recipeEpochs(recipe: Recipe, batchesPerEpoch: number): number {
  return Math.max(recipe.nbEpochs, Math.ceil(recipe.minSteps / Math.max(batchesPerEpoch, 1)));
}
