/**
 * `jumpsae train`: trains a JumpSAE on activations (.npy, streamed in shuffled batches) with
 * `trainSae` and writes it as a jumpsae checkpoint or a SAELens directory. By default it trains
 * by the `jumpsae` recipe to a target L0 (√D unless `--target-l0`); `--loss`/`--penalty` train
 * with a fixed loss instead, as `trainSae(model, loader, criterion, optimizer)`.
 *
 * @module
 */

import { ENCODER_NAMES, type EncoderName } from "../../encoders.ts";
import { JumpSAE } from "../../jump_sae.ts";
import { KERNEL_NAMES, type KernelName } from "../../kernels.ts";
import * as losses from "../../losses.ts";
import { NORMALIZATION_NAMES } from "../../dictionary.ts";
import { Adam, AdamW } from "../../optim/adam.ts";
import { batchLoader } from "../../train/batch_loader.ts";
import { openRowSource } from "../../train/_row_sources.ts";
import { type TrainOptions, trainSae } from "../../train/train_sae.ts";
import {
  defaultTargetL0,
  getRecipe,
  RECIPE_NAMES,
  recipeEpochs,
  type RecipeName,
} from "../../train/recipes.ts";
import type { Device } from "../../backends/select.ts";
import { type CommandSpec, formatBytes, UsageError } from "../args.ts";
import { Progress } from "../progress.ts";
import { type CliContext, loadCliModel, MODEL_OPTIONS } from "../_common.ts";
import { writeModel } from "./convert.ts";

/** The command's arguments. */
export const TRAIN: CommandSpec = {
  name: "train",
  summary:
    "Train a JumpSAE on activations (.npy [rows, dim]; shards a.npy,b.npy; members acts.npz#key) to a target sparsity and save it",
  positionals: ["activations"],
  options: {
    output: {
      kind: "string",
      alias: "o",
      help: "Output checkpoint (or directory with --to saelens)",
      meta: "PATH",
    },
    to: {
      kind: "string",
      help: "Output format",
      choices: ["jumpsae", "saelens"],
      default: "jumpsae",
    },
    concepts: {
      kind: "integer",
      alias: "c",
      help: "Number of concepts (dictionary size). Default: 4 × dim",
    },
    "target-l0": {
      kind: "number",
      alias: "k",
      help:
        "Mean active concepts per row to reach. Default: √dim, rounded (8 at 64 dims, 28 at 768)",
    },
    recipe: {
      kind: "string",
      help: "Training recipe (see README, Training recipes)",
      choices: RECIPE_NAMES,
      default: "jumpsae",
    },
    from: {
      kind: "string",
      help: "Start from this model (any readable format) instead of a new one",
      meta: "MODEL",
    },
    encoder: { kind: "string", help: "Encoder", choices: ENCODER_NAMES, default: "mlp_bn_1" },
    "decoder-bias": {
      kind: "boolean",
      help:
        "Add a decoder bias b_dec (x̂ = codes·D + b_dec). Default: on, with --no-decoder-bias to drop it",
    },
    "center-input": { kind: "boolean", help: "Encode x − b_dec (implies --decoder-bias)" },
    epochs: {
      kind: "integer",
      alias: "e",
      help: "Epochs. Default: the recipe's (20, or more to make 3000 steps on small files)",
    },
    "batch-size": { kind: "integer", alias: "b", help: "Rows per batch. Default: the recipe's" },
    lr: { kind: "number", help: "Learning rate. Default: the recipe's" },
    loss: {
      kind: "string",
      help: "Train with this fixed loss instead of a recipe (with --penalty; Adam, no scheduler)",
      choices: ["mse_l0", "mse_l1", "mse"],
    },
    penalty: { kind: "number", help: "Sparsity penalty of --loss mse_l0 / mse_l1 (default 1e-3)" },
    optimizer: {
      kind: "string",
      help: "Optimizer of --loss training",
      choices: ["adam", "adamw"],
      default: "adam",
    },
    "weight-decay": { kind: "number", help: "Weight decay of --loss training", default: 0 },
    kernel: {
      kind: "string",
      help: "Pseudo-gradient kernel. Default: the recipe's",
      choices: KERNEL_NAMES,
    },
    bandwith: { kind: "number", help: "Kernel bandwith. Default: the recipe's" },
    "pseudo-gradient": {
      kind: "string",
      help: "Threshold gradient. Default: the recipe's",
      choices: ["overcomplete", "paper"],
    },
    normalization: {
      kind: "string",
      help: "Dictionary normalization",
      choices: NORMALIZATION_NAMES,
      default: "l2",
    },
    multiplier: { kind: "boolean", help: "Train a dictionary multiplier" },
    "clip-grad": { kind: "number", help: "Clip the gradient norm (0: off)", default: 1 },
    seed: { kind: "integer", help: "Seed of initialisation and shuffling", default: 0 },
    "shuffle-by": {
      kind: "string",
      help:
        "Exact row permutation, or contiguous chunks mixed in a buffer (default: rows for files that fit a quarter of memory, else chunks)",
      choices: ["rows", "chunks"],
    },
    "buffer-rows": { kind: "integer", help: "Rows mixed together when shuffling by chunks" },
    "in-memory": {
      kind: "bytes",
      help:
        "Files up to this size (as float32) are read whole, once (default: a quarter of memory, at most 4GB; 1: always stream)",
      meta: "SIZE",
    },
    checkpoint: {
      kind: "string",
      help: "Save the training state here every epoch and resume from it",
      meta: "PATH",
    },
    ...MODEL_OPTIONS,
  },
  epilog: "Examples:\n" +
    "  jumpsae train acts.npy -o sae.safetensors                      # 4×dim concepts, L0 ≈ √dim\n" +
    "  jumpsae train acts.npy -o sae.safetensors --concepts 4096 --target-l0 32\n" +
    "  jumpsae train acts.npy -o sae/ --to saelens --encoder linear --target-l0 64   # SAELens needs Linear\n" +
    "  jumpsae train acts.npy -o sae.safetensors --loss mse_l0 --penalty 1e-3      # fixed loss, no recipe",
};

/** Runs `train`. */
export async function runTrain(
  positionals: Record<string, string | undefined>,
  options: Record<string, unknown>,
  ctx: CliContext,
): Promise<number> {
  const output = options.output as string | undefined;
  if (!output) throw new UsageError("train needs --output PATH, got none");
  const path = positionals.activations!;
  const heads = [];
  for (const file of path.split(",")) heads.push(await openRowSource(file)); // shards a.npy,b.npy
  const shape = [heads.reduce((n, h) => n + h.rows, 0), ...heads[0].rowShape];
  for (const h of heads) await h.close();
  if (shape.length !== 2) {
    throw new RangeError(`${path} has shape [${shape.join(", ")}], expected [rows, dim]`);
  }
  const positive = (name: string) => {
    const v = options[name] as number;
    if (!(v > 0)) throw new UsageError(`--${name} must be > 0, got ${v}`);
    return v;
  };
  await checkWritable(output, options.to as string);
  const given = (name: string) => options[name] !== undefined;
  if (options.to === "saelens" && !options.from && options.encoder !== "linear") {
    throw new UsageError(
      `--to saelens needs --encoder linear (a SAELens SAE has a Linear encoder), got ${options.encoder}`,
    );
  }
  const fixedLoss = given("loss") || given("penalty");
  if (fixedLoss && given("target-l0")) {
    throw new UsageError("--target-l0 is reached by a recipe: give it without --loss/--penalty");
  }
  const recipe = getRecipe(options.recipe as RecipeName);
  const pg = {
    ...(given("kernel") ? { kernel: options.kernel as KernelName } : {}),
    ...(given("bandwith") ? { bandwith: positive("bandwith") } : {}),
    ...(given("pseudo-gradient")
      ? { pseudoGradient: options["pseudo-gradient"] as "overcomplete" | "paper" }
      : {}),
  };
  let sae: JumpSAE;
  if (options.from) {
    sae = await loadCliModel(options.from as string, options);
    if (sae.dim !== shape[1]) {
      throw new RangeError(`${path} has dim ${shape[1]}, expected ${sae.dim} for the --from model`);
    }
    sae.train();
  } else {
    const center = options["center-input"] === true;
    const concepts = given("concepts") ? positive("concepts") : 4 * shape[1];
    sae = new JumpSAE(shape[1], concepts, {
      encoderModule: options.encoder as EncoderName,
      kernel: recipe.kernel,
      bandwith: recipe.bandwith,
      pseudoGradient: recipe.pseudoGradient,
      ...pg,
      dictionaryParams: {
        normalization: options.normalization as "l2",
        useMultiplier: options.multiplier === true,
      },
      decoderBias: center || options["decoder-bias"] !== false,
      centerInput: center,
      seed: options.seed as number,
      device: options.device as Device,
      threads: options.threads as number | undefined,
    });
  }
  try {
    const batchSize = given("batch-size") ? positive("batch-size") : recipe.batchSize;
    const loader = await batchLoader(path.split(","), {
      batchSize,
      seed: options.seed as number,
      shuffle: true,
      dropLast: !fixedLoss && shape[0] >= batchSize,
      shuffleBy: options["shuffle-by"] as "rows" | "chunks" | undefined,
      bufferRows: options["buffer-rows"] as number | undefined,
      inMemoryBytes: options["in-memory"] as number | undefined,
    });
    const epochs = given("epochs")
      ? options.epochs as number
      : fixedLoss
      ? recipe.nbEpochs
      : recipeEpochs(recipe, loader.length);
    if (!(epochs >= 1)) throw new UsageError(`--epochs must be >= 1, got ${epochs}`);
    const target = fixedLoss
      ? NaN
      : given("target-l0")
      ? positive("target-l0")
      : defaultTargetL0(sae.dim, sae.nbConcepts);
    if (!fixedLoss && !(target < sae.nbConcepts)) {
      throw new UsageError(`--target-l0 must be < the ${sae.nbConcepts} concepts, got ${target}`);
    }
    ctx.err(
      `training ${sae.nbConcepts} concepts on ${shape[0]} rows × ${
        shape[1]
      } (${loader.length} batches of ${batchSize}) for ${epochs} epochs, ` +
        (fixedLoss
          ? `loss ${options.loss ?? "mse_l0"}`
          : recipe.sparsity === "controller"
          ? `recipe ${recipe.name}, target L0 ${target}`
          : `recipe ${recipe.name}, L0 penalty ${recipe.sparsity}`),
    );
    const bar = new Progress("train", loader.length * epochs, "batches", {
      enabled: ctx.progress,
      write: ctx.progressWrite,
    });
    const l0Text = (l0: number) =>
      fixedLoss || recipe.sparsity !== "controller" ? l0.toFixed(1) : `${l0.toFixed(1)}/${target}`;
    const common: TrainOptions = {
      nbEpochs: epochs,
      clipGrad: (options["clip-grad"] as number) || false,
      verbose: false,
      progress: false,
      checkpoint: options.checkpoint as string | undefined,
      onStep: (s) => {
        bar.update(
          s.step + 1,
          `loss ${s.loss.toExponential(3)} R² ${s.r2.toFixed(3)} L0 ${l0Text(s.l0)}`,
        );
      },
      onEpoch: (e) => {
        bar.done();
        ctx.out(
          `epoch ${e.epoch + 1}/${epochs}  loss ${e.avgLoss.toExponential(4)}  R² ${
            e.r2.toFixed(4)
          }  L0 ${l0Text(e.zSparsity)}  ` +
            `dead ${(100 * e.deadFeatures).toFixed(1)}%  ${e.timeEpoch.toFixed(1)}s`,
        );
      },
    };
    if (fixedLoss) {
      const penalty = given("penalty") ? options.penalty as number : 1e-3;
      const criterion = options.loss === "mse"
        ? losses.mse()
        : options.loss === "mse_l1"
        ? losses.mseL1(penalty)
        : losses.mseL0(penalty);
      const Opt = options.optimizer === "adamw" ? AdamW : Adam;
      const optimizer = new Opt(sae, {
        lr: given("lr") ? positive("lr") : 1e-3,
        weightDecay: options["weight-decay"] as number,
      });
      if (Object.keys(pg).length) sae.setPseudoGradient(pg);
      await trainSae(sae, loader, criterion, optimizer, common);
    } else {
      const logs = await trainSae(sae, loader, {
        ...common,
        recipe: recipe.name,
        ...(recipe.sparsity === "controller" ? { targetL0: target } : {}),
        ...(given("lr") ? { lr: positive("lr") } : {}),
        ...pg,
      });
      if (recipe.sparsity === "controller") {
        ctx.out(
          `thresholds calibrated to L0 ${target} (all θ × ${
            Math.exp(logs.thresholdShift[0]).toFixed(4)
          }); input scale ${logs.inputScale[0].toPrecision(4)} folded into the weights`,
        );
      }
    }
    await loader.close();
    sae.eval();
    const written = await writeModel(sae, output, options.to as string);
    for (const [p, size] of written) ctx.out(`wrote ${p} (${formatBytes(size)})`);
    return 0;
  } finally {
    sae.dispose();
  }
}

/** Fails before training when the output cannot be written (a probe file is written and removed). */
async function checkWritable(output: string, to: string): Promise<void> {
  const dir = to === "saelens" ? output.replace(/[\\/]+$/, "") : null;
  const probe = dir ? `${dir}/.jumpsae-write-probe` : `${output}.jumpsae-write-probe`;
  try {
    if (dir) await Deno.mkdir(dir, { recursive: true });
    await Deno.writeFile(probe, new Uint8Array(0));
    await Deno.remove(probe);
  } catch (e) {
    throw new UsageError(
      `--output ${output} cannot be written (${(e as Error).message}), checked before training`,
    );
  }
}
