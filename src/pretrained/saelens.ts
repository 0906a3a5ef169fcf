/**
 * SAELens's saved SAEs: a directory with `cfg.json` and `sae_weights.safetensors` (W_enc
 * [d_in, d_sae], b_enc, W_dec [d_sae, d_in], b_dec, and `threshold` or, from training
 * checkpoints, `log_threshold`), architecture `jumprelu`, in the layouts of SAELens ≥ 6
 * (fields and `meta`) and before (flat fields, `activation_fn_str`). And the reverse export.
 *
 * SAELens's forward: x is normalized per token (`normalize_activations`), then
 * pre = (x − b_dec·apply_b_dec_to_input)·W_enc + b_enc, acts = relu(pre)·(pre > θ),
 * x̂ = acts·W_dec + b_dec, and the normalization is undone on x̂.
 *
 * @module
 */

import { checkOptions, keysOf } from "../_options.ts";
import type { JumpSAE } from "../jump_sae.ts";
import { loadSafetensors, type SafetensorsWriteDtype, saveSafetensors } from "../io/safetensors.ts";
import type { Tensor } from "../tensor.ts";
import type { LoadModelOptions } from "./checkpoint.ts";
import {
  buildLinearSae,
  checkShape,
  linearSaeTensors,
  logOf,
  requireTensor,
  type TrainingConfig,
} from "./_linear_sae.ts";
import { type InputNormalization, NormalizedJumpSAE } from "./normalized_sae.ts";

/** Options of `loadSAELens`. */
export interface LoadSAELensOptions extends LoadModelOptions, TrainingConfig {
  /**
   * For `normalize_activations: "expected_average_only_in"`: the release's norm scaling factor,
   * folded into the weights as SAELens's `fold_activation_norm_scaling_factor` (W_enc·s,
   * W_dec/s, b_dec/s). Pass 1 when the activations are already scaled.
   */
  normScalingFactor?: number;
}

const KNOWN_WEIGHTS = new Set([
  "W_enc",
  "b_enc",
  "W_dec",
  "b_dec",
  "threshold",
  "log_threshold",
  "scaling_factor",
  "finetuning_scaling_factor",
]);

/**
 * Builds a `JumpSAE` from a SAELens configuration and weights.
 *
 * @param cfgText The text of `cfg.json`.
 * @param weights The bytes of `sae_weights.safetensors`.
 * @param options Backend, mode, `normScalingFactor`, kernel and bandwith for further training.
 * @returns The model: linear encoder, decoder bias, centring as `apply_b_dec_to_input`, a
 * `NormalizedJumpSAE` for `constant_norm_rescale` and `layer_norm`; eval mode.
 *
 * @example Loading a SAELens directory given in memory
 * ```ts ignore
 * import { loadSAELens } from "./saelens.ts";
 * const sae = await loadSAELens(await Deno.readTextFile("sae/cfg.json"), await Deno.readFile("sae/sae_weights.safetensors"));
 * ```
 */
export async function loadSAELens(
  cfgText: string,
  weights: Uint8Array,
  options: LoadSAELensOptions = {},
): Promise<JumpSAE> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(cfgText);
  } catch (error) {
    throw new TypeError(
      `cfg.json must be JSON, got ${JSON.stringify(cfgText.slice(0, 40))} (${
        error instanceof Error ? error.message : error
      })`,
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new TypeError(
      `cfg.json must hold a JSON object, got ${JSON.stringify(parsed)?.slice(0, 40)}`,
    );
  }
  const cfg = parsed as Record<string, unknown>;
  const architecture = cfg.architecture ?? "standard"; // SAELens < 6 defaults to standard
  if (architecture !== "jumprelu") {
    throw new RangeError(
      `cfg.json field architecture must be "jumprelu", got ${JSON.stringify(architecture)}`,
    );
  }
  const activation = cfg.activation_fn ?? cfg.activation_fn_str ?? "relu";
  if (activation !== "relu") {
    throw new RangeError(
      `cfg.json field activation_fn_str must be "relu" for a JumpReLU SAE, got ${
        JSON.stringify(activation)
      }`,
    );
  }
  const size = (name: string): number => {
    const v = cfg[name];
    if (!Number.isInteger(v) || (v as number) < 1) {
      throw new TypeError(
        `cfg.json field ${name} must be a positive integer, got ${JSON.stringify(v)}`,
      );
    }
    return v as number;
  };
  const D = size("d_in"), C = size("d_sae");
  const apply = cfg.apply_b_dec_to_input ?? true;
  if (typeof apply !== "boolean") {
    throw new TypeError(
      `cfg.json field apply_b_dec_to_input must be true or false, got ${JSON.stringify(apply)}`,
    );
  }
  const reshape = cfg.reshape_activations ?? "none";
  if (reshape !== "none" && reshape !== "hook_z") {
    throw new RangeError(
      `cfg.json field reshape_activations must be "none" or "hook_z", got ${
        JSON.stringify(reshape)
      }`,
    );
  }
  let normalize = cfg.normalize_activations ?? "none";
  if (normalize === false) normalize = "none"; // SAELens < 6 booleans
  if (normalize === true) normalize = "expected_average_only_in";
  const NORMS = ["none", "expected_average_only_in", "constant_norm_rescale", "layer_norm"];
  if (typeof normalize !== "string" || !NORMS.includes(normalize)) {
    throw new RangeError(
      `cfg.json field normalize_activations must be one of ${NORMS.join(", ")}, got ${
        JSON.stringify(normalize)
      }`,
    );
  }
  let scale = 1;
  if (normalize === "expected_average_only_in") {
    const s = options.normScalingFactor;
    if (s === undefined) {
      throw new TypeError(
        'cfg.json has normalize_activations "expected_average_only_in", expected options.normScalingFactor ' +
          "(the release's norm_scaling_factor, or 1 if the activations are already scaled)",
      );
    }
    if (typeof s !== "number" || !Number.isFinite(s) || s <= 0) {
      throw new RangeError(`normScalingFactor must be a finite number > 0, got ${s}`);
    }
    scale = s;
  } else if (options.normScalingFactor !== undefined) {
    throw new TypeError(
      `normScalingFactor is only for normalize_activations "expected_average_only_in", got ${
        JSON.stringify(normalize)
      }`,
    );
  }

  const where = "sae_weights.safetensors";
  const dict = loadSafetensors(weights);
  for (const key of Object.keys(dict)) {
    if (!KNOWN_WEIGHTS.has(key)) {
      throw new RangeError(
        `${where} has an unexpected tensor ${key}, expected W_enc, b_enc, W_dec, b_dec, threshold or log_threshold`,
      );
    }
  }
  const sizes = `${where} (cfg.json d_in ${D}, d_sae ${C})`;
  const wEnc = requireTensor(dict, ["W_enc"], where);
  checkShape(wEnc, [D, C], "W_enc", sizes);
  const bEnc = requireTensor(dict, ["b_enc"], where);
  checkShape(bEnc, [C], "b_enc", sizes);
  const wDec = requireTensor(dict, ["W_dec"], where);
  checkShape(wDec, [C, D], "W_dec", sizes);
  const bDec = requireTensor(dict, ["b_dec"], where);
  checkShape(bDec, [D], "b_dec", sizes);
  let logThreshold: Float32Array;
  if ("threshold" in dict) {
    const t = requireTensor(dict, ["threshold"], where);
    checkShape(t, [C], "threshold", sizes);
    logThreshold = logOf(t);
  } else {
    const t = requireTensor(dict, ["threshold", "log_threshold"], where);
    checkShape(t, [C], "log_threshold", sizes);
    logThreshold = Float32Array.from(t.data);
  }
  // SAELens < 6 finetuning scaling factor: decode(acts · s); folded into the rows of W_dec
  const factorKey = "scaling_factor" in dict
    ? "scaling_factor"
    : "finetuning_scaling_factor" in dict
    ? "finetuning_scaling_factor"
    : null;
  let decoder = wDec;
  if (factorKey) {
    const s = requireTensor(dict, [factorKey], where);
    checkShape(s, [C], factorKey, sizes);
    if (s.data.some((v) => v !== 1)) {
      if (cfg.finetuning_scaling_factor !== true) {
        throw new RangeError(
          `${where} has a ${factorKey} other than ones but cfg.json finetuning_scaling_factor is not true`,
        );
      }
      const data = Float32Array.from(wDec.data);
      for (let c = 0; c < C; c++) for (let d = 0; d < D; d++) data[c * D + d] *= s.data[c];
      decoder = { data, shape: [C, D] };
    }
  }
  const scaled = (t: Tensor, factor: number): Tensor =>
    factor === 1 ? t : { data: Float32Array.from(t.data, (v) => v * factor), shape: t.shape };
  const inputNormalization: InputNormalization =
    normalize === "constant_norm_rescale" || normalize === "layer_norm" ? normalize : "none";
  return await buildLinearSae(
    {
      wEnc: scaled(wEnc, scale),
      bEnc,
      wDec: scaled(decoder, 1 / scale),
      bDec: scaled(bDec, 1 / scale),
      logThreshold,
    },
    apply,
    inputNormalization,
    // a SAELens training cfg's jumprelu_bandwidth, unless options name one
    typeof cfg.jumprelu_bandwidth === "number" && options.bandwith === undefined
      ? { ...options, bandwith: cfg.jumprelu_bandwidth }
      : options,
    options,
    "SAELens directory",
    true, // the tensors were decoded here: the model keeps them
  );
}

/** Options of `exportSAELens`. */
export interface ExportSAELensOptions {
  /** Storage dtype of the weights, default `"F32"`. */
  dtype?: Exclude<SafetensorsWriteDtype, "I64">;
  /** SAELens metadata fields (model_name, hook_name, hook_layer, context_size, dataset_path, ...). */
  metadata?: Record<string, unknown>;
}

/**
 * Writes a model as a SAELens directory (architecture `jumprelu`), so that SAELens's
 * `SAE.load_from_disk` (≥ 6, and the flat fields of earlier versions) loads it. The weights
 * are what eval mode computes with: W_enc = encoder weightᵀ, W_dec = the fused dictionary
 * exp(m)·W (projected), threshold = exp(thresholds), b_dec (zeros without `decoderBias`).
 * The model is left in the mode it was in (entering eval mode projects the dictionary once,
 * as any training step does).
 *
 * @param sae A model with the `linear` encoder.
 * @param options Weight dtype and SAELens metadata.
 * @returns The two files by name.
 * @throws TypeError for any other encoder, which SAELens cannot represent.
 *
 * @example Export and load back
 * ```ts
 * import { JumpSAE } from "../../mod.ts";
 * import { exportSAELens, loadSAELens } from "./saelens.ts";
 * const sae = new JumpSAE(8, 16, { encoderModule: "linear", seed: 1, device: "reference" });
 * const files = await exportSAELens(sae);
 * const back = await loadSAELens(files["cfg.json"], files["sae_weights.safetensors"], { device: "reference" });
 * console.log(JSON.parse(files["cfg.json"]).architecture, back.nbConcepts); // jumprelu 16
 * ```
 */
export async function exportSAELens(
  sae: JumpSAE,
  options: ExportSAELensOptions = {},
): Promise<{ "cfg.json": string; "sae_weights.safetensors": Uint8Array }> {
  checkOptions(
    options,
    keysOf<ExportSAELensOptions>()(["dtype", "metadata"]),
    "exportSAELens options",
  );
  const dtype = options.dtype ?? "F32";
  if (!["F32", "F16", "BF16"].includes(dtype)) {
    throw new RangeError(`dtype must be F32, F16 or BF16, got ${dtype}`);
  }
  const { tensors } = await linearSaeTensors(sae, "SAELens");
  const D = sae.dim, C = sae.nbConcepts;
  const dtypes = Object.fromEntries(Object.keys(tensors).map((k) => [k, dtype]));
  const normalize = sae instanceof NormalizedJumpSAE ? sae.inputNormalization : "none";
  const meta: Record<string, unknown> = {
    // strings, not null: SAELens 5 calls cfg.hook_name.endswith("_z")
    model_name: "",
    hook_name: "",
    hook_layer: null,
    hook_head_index: null,
    model_from_pretrained_kwargs: {},
    prepend_bos: true,
    context_size: null,
    dataset_path: null,
    ...options.metadata,
  };
  const cfg = {
    architecture: "jumprelu",
    d_in: D,
    d_sae: C,
    dtype: "float32",
    device: "cpu",
    apply_b_dec_to_input: sae.centerInput,
    normalize_activations: normalize,
    reshape_activations: "none",
    // flat fields read by SAELens < 6
    activation_fn_str: "relu",
    activation_fn_kwargs: {},
    finetuning_scaling_factor: false,
    dataset_trust_remote_code: true,
    sae_lens_training_version: null,
    neuronpedia_id: null,
    ...meta,
    meta: { ...meta, sae_lens_version: "6.0.0", sae_lens_training_version: "jumpsae" },
  };
  return {
    "cfg.json": JSON.stringify(cfg, null, 2),
    "sae_weights.safetensors": saveSafetensors(tensors, { format: "pt" }, { dtypes }),
  };
}
