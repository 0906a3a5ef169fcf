import { SlotBuffers } from "./_state.ts";
import { checkHyper, checkSource } from "./_checks.ts";
import { checkOptions, keysOf } from "../_options.ts";
import type { Optimizer, OptimizerState, ParameterSource } from "./optimizer.ts";

/** Options of `SGD` (PyTorch's names in camelCase). */
export interface SgdOptions {
  /** Learning rate. Default 1e-3. */
  lr?: number;
  /** Momentum factor. Default 0. */
  momentum?: number;
  /** Dampening of the momentum. Default 0. */
  dampening?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Default false. */
  nesterov?: boolean;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay?: number;
}

const SGD_KEYS = keysOf<SgdOptions>()(["lr", "momentum", "dampening", "nesterov", "weightDecay"]);

/**
 * Stochastic gradient descent with PyTorch's `torch.optim.SGD` semantics (momentum buffer set
 * to the first gradient, then buf ← momentum·buf + (1 − dampening)·g). Buffers live on the backend.
 *
 * @example Momentum SGD
 * ```ts
 * import { JumpSAE, SGD } from "../../mod.ts";
 * const sae = new JumpSAE(8, 16, { device: "reference" });
 * const optimizer = new SGD(sae, { lr: 0.01, momentum: 0.9 });
 * console.log(optimizer.stepCount); // 0
 * ```
 */
export class SGD implements Optimizer {
  lr: number;
  /** Momentum factor. */
  readonly momentum: number;
  /** Dampening of the momentum. */
  readonly dampening: number;
  /** Nesterov momentum. */
  readonly nesterov: boolean;
  /** L2 penalty added to the gradient. */
  readonly weightDecay: number;
  #step = 0;
  #slots = new SlotBuffers(["momentum_buffer"]);

  /**
   * SGD over the parameters of `model`.
   *
   * @param model The model whose `parameters()` are trained (e.g. a `JumpSAE`).
   * @param options See `SgdOptions`.
   */
  constructor(readonly model: ParameterSource, options: SgdOptions = {}) {
    checkOptions(options, SGD_KEYS, "the options of new SGD(model, options)", "lr");
    checkSource(model, "SGD");
    this.lr = checkHyper("lr", options.lr ?? 1e-3, 0);
    this.momentum = checkHyper("momentum", options.momentum ?? 0, 0);
    this.dampening = checkHyper("dampening", options.dampening ?? 0, 0, 1);
    this.weightDecay = checkHyper("weightDecay", options.weightDecay ?? 0, 0);
    this.nesterov = options.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new RangeError(
        `nesterov needs momentum > 0 and dampening 0, got momentum ${this.momentum} and dampening ${this.dampening}`,
      );
    }
  }

  get stepCount(): number {
    return this.#step;
  }

  async step(): Promise<void> {
    checkHyper("lr", this.lr, 0);
    const be = await this.model.getBackend();
    for (const { name, parameter } of this.model.parameters()) {
      if (parameter.size === 0 || !parameter.value || !parameter.grad) continue;
      const [buf] = this.#slots.get(be, name, parameter.size);
      be.sgd(parameter.value, parameter.grad, buf, parameter.size, {
        lr: this.lr,
        momentum: this.momentum,
        dampening: this.dampening,
        weightDecay: this.weightDecay,
        nesterov: this.nesterov,
        firstStep: this.#step === 0,
      });
    }
    this.#step++;
  }

  async zeroGrad(): Promise<void> {
    const be = await this.model.getBackend();
    for (const { parameter } of this.model.parameters()) {
      if (parameter.grad) be.fill(parameter.grad, 0, parameter.size);
    }
  }

  async stateDict(): Promise<OptimizerState> {
    return {
      kind: "SGD",
      step: this.#step,
      hyper: {
        lr: this.lr,
        momentum: this.momentum,
        dampening: this.dampening,
        nesterov: this.nesterov,
        weightDecay: this.weightDecay,
      },
      buffers: await this.#slots.download(this.model),
    };
  }

  async loadStateDict(state: OptimizerState): Promise<void> {
    if (!state || state.kind !== "SGD") {
      throw new TypeError(`state must be the stateDict() of an SGD optimizer, got ${state?.kind}`);
    }
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new RangeError(`state.step must be an integer >= 0, got ${state.step}`);
    }
    await this.#slots.upload(this.model, state.buffers);
    this.#step = state.step;
    if (typeof state.hyper?.lr === "number") this.lr = state.hyper.lr;
  }
}
