import type { Backend, DeviceBuffer } from "../backends/backend.ts";
import type { ParameterSource } from "./optimizer.ts";

const scratch = new WeakMap<Backend, DeviceBuffer>();

/**
 * The global L2 norm of all gradients, sqrt(Σ‖g‖²), computed on the backend (one float is read
 * back). NaN or ±Infinity when any gradient is not finite.
 *
 * @param model A model whose gradients are in its parameters' `grad` buffers.
 * @returns The norm.
 *
 * @example Norm after a backward pass
 * ```ts
 * import { gradNorm, JumpSAE, losses } from "../../mod.ts";
 * const sae = new JumpSAE(8, 16, { seed: 0, device: "reference" });
 * const x = { data: new Float32Array(4 * 8).map((_, i) => Math.cos(i)), shape: [4, 8] };
 * await sae.lossAndGradients(x, losses.mse());
 * console.log(await gradNorm(sae) > 0); // true
 * sae.dispose();
 * ```
 */
export async function gradNorm(model: ParameterSource): Promise<number> {
  const be = await model.getBackend();
  let acc = scratch.get(be);
  if (!acc) {
    acc = be.alloc(1);
    scratch.set(be, acc);
  }
  be.fill(acc, 0, 1);
  for (const { parameter } of model.parameters()) {
    if (parameter.grad && parameter.size > 0) be.sumSquares(acc, parameter.grad, parameter.size);
  }
  const [sum] = await be.download(acc, 0, 1);
  return Math.fround(Math.sqrt(sum));
}

/**
 * Clips gradients by their global norm, as `torch.nn.utils.clip_grad_norm_`: with
 * total = sqrt(Σ‖g‖²) and coef = maxNorm / (total + 1e-6), every gradient is multiplied by coef
 * when coef < 1. A non-finite total leaves the gradients as they are (the training loop then
 * skips the step).
 *
 * @param model A model whose gradients are in its parameters' `grad` buffers.
 * @param maxNorm The largest allowed norm, > 0.
 * @returns The total norm before clipping.
 *
 * @example Clip to norm 1, as the seed's training loop does
 * ```ts
 * import { clipGradNorm, JumpSAE, losses } from "../../mod.ts";
 * const sae = new JumpSAE(8, 16, { seed: 0, device: "reference" });
 * const x = { data: new Float32Array(4 * 8).map((_, i) => 10 * Math.cos(i)), shape: [4, 8] };
 * await sae.lossAndGradients(x, losses.mse());
 * const total = await clipGradNorm(sae, 1.0);
 * console.log(total, await clipGradNorm(sae, 1.0)); // the second is at most 1
 * sae.dispose();
 * ```
 */
export async function clipGradNorm(model: ParameterSource, maxNorm: number): Promise<number> {
  if (typeof maxNorm !== "number" || !(maxNorm > 0) || !Number.isFinite(maxNorm)) {
    throw new RangeError(`maxNorm must be a finite number > 0, got ${maxNorm}`);
  }
  const total = await gradNorm(model);
  if (!Number.isFinite(total)) return total;
  const coef = Math.fround(maxNorm / Math.fround(total + 1e-6));
  if (coef < 1) {
    const be = await model.getBackend();
    for (const { parameter } of model.parameters()) {
      if (parameter.grad && parameter.size > 0) {
        be.scale(parameter.grad, parameter.grad, coef, parameter.size);
      }
    }
  }
  return total;
}
