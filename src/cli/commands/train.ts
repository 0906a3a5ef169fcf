/**
 * `jumpsae train`: trains a JumpSAE on activations (.npy, streamed in shuffled batches) with
 * `trainSae` and writes it as a jumpsae checkpoint or a SAELens directory.
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
import { trainSae } from "../../train/train_sae.ts";
import type { Device } from "../../backends/select.ts";
import { type CommandSpec, formatBytes, UsageError } from "../args.ts";
import { Progress } from "../progress.ts";
import { type CliContext, loadCliModel, MODEL_OPTIONS } from "../_common.ts";
import { writeModel } from "./convert.ts";

/** The command's arguments. */
export const TRAIN: CommandSpec = {
  name: "train",
  summary:
    "Train a JumpSAE on activations (.npy [rows, dim]; shards a.npy,b.npy; members acts.npz#key) and save it",
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
    concepts: { kind: "integer", alias: "c", help: "Number of concepts (dictionary size)" },
    from: {
      kind: "string",
      help: "Start from this model (any readable format) instead of a new one",
      meta: "MODEL",
    },
    encoder: { kind: "string", help: "Encoder", choices: ENCODER_NAMES, default: "mlp_bn_1" },
    epochs: { kind: "integer", alias: "e", help: "Epochs", default: 5 },
    "batch-size": { kind: "integer", alias: "b", help: "Rows per batch", default: 1024 },
    lr: { kind: "number", help: "Learning rate", default: 1e-3 },
    optimizer: { kind: "string", help: "Optimizer", choices: ["adam", "adamw"], default: "adam" },
    "weight-decay": { kind: "number", help: "Weight decay", default: 0 },
    loss: { kind: "string", help: "Loss", choices: ["mse_l0", "mse_l1", "mse"], default: "mse_l0" },
    penalty: { kind: "number", help: "Sparsity penalty of mse_l0 / mse_l1", default: 1e-3 },
    kernel: {
      kind: "string",
      help: "Pseudo-gradient kernel",
      choices: KERNEL_NAMES,
      default: "silverman",
    },
    bandwith: { kind: "number", help: "Kernel bandwith", default: 1e-3 },
    "pseudo-gradient": {
      kind: "string",
      help: "Threshold gradient",
      choices: ["overcomplete", "paper"],
      default: "overcomplete",
    },
    normalization: {
      kind: "string",
      help: "Dictionary normalization",
      choices: NORMALIZATION_NAMES,
      default: "l2",
    },
    multiplier: { kind: "boolean", help: "Train a dictionary multiplier" },
    "decoder-bias": { kind: "boolean", help: "Add a decoder bias b_dec (x̂ = codes·D + b_dec)" },
    "center-input": { kind: "boolean", help: "Encode x − b_dec (implies --decoder-bias)" },
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
  epilog:
    "Example:\n  jumpsae train acts.npy -o sae.safetensors --concepts 4096 --encoder linear --decoder-bias --center-input --epochs 10",
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
  const head = await openRowSource(path.split(",")[0]);
  const shape = [head.rows, ...head.rowShape];
  await head.close();
  if (shape.length !== 2) {
    throw new RangeError(`${path} has shape [${shape.join(", ")}], expected [rows, dim]`);
  }
  const positive = (name: string) => {
    const v = options[name] as number;
    if (!(v > 0)) throw new UsageError(`--${name} must be > 0, got ${v}`);
    return v;
  };
  let sae: JumpSAE;
  if (options.from) {
    sae = await loadCliModel(options.from as string, options);
    if (sae.dim !== shape[1]) {
      throw new RangeError(`${path} has dim ${shape[1]}, expected ${sae.dim} for the --from model`);
    }
    sae.train();
  } else {
    if (options.concepts === undefined) {
      throw new UsageError("train needs --concepts N (or --from MODEL), got neither");
    }
    const center = options["center-input"] === true;
    sae = new JumpSAE(shape[1], positive("concepts"), {
      encoderModule: options.encoder as EncoderName,
      kernel: options.kernel as KernelName,
      bandwith: positive("bandwith"),
      pseudoGradient: options["pseudo-gradient"] as "overcomplete",
      dictionaryParams: {
        normalization: options.normalization as "l2",
        useMultiplier: options.multiplier === true,
      },
      decoderBias: center || options["decoder-bias"] === true,
      centerInput: center,
      seed: options.seed as number,
      device: options.device as Device,
      threads: options.threads as number | undefined,
    });
  }
  try {
    const batchSize = positive("batch-size");
    const loader = await batchLoader(path.split(","), {
      batchSize,
      seed: options.seed as number,
      shuffle: true,
      shuffleBy: options["shuffle-by"] as "rows" | "chunks" | undefined,
      bufferRows: options["buffer-rows"] as number | undefined,
      inMemoryBytes: options["in-memory"] as number | undefined,
    });
    const penalty = options.penalty as number;
    const criterion = options.loss === "mse"
      ? losses.mse()
      : options.loss === "mse_l1"
      ? losses.mseL1(penalty)
      : losses.mseL0(penalty);
    const Opt = options.optimizer === "adamw" ? AdamW : Adam;
    const optimizer = new Opt(sae, {
      lr: positive("lr"),
      weightDecay: options["weight-decay"] as number,
    });
    const epochs = options.epochs as number;
    if (!(epochs >= 1)) throw new UsageError(`--epochs must be >= 1, got ${epochs}`);
    ctx.err(
      `training ${sae.nbConcepts} concepts on ${loader.rows} rows × ${
        shape[1]
      } (${loader.length} batches of ${batchSize}) for ${epochs} epochs`,
    );
    const bar = new Progress("train", loader.length * epochs, "batches", {
      enabled: ctx.progress,
      write: ctx.progressWrite,
    });
    await trainSae(sae, loader, criterion, optimizer, {
      nbEpochs: epochs,
      clipGrad: (options["clip-grad"] as number) || false,
      verbose: false,
      progress: false,
      checkpoint: options.checkpoint as string | undefined,
      onStep: (s) => {
        bar.update(
          s.step + 1,
          `loss ${s.loss.toExponential(3)} R² ${s.r2.toFixed(3)} L0 ${s.l0.toFixed(1)}`,
        );
      },
      onEpoch: (e) => {
        bar.done();
        ctx.out(
          `epoch ${e.epoch + 1}/${epochs}  loss ${e.avgLoss.toExponential(4)}  R² ${
            e.r2.toFixed(4)
          }  L0 ${e.zSparsity.toFixed(2)}  ` +
            `dead ${(100 * e.deadFeatures).toFixed(1)}%  ${e.timeEpoch.toFixed(1)}s`,
        );
      },
    });
    await loader.close();
    sae.eval();
    const written = await writeModel(sae, output, options.to as string);
    for (const [p, size] of written) ctx.out(`wrote ${p} (${formatBytes(size)})`);
    return 0;
  } finally {
    sae.dispose();
  }
}
