/**
 * `trainSae(model, data, { recipe, targetL0 })`: training by a named recipe, with the loss,
 * optimizer and schedule built for you and the sparsity you ask for.
 *
 * @module
 */
import type { JumpSAE } from "../jump_sae.ts";
import { Linear } from "../layers/linear.ts";
import * as losses from "../losses.ts";
import type { Loss } from "../losses.ts";
import { Adam } from "../optim/adam.ts";
import { CosineScheduler } from "../optim/cosine_scheduler.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import type { Tensor, TensorLike } from "../tensor.ts";
import { BatchLoader, batchLoader } from "./batch_loader.ts";
import { canFoldInputScale, foldInputScale, unitMeanSquareScale } from "./input_scale.ts";
import { l0Controller } from "./l0_controller.ts";
import {
  defaultTargetL0,
  getRecipe,
  type Recipe,
  recipeEpochs,
  type RecipeName,
} from "./recipes.ts";
import { calibrateThresholds, quantileThresholds } from "./_thresholds.ts";
import { type Batch, extractInput } from "./_batches.ts";
import type { DataLoader, TrainLogs, TrainOptions } from "./train_sae.ts";

/** Options of `trainSae(model, data, options)`: a recipe, the sparsity, and `TrainOptions`. */
export interface RecipeTrainOptions extends Omit<TrainOptions, "scheduler"> {
  /** The recipe, default `"jumpsae"` (see `RECIPE_NAMES`, `getRecipe`). */
  recipe?: RecipeName;
  /**
   * Mean active codes per token to reach (held-out L0 within a few %). Default:
   * `defaultTargetL0(dim, nbConcepts)` (√D). Not for `"overcomplete"`, which has a fixed penalty.
   */
  targetL0?: number;
  /**
   * Epochs. Default: the recipe's (20), or more to make at least the recipe's `minSteps`
   * optimizer steps on small data sets.
   */
  nbEpochs?: number;
  /** Rows per batch when `data` is a tensor or a path. Default: the recipe's. */
  batchSize?: number;
  /** Learning rate. Default: the recipe's. */
  lr?: number;
  /** Seed of the shuffles. Default 0. */
  seed?: number;
  /** Overrides of the recipe's threshold pseudo-gradient (set on the model for training). */
  kernel?: Recipe["kernel"];
  /** The kernel's bandwith ε (the seed's spelling). */
  bandwith?: number;
  /** The kernel's bandwith ε (the other spelling). */
  bandwidth?: number;
  /** How the kernel term is scaled. */
  pseudoGradient?: Recipe["pseudoGradient"];
}

/** The classic `trainSae(model, loader, criterion, optimizer, options)`, passed in to avoid an import cycle. */
type Loop = (
  model: JumpSAE,
  loader: DataLoader,
  criterion: Loss,
  optimizer: Optimizer,
  options: TrainOptions,
) => Promise<TrainLogs>;

/** The keys of `RecipeTrainOptions` that are not `TrainOptions`. */
export const RECIPE_OPTION_KEYS: readonly string[] = [
  "recipe",
  "targetL0",
  "batchSize",
  "lr",
  "seed",
  "kernel",
  "bandwith",
  "bandwidth",
  "pseudoGradient",
];
const RECIPE_KEYS = new Set(RECIPE_OPTION_KEYS);

/**
 * Runs a recipe: measures the input scale on a sample, sets the model's pseudo-gradient,
 * initialises thresholds and the encoder, trains with the recipe's loss, optimizer and schedule
 * (through the classic loop, so logs, checkpoints and abort work as there), folds the scale back
 * into the parameters and, under the L0 controller, calibrates all thresholds by one common factor
 * so that the mean L0 on a sample of the data (eval mode) is the target.
 * Extra logs: `targetL0`, `l0Penalty` (per epoch), `inputScale` and `thresholdShift`.
 */
export async function trainWithRecipe(
  model: JumpSAE,
  data: DataLoader | TensorLike | string,
  options: RecipeTrainOptions,
  loop: Loop,
): Promise<TrainLogs> {
  const recipe = getRecipe(options.recipe ?? "jumpsae");
  if (recipe.sparsity !== "controller" && options.targetL0 !== undefined) {
    throw new TypeError(
      `recipe ${recipe.name} has a fixed L0 penalty (${recipe.sparsity}) and no targetL0: use recipe "jumpsae", "gemma-scope" or "anthropic-2025"`,
    );
  }
  const target = options.targetL0 ?? defaultTargetL0(model.dim, model.nbConcepts);
  if (typeof target !== "number" || !(target > 0) || !(target < model.nbConcepts)) {
    throw new RangeError(
      `targetL0 must be a number in (0, ${model.nbConcepts}) (the concepts), got ${target}`,
    );
  }
  const lr = options.lr ?? recipe.lr;
  if (typeof lr !== "number" || !(lr > 0) || !Number.isFinite(lr)) {
    throw new RangeError(`lr must be a finite number > 0, got ${lr}`);
  }
  const opened = typeof data === "string" || isTensorLike(data);
  const loader = opened
    ? await batchLoader(data as TensorLike | string, {
      batchSize: options.batchSize ?? recipe.batchSize,
      seed: options.seed ?? 0,
      dropLast: true,
    })
    : data as DataLoader;
  try {
    return await run(model, loader, options, recipe, target, lr, loop);
  } finally {
    if (opened) await (loader as BatchLoader).close();
  }
}

/** The recipe on a loader; the scale is folded back even when training stops early. */
async function run(
  model: JumpSAE,
  loader: DataLoader,
  options: RecipeTrainOptions,
  recipe: Recipe,
  target: number,
  lr: number,
  loop: Loop,
): Promise<TrainLogs> {
  const controlled = recipe.sparsity === "controller";
  const train: TrainOptions = {};
  for (const [key, value] of Object.entries(options)) {
    if (!RECIPE_KEYS.has(key)) (train as Record<string, unknown>)[key] = value;
  }
  const perEpoch = loaderLength(loader);
  const nbEpochs = options.nbEpochs ?? recipeEpochs(recipe, perEpoch);
  const sample = await sampleRows(loader, model.dim, 65_536);
  const scale = recipe.scaleInputs && canFoldInputScale(model) ? unitMeanSquareScale(sample) : 1;

  const bandwith = options.bandwith ?? options.bandwidth;
  model.setPseudoGradient({
    kernel: options.kernel ?? recipe.kernel,
    bandwith: bandwith ?? recipe.bandwith,
    pseudoGradient: options.pseudoGradient ?? recipe.pseudoGradient,
  });
  await initialise(model, recipe, scaled(sample, scale), target);

  const steps = nbEpochs * perEpoch;
  const optimizer = new Adam(model, { lr, betas: [...recipe.betas] as [number, number] });
  const warmup = Math.min(
    recipe.lrWarmup.maxSteps,
    Math.floor(steps * recipe.lrWarmup.fraction),
    Math.max(steps - 1, 0),
  );
  const scheduler = steps > 0 && (warmup > 0 || recipe.lrFinal !== 1)
    ? new CosineScheduler(optimizer, lr, lr * recipe.lrFinal, steps, warmup, lr / 10)
    : undefined;
  const controller = controlled ? l0Controller(target) : null;
  const sparsity = controller ?? losses.l0Penalty(recipe.sparsity as number);
  const reconstruction = recipe.auxK > 0
    ? losses.topKAuxiliaryLoss(recipe.auxK, { onBackend: true })
    : losses.mse();
  const warm = Math.floor(steps * recipe.sparsityWarmup);
  const criterion = warm > 0
    ? losses.sparsityWarmup(reconstruction, sparsity, warm)
    : losses.sum(reconstruction, sparsity);

  // the controller's coefficient and the per-epoch log travel in checkpoints, so that a resumed
  // run is identical
  let penalties: number[] = [];
  const criterionWithState: Loss = {
    ...criterion,
    stateDict: () => ({ controller: controller?.stateDict() ?? null, penalties }),
    loadStateDict: (state: unknown) => {
      const s = state as { controller: { u: number } | null; penalties: number[] };
      if (controller && s.controller) controller.loadStateDict(s.controller);
      penalties = [...s.penalties];
    },
  };
  const onEpoch = train.onEpoch;
  let logs: TrainLogs;
  try {
    logs = await loop(
      model,
      scale === 1 ? loader : scaledLoader(loader, scale),
      criterionWithState,
      optimizer,
      {
        clipGrad: recipe.clipGrad,
        ...train,
        nbEpochs,
        ...(scheduler ? { scheduler } : {}),
        onEpoch: async (info) => {
          penalties.push(controller ? controller.penalty : (recipe.sparsity as number));
          await onEpoch?.(info);
        },
      },
    );
  } finally {
    // the model in the caller's hands takes raw activations, whether training ended or stopped
    await foldInputScale(model, scale);
  }
  const shift = controlled ? await calibrateThresholds(model, sample, target) : 0;
  logs.targetL0 = [controlled ? target : NaN];
  logs.l0Penalty = penalties;
  logs.inputScale = [scale];
  logs.thresholdShift = [shift];
  return logs;
}

// a { data, shape } tensor or rows as nested numbers ([[...], ...]); arrays of batches are loaders
function isTensorLike(v: unknown): boolean {
  if (v instanceof BatchLoader || typeof v === "function") return false;
  if (v && typeof v === "object" && "data" in v && "shape" in v) return true;
  return Array.isArray(v) && Array.isArray(v[0]) && typeof v[0][0] === "number";
}

function loaderLength(loader: DataLoader): number {
  if (loader instanceof BatchLoader || Array.isArray(loader)) return loader.length;
  throw new TypeError(
    "a recipe needs the number of batches per epoch: pass a tensor, a .npy path, a BatchLoader or an array of batches",
  );
}

/** Up to `limit` rows from the first batches of epoch 0, flattened to tokens [rows, dim]. */
async function sampleRows(loader: DataLoader, dim: number, limit: number): Promise<Tensor> {
  const parts: Float32Array[] = [];
  let rows = 0;
  const batches = loader instanceof BatchLoader ? loader.batches(0) : (loader as Batch[]);
  for await (const b of batches as AsyncIterable<Batch>) {
    const t = extractInput(b);
    if (t.data.length % dim !== 0) {
      throw new RangeError(
        `a batch has ${t.data.length} values, expected a multiple of dim ${dim}`,
      );
    }
    parts.push(t.data);
    rows += t.data.length / dim;
    if (rows >= limit) break;
  }
  if (rows === 0) throw new RangeError("the training data have no rows");
  const out = new Float32Array(rows * dim);
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return { data: out, shape: [rows, dim] };
}

function scaled(t: Tensor, s: number): Tensor {
  return s === 1 ? t : { data: t.data.map((v) => v * s), shape: t.shape };
}

/** The loader's batches times s, batch by batch (resumable: epoch and start are passed on). */
function scaledLoader(loader: DataLoader, s: number): DataLoader {
  return (epoch: number) => ({
    async *[Symbol.asyncIterator]() {
      const source = loader instanceof BatchLoader ? loader.batches(epoch) : (loader as Batch[]);
      for await (const b of source as AsyncIterable<Batch>) yield scaled(extractInput(b), s);
    },
  });
}

/** Tied encoder init, the decoder bias at the data mean, the recipe's thresholds. */
async function initialise(model: JumpSAE, recipe: Recipe, sample: Tensor, target: number) {
  const state = await model.stateDict();
  if (state.b_dec && recipe.thresholdInit !== null) {
    const [rows, D] = sample.shape, mean = new Float64Array(D);
    for (let i = 0; i < rows * D; i++) mean[i % D] += sample.data[i] / rows;
    state.b_dec.data.set(mean);
  }
  const first = model.encoder.layers[0];
  if (recipe.tiedInit && first instanceof Linear && first.inFeatures === model.dim) {
    state[`encoder.${first.name}.weight`].data.set(state["dictionary._weights"].data);
    state[`encoder.${first.name}.bias`].data.fill(0);
  }
  if (typeof recipe.thresholdInit === "number") {
    state.thresholds.data.fill(Math.log(recipe.thresholdInit));
  }
  await model.loadStateDict(state);
  if (recipe.thresholdInit === "quantile") await quantileThresholds(model, sample, target);
}
