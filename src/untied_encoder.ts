import type { DeviceBuffer } from "./backends/backend.ts";
import { SequentialEncoder } from "./encoders.ts";
import { gradOf, type Layer, type RunContext, valueOf, Workspace } from "./layers/layer.ts";
import { Parameter } from "./parameter.ts";
import { formatShape, type TensorLike, toTensor } from "./tensor.ts";

/**
 * The seed's untied `TieableEncoder`: preCodes = x·Wᵀ (+ b), with its own weight W [C, D] and
 * state-dict keys `encoder.weight` (and `encoder.bias`).
 */
export class TieableLinear implements Layer {
  readonly name = "";
  readonly parameters: Parameter[];
  /** W, [nbConcepts, dim] (`encoder.weight`). */
  readonly weight: Parameter;
  /** b, [nbConcepts] (`encoder.bias`), or null. */
  readonly bias: Parameter | null;
  /** Input width, dim. */
  readonly inFeatures: number;
  /** Output width, nbConcepts. */
  readonly outFeatures: number;
  #x: DeviceBuffer | null = null;
  #out = new Workspace();
  #dx = new Workspace();

  /**
   * An untied linear encoder starting from `weight`.
   *
   * @param weight Initial W, [nbConcepts, dim].
   * @param nbConcepts Concepts C.
   * @param dim Input width D.
   * @param bias Whether it has a bias (initialised to zeros).
   */
  constructor(weight: Float32Array, nbConcepts: number, dim: number, bias: boolean) {
    this.inFeatures = dim;
    this.outFeatures = nbConcepts;
    this.weight = new Parameter("weight", [nbConcepts, dim], true, weight);
    this.bias = bias
      ? new Parameter("bias", [nbConcepts], true, new Float32Array(nbConcepts))
      : null;
    this.parameters = this.bias ? [this.weight, this.bias] : [this.weight];
  }

  /** preCodes = x·Wᵀ (+ b) for x [rows, dim]. */
  forward(ctx: RunContext, x: DeviceBuffer, rows: number): DeviceBuffer {
    const B = rows, I = this.inFeatures, O = this.outFeatures;
    const out = this.#out.get(ctx.backend, B * O);
    ctx.backend.matmul(out, x, valueOf(this.weight), { m: B, n: O, k: I, transB: true });
    if (this.bias) ctx.backend.addBias(out, valueOf(this.bias), B, O);
    this.#x = x;
    return out;
  }

  backward(
    ctx: RunContext,
    dy: DeviceBuffer,
    rows: number,
    needInputGrad: boolean,
  ): DeviceBuffer | null {
    const B = rows, I = this.inFeatures, O = this.outFeatures, be = ctx.backend;
    be.matmul(gradOf(this.weight), dy, this.#x!, {
      m: O,
      n: I,
      k: B,
      transA: true,
      accumulate: true,
    });
    if (this.bias) be.sumRows(gradOf(this.bias), dy, B, O);
    if (!needInputGrad) return null;
    const dx = this.#dx.get(be, B * I);
    be.matmul(dx, dy, valueOf(this.weight), { m: B, n: I, k: O });
    return dx;
  }
}

/**
 * The encoder of the seed's `sae.untied(bias, copy_from_dictionary=True)`: a linear encoder
 * whose weight starts as a copy of the dictionary (pass `await sae.getDictionary()`), bias
 * (optional, default false, as the seed) at 0. Keys `encoder.weight`, `encoder.bias`.
 *
 * @param dictionary [nbConcepts, dim]
 * @param options `bias`.
 *
 * @example An encoder initialised from a trained dictionary
 * ```ts
 * import { JumpSAE, untiedEncoder } from "../mod.ts";
 * const sae = new JumpSAE(8, 32, { seed: 1, device: "reference" });
 * const encoder = untiedEncoder(await sae.getDictionary(), { bias: true });
 * const next = new JumpSAE(8, 32, { encoderModule: encoder, device: "reference" });
 * sae.dispose();
 * next.dispose();
 * ```
 */
export function untiedEncoder(
  dictionary: TensorLike,
  options: { bias?: boolean } = {},
): SequentialEncoder {
  const d = toTensor(dictionary, "dictionary");
  if (d.shape.length !== 2) {
    throw new RangeError(
      `dictionary must have shape [nbConcepts, dim], got ${formatShape(d.shape)}`,
    );
  }
  const [C, D] = d.shape;
  return new SequentialEncoder(D, [
    new TieableLinear(Float32Array.from(d.data), C, D, options.bias === true),
  ]);
}
