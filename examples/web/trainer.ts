/**
 * Training a JumpSAE for the demo page (and runnable in Deno), with the best API the library
 * exports:
 * - `trainSae` + `Adam` (the seed's training loop, one epoch of `steps` batches);
 * - else `Adam` alone: `lossAndGradients` + `step` + `zeroGrad`, then a `forward` for metrics;
 * - else `valueAndGrad` and Adam on host arrays (`stateDict` → update → `loadStateDict`).
 * All three take the same steps (PyTorch's Adam, no gradient clipping).
 */
import * as jumpsae from "../../mod.ts";
import type { JumpSAE, Loss, Tensor } from "../../mod.ts";

/** Metrics of one step. */
export interface StepMetrics {
  /** 1, 2, … */
  step: number;
  loss: number;
  /** R² of the batch's reconstruction. */
  r2: number;
  /** Mean number of non-zero codes per sample. */
  l0: number;
}

/** Options of `createTrainer`. */
export interface TrainerOptions {
  lr: number;
  /** Penalty of the L0 term of `losses.mseL0`. */
  l0Penalty: number;
}

/** A trainer: `run` trains `steps` batches and awaits `onStep` after each. */
export interface Trainer {
  /** "trainSae + Adam", "Adam on the backend" or "Adam on host arrays (valueAndGrad)". */
  readonly mode: string;
  run(
    steps: number,
    nextBatch: () => Tensor,
    onStep: (metrics: StepMetrics) => void | Promise<void>,
  ): Promise<void>;
}

interface BackendOptimizer {
  step(): Promise<void>;
  zeroGrad(): Promise<void>;
}

/** The training API a trainer may use (the library's exports of these names, when present). */
export interface TrainingApi {
  Adam?: new (model: JumpSAE, options: { lr: number }) => BackendOptimizer;
  trainSae?: (
    model: JumpSAE,
    loader: () => Iterable<Tensor>,
    loss: Loss,
    optimizer: BackendOptimizer,
    options: {
      nbEpochs: number;
      clipGrad: false;
      monitoring: 1;
      verbose: false;
      progress: false;
      onStep: (info: { loss: number; r2: number; l0: number }) => Promise<void>;
    },
  ) => Promise<unknown>;
}

/** R² of a reconstruction with per-dimension means. */
export function r2(x: Tensor, xHat: Tensor): number {
  const [B, D] = x.shape;
  const mean = new Float64Array(D);
  for (let i = 0; i < B * D; i++) mean[i % D] += x.data[i] / B;
  let sse = 0, sst = 0;
  for (let i = 0; i < B * D; i++) {
    sse += (x.data[i] - xHat.data[i]) ** 2;
    sst += (x.data[i] - mean[i % D]) ** 2;
  }
  return 1 - sse / sst;
}

/** Mean number of non-zero codes per row of `codes` `[B, C]`. */
export function meanL0(codes: Tensor): number {
  let nonZero = 0;
  for (const v of codes.data) if (v !== 0) nonZero++;
  return nonZero / codes.shape[0];
}

/** Creates a trainer of `sae` using `api` (default: what the library exports). */
export function createTrainer(
  sae: JumpSAE,
  options: TrainerOptions,
  api: TrainingApi = jumpsae as unknown as TrainingApi,
): Trainer {
  const loss = jumpsae.losses.mseL0(options.l0Penalty);
  const { Adam, trainSae } = api;

  if (Adam && trainSae) {
    return {
      mode: "trainSae + Adam",
      async run(steps, nextBatch, onStep) {
        let step = 0;
        await trainSae(
          sae,
          function* () {
            for (let i = 0; i < steps; i++) yield nextBatch();
          },
          loss,
          new Adam(sae, { lr: options.lr }),
          {
            nbEpochs: 1,
            clipGrad: false,
            monitoring: 1,
            verbose: false,
            progress: false,
            onStep: async (info) => {
              await onStep({ step: ++step, loss: info.loss, r2: info.r2, l0: info.l0 });
            },
          },
        );
      },
    };
  }

  if (Adam) {
    return {
      mode: "Adam on the backend",
      async run(steps, nextBatch, onStep) {
        const optimizer = new Adam(sae, { lr: options.lr });
        for (let step = 1; step <= steps; step++) {
          const x = nextBatch();
          const value = await sae.lossAndGradients(x, loss);
          await optimizer.step();
          await optimizer.zeroGrad();
          const { codes, xHat } = await sae.forward(x);
          await onStep({ step, loss: value, r2: r2(x, xHat), l0: meanL0(codes) });
        }
      },
    };
  }

  // Adam on host arrays (PyTorch's formula), through the state dict.
  return {
    mode: "Adam on host arrays (valueAndGrad)",
    async run(steps, nextBatch, onStep) {
      const m = new Map<string, Float32Array>(), v = new Map<string, Float32Array>();
      const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
      for (let step = 1; step <= steps; step++) {
        const x = nextBatch();
        const result = await sae.valueAndGrad(x, loss);
        const state = await sae.stateDict();
        const c1 = 1 - beta1 ** step, c2 = 1 - beta2 ** step;
        for (const [name, grad] of Object.entries(result.grads)) {
          const p = state[name].data;
          if (!m.has(name)) {
            m.set(name, new Float32Array(p.length));
            v.set(name, new Float32Array(p.length));
          }
          const mm = m.get(name)!, vv = v.get(name)!;
          for (let i = 0; i < p.length; i++) {
            const g = grad.data[i];
            mm[i] = beta1 * mm[i] + (1 - beta1) * g;
            vv[i] = beta2 * vv[i] + (1 - beta2) * g * g;
            p[i] -= options.lr * (mm[i] / c1) / (Math.sqrt(vv[i] / c2) + eps);
          }
        }
        await sae.loadStateDict(state);
        await onStep({
          step,
          loss: result.loss,
          r2: r2(x, result.xHat),
          l0: meanL0(result.codes),
        });
      }
    },
  };
}
