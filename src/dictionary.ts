import type { Backend, DeviceBuffer, NormalizationKind } from "./backends/backend.ts";
import { gradOf, valueOf, Workspace } from "./layers/layer.ts";
import { Parameter } from "./parameter.ts";
import type { Random } from "./random.ts";
import { assertFinite, formatShape, type Tensor, type TensorLike, toTensor } from "./tensor.ts";

/** Names of the seed's dictionary normalizations. */
export const NORMALIZATION_NAMES = ["l2", "max_l2", "l1", "max_l1", "identity"] as const;

/** A named normalization, or a function projecting the [nbConcepts, dim] weights. */
export type Normalization =
  | typeof NORMALIZATION_NAMES[number]
  | ((weights: Tensor) => Tensor | Float32Array);

/** Options of the dictionary layer, as the seed library's `DictionaryLayer`. */
export interface DictionaryParams {
  /** Projection applied in place before each training-mode use. Default `"l2"`. */
  normalization?: Normalization;
  /** Initial atoms, [nbConcepts, dim]. Default: Xavier-uniform. */
  initializer?: TensorLike;
  /** Train a scalar m so that the dictionary is exp(m)·W. Default false. */
  useMultiplier?: boolean;
}

/**
 * The dictionary D = exp(m)·W, [nbConcepts, dim]. In training mode W is re-projected in place
 * (no gradient through the projection) before every use; `fuse()` (called by `eval()`) projects
 * once more and freezes D for eval mode, as the seed library does.
 */
export class DictionaryLayer {
  /** The atoms W, [nbConcepts, dim] (state-dict key `dictionary._weights`). */
  readonly weights: Parameter;
  /** The scalar m of exp(m)·W, trainable with `useMultiplier`. */
  readonly multiplier: Parameter;
  /** The projection applied to W. */
  readonly normalization: Normalization;
  #training = new Workspace();
  #fused = new Workspace();
  #hasFused = false;

  /**
   * A dictionary of `nbConcepts` atoms of `dim` values.
   *
   * @param nbConcepts Number of atoms.
   * @param dim Values per atom.
   * @param params See `DictionaryParams`.
   * @param rng Draws the Xavier-uniform atoms when no initializer is given.
   */
  constructor(
    readonly nbConcepts: number,
    readonly dim: number,
    params: DictionaryParams,
    rng: Random,
  ) {
    const normalization = params.normalization ?? "l2";
    if (typeof normalization !== "function" && !NORMALIZATION_NAMES.includes(normalization)) {
      throw new RangeError(
        `dictionaryParams.normalization must be one of ${
          NORMALIZATION_NAMES.join(", ")
        } or a function, got ${String(normalization)}`,
      );
    }
    this.normalization = normalization;
    let initial: Float32Array;
    if (params.initializer !== undefined) {
      const t = toTensor(params.initializer, "dictionaryParams.initializer");
      if (t.shape.length !== 2 || t.shape[0] !== nbConcepts || t.shape[1] !== dim) {
        throw new RangeError(
          `dictionaryParams.initializer must have shape [${nbConcepts}, ${dim}], got ${
            formatShape(t.shape)
          }`,
        );
      }
      assertFinite(t.data, "dictionaryParams.initializer");
      initial = Float32Array.from(t.data);
    } else {
      initial = rng.uniform(nbConcepts * dim, Math.sqrt(6 / (nbConcepts + dim)));
    }
    this.weights = new Parameter("dictionary._weights", [nbConcepts, dim], true, initial);
    this.multiplier = new Parameter(
      "dictionary.multiplier",
      [],
      params.useMultiplier === true,
      new Float32Array(1),
    );
  }

  /** The weights and the multiplier. */
  get parameters(): Parameter[] {
    return [this.weights, this.multiplier];
  }

  /** Re-projects W in place. */
  async project(be: Backend): Promise<void> {
    const C = this.nbConcepts, D = this.dim, W = valueOf(this.weights);
    if (typeof this.normalization === "function") {
      const data = await be.download(W, 0, C * D);
      const result = this.normalization({ data, shape: [C, D] });
      const projected = result instanceof Float32Array ? result : result.data;
      if (!(projected instanceof Float32Array) || projected.length !== C * D) {
        throw new RangeError(
          `The normalization function must return ${C * D} float32 values [${C}, ${D}], got ${
            (projected as ArrayLike<number>)?.length
          }`,
        );
      }
      be.upload(W, projected);
    } else if (this.normalization !== "identity") {
      be.normalizeRows(W, C, D, this.normalization as NormalizationKind);
    }
  }

  /** The dictionary to decode with: projected W·exp(m) in training mode, the fused one in eval. */
  async current(be: Backend, training: boolean): Promise<DeviceBuffer> {
    if (!training) return this.fused(be);
    await this.project(be);
    const n = this.nbConcepts * this.dim;
    const out = this.#training.get(be, n);
    be.scaleByExp(out, valueOf(this.weights), valueOf(this.multiplier), n);
    return out;
  }

  /** Projects W and freezes D = W·exp(m) for eval mode. */
  async fuse(be: Backend): Promise<void> {
    await this.project(be);
    const n = this.nbConcepts * this.dim;
    be.scaleByExp(this.#fused.get(be, n), valueOf(this.weights), valueOf(this.multiplier), n);
    this.#hasFused = true;
  }

  /** The eval-mode dictionary. */
  fused(be: Backend): DeviceBuffer {
    if (!this.#hasFused) throw new Error("The dictionary has not been fused: call eval() first");
    return this.#fused.get(be, this.nbConcepts * this.dim);
  }

  /** From dL/dD: dW = dD·exp(m) (written) and dm = exp(m)·Σ dD·W (accumulated). */
  backward(be: Backend, dDictionary: DeviceBuffer): void {
    const n = this.nbConcepts * this.dim;
    const W = valueOf(this.weights), m = valueOf(this.multiplier);
    be.scaleByExp(gradOf(this.weights), dDictionary, m, n);
    if (this.multiplier.trainable) be.dotScaledByExp(gradOf(this.multiplier), dDictionary, W, m, n);
  }
}
