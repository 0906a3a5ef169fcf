/**
 * Input scaling of the training recipes: train on s·x with E‖s·x‖² = D (Gemma Scope's
 * normalisation, so thresholds, bandwith and learning rate mean the same on any activations),
 * then fold s into the parameters so that the trained model takes raw activations.
 *
 * @module
 */
import { Linear } from "../layers/linear.ts";
import type { JumpSAE } from "../jump_sae.ts";
import type { Tensor } from "../tensor.ts";

/**
 * The factor s with mean over rows of ‖s·x‖² = D, from a sample of rows [rows, D], so that the
 * scaled data have unit mean square per element. Throws on an all-zero or non-finite sample.
 */
export function unitMeanSquareScale(sample: Tensor): number {
  let s = 0;
  for (let i = 0; i < sample.data.length; i++) s += sample.data[i] * sample.data[i];
  const meanSquare = s / sample.data.length;
  if (!(meanSquare > 0) || !Number.isFinite(meanSquare)) {
    throw new RangeError(
      `the training data have mean square ${meanSquare}, expected a finite number > 0`,
    );
  }
  return 1 / Math.sqrt(meanSquare);
}

/**
 * Whether `foldInputScale` can fold a scale into this model's encoder: no layers (identity), or a
 * first layer that is a `Linear` and a last parameterised layer that is affine in its output (a
 * Linear or a norm with weight and bias).
 */
export function canFoldInputScale(sae: JumpSAE): boolean {
  const layers = sae.encoder.layers;
  if (layers.length === 0) return true;
  if (!(layers[0] instanceof Linear)) return false;
  const last = lastAffine(sae);
  return last !== null;
}

function lastAffine(sae: JumpSAE): string | null {
  const layers = sae.encoder.layers;
  for (let i = layers.length - 1; i >= 0; i--) {
    const names = layers[i].parameters.filter((p) => p.trainable).map((p) => p.name);
    if (names.length === 0) continue; // ReLU
    const prefix = layers[i].name;
    const ok = names.length === 2 && names.includes(`${prefix}.weight`) &&
      names.includes(`${prefix}.bias`);
    return ok ? prefix : null;
  }
  return null;
}

/**
 * Rewrites a model trained on s·x into the same model on x: its codes become codes/s and its
 * reconstruction x̂/s, exactly (up to float32 rounding). The first Linear's weight is multiplied
 * by s (its output, and every activation after it, is unchanged), the last affine layer's weight
 * and bias are divided by s (pre-codes /s), log-thresholds lose log s (θ/s) and the decoder bias
 * is divided by s; the dictionary is untouched. For a Linear encoder both apply to one layer.
 * Only the parameters change: the pseudo-gradient bandwith stays as trained (in scaled units).
 */
export async function foldInputScale(sae: JumpSAE, s: number): Promise<void> {
  if (!(s > 0) || !Number.isFinite(s)) {
    throw new RangeError(`scale must be a finite number > 0, got ${s}`);
  }
  if (!canFoldInputScale(sae)) {
    throw new TypeError(
      "cannot fold an input scale into this encoder: expected no layers, or a first Linear and a last affine layer",
    );
  }
  if (s === 1) return;
  const state = await sae.stateDict();
  const times = (key: string, f: number) => {
    const t = state[key];
    for (let i = 0; i < t.data.length; i++) t.data[i] *= f;
  };
  const layers = sae.encoder.layers;
  if (layers.length > 0) {
    times(`encoder.${layers[0].name}.weight`, s);
    const last = lastAffine(sae)!;
    times(`encoder.${last}.weight`, 1 / s);
    times(`encoder.${last}.bias`, 1 / s);
  }
  const logS = Math.log(s);
  for (let i = 0; i < state.thresholds.data.length; i++) state.thresholds.data[i] -= logS;
  if (state.b_dec) times("b_dec", 1 / s);
  await sae.loadStateDict(state);
}
