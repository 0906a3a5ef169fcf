/**
 * One training step of a JumpSAE and its metrics, for the demo page (and runnable in Deno).
 *
 * When the library exports an `Adam` optimizer working on the model's backend, the step is
 * `lossAndGradients` + `step` + `zeroGrad`; otherwise it is `valueAndGrad` plus Adam on host
 * arrays (`stateDict` → update → `loadStateDict`).
 */
import * as jumpsae from "../../mod.ts";
import type { JumpSAE, Tensor } from "../../mod.ts";

/** Metrics of one step. */
export interface StepMetrics {
  step: number;
  loss: number;
  /** 1 − SSE/SST over the batch (per-dimension means). */
  r2: number;
  /** Mean number of non-zero codes per sample. */
  l0: number;
  /** Concepts that fired on no sample of the last `deadWindow` steps. */
  dead: number;
}

/** Options of `createTrainer`. */
export interface TrainerOptions {
  lr: number;
  /** Penalty of the L0 term of `losses.mseL0`. */
  l0Penalty: number;
  /** Steps without firing after which a concept counts as dead. */
  deadWindow: number;
}

/** A trainer: `step(x)` trains on one batch and returns its metrics. */
export interface Trainer {
  /** "backend Adam" or "host Adam (valueAndGrad)". */
  readonly mode: string;
  step(x: Tensor): Promise<StepMetrics>;
}

interface BackendOptimizer {
  step(): Promise<void>;
  zeroGrad(): Promise<void>;
}
/** An optimizer class with the library's `Adam` constructor. */
export type OptimizerClass = new (model: JumpSAE, options: { lr: number }) => BackendOptimizer;

/** R² of a reconstruction, as the seed library's `r2_score` (per-dimension means). */
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

/**
 * Creates a trainer of `sae`. `Adam` defaults to the library's export of that name, if any;
 * pass `null` to force the host path.
 */
export function createTrainer(
  sae: JumpSAE,
  options: TrainerOptions,
  Adam: OptimizerClass | null | undefined = (jumpsae as unknown as { Adam?: OptimizerClass }).Adam,
): Trainer {
  const loss = jumpsae.losses.mseL0(options.l0Penalty);
  const lastFired = new Int32Array(sae.nbConcepts).fill(0);
  let count = 0;

  const metrics = (x: Tensor, lossValue: number, codes: Tensor, xHat: Tensor): StepMetrics => {
    count++;
    const C = sae.nbConcepts, B = codes.shape[0];
    let nonZero = 0;
    for (let b = 0; b < B; b++) {
      for (let c = 0; c < C; c++) {
        if (codes.data[b * C + c] !== 0) {
          nonZero++;
          lastFired[c] = count;
        }
      }
    }
    let dead = 0;
    for (let c = 0; c < C; c++) if (count - lastFired[c] >= options.deadWindow) dead++;
    return { step: count, loss: lossValue, r2: r2(x, xHat), l0: nonZero / B, dead };
  };

  if (Adam && typeof sae.lossAndGradients === "function") {
    const optimizer = new Adam(sae, { lr: options.lr });
    return {
      mode: "backend Adam",
      async step(x) {
        const value = await sae.lossAndGradients(x, loss);
        await optimizer.step();
        await optimizer.zeroGrad();
        const { codes, xHat } = await sae.forward(x);
        return metrics(x, value, codes, xHat);
      },
    };
  }

  // Adam on host arrays (PyTorch's formula), through the state dict.
  const m = new Map<string, Float32Array>(), v = new Map<string, Float32Array>();
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
  return {
    mode: "host Adam (valueAndGrad)",
    async step(x) {
      const result = await sae.valueAndGrad(x, loss);
      const state = await sae.stateDict();
      const t = count + 1;
      for (const [name, grad] of Object.entries(result.grads)) {
        const p = state[name].data;
        if (!m.has(name)) {
          m.set(name, new Float32Array(p.length));
          v.set(name, new Float32Array(p.length));
        }
        const mm = m.get(name)!, vv = v.get(name)!;
        const c1 = 1 - beta1 ** t, c2 = 1 - beta2 ** t;
        for (let i = 0; i < p.length; i++) {
          const g = grad.data[i];
          mm[i] = beta1 * mm[i] + (1 - beta1) * g;
          vv[i] = beta2 * vv[i] + (1 - beta2) * g * g;
          p[i] -= options.lr * (mm[i] / c1) / (Math.sqrt(vv[i] / c2) + eps);
        }
      }
      await sae.loadStateDict(state);
      return metrics(x, result.loss, result.codes, result.xHat);
    },
  };
}
