/**
 * A PyTorch `state_dict()` of the seed library's `JumpSAE`, saved as safetensors
 * (`safetensors.torch.save_file(sae.state_dict(), path)`), with the constructor arguments
 * that the file cannot hold.
 *
 * @module
 */

import type { JumpSAE } from "../jump_sae.ts";
import { loadSafetensors } from "../io/safetensors.ts";
import type { Tensor } from "../tensor.ts";
import { buildModel, type LoadModelOptions } from "./checkpoint.ts";
import { inferEncoderName, type ModelConfig, parseModelConfig } from "./model_config.ts";

/**
 * Constructor arguments of the seed model, in this library's spelling (`inputShape`,
 * `nbConcepts`, `encoderModule`, `kernel`, `bandwith`, `dictionaryParams: { normalization,
 * useMultiplier }`, ...). Missing sizes and the encoder are read from the state dict.
 */
export type ConstructorConfig = Partial<Omit<ModelConfig, "dictionaryParams">> & {
  dictionaryParams?: Partial<ModelConfig["dictionaryParams"]>;
};

/**
 * Builds a model from a seed-library state dict.
 *
 * Sizes (`nbConcepts` and the dim from `dictionary._weights` [C, D]), the encoder (from the
 * `encoder.*` keys) and `decoderBias` (a `b_dec` key) are inferred when `config` does not give
 * them. The dictionary normalization cannot be inferred: without
 * `config.dictionaryParams.normalization` the seed's default `l2` is used. The rows need not have
 * unit norm: the seed projects them at use, so a state dict saved right after its `train_sae`
 * holds rows moved by the last optimizer steps (‖row‖ − 1 of a few 1e-3), and the model
 * re-projects them here too (eval mode fuses the projected rows). Only rows far from unit norm
 * (off by more than `L2_ROW_SLACK`), which l2 training cannot leave, are refused with an error
 * that asks for the normalization.
 *
 * @param dict The state dict.
 * @param config Constructor arguments.
 * @param options Backend and mode.
 * @param where The file, for error messages.
 * @returns The model.
 */
export function fromSeedStateDict(
  dict: Record<string, Tensor>,
  config: ConstructorConfig = {},
  options: LoadModelOptions = {},
  where = "state dict",
): Promise<JumpSAE> {
  return fromStateDict(dict, config, options, where, false);
}

/** `fromSeedStateDict`; `adopt`: the tensors are the loader's own, the model keeps them. */
function fromStateDict(
  dict: Record<string, Tensor>,
  config: ConstructorConfig,
  options: LoadModelOptions,
  where: string,
  adopt: boolean,
): Promise<JumpSAE> {
  const weights = dict["dictionary._weights"];
  if (!weights) {
    throw new RangeError(
      `${where} has no tensor dictionary._weights, expected a state dict of the seed JumpSAE`,
    );
  }
  if (weights.shape.length !== 2) {
    throw new RangeError(
      `${where} tensor dictionary._weights must have shape [nbConcepts, dim], got [${
        weights.shape.join(", ")
      }]`,
    );
  }
  const [C, D] = weights.shape;
  if (config.dictionaryParams?.normalization === undefined) checkL2Rows(weights, C, D, where);
  const full = parseModelConfig({
    inputShape: D,
    nbConcepts: C,
    encoderModule: inferEncoderName(Object.keys(dict)),
    decoderBias: "b_dec" in dict,
    ...config,
    dictionaryParams: { normalization: "l2", useMultiplier: false, ...config.dictionaryParams },
  }, "config");
  return buildModel(full, dict, options, where, adopt);
}

/**
 * Loads a seed-library state dict saved as safetensors.
 *
 * @param bytes The file.
 * @param config Constructor arguments (see `fromSeedStateDict`).
 * @param options Backend and mode.
 * @returns The model.
 */
export function loadSeedStateDict(
  bytes: Uint8Array,
  config: ConstructorConfig = {},
  options: LoadModelOptions = {},
): Promise<JumpSAE> {
  return fromStateDict(loadSafetensors(bytes), config, options, options.name ?? "state dict", true);
}

/**
 * How far from 1 a row norm may be when the normalization defaults to l2: an l2 model's rows are
 * projected before every training forward, so only the optimizer steps after the last projection
 * move them (a step of Adam moves each entry by about lr).
 */
export const L2_ROW_SLACK = 0.1;

function checkL2Rows(weights: Tensor, C: number, D: number, where: string): void {
  for (let c = 0; c < C; c++) {
    let sq = 0;
    for (let d = 0; d < D; d++) sq += weights.data[c * D + d] ** 2;
    const norm = Math.sqrt(sq);
    if (!(Math.abs(norm - 1) <= L2_ROW_SLACK)) {
      throw new TypeError(
        `${where} dictionary._weights row ${c} has norm ${norm.toPrecision(6)}, far from the ` +
          `unit norm the seed's default l2 normalization keeps (within ${L2_ROW_SLACK}): pass ` +
          'config.dictionaryParams.normalization, the one the seed model was built with ("max_l2", ' +
          '"l1", "max_l1" or "identity")',
      );
    }
  }
}
