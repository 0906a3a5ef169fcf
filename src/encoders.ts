import { BatchNorm1d } from "./layers/batch_norm.ts";
import type { Layer } from "./layers/layer.ts";
import { LayerNorm } from "./layers/layer_norm.ts";
import { Linear } from "./layers/linear.ts";
import { ReLU } from "./layers/relu.ts";
import type { Random } from "./random.ts";

/** Names of the registered encoders (the seed library's `EncoderFactory` names). */
export const ENCODER_NAMES = [
  "identity",
  "linear",
  "mlp_bn_1",
  "mlp_ln_1",
  "mlp_bn_3",
  "mlp_ln_3",
] as const;

/** A registered encoder name. */
export type EncoderName = typeof ENCODER_NAMES[number];

/**
 * An encoder maps tokens [B, inFeatures] to pre-codes [B, outFeatures] through a stack of
 * layers (`Linear`, `BatchNorm1d`, `LayerNorm`, `ReLU`, or your own `Layer`). State-dict keys
 * are `encoder.<layer name>.<parameter>`. An empty stack is the identity.
 *
 * @example A custom encoder: Linear + LayerNorm, keys `encoder.0.*` and `encoder.1.*`
 * ```ts
 * import { JumpSAE, LayerNorm, Linear, SequentialEncoder } from "../mod.ts";
 * const encoder = new SequentialEncoder(16, [new Linear("0", 16, 32), new LayerNorm("1", 32)]);
 * const sae = new JumpSAE(16, 32, { encoderModule: encoder, device: "reference" });
 * ```
 */
export interface Encoder {
  /** Input width, the SAE's dim. */
  readonly inFeatures: number;
  /** Output width, nbConcepts. */
  readonly outFeatures: number;
  /** The layers, applied in order. */
  readonly layers: readonly Layer[];
}

/** An encoder made of layers applied in order; checks that their sizes chain. */
export class SequentialEncoder implements Encoder {
  /** Output width of the last layer. */
  readonly outFeatures: number;
  /** The layers, applied in order. */
  readonly layers: readonly Layer[];

  /**
   * Chains `layers`, checking that each takes the previous one's output width.
   *
   * @param inFeatures Input width.
   * @param layers The layers, in order.
   */
  constructor(readonly inFeatures: number, layers: Layer[]) {
    let features = inFeatures;
    for (const layer of layers) {
      if (layer.inFeatures !== features) {
        throw new RangeError(
          `Encoder layer ${layer.name} expects ${layer.inFeatures} input features, got ${features}`,
        );
      }
      features = layer.outFeatures;
    }
    this.outFeatures = features;
    this.layers = layers;
  }
}

/** Whether `name` is a registered encoder name. */
export function isEncoderName(name: unknown): name is EncoderName {
  return typeof name === "string" && (ENCODER_NAMES as readonly string[]).includes(name);
}

/**
 * Builds a registered encoder as the seed library's `MLPEncoder` (no residual, hidden width =
 * input width): `nbBlocks − 1` hidden blocks `mlp_blocks.i` = Linear + norm + ReLU, then
 * `final_block` = Linear + norm whose output is the pre-codes. `linear` has no norm;
 * `identity` has no layer and needs dim = nbConcepts.
 */
export function createEncoder(
  name: EncoderName,
  dim: number,
  nbConcepts: number,
  rng: Random,
): Encoder {
  if (name === "identity") {
    if (dim !== nbConcepts) {
      throw new RangeError(
        `The identity encoder needs nbConcepts equal to the input dim ${dim}, got ${nbConcepts}`,
      );
    }
    return new SequentialEncoder(dim, []);
  }
  const nbBlocks = name === "linear" ? 1 : Number(name.at(-1));
  const norm = (layerName: string, n: number): Layer[] =>
    name === "linear"
      ? []
      : name.includes("_bn_")
      ? [new BatchNorm1d(layerName, n)]
      : [new LayerNorm(layerName, n)];
  const layers: Layer[] = [];
  for (let i = 0; i < nbBlocks - 1; i++) {
    layers.push(
      new Linear(`mlp_blocks.${i}.0`, dim, dim, rng),
      ...norm(`mlp_blocks.${i}.1`, dim),
      new ReLU(`mlp_blocks.${i}.2`, dim),
    );
  }
  layers.push(
    new Linear("final_block.0", dim, nbConcepts, rng),
    ...norm("final_block.1", nbConcepts),
  );
  return new SequentialEncoder(dim, layers);
}
