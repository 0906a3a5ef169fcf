/**
 * Shared helpers of the SAELens and Gemma Scope loaders: checked tensor lookup and the
 * mapping of a (W_enc, b_enc, W_dec, b_dec, threshold) SAE onto a linear `JumpSAE`.
 *
 * @module
 */

import type { JumpSAE } from "../jump_sae.ts";
import { formatShape, type Tensor } from "../tensor.ts";
import { buildModel, type LoadModelOptions } from "./checkpoint.ts";
import type { ModelConfig } from "./model_config.ts";
import type { InputNormalization } from "./normalized_sae.ts";

/** Weights of a JumpReLU SAE in the SAELens / Gemma Scope layout, as float32. */
export interface LinearSaeWeights {
  /** [D, C] */
  wEnc: Tensor;
  /** [C] */
  bEnc: Tensor;
  /** [C, D] */
  wDec: Tensor;
  /** [D] */
  bDec: Tensor;
  /** [C], log of the threshold (−Infinity for a threshold ≤ 0). */
  logThreshold: Float32Array;
}

/** Trainable options that no released file stores (defaults: the seed's). */
export type TrainingConfig = Partial<Pick<ModelConfig, "kernel" | "bandwith" | "pseudoGradient">>;

/**
 * Looks a tensor up by any of its names, checking that its values are finite.
 *
 * @param dict The tensors.
 * @param names Accepted names, the first being the one reported.
 * @param where The file, for error messages.
 * @returns The tensor and the name it was found under.
 */
export function requireTensor(
  dict: Record<string, Tensor>,
  names: readonly string[],
  where: string,
): Tensor {
  const name = names.find((n) => n in dict);
  if (name === undefined) {
    throw new RangeError(
      `${where} has no tensor ${names[0]}${
        names.length > 1 ? ` (nor ${names.slice(1).join(", ")})` : ""
      }, found ${Object.keys(dict).join(", ") || "none"}`,
    );
  }
  const t = dict[name], data = t.data, log = name === "log_threshold";
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    // v − v is 0 for finite v, NaN for ±∞ and NaN; log_threshold may hold ±∞, not NaN
    if (log ? v !== v : v - v !== 0) {
      throw new RangeError(`${where} tensor ${name} must be finite, got ${v} at index ${i}`);
    }
  }
  return t;
}

/**
 * Checks the shape of a tensor.
 *
 * @param t The tensor.
 * @param shape The expected shape.
 * @param name Its name.
 * @param where The file and what the sizes came from, for error messages.
 */
export function checkShape(t: Tensor, shape: readonly number[], name: string, where: string): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new RangeError(
      `${where} tensor ${name} must have shape ${formatShape(shape)}, got ${formatShape(t.shape)}`,
    );
  }
}

/** Log of each threshold; a threshold ≤ 0 keeps every positive pre-activation, as log = −∞. */
export function logOf(threshold: Tensor): Float32Array {
  return Float32Array.from(threshold.data, (t) => (t > 0 ? Math.log(t) : -Infinity));
}

/**
 * The transpose of a row-major [rows, cols] matrix, in 32×32 tiles so that both the reads and
 * the writes stay within a few cache lines (3× the row-by-row loop on (2304, 65536)).
 *
 * @param src The matrix.
 * @param rows Its rows.
 * @param cols Its columns.
 * @returns The [cols, rows] matrix.
 */
export function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols), T = 32;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(cols, c0 + T);
      for (let c = c0; c < c1; c++) {
        for (let r = r0, o = c * rows + r0, i = r0 * cols + c; r < r1; r++, i += cols) {
          out[o++] = src[i];
        }
      }
    }
  }
  return out;
}

/**
 * Builds a linear `JumpSAE` (identity dictionary normalization, no multiplier, decoder bias)
 * holding a released SAE: encoder weight W_encᵀ, dictionary W_dec, thresholds log θ.
 *
 * @param w The weights.
 * @param centerInput Whether the encoder sees x − b_dec.
 * @param inputNormalization Per-token input normalization.
 * @param training Kernel, bandwith and pseudo-gradient for further training.
 * @param options Backend and mode.
 * @param where The source, for error messages.
 * @returns The model, in eval mode unless `options.mode` is `"train"`.
 */
export function buildLinearSae(
  w: LinearSaeWeights,
  centerInput: boolean,
  inputNormalization: InputNormalization,
  training: TrainingConfig,
  options: LoadModelOptions,
  where: string,
  adopt = false,
): Promise<JumpSAE> {
  const [D, C] = w.wEnc.shape;
  const encoderWeight = transpose(w.wEnc.data, D, C); // (C, D) = W_encᵀ
  const config: ModelConfig = {
    inputShape: D,
    nbConcepts: C,
    encoderModule: "linear",
    kernel: training.kernel ?? "silverman",
    bandwith: training.bandwith ?? 1e-3,
    pseudoGradient: training.pseudoGradient ?? "overcomplete",
    dictionaryParams: { normalization: "identity", useMultiplier: false },
    decoderBias: true,
    centerInput,
    inputNormalization,
  };
  return buildModel(
    config,
    {
      thresholds: { data: w.logThreshold, shape: [C] },
      b_dec: w.bDec,
      "encoder.final_block.0.weight": { data: encoderWeight, shape: [C, D] },
      "encoder.final_block.0.bias": w.bEnc,
      "dictionary._weights": w.wDec,
      "dictionary.multiplier": { data: new Float32Array(1), shape: [] },
    },
    options,
    where,
    adopt,
  );
}

/**
 * The weights of a linear `JumpSAE` in the SAELens / Gemma Scope layout, as eval mode computes
 * with them: W_enc = encoder weightᵀ [D, C], b_enc, W_dec = the fused dictionary exp(m)·W
 * (projected) [C, D], b_dec (zeros without a decoder bias), threshold = exp(thresholds).
 * The model is left in the mode it was in.
 *
 * @param sae A model with the `linear` encoder and inputShape `dim`.
 * @param target The format, for error messages.
 * @returns The tensors.
 */
export async function linearSaeTensors(
  sae: JumpSAE,
  target: string,
): Promise<{ tensors: Record<string, Tensor> }> {
  if (sae.inputShape.length !== 1) {
    throw new TypeError(
      `${target} needs a model of inputShape dim, got [${sae.inputShape.join(", ")}]`,
    );
  }
  const state = await sae.stateDict();
  const encoderKeys = Object.keys(state).filter((k) => k.startsWith("encoder."));
  if (encoderKeys.join() !== "encoder.final_block.0.weight,encoder.final_block.0.bias") {
    throw new TypeError(
      `${target} can only represent the linear encoder, got one with ${
        encoderKeys.join(", ") || "no layer"
      } ` +
        '(train with encoderModule: "linear")',
    );
  }
  const D = sae.dim, C = sae.nbConcepts;
  const wasTraining = sae.training;
  sae.eval();
  const dictionary = await sae.getDictionary();
  if (wasTraining) sae.train();
  const weight = state["encoder.final_block.0.weight"].data; // (C, D)
  const wEnc = transpose(weight, C, D); // (D, C)
  return {
    tensors: {
      W_enc: { data: wEnc, shape: [D, C] },
      b_enc: state["encoder.final_block.0.bias"],
      W_dec: dictionary,
      b_dec: state.b_dec ?? { data: new Float32Array(D), shape: [D] },
      threshold: { data: Float32Array.from(state.thresholds.data, Math.exp), shape: [C] },
    },
  };
}
