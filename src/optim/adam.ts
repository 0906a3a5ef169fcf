import { SlotBuffers } from "./_state.ts";
import { checkHyper, checkSource } from "./_checks.ts";
import { checkOptions, keysOf } from "../_options.ts";
import type { Optimizer, OptimizerState, ParameterSource } from "./optimizer.ts";

/** Options of `Adam` and `AdamW` (PyTorch's names in camelCase). */
export interface AdamOptions {
  /** Learning rate. Default 1e-3. */
  lr?: number;
  /** Decay rates of the first and second moments. Default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Added to the denominator. Default 1e-8. */
  eps?: number;
  /** L2 penalty (Adam) or decoupled decay (AdamW). Default 0 for Adam, 1e-2 for AdamW. */
  weightDecay?: number;
}

const ADAM_KEYS = keysOf<AdamOptions>()(["lr", "betas", "eps", "weightDecay"]);

/**
 * Adam (Kingma & Ba 2015) with PyTorch's `torch.optim.Adam` semantics: bias-corrected moments,
 * `weightDecay` added to the gradient as an L2 penalty. Moments live on the model's backend.
 *
 * @example One training step
 * ```ts
 * import { Adam, JumpSAE, losses } from "../../mod.ts";
 * const sae = new JumpSAE(8, 16, { seed: 0, device: "reference" });
 * const optimizer = new Adam(sae, { lr: 1e-3 });
 * const x = { data: new Float32Array(4 * 8).map((_, i) => Math.sin(i)), shape: [4, 8] };
 * await sae.lossAndGradients(x, losses.mse());
 * await optimizer.step();
 * sae.dispose();
 * ```
 */
export class Adam implements Optimizer {
  lr: number;
  /** Decay rate of the first moment. */
  readonly beta1: number;
  /** Decay rate of the second moment. */
  readonly beta2: number;
  /** Added to the denominator. */
  readonly eps: number;
  /** L2 penalty (Adam) or decoupled decay (AdamW). */
  readonly weightDecay: number;
  /** Decoupled weight decay (AdamW). */
  readonly decoupled: boolean;
  #step = 0;
  #slots = new SlotBuffers(["exp_avg", "exp_avg_sq"]);

  /**
   * Adam over the parameters of `model`.
   *
   * @param model The model whose `parameters()` are trained (e.g. a `JumpSAE`).
   * @param options See `AdamOptions`.
   * @param decoupled Decoupled weight decay (what `AdamW` passes). Default false.
   */
  constructor(readonly model: ParameterSource, options: AdamOptions = {}, decoupled = false) {
    checkOptions(
      options,
      ADAM_KEYS,
      `the options of new ${decoupled ? "AdamW" : "Adam"}(model, options)`,
      "lr",
    );
    checkSource(model, decoupled ? "AdamW" : "Adam");
    this.lr = checkHyper("lr", options.lr ?? 1e-3, 0);
    const betas = options.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2) {
      throw new TypeError(`betas must be a pair of numbers, got ${JSON.stringify(betas)}`);
    }
    this.beta1 = checkHyper("betas[0]", betas[0], 0, 1);
    this.beta2 = checkHyper("betas[1]", betas[1], 0, 1);
    if (this.beta1 === 1 || this.beta2 === 1) {
      throw new RangeError(`betas must be < 1, got [${betas.join(", ")}]`);
    }
    this.eps = checkHyper("eps", options.eps ?? 1e-8, 0);
    this.weightDecay = checkHyper("weightDecay", options.weightDecay ?? (decoupled ? 1e-2 : 0), 0);
    this.decoupled = decoupled;
  }

  get stepCount(): number {
    return this.#step;
  }

  async step(): Promise<void> {
    checkHyper("lr", this.lr, 0);
    const be = await this.model.getBackend();
    const step = this.#step + 1;
    for (const { name, parameter } of this.model.parameters()) {
      if (parameter.size === 0 || !parameter.value || !parameter.grad) continue;
      const [m, v] = this.#slots.get(be, name, parameter.size);
      be.adam(parameter.value, parameter.grad, m, v, parameter.size, {
        lr: this.lr,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weightDecay: this.weightDecay,
        decoupled: this.decoupled,
        step,
      });
    }
    this.#step = step;
  }

  async zeroGrad(): Promise<void> {
    const be = await this.model.getBackend();
    for (const { parameter } of this.model.parameters()) {
      if (parameter.grad) be.fill(parameter.grad, 0, parameter.size);
    }
  }

  async stateDict(): Promise<OptimizerState> {
    return {
      kind: this.decoupled ? "AdamW" : "Adam",
      step: this.#step,
      hyper: {
        lr: this.lr,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weightDecay: this.weightDecay,
      },
      buffers: await this.#slots.download(this.model),
    };
  }

  async loadStateDict(state: OptimizerState): Promise<void> {
    const kind = this.decoupled ? "AdamW" : "Adam";
    if (!state || state.kind !== kind) {
      throw new TypeError(
        `state must be the stateDict() of an ${kind} optimizer, got ${state?.kind}`,
      );
    }
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new RangeError(`state.step must be an integer >= 0, got ${state.step}`);
    }
    await this.#slots.upload(this.model, state.buffers);
    this.#step = state.step;
    if (typeof state.hyper?.lr === "number") this.lr = state.hyper.lr;
  }
}

/**
 * AdamW (Loshchilov & Hutter 2019), PyTorch's `torch.optim.AdamW`: Adam with decoupled weight
 * decay p ← p·(1 − lr·weightDecay) before the update; `weightDecay` defaults to 1e-2.
 *
 * @example Decoupled weight decay
 * ```ts
 * import { AdamW, JumpSAE } from "../../mod.ts";
 * const sae = new JumpSAE(8, 16, { device: "reference" });
 * const optimizer = new AdamW(sae, { lr: 1e-3, weightDecay: 0.01 });
 * console.log(optimizer.decoupled); // true
 * ```
 */
export class AdamW extends Adam {
  /**
   * AdamW over the parameters of `model`.
   *
   * @param model The model whose `parameters()` are trained.
   * @param options See `AdamOptions`.
   */
  constructor(model: ParameterSource, options: AdamOptions = {}) {
    super(model, options, true);
  }
}
