/**
 * This library's checkpoint format: a safetensors file holding the model's state dict (keys,
 * shapes and dtypes of the seed library's PyTorch `state_dict()`, so PyTorch can load it too)
 * and, in `__metadata__`, the constructor configuration as JSON:
 *
 * - `format`: `"pt"` (as PyTorch's safetensors writer);
 * - `jumpsae.format`: `"1"`, the version of this layout;
 * - `jumpsae.config`: JSON of `ModelConfig` (input shape, concepts, encoder, kernel, bandwith,
 *   pseudo-gradient, dictionary normalization and multiplier, decoder bias, input centring,
 *   input normalization).
 *
 * @module
 */

import type { JumpSAE } from "../jump_sae.ts";
import { loadSafetensors, loadSafetensorsMetadata, saveSafetensors } from "../io/safetensors.ts";
import { formatShape, type Tensor } from "../tensor.ts";
import { FormatError } from "../errors.ts";
import { _withoutInit } from "../random.ts";
import {
  createFromConfig,
  type ModelConfig,
  modelConfigOf,
  parseModelConfig,
  type RuntimeOptions,
} from "./model_config.ts";

/** Metadata key holding the JSON configuration. */
export const CHECKPOINT_CONFIG_KEY = "jumpsae.config";
/** Metadata key holding the layout version. */
export const CHECKPOINT_FORMAT_KEY = "jumpsae.format";
/** The layout version written. */
export const CHECKPOINT_FORMAT_VERSION = "1";

/**
 * Writes a model as a checkpoint (safetensors with the configuration in `__metadata__`).
 *
 * @param sae The model (a registered encoder and a named dictionary normalization).
 * @returns The file's bytes.
 * @throws TypeError for a custom encoder or normalization function.
 *
 * @example Save and load again
 * ```ts
 * import { JumpSAE } from "../../mod.ts";
 * import { loadModel, saveModel } from "./checkpoint.ts";
 * const sae = new JumpSAE(8, 16, { encoderModule: "linear", seed: 3, device: "reference" });
 * const bytes = await saveModel(sae);
 * const again = await loadModel(bytes, { device: "reference" });
 * console.log(again.nbConcepts, again.training); // 16 false
 * ```
 */
export async function saveModel(sae: JumpSAE): Promise<Uint8Array> {
  const dict = await sae.stateDict();
  const config = modelConfigOf(sae, Object.keys(dict));
  const dtypes: Record<string, "I64"> = {};
  for (const key of Object.keys(dict)) if (key.endsWith("num_batches_tracked")) dtypes[key] = "I64";
  return saveSafetensors(dict, {
    format: "pt",
    [CHECKPOINT_FORMAT_KEY]: CHECKPOINT_FORMAT_VERSION,
    [CHECKPOINT_CONFIG_KEY]: JSON.stringify(config),
  }, { dtypes });
}

/**
 * Whether safetensors bytes are a checkpoint of this library (their metadata holds a
 * configuration).
 *
 * @param bytes A safetensors file.
 * @returns True for a checkpoint.
 */
export function isCheckpoint(bytes: Uint8Array): boolean {
  return CHECKPOINT_CONFIG_KEY in loadSafetensorsMetadata(bytes);
}

/**
 * Reads the configuration of a checkpoint without building the model.
 *
 * @param bytes The checkpoint.
 * @param name The file's name, for error messages.
 * @returns The configuration.
 */
export function readCheckpointConfig(bytes: Uint8Array, name = "checkpoint"): ModelConfig {
  const metadata = loadSafetensorsMetadata(bytes);
  const text = metadata[CHECKPOINT_CONFIG_KEY];
  if (text === undefined) {
    throw new TypeError(
      `${name} has no __metadata__ key ${CHECKPOINT_CONFIG_KEY}, expected a jumpsae checkpoint`,
    );
  }
  const version = metadata[CHECKPOINT_FORMAT_KEY];
  if (version !== undefined && version !== CHECKPOINT_FORMAT_VERSION) {
    throw new RangeError(
      `${name} has ${CHECKPOINT_FORMAT_KEY} ${version}, expected ${CHECKPOINT_FORMAT_VERSION} (written by a newer jumpsae?)`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new TypeError(
      `${name} __metadata__ ${CHECKPOINT_CONFIG_KEY} must be JSON, got ${
        text.slice(0, 60)
      } (${error})`,
    );
  }
  return parseModelConfig(parsed, `${name} ${CHECKPOINT_CONFIG_KEY}`);
}

/** Options of `loadModel`. */
export interface LoadModelOptions extends RuntimeOptions {
  /** `"eval"` (default) or `"train"`: the mode the model is returned in. */
  mode?: "eval" | "train";
  /** The file's name, for error messages. */
  name?: string;
}

/**
 * Loads a checkpoint written by `saveModel`.
 *
 * @param bytes The checkpoint.
 * @param options Backend, mode (eval by default).
 * @returns The model.
 */
export async function loadModel(
  bytes: Uint8Array,
  options: LoadModelOptions = {},
): Promise<JumpSAE> {
  const name = options.name ?? "checkpoint";
  const config = readCheckpointConfig(bytes, name);
  const dict = loadSafetensors(bytes);
  return await buildModel(config, dict, options, name, true);
}

/**
 * Builds a model from a configuration and loads a state dict into it, in eval mode unless
 * `options.mode` is `"train"`.
 *
 * @param config The configuration.
 * @param dict The state dict.
 * @param options Backend and mode.
 * @param name Where the state dict came from, for error messages.
 * @returns The model.
 */
export async function buildModel(
  config: ModelConfig,
  dict: Record<string, Tensor>,
  options: LoadModelOptions,
  name: string,
  adopt = false,
): Promise<JumpSAE> {
  checkSizes(config, dict, name);
  // no random init: every value is overwritten (eval first, so the dictionary is fused, and a
  // backend too small for it fails, within the load)
  const sae = _withoutInit(() => createFromConfig(config, options));
  if (options.mode !== "train") sae.eval();
  try {
    // adopt: the tensors were decoded by the caller for this model alone, no copy is needed
    await sae.loadStateDict(dict, { _adopt: adopt });
  } catch (error) {
    sae.dispose();
    if (error instanceof RangeError || error instanceof TypeError) {
      const Kind = error.constructor as typeof RangeError;
      throw new Kind(`${name}: ${error.message}`);
    }
    throw error;
  }
  return sae;
}

/**
 * Compares the sizes a configuration asks for with the tensors that must back them, before any
 * model is built: `thresholds` `[C]`, `dictionary._weights` `[C, D]`, the encoder's final weight
 * `[C, D]` and its hidden weights `[D, D]`. A file whose configuration asks for more than its
 * tensors hold is a `FormatError`, so a small file cannot make us allocate gigabytes.
 */
function checkSizes(config: ModelConfig, dict: Record<string, Tensor>, name: string): void {
  const shape = Array.isArray(config.inputShape) ? config.inputShape : [config.inputShape];
  const D = shape.length === 3 ? shape[0] : shape[shape.length - 1];
  const C = config.nbConcepts;
  const expected: [string, number[]][] = [["thresholds", [C]], ["dictionary._weights", [C, D]]];
  if (config.encoderModule !== "identity") expected.push(["encoder.final_block.0.weight", [C, D]]);
  const hidden = Number(/_(\d)$/.exec(config.encoderModule)?.[1] ?? 1) - 1;
  for (let i = 0; i < hidden; i++) expected.push([`encoder.mlp_blocks.${i}.0.weight`, [D, D]]);
  for (const [key, want] of expected) {
    const got = Object.hasOwn(dict, key) ? dict[key].shape : undefined;
    if (!got || got.length !== want.length || got.some((d, k) => d !== want[k])) {
      throw new FormatError(
        `${name}: its configuration (input dim ${D}, ${C} concepts, encoder ${config.encoderModule}) needs tensor ${key} of shape ${
          formatShape(want)
        }, got ${got ? formatShape(got) : "none"}`,
        { file: name, member: key },
      );
    }
  }
}
