import { SequentialEncoder } from "./encoders.ts";
import { BatchNorm1d } from "./layers/batch_norm.ts";
import type { Layer } from "./layers/layer.ts";
import { LayerNorm } from "./layers/layer_norm.ts";
import { Linear } from "./layers/linear.ts";
import { ReLU } from "./layers/relu.ts";
import { Residual } from "./layers/residual.ts";
import { Random } from "./random.ts";

/** Options of `mlpEncoder`: the seed's `MLPEncoder` arguments. */
export interface MLPEncoderOptions {
  /** Width of the hidden blocks. Default: the input dim. */
  hiddenDim?: number;
  /** Blocks: nbBlocks − 1 hidden ones, then the final one. Default 1 (0 is the same as 1). */
  nbBlocks?: number;
  /**
   * `norm_layer`: `"batch"` (nn.BatchNorm1d, default), `"layer"` (nn.LayerNorm), `"none"`
   * (nn.Identity).
   */
  norm?: "batch" | "layer" | "none";
  /** `hidden_activation`: `"relu"` (default) or `"identity"`. */
  hiddenActivation?: "relu" | "identity";
  /**
   * Add each hidden block's input to its output (except the first when hiddenDim ≠ dim).
   * Default false.
   */
  residual?: boolean;
  /** Seed of the initialisation. */
  seed?: number;
}

const KEYS = ["hiddenDim", "nbBlocks", "norm", "hiddenActivation", "residual", "seed"];

/**
 * The seed library's `MLPEncoder` with all its options, as a `SequentialEncoder` for
 * `encoderModule`: `nbBlocks − 1` hidden blocks `mlp_blocks.i` (Linear + norm + activation, with
 * `residual` the block's input added to its output when the widths allow), then `final_block`
 * (Linear + norm) whose output is the pre-codes. State-dict keys are the seed's. (The seed's
 * `output_activation` gives its encoder's codes, which a JumpSAE recomputes as ReLU(preCodes).)
 *
 * @param dim Input width.
 * @param nbConcepts Output width (concepts).
 * @param options See `MLPEncoderOptions`.
 *
 * @example Three blocks with a hidden width of 32 and residual connections
 * ```ts
 * import { JumpSAE, mlpEncoder } from "../mod.ts";
 * const encoder = mlpEncoder(16, 64, { nbBlocks: 3, hiddenDim: 32, residual: true });
 * const sae = new JumpSAE(16, 64, { encoderModule: encoder, device: "reference" });
 * sae.dispose();
 * ```
 */
export function mlpEncoder(
  dim: number,
  nbConcepts: number,
  options: MLPEncoderOptions = {},
): SequentialEncoder {
  for (const key of Object.keys(options)) {
    if (!KEYS.includes(key)) {
      throw new TypeError(
        `Unknown option ${key} of mlpEncoder: expected one of ${KEYS.join(", ")}`,
      );
    }
  }
  const positive = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) {
      throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
    }
    return v;
  };
  positive("dim", dim, 1);
  positive("nbConcepts", nbConcepts, 1);
  const hidden = positive("hiddenDim", options.hiddenDim ?? dim, 1);
  const blocks = positive("nbBlocks", options.nbBlocks ?? 1, 0);
  const norm = options.norm ?? "batch";
  if (!["batch", "layer", "none"].includes(norm)) {
    throw new RangeError(`norm must be "batch", "layer" or "none", got ${String(norm)}`);
  }
  const act = options.hiddenActivation ?? "relu";
  if (act !== "relu" && act !== "identity") {
    throw new RangeError(`hiddenActivation must be "relu" or "identity", got ${String(act)}`);
  }
  const rng = new Random(options.seed);
  const normOf = (name: string, n: number): Layer[] =>
    norm === "batch"
      ? [new BatchNorm1d(name, n)]
      : norm === "layer"
      ? [new LayerNorm(name, n)]
      : [];
  const layers: Layer[] = [];
  let last = dim;
  for (let i = 0; i < blocks - 1; i++) {
    const block: Layer[] = [
      new Linear(`mlp_blocks.${i}.0`, last, hidden, rng),
      ...normOf(`mlp_blocks.${i}.1`, hidden),
      ...(act === "relu" ? [new ReLU(`mlp_blocks.${i}.2`, hidden)] : []),
    ];
    // the seed skips the first residual when hiddenDim ≠ dim (the widths differ only there)
    if (options.residual && (i !== 0 || hidden === dim)) {
      layers.push(new Residual(`mlp_blocks.${i}`, block));
    } else layers.push(...block);
    last = hidden;
  }
  layers.push(
    new Linear("final_block.0", last, nbConcepts, rng),
    ...normOf("final_block.1", nbConcepts),
  );
  return new SequentialEncoder(dim, layers);
}
