import type { JumpSAE } from "../jump_sae.ts";
import { checkOptions, keysOf } from "../_options.ts";
import type { Loss } from "../losses.ts";
import { l0Eps } from "../metrics/sparsity.ts";
import { clipGradNorm, gradNorm } from "../optim/clip_grad_norm.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import type { TensorLike } from "../tensor.ts";
import { exists } from "./_files.ts";
import { StepMonitor } from "./_step_monitor.ts";
import { StepSnapshot } from "./_snapshot.ts";
import { BatchLoader, batchLoader } from "./batch_loader.ts";
import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import { DeadCodeTracker } from "./dead_code_tracker.ts";
import { type Batch, extractInput } from "./_batches.ts";
import { ProgressBar } from "./progress_bar.ts";
import { RECIPE_OPTION_KEYS, type RecipeTrainOptions, trainWithRecipe } from "./train_recipe.ts";

export { type Batch, extractInput } from "./_batches.ts";

/**
 * What `trainSae` iterates each epoch: an array of batches, a (re-iterable) iterable or async
 * iterable, a `BatchLoader` (shuffled, resumable mid-epoch), or a function of the epoch index.
 */
export type DataLoader =
  | Iterable<Batch>
  | AsyncIterable<Batch>
  | BatchLoader
  | ((epoch: number) => Iterable<Batch> | AsyncIterable<Batch>);

/** A learning-rate scheduler stepped after every optimizer step (e.g. `CosineScheduler`). */
export interface Scheduler {
  /** Advances the schedule by one optimizer step and sets the learning rate. */
  step(): void;
  /** The schedule's position, for checkpoints. */
  stateDict?(): { iteration: number };
  /** Restores a position returned by `stateDict()`. */
  loadStateDict?(state: { iteration: number }): void;
}

/** Where and how often `trainSae` saves its state. */
export interface CheckpointOptions {
  /** File (safetensors) holding model, optimizer, scheduler, data position and logs. */
  path: string;
  /** Also save every this many steps (besides every epoch end and on abort). */
  everySteps?: number;
  /** Continue from `path` when it exists. Default true. */
  resume?: boolean;
}

/** What `onStep` receives after every batch. */
export interface StepInfo {
  /** Epoch index, from 0. */
  epoch: number;
  /** Index of the batch within the epoch. */
  batch: number;
  /** Global step index (batches seen since the start of training). */
  step: number;
  /** The batch's loss. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Learning rate after the scheduler step. */
  lr: number;
  /** True when the loss or a gradient was not finite and the update was skipped. */
  skipped: boolean;
  /** R² and mean L0 of the batch (NaN at monitoring 0). */
  r2: number;
  /** Mean L0 of the batch (NaN at monitoring 0). */
  l0: number;
}

/** What `onEpoch` receives at the end of every epoch. */
export interface EpochInfo {
  /** Epoch index, from 0. */
  epoch: number;
  /** Mean loss over the epoch's steps. */
  avgLoss: number;
  /** R² of the epoch's batches. */
  r2: number;
  /** Mean L0 per token over the epoch. */
  zSparsity: number;
  /** Fraction of the concepts that never fired during the epoch. */
  deadFeatures: number;
  /** Seconds the epoch took. */
  timeEpoch: number;
  /** Steps skipped because the loss or a gradient was not finite. */
  skippedSteps: number;
}

/** Options of `trainSae`, the seed's `train_sae` arguments in camelCase plus a few of ours. */
export interface TrainOptions {
  /** Stepped after every optimizer step. */
  scheduler?: Scheduler;
  /** Default 20. */
  nbEpochs?: number;
  /** Clip the global gradient norm to this value; 0, null or false: no clipping. Default 1.0. */
  clipGrad?: number | null | false;
  /** 0: no logs; 1: losses, R², L0, dead features; 2: also norms of codes, dictionary, parameters, gradients. Default 1. */
  monitoring?: 0 | 1 | 2;
  /** Print a line per epoch (and the progress bar). Default true. */
  verbose?: boolean;
  /** Draw the progress bar. Default: when stdout is a terminal, verbose is on and monitoring > 0. */
  progress?: boolean;
  /** Stops training between two steps; the checkpoint (if any) is written first, then the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called after every batch. */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** Called at the end of every epoch. */
  onEpoch?: (info: EpochInfo) => void | Promise<void>;
  /** A checkpoint path, or `CheckpointOptions`. */
  checkpoint?: string | CheckpointOptions;
}

/**
 * Training logs with the seed's keys in camelCase. Per epoch: `avgLoss`, `r2`, `zSparsity` (mean
 * L0 per token), `deadFeatures` (fraction of codes that never fired during the epoch),
 * `timeEpoch` (seconds), `skippedSteps` (non-finite steps, ours). Per step: `lr`, `stepLoss`, and
 * at monitoring 2 `zL2`, `dictionarySparsity`, `dictionaryNorms`, `paramsNorm_<name>`,
 * `paramsGradNorm_<name>`.
 */
export type TrainLogs = Record<string, number[]>;

async function* epochBatches(
  loader: DataLoader,
  epoch: number,
  start: number,
): AsyncGenerator<Batch> {
  if (loader instanceof BatchLoader) {
    yield* loader.batches(epoch, start);
    return;
  }
  const source = typeof loader === "function" ? loader(epoch) : loader;
  let i = 0;
  if (Symbol.asyncIterator in source) {
    for await (const b of source as AsyncIterable<Batch>) if (i++ >= start) yield b;
  } else if (Symbol.iterator in source) {
    for (const b of source as Iterable<Batch>) if (i++ >= start) yield b;
  } else {
    throw new TypeError(
      "dataloader must be an iterable, an async iterable, a BatchLoader or a function of the epoch",
    );
  }
}

function sumSquaresAroundMean(data: Float32Array): number {
  let mean = 0;
  for (let i = 0; i < data.length; i++) mean += data[i];
  mean /= data.length;
  let s = 0;
  for (let i = 0; i < data.length; i++) s += (data[i] - mean) ** 2;
  return s;
}

interface EpochAccumulator {
  loss: number;
  error: number;
  sparsity: number;
  counted: number;
  skipped: number;
  time: number;
}

const fresh = (): EpochAccumulator => ({
  loss: 0,
  error: 0,
  sparsity: 0,
  counted: 0,
  skipped: 0,
  time: 0,
});

function dataDescription(loader: DataLoader): Record<string, unknown> {
  return loader instanceof BatchLoader
    ? loader.description()
    : { kind: typeof loader === "function" ? "function" : "iterable" };
}

/**
 * Trains a JumpSAE, as the seed's `train_sae`: for every batch, zero the gradients, forward,
 * loss, backward, clip the global gradient norm (default 1.0), optimizer step, scheduler step.
 * Everything stays on the model's backend; per step only the loss, the gradient norm and a few
 * reductions (R², L0, firing codes) are read back.
 *
 * Safety: a step whose loss or gradient is not finite is skipped — parameters and optimizer
 * state stay as they were — and counted in `logs.skippedSteps`. With `checkpoint`, the run is
 * saved atomically at every epoch end (and every `everySteps` steps, and on abort) and resumes
 * from that file: model, optimizer moments, scheduler position, data position and logs, so that
 * an interrupted and resumed run gives the same numbers as an uninterrupted one.
 *
 * @param model The model (put in training mode at every epoch).
 * @param dataloader Batches, see `DataLoader`.
 * @param criterion The loss, e.g. `losses.mseL0(1e-3)`.
 * @param optimizer e.g. `new Adam(model, { lr: 1e-3 })`.
 * @param options See `TrainOptions`.
 * @returns The logs, see `TrainLogs`.
 *
 * @example Three epochs on random data
 * ```ts
 * import { Adam, batchLoader, JumpSAE, losses, trainSae } from "../../mod.ts";
 * const x = { data: new Float32Array(64 * 8).map(() => Math.random() - 0.5), shape: [64, 8] };
 * const sae = new JumpSAE(8, 32, { seed: 0, device: "reference" });
 * const loader = await batchLoader(x, { batchSize: 16, seed: 0 });
 * const logs = await trainSae(sae, loader, losses.mseL0(1e-3), new Adam(sae, { lr: 1e-3 }), {
 *   nbEpochs: 3,
 *   verbose: false,
 * });
 * console.log(logs.avgLoss.length, logs.r2.at(-1)); // 3, the last epoch's R²
 * sae.dispose();
 * ```
 */
export function trainSae(
  model: JumpSAE,
  dataloader: DataLoader | string,
  criterion: Loss,
  optimizer: Optimizer,
  options?: TrainOptions,
): Promise<TrainLogs>;
/**
 * Trains by a named recipe (default `"jumpsae"`) to the sparsity asked: the loss, optimizer,
 * schedule, input scaling and initialisation come from the recipe (see `RecipeTrainOptions`,
 * `getRecipe`).
 *
 * @param model The model; the recipe sets its pseudo-gradient and initial thresholds.
 * @param data A tensor [rows, dim], a `.npy` path, a `BatchLoader` or an array of batches.
 * @param options `recipe`, `targetL0` (default √D), and `TrainOptions`.
 * @returns The logs, plus `targetL0`, `l0Penalty`, `inputScale` and `thresholdShift`.
 *
 * @example Ask for 4 active concepts per token
 * ```ts
 * import { JumpSAE, trainSae } from "../../mod.ts";
 * const x = { data: new Float32Array(512 * 8).map(() => Math.random() - 0.5), shape: [512, 8] };
 * const sae = new JumpSAE(8, 32, { seed: 0, device: "reference" });
 * const logs = await trainSae(sae, x, { targetL0: 4, nbEpochs: 2, verbose: false });
 * console.log(logs.targetL0); // [4]
 * sae.dispose();
 * ```
 */
export function trainSae(
  model: JumpSAE,
  data: DataLoader | TensorLike | string,
  options?: RecipeTrainOptions,
): Promise<TrainLogs>;
export function trainSae(
  model: JumpSAE,
  data: DataLoader | TensorLike | string,
  criterionOrOptions?: Loss | RecipeTrainOptions,
  optimizer?: Optimizer,
  options: TrainOptions = {},
): Promise<TrainLogs> {
  if (optimizer === undefined && !isLoss(criterionOrOptions)) {
    try {
      const options = criterionOrOptions ?? {};
      const { scheduler: _, ...train } = options as RecipeTrainOptions & TrainOptions;
      checkTrainOptions(train, RECIPE_OPTION_KEYS);
      if ("scheduler" in options) {
        throw new TypeError("a recipe builds its own scheduler: pass no scheduler with a recipe");
      }
    } catch (e) {
      return Promise.reject(e);
    }
    return trainWithRecipe(model, data, criterionOrOptions ?? {}, trainLoop);
  }
  if (typeof data === "string") {
    return trainFromPath(model, data, criterionOrOptions as Loss, optimizer!, options);
  }
  return trainLoop(model, data as DataLoader, criterionOrOptions as Loss, optimizer!, options);
}

/** A file path trains through `batchLoader(path, { batchSize: 1024 })`, closed at the end. */
async function trainFromPath(
  model: JumpSAE,
  path: string,
  criterion: Loss,
  optimizer: Optimizer,
  options: TrainOptions,
): Promise<TrainLogs> {
  const loader = await batchLoader(path, { batchSize: 1024 });
  try {
    return await trainLoop(model, loader, criterion, optimizer, options);
  } finally {
    await loader.close();
  }
}

function isLoss(v: unknown): v is Loss {
  return !!v && typeof (v as Loss).accumulate === "function";
}

/** The checks of `TrainOptions`, run before any work (also by the recipe path). */
export function checkTrainOptions(
  options: TrainOptions,
  extraKeys: readonly string[] = [],
): {
  nbEpochs: number;
  clip: number | false | null;
  monitoring: 0 | 1 | 2;
  ckpt: CheckpointOptions | undefined;
} {
  checkOptions(
    options,
    [
      ...keysOf<TrainOptions>()([
        "scheduler",
        "nbEpochs",
        "clipGrad",
        "monitoring",
        "verbose",
        "progress",
        "signal",
        "onStep",
        "onEpoch",
        "checkpoint",
      ]),
      ...extraKeys,
    ],
    "trainSae options",
  );
  const nbEpochs = options.nbEpochs ?? 20;
  if (!Number.isInteger(nbEpochs) || nbEpochs < 0) {
    throw new RangeError(`nbEpochs must be an integer >= 0, got ${nbEpochs}`);
  }
  const clip = options.clipGrad ?? (options.clipGrad === undefined ? 1.0 : 0);
  if (
    clip !== false && clip !== null &&
    (typeof clip !== "number" || !(clip >= 0) || !Number.isFinite(clip))
  ) {
    throw new RangeError(`clipGrad must be a finite number >= 0, null or false, got ${clip}`);
  }
  const monitoring = options.monitoring ?? 1;
  if (monitoring !== 0 && monitoring !== 1 && monitoring !== 2) {
    throw new RangeError(`monitoring must be 0, 1 or 2, got ${monitoring}`);
  }
  const ckpt = typeof options.checkpoint === "string"
    ? { path: options.checkpoint }
    : options.checkpoint;
  if (ckpt && (typeof ckpt.path !== "string" || !ckpt.path)) {
    throw new TypeError(
      `checkpoint.path must be a non-empty string, got ${JSON.stringify(ckpt.path)}`,
    );
  }
  if (
    ckpt?.everySteps !== undefined && (!Number.isInteger(ckpt.everySteps) || ckpt.everySteps < 1)
  ) {
    throw new RangeError(`checkpoint.everySteps must be an integer >= 1, got ${ckpt.everySteps}`);
  }
  return { nbEpochs, clip, monitoring, ckpt };
}

async function trainLoop(
  model: JumpSAE,
  dataloader: DataLoader,
  criterion: Loss,
  optimizer: Optimizer,
  options: TrainOptions = {},
): Promise<TrainLogs> {
  const { nbEpochs, clip, monitoring, ckpt } = checkTrainOptions(options);
  if (!criterion || typeof criterion.accumulate !== "function") {
    throw new TypeError(
      `criterion must be a Loss (e.g. losses.mseL0(1e-3)), got ${typeof criterion}`,
    );
  }
  if (!optimizer || typeof optimizer.step !== "function") {
    throw new TypeError(
      `optimizer must be an Optimizer (e.g. new Adam(model)), got ${typeof optimizer}`,
    );
  }
  const verbose = options.verbose ?? true;
  const { scheduler, signal } = options;

  const monitor = monitoring > 0 ? new StepMonitor(monitoring) : null;
  const loss = monitor ? monitor.wrap(criterion) : criterion;
  const tracker = new DeadCodeTracker(model.nbConcepts);
  const undo = StepSnapshot.of(model);
  const data = dataDescription(dataloader);
  let logs: TrainLogs = {};
  let acc = fresh();
  let epoch0 = 0, batch0 = 0, step = 0;
  const push = (key: string, v: number) => (logs[key] ??= []).push(v);

  if (ckpt && ckpt.resume !== false && await exists(ckpt.path)) {
    const saved = await loadCheckpoint(ckpt.path);
    const p = saved.progress as {
      epoch: number;
      batch: number;
      step: number;
      logs: TrainLogs;
      acc: EpochAccumulator;
      scheduler: { iteration: number } | null;
      data: Record<string, unknown>;
      loss?: unknown;
    };
    if (JSON.stringify(p.data) !== JSON.stringify(data)) {
      throw new RangeError(
        `checkpoint ${ckpt.path} was written for data ${JSON.stringify(p.data)}, got ${
          JSON.stringify(data)
        }`,
      );
    }
    await model.loadStateDict(saved.model);
    await optimizer.loadStateDict(saved.optimizer);
    if (scheduler && p.scheduler) {
      if (!scheduler.loadStateDict) {
        throw new TypeError("The scheduler cannot be resumed: it has no loadStateDict()");
      }
      scheduler.loadStateDict(p.scheduler);
    }
    logs = p.logs;
    acc = p.acc;
    ({ epoch: epoch0, batch: batch0, step } = p);
    if (p.loss !== undefined && p.loss !== null) criterion.loadStateDict?.(p.loss);
    if (saved.extra?.alive) tracker.alive.set(saved.extra.alive.data.map((v) => (v > 0 ? 1 : 0)));
  }

  let epochStart = Date.now();
  const save = async (epoch: number, batch: number) => {
    if (!ckpt) return;
    await saveCheckpoint(ckpt.path, {
      model: await model.stateDict(),
      optimizer: await optimizer.stateDict(),
      progress: {
        epoch,
        batch,
        step,
        logs,
        acc: { ...acc, time: batch === 0 ? 0 : acc.time + (Date.now() - epochStart) / 1000 },
        scheduler: scheduler?.stateDict?.() ?? null,
        data,
        loss: criterion.stateDict?.() ?? null,
      },
      extra: { alive: { data: Float32Array.from(tracker.alive), shape: [tracker.nbConcepts] } },
    });
  };
  const stop = async (epoch: number, batch: number, bar?: ProgressBar) => {
    bar?.done();
    await save(epoch, batch);
    throw signal!.reason ?? new DOMException("Training aborted", "AbortError");
  };

  for (let epoch = epoch0; epoch < nbEpochs; epoch++) {
    model.train();
    const resumedMidEpoch = epoch === epoch0 && batch0 > 0;
    if (!resumedMidEpoch) {
      acc = fresh();
      tracker.reset();
    }
    epochStart = Date.now();
    const length = dataloader instanceof BatchLoader
      ? dataloader.length
      : Array.isArray(dataloader)
      ? dataloader.length
      : NaN;
    const bar = new ProgressBar(`Epoch ${epoch + 1}/${nbEpochs}`, length, {
      enabled: options.progress ?? (verbose && monitoring > 0 ? undefined : false),
    });
    let batch = resumedMidEpoch ? batch0 : 0;
    let seen = 0;
    if (signal?.aborted) await stop(epoch, batch, bar);
    for await (const item of epochBatches(dataloader, epoch, batch)) {
      if (signal?.aborted) await stop(epoch, batch, bar);
      const x = extractInput(item);
      criterion.setStep?.(step);
      const badBatch = !x.data.every(Number.isFinite); // skipped, no forward
      await undo.take(); // a skipped step changes nothing: running statistics, dictionary
      const value = badBatch ? NaN : await model.lossAndGradients(x, loss);
      const total = badBatch ? NaN : clip ? await clipGradNorm(model, clip) : await gradNorm(model);
      const skipped = !Number.isFinite(value) || !Number.isFinite(total);
      if (!skipped) {
        await optimizer.step();
        const bad = await undo.nonFinite();
        if (bad) {
          undo.restore();
          throw new RangeError(
            `step ${step} (epoch ${
              epoch + 1
            }, batch ${batch}) made ${bad} non-finite with lr ${optimizer.lr}, expected finite parameters (the model is restored to before the step)`,
          );
        }
        scheduler?.step();
      } else {
        undo.restore();
        acc.skipped++;
      }
      let r2 = NaN, l0 = NaN;
      const stats = badBatch ? undefined : monitor?.last;
      if (stats) {
        tracker.updateFromColumnSums(stats.columnSums);
        const n = stats.rows * stats.dim;
        r2 = 1 - (stats.ssRes / n) / (sumSquaresAroundMean(x.data) / n + 1e-6);
        l0 = stats.active / stats.rows;
        if (!skipped) {
          acc.loss += value;
          acc.error += r2;
          acc.sparsity += l0;
          acc.counted++;
        }
        push("lr", optimizer.lr);
        push("stepLoss", value);
        if (monitoring > 1) await logDetails(model, stats, push);
      }
      seen++;
      batch++;
      step++;
      bar.update(batch, {
        loss: acc.loss / acc.counted,
        r2: acc.error / acc.counted,
        L0: acc.sparsity / acc.counted,
        "dead%": 100 * tracker.deadRatio(),
      });
      await options.onStep?.({
        epoch,
        batch: batch - 1,
        step: step - 1,
        loss: value,
        gradNorm: total,
        lr: optimizer.lr,
        skipped,
        r2,
        l0,
      });
      if (ckpt?.everySteps && step % ckpt.everySteps === 0) await save(epoch, batch);
    }
    bar.done();
    if (seen === 0 && batch === 0) {
      throw new RangeError(
        `dataloader yielded no batch in epoch ${
          epoch + 1
        }: a one-shot iterator cannot be replayed, pass an array, a BatchLoader or a function of the epoch`,
      );
    }
    const timeEpoch = acc.time + (Date.now() - epochStart) / 1000;
    const info: EpochInfo = {
      epoch,
      avgLoss: acc.loss / acc.counted,
      r2: acc.error / acc.counted,
      zSparsity: acc.sparsity / acc.counted,
      deadFeatures: tracker.deadRatio(),
      timeEpoch,
      skippedSteps: acc.skipped,
    };
    if (monitoring > 0) {
      push("avgLoss", info.avgLoss);
      push("r2", info.r2);
      push("zSparsity", info.zSparsity);
      push("deadFeatures", info.deadFeatures);
      push("timeEpoch", timeEpoch);
      if (verbose) {
        console.log(
          `Epoch[${epoch + 1}/${nbEpochs}], Loss: ${info.avgLoss.toFixed(4)}, R2: ${
            info.r2.toFixed(4)
          }, ` +
            `L0: ${info.zSparsity.toFixed(4)}, Dead Features: ${
              (info.deadFeatures * 100).toFixed(1)
            }%, ` +
            `Time: ${timeEpoch.toFixed(4)} seconds${
              acc.skipped ? `, Skipped: ${acc.skipped}` : ""
            }`,
        );
      }
    }
    push("skippedSteps", acc.skipped);
    await options.onEpoch?.(info);
    acc = fresh();
    await save(epoch + 1, 0);
  }
  return logs;
}

async function logDetails(
  model: JumpSAE,
  stats: { codesSquared: number },
  push: (k: string, v: number) => void,
) {
  push("zL2", Math.sqrt(stats.codesSquared));
  const dict = await model.getDictionary();
  push("dictionarySparsity", l0Eps(dict));
  const [C, D] = dict.shape;
  let norms = 0;
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += dict.data[c * D + d] ** 2;
    norms += Math.sqrt(s);
  }
  push("dictionaryNorms", norms / C);
  const be = await model.getBackend();
  for (const { name, parameter } of model.parameters()) {
    if (!parameter.value || !parameter.grad || parameter.size === 0) continue;
    const norm = async (b: typeof parameter.value) => {
      const v = await be.download(b!, 0, parameter.size);
      let s = 0;
      for (let i = 0; i < v.length; i++) s += v[i] * v[i];
      return Math.sqrt(s);
    };
    push(`paramsNorm_${name}`, await norm(parameter.value));
    push(`paramsGradNorm_${name}`, await norm(parameter.grad));
  }
}
