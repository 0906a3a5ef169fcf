/**
 * A `JumpSAE` that normalizes every token before encoding and restores the scale of its
 * reconstruction, as SAELens's `normalize_activations` (`constant_norm_rescale`, `layer_norm`).
 *
 * @module
 */

import {
  JumpSAE,
  type JumpSAEOptions,
  type OutputOptions,
  type SAEOutput,
  type ValueAndGrad,
} from "../jump_sae.ts";
import type { Loss } from "../losses.ts";
import { type Tensor, type TensorLike, toTensor } from "../tensor.ts";

/** Per-token input normalizations (SAELens names). */
export const INPUT_NORMALIZATIONS = ["none", "constant_norm_rescale", "layer_norm"] as const;

/** A per-token input normalization. */
export type InputNormalization = typeof INPUT_NORMALIZATIONS[number];

/** Options of `NormalizedJumpSAE`: those of `JumpSAE` and the normalization. */
export interface NormalizedJumpSAEOptions extends JumpSAEOptions {
  /** `constant_norm_rescale`: x·√D/‖x‖; `layer_norm`: (x − mean)/(std + 1e-5), std unbiased. */
  inputNormalization: Exclude<InputNormalization, "none">;
}

/** A batch normalized by `NormalizedJumpSAE.normalizeInput`, and what restores its scale. */
export interface Normalized {
  /** The normalized tokens, the input's shape. */
  x: Tensor;
  /** x̂ = x̂' · scale + shift, per token. */
  scale: Float64Array;
  /** The shift of x̂ = x̂' · scale + shift, per token. */
  shift: Float64Array;
}

/**
 * A `JumpSAE` whose `encode`, `forward`, `valueAndGrad` and `lossAndGradients` see each token
 * normalized, as SAELens's `run_time_activation_norm_fn_in`; `forward` returns the
 * reconstruction in the input's scale (`run_time_activation_norm_fn_out`). `decode` works in
 * the normalized space (it cannot know the scale of the tokens the codes came from).
 * Only channel-last input shapes (`dim` or `[seq, dim]`) are supported.
 *
 * @example SAELens's constant_norm_rescale
 * ```ts
 * import { NormalizedJumpSAE } from "./normalized_sae.ts";
 * const sae = new NormalizedJumpSAE(4, 8, {
 *   inputNormalization: "constant_norm_rescale", encoderModule: "linear", device: "reference", seed: 0,
 * }).eval();
 * const { xHat } = await sae.forward([[1, 2, 3, 4]]);
 * console.log(xHat.shape); // [1, 4]
 * ```
 */
export class NormalizedJumpSAE extends JumpSAE {
  /** The normalization applied to every token. */
  readonly inputNormalization: Exclude<InputNormalization, "none">;

  /**
   * A JumpSAE that normalizes every token with `options.inputNormalization`.
   *
   * @param inputShape `dim` or `[seq, dim]`.
   * @param nbConcepts Number of concepts.
   * @param options `JumpSAE` options and `inputNormalization`.
   */
  constructor(
    inputShape: number | readonly number[],
    nbConcepts: number,
    options: NormalizedJumpSAEOptions,
  ) {
    const { inputNormalization, ...rest } = options ?? {} as NormalizedJumpSAEOptions;
    if (inputNormalization !== "constant_norm_rescale" && inputNormalization !== "layer_norm") {
      throw new RangeError(
        `inputNormalization must be "constant_norm_rescale" or "layer_norm", got ${
          JSON.stringify(inputNormalization)
        }`,
      );
    }
    super(inputShape, nbConcepts, rest);
    if (this.inputShape.length > 2) {
      throw new RangeError(
        `A normalized JumpSAE needs a channel-last inputShape (dim or [seq, dim]), got [${
          this.inputShape.join(", ")
        }]`,
      );
    }
    this.inputNormalization = inputNormalization;
  }

  /**
   * Normalizes every token of x (its last axis).
   *
   * @param x [batch, ...inputShape]
   * @returns The normalized tokens and the per-token scale and shift that restore them.
   */
  normalizeInput(x: TensorLike): Normalized {
    const t = toTensor(x, "x");
    const D = this.dim;
    if (t.shape.length < 1 || t.shape[t.shape.length - 1] !== D) {
      throw new RangeError(
        `x must have shape [batch, ${this.inputShape.join(", ")}], got [${t.shape.join(", ")}]`,
      );
    }
    const rows = t.data.length / D;
    const out = new Float32Array(t.data.length);
    const scale = new Float64Array(rows), shift = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const row = t.data.subarray(r * D, (r + 1) * D);
      if (this.inputNormalization === "constant_norm_rescale") {
        let sq = 0;
        for (let i = 0; i < D; i++) sq += row[i] * row[i];
        const norm = Math.sqrt(sq);
        if (!(norm > 0) || !Number.isFinite(norm)) {
          throw new RangeError(
            `x token ${r} has norm ${norm}, expected a finite non-zero norm for constant_norm_rescale`,
          );
        }
        const coeff = Math.fround(Math.sqrt(D) / norm);
        for (let i = 0; i < D; i++) out[r * D + i] = row[i] * coeff;
        scale[r] = 1 / coeff;
      } else {
        let sum = 0;
        for (let i = 0; i < D; i++) sum += row[i];
        const mu = Math.fround(sum / D);
        let sq = 0;
        for (let i = 0; i < D; i++) sq += (row[i] - mu) ** 2;
        const std = Math.fround(Math.sqrt(sq / Math.max(1, D - 1)));
        const denominator = std + 1e-5;
        for (let i = 0; i < D; i++) out[r * D + i] = (row[i] - mu) / denominator;
        scale[r] = std;
        shift[r] = mu;
      }
    }
    return { x: { data: out, shape: t.shape }, scale, shift };
  }

  /** x̂ = x̂'·scale + shift per token (in place: x̂ is the forward's own output). */
  #restore(xHat: Tensor, n: Normalized): Tensor {
    const D = this.dim, out = xHat.data;
    for (let r = 0; r < n.scale.length; r++) {
      for (let i = 0; i < D; i++) out[r * D + i] = xHat.data[r * D + i] * n.scale[r] + n.shift[r];
    }
    return { data: out, shape: xHat.shape };
  }

  /** Encodes the normalized tokens of x. */
  override async encode(
    x: TensorLike,
    options?: OutputOptions,
  ): Promise<{ preCodes: Tensor; codes: Tensor }> {
    return await super.encode(this.normalizeInput(x).x, options);
  }

  /** Encodes the normalized tokens and returns x̂ in the scale of x. */
  override async forward(x: TensorLike, options?: OutputOptions): Promise<SAEOutput> {
    const n = this.normalizeInput(x);
    const out = await super.forward(n.x, options);
    return { ...out, xHat: this.#restore(out.xHat, n) };
  }

  /** `valueAndGrad` on the normalized tokens (the loss compares normalized tokens). */
  override async valueAndGrad(x: TensorLike, loss: Loss): Promise<ValueAndGrad> {
    return await super.valueAndGrad(this.normalizeInput(x).x, loss);
  }

  /** `lossAndGradients` on the normalized tokens. */
  override async lossAndGradients(x: TensorLike, loss: Loss): Promise<number> {
    return await super.lossAndGradients(this.normalizeInput(x).x, loss);
  }
}
