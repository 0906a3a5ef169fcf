/**
 * The serialisable configuration of a `JumpSAE`: everything its constructor needs, as JSON.
 * Stored in this library's checkpoints and used to rebuild a model from a state dict.
 *
 * @module
 */

import { type Device, DEVICES } from "../backends/select.ts";
import { NORMALIZATION_NAMES } from "../dictionary.ts";
import { ENCODER_NAMES, type EncoderName, isEncoderName } from "../encoders.ts";
import { JumpSAE } from "../jump_sae.ts";
import {
  isKernelName,
  KERNEL_NAMES,
  type KernelName,
  type PseudoGradientMode,
} from "../kernels.ts";
import {
  INPUT_NORMALIZATIONS,
  type InputNormalization,
  NormalizedJumpSAE,
} from "./normalized_sae.ts";

/** The constructor configuration of a `JumpSAE`, as stored in a checkpoint. */
export interface ModelConfig {
  /** `dim`, `[seq, dim]` or `[dim, height, width]`. */
  inputShape: number | number[];
  /** Number of concepts C. */
  nbConcepts: number;
  /** A registered encoder name (custom encoder objects cannot be stored). */
  encoderModule: EncoderName;
  /** The threshold pseudo-gradient's kernel. */
  kernel: KernelName;
  /** The kernel's bandwith ε. */
  bandwith: number;
  /** How the kernel term is scaled. */
  pseudoGradient: PseudoGradientMode;
  /** Dictionary normalization name and whether a multiplier is trained. */
  dictionaryParams: { normalization: typeof NORMALIZATION_NAMES[number]; useMultiplier: boolean };
  /** A trainable decoder bias b_dec (x̂ = codes·D + b_dec). */
  decoderBias: boolean;
  /** The encoder sees x − b_dec. */
  centerInput: boolean;
  /** Per-token input normalization (SAELens `normalize_activations`), `"none"` by default. */
  inputNormalization: InputNormalization;
}

/** Options that choose where a rebuilt model runs (not stored in files). */
export interface RuntimeOptions {
  /** Backend: `"auto"` (default), `"cpu"`, `"webgpu"` or `"reference"`. */
  device?: Device;
  /** Worker threads of the CPU backend. */
  threads?: number;
}

const DEFAULTS = {
  kernel: "silverman",
  bandwith: 1e-3,
  pseudoGradient: "overcomplete",
  normalization: "l2",
  useMultiplier: false,
  decoderBias: false,
  centerInput: false,
  inputNormalization: "none",
} as const;

/**
 * Reads the configuration of a model, for a checkpoint.
 *
 * @param sae The model.
 * @param keys Its state-dict keys (they tell which registered encoder it has).
 * @returns The configuration.
 * @throws TypeError when the model has a custom encoder or normalization function, which no
 * file can hold.
 *
 * @example Configuration of a model
 * ```ts
 * import { JumpSAE } from "../../mod.ts";
 * import { modelConfigOf } from "./model_config.ts";
 * const sae = new JumpSAE(8, 16, { encoderModule: "linear", device: "reference" });
 * const config = modelConfigOf(sae, Object.keys(await sae.stateDict()));
 * console.log(config.encoderModule, config.nbConcepts); // linear 16
 * ```
 */
export function modelConfigOf(sae: JumpSAE, keys: readonly string[]): ModelConfig {
  const normalization = sae.dictionary.normalization;
  if (typeof normalization === "function") {
    throw new TypeError(
      "The model's dictionary normalization is a function, expected one of " +
        `${NORMALIZATION_NAMES.join(", ")} to store it in a file`,
    );
  }
  return {
    inputShape: sae.inputShape.length === 1 ? sae.inputShape[0] : [...sae.inputShape],
    nbConcepts: sae.nbConcepts,
    encoderModule: inferEncoderName(keys, sae),
    kernel: sae.kernel,
    bandwith: sae.bandwith,
    pseudoGradient: sae.pseudoGradient,
    dictionaryParams: { normalization, useMultiplier: sae.dictionary.multiplier.trainable },
    decoderBias: sae.decoderBias !== null,
    centerInput: sae.centerInput,
    inputNormalization: sae instanceof NormalizedJumpSAE ? sae.inputNormalization : "none",
  };
}

/**
 * Which registered encoder a state dict belongs to, from its `encoder.*` keys.
 *
 * @param keys State-dict keys.
 * @param sae The model, to check the guess against its layers (optional).
 * @returns The encoder name.
 */
export function inferEncoderName(keys: readonly string[], sae?: JumpSAE): EncoderName {
  const enc = keys.filter((k) => k.startsWith("encoder."));
  const hidden = new Set(
    enc.map((k) => /^encoder\.mlp_blocks\.(\d+)\./.exec(k)?.[1]).filter((b) => b !== undefined),
  );
  const nbBlocks = hidden.size + 1;
  let name: string;
  if (enc.length === 0) name = "identity";
  else if (!enc.includes("encoder.final_block.0.weight")) name = "?";
  else if (!keys.some((k) => k.startsWith("encoder.final_block.1."))) {
    name = nbBlocks === 1 ? "linear" : "?";
  } else if (enc.includes("encoder.final_block.1.running_mean")) name = `mlp_bn_${nbBlocks}`;
  else name = `mlp_ln_${nbBlocks}`;
  const layers = sae?.encoder.layers.length;
  const expected = name === "identity" ? 0 : name === "linear" ? 1 : 3 * (nbBlocks - 1) + 2;
  if (!isEncoderName(name) || (layers !== undefined && layers !== expected)) {
    throw new TypeError(
      `The encoder (keys ${enc.join(", ") || "none"}) is not one of the registered ${
        ENCODER_NAMES.join(", ")
      }, ` +
        "expected a registered encoder to store it in a file",
    );
  }
  return name;
}

/**
 * Checks a configuration read from a file, filling defaults for missing optional fields.
 *
 * @param value The parsed JSON.
 * @param where Where it came from, for error messages.
 * @returns The configuration.
 */
export function parseModelConfig(value: unknown, where: string): ModelConfig {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(`${where} must be a JSON object, got ${JSON.stringify(value)}`);
  }
  const v = value as Record<string, unknown>;
  const field = (name: string) => `${where} field ${name}`;
  const shape = v.inputShape;
  const shapeOk = (Number.isInteger(shape) && (shape as number) > 0) ||
    (Array.isArray(shape) && shape.length >= 1 && shape.length <= 3 &&
      shape.every((d) => Number.isInteger(d) && d > 0));
  if (!shapeOk) {
    throw new TypeError(
      `${field("inputShape")} must be a positive integer or a list of 1 to 3, got ${
        JSON.stringify(shape)
      }`,
    );
  }
  if (!Number.isInteger(v.nbConcepts) || (v.nbConcepts as number) < 1) {
    throw new TypeError(
      `${field("nbConcepts")} must be an integer >= 1, got ${JSON.stringify(v.nbConcepts)}`,
    );
  }
  const encoder = v.encoderModule ?? "mlp_bn_1";
  if (!isEncoderName(encoder)) {
    throw new TypeError(
      `${field("encoderModule")} must be one of ${ENCODER_NAMES.join(", ")}, got ${
        JSON.stringify(encoder)
      }`,
    );
  }
  const kernel = v.kernel ?? DEFAULTS.kernel;
  if (!isKernelName(kernel)) {
    throw new TypeError(
      `${field("kernel")} must be one of ${KERNEL_NAMES.join(", ")}, got ${JSON.stringify(kernel)}`,
    );
  }
  const bandwith = v.bandwith ?? DEFAULTS.bandwith;
  if (typeof bandwith !== "number" || !(bandwith > 0) || !Number.isFinite(bandwith)) {
    throw new TypeError(
      `${field("bandwith")} must be a finite number > 0, got ${JSON.stringify(bandwith)}`,
    );
  }
  const mode = v.pseudoGradient ?? DEFAULTS.pseudoGradient;
  if (mode !== "overcomplete" && mode !== "paper") {
    throw new TypeError(
      `${field("pseudoGradient")} must be "overcomplete" or "paper", got ${JSON.stringify(mode)}`,
    );
  }
  const dp = (v.dictionaryParams ?? {}) as Record<string, unknown>;
  if (dp === null || typeof dp !== "object") {
    throw new TypeError(
      `${field("dictionaryParams")} must be an object, got ${JSON.stringify(dp)}`,
    );
  }
  const normalization = dp.normalization ?? DEFAULTS.normalization;
  if (!(NORMALIZATION_NAMES as readonly unknown[]).includes(normalization)) {
    throw new TypeError(
      `${field("dictionaryParams.normalization")} must be one of ${
        NORMALIZATION_NAMES.join(", ")
      }, got ${JSON.stringify(normalization)}`,
    );
  }
  const flag = (name: string, got: unknown, fallback: boolean): boolean => {
    if (got === undefined) return fallback;
    if (typeof got !== "boolean") {
      throw new TypeError(`${field(name)} must be true or false, got ${JSON.stringify(got)}`);
    }
    return got;
  };
  const inputNormalization = v.inputNormalization ?? DEFAULTS.inputNormalization;
  if (!(INPUT_NORMALIZATIONS as readonly unknown[]).includes(inputNormalization)) {
    throw new TypeError(
      `${field("inputNormalization")} must be one of ${INPUT_NORMALIZATIONS.join(", ")}, got ${
        JSON.stringify(inputNormalization)
      }`,
    );
  }
  return {
    inputShape: Array.isArray(shape) ? [...shape] : shape as number,
    nbConcepts: v.nbConcepts as number,
    encoderModule: encoder,
    kernel,
    bandwith,
    pseudoGradient: mode,
    dictionaryParams: {
      normalization: normalization as ModelConfig["dictionaryParams"]["normalization"],
      useMultiplier: flag(
        "dictionaryParams.useMultiplier",
        dp.useMultiplier,
        DEFAULTS.useMultiplier,
      ),
    },
    decoderBias: flag("decoderBias", v.decoderBias, DEFAULTS.decoderBias),
    centerInput: flag("centerInput", v.centerInput, DEFAULTS.centerInput),
    inputNormalization: inputNormalization as InputNormalization,
  };
}

/**
 * Builds a model from a configuration (with fresh parameters: load a state dict next).
 *
 * @param config The configuration.
 * @param runtime Backend options.
 * @returns The model: a `NormalizedJumpSAE` when `inputNormalization` is not `"none"`.
 *
 * @example A linear SAE with a decoder bias
 * ```ts
 * import { createFromConfig } from "./model_config.ts";
 * import { parseModelConfig } from "./model_config.ts";
 * const config = parseModelConfig({ inputShape: 4, nbConcepts: 8, encoderModule: "linear" }, "config");
 * const sae = createFromConfig(config, { device: "reference" });
 * console.log(sae.nbConcepts); // 8
 * ```
 */
export function createFromConfig(config: ModelConfig, runtime: RuntimeOptions = {}): JumpSAE {
  if (runtime.device !== undefined && !DEVICES.includes(runtime.device)) {
    throw new RangeError(
      `device must be one of ${DEVICES.join(", ")}, got ${String(runtime.device)}`,
    );
  }
  const options = {
    encoderModule: config.encoderModule,
    kernel: config.kernel,
    bandwith: config.bandwith,
    pseudoGradient: config.pseudoGradient,
    dictionaryParams: { ...config.dictionaryParams },
    decoderBias: config.decoderBias,
    centerInput: config.centerInput,
    ...(runtime.device !== undefined ? { device: runtime.device } : {}),
    ...(runtime.threads !== undefined ? { threads: runtime.threads } : {}),
  };
  if (config.inputNormalization !== "none") {
    return new NormalizedJumpSAE(config.inputShape, config.nbConcepts, {
      ...options,
      inputNormalization: config.inputNormalization,
    });
  }
  return new JumpSAE(config.inputShape, config.nbConcepts, options);
}
