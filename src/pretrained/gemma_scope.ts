/**
 * Gemma Scope's released JumpReLU SAEs: `params.npz` (W_enc [D, C], b_enc [C], W_dec [C, D],
 * b_dec [D], threshold [C], float32) or `params.safetensors` with the same tensors under
 * lowercase keys (w_enc, b_enc, w_dec, b_dec, threshold). Their forward:
 * pre = x·W_enc + b_enc, acts = (pre > θ)·relu(pre), x̂ = acts·W_dec + b_dec, no input centring.
 *
 * @module
 */

import type { JumpSAE } from "../jump_sae.ts";
import { loadNpz, saveNpz } from "../io/npz.ts";
import { loadSafetensors, saveSafetensors } from "../io/safetensors.ts";
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
import { NormalizedJumpSAE } from "./normalized_sae.ts";

const KNOWN = new Set(["w_enc", "b_enc", "w_dec", "b_dec", "threshold"]);

/**
 * Builds a `JumpSAE` from Gemma Scope tensors (any case of the key names).
 *
 * @param tensors The tensors of `params.npz` or `params.safetensors`.
 * @param where The file, for error messages.
 * @param training Kernel and bandwith for further training.
 * @param options Backend and mode.
 * @returns The model: linear encoder, decoder bias, no input centring, eval mode.
 */
export function gemmaScopeFromTensors(
  tensors: Record<string, Tensor>,
  where: string,
  training: TrainingConfig = {},
  options: LoadModelOptions = {},
): Promise<JumpSAE> {
  return fromTensors(tensors, where, training, options, false);
}

/** `gemmaScopeFromTensors`; `adopt`: the tensors are the loader's own, the model keeps them. */
function fromTensors(
  tensors: Record<string, Tensor>,
  where: string,
  training: TrainingConfig,
  options: LoadModelOptions,
  adopt: boolean,
): Promise<JumpSAE> {
  const dict: Record<string, Tensor> = {};
  for (const [key, t] of Object.entries(tensors)) {
    const lower = key.toLowerCase();
    if (!KNOWN.has(lower)) {
      throw new RangeError(
        `${where} has an unexpected tensor ${key}, expected only W_enc, b_enc, W_dec, b_dec, threshold`,
      );
    }
    if (lower in dict) {
      throw new RangeError(`${where} holds ${lower} twice (keys differing only in case)`);
    }
    dict[lower] = t;
  }
  const wEnc = requireTensor(dict, ["w_enc"], where);
  if (wEnc.shape.length !== 2) {
    throw new RangeError(
      `${where} tensor W_enc must have shape [d_in, d_sae], got [${wEnc.shape.join(", ")}]`,
    );
  }
  const [D, C] = wEnc.shape;
  const bEnc = requireTensor(dict, ["b_enc"], where);
  const wDec = requireTensor(dict, ["w_dec"], where);
  const bDec = requireTensor(dict, ["b_dec"], where);
  const threshold = requireTensor(dict, ["threshold"], where);
  const sizes = `${where} (W_enc is [${D}, ${C}])`;
  checkShape(bEnc, [C], "b_enc", sizes);
  checkShape(wDec, [C, D], "W_dec", sizes);
  checkShape(bDec, [D], "b_dec", sizes);
  checkShape(threshold, [C], "threshold", sizes);
  return buildLinearSae(
    { wEnc, bEnc, wDec, bDec, logThreshold: logOf(threshold) },
    false,
    "none",
    training,
    options,
    where,
    adopt,
  );
}

/**
 * Loads a Gemma Scope `params.npz`.
 *
 * @param bytes The archive.
 * @param options Backend and mode, kernel and bandwith for further training.
 * @returns The model.
 */
export async function loadGemmaScopeNpz(
  bytes: Uint8Array,
  options: LoadModelOptions & TrainingConfig & { name?: string } = {},
): Promise<JumpSAE> {
  const where = options.name ?? "params.npz";
  return await fromTensors(await loadNpz(bytes), where, options, options, true);
}

/**
 * Loads a Gemma Scope `params.safetensors` (lowercase keys; uppercase accepted).
 *
 * @param bytes The file.
 * @param options Backend and mode, kernel and bandwith for further training.
 * @returns The model.
 */
export async function loadGemmaScopeSafetensors(
  bytes: Uint8Array,
  options: LoadModelOptions & TrainingConfig & { name?: string } = {},
): Promise<JumpSAE> {
  const where = options.name ?? "params.safetensors";
  return await fromTensors(loadSafetensors(bytes), where, options, options, true);
}

/** Options of `exportGemmaScope`. */
export interface ExportGemmaScopeOptions {
  /** `"npz"` (default, `params.npz` as released) or `"safetensors"` (lowercase keys). */
  container?: "npz" | "safetensors";
}

/**
 * Writes a model in Gemma Scope's layout (W_enc [D, C], b_enc, W_dec [C, D], b_dec, threshold).
 * Gemma Scope has no input centring: with `centerInput` the centring is folded into the
 * encoder bias, b_enc − b_dec·W_enc, which gives the same pre-activations.
 *
 * @param sae A model with the `linear` encoder and no input normalization.
 * @param options The container.
 * @returns `{ "params.npz": bytes }` or `{ "params.safetensors": bytes }`.
 * @throws TypeError for other encoders or a per-token input normalization.
 *
 * @example Export and load back
 * ```ts
 * import { JumpSAE } from "../../mod.ts";
 * import { exportGemmaScope, loadGemmaScopeNpz } from "./gemma_scope.ts";
 * const sae = new JumpSAE(4, 8, { encoderModule: "linear", decoderBias: true, centerInput: true, device: "reference" });
 * const files = await exportGemmaScope(sae);
 * const back = await loadGemmaScopeNpz(files["params.npz"]!, { device: "reference" });
 * console.log(back.centerInput); // false
 * ```
 */
export async function exportGemmaScope(
  sae: JumpSAE,
  options: ExportGemmaScopeOptions = {},
): Promise<{ "params.npz"?: Uint8Array; "params.safetensors"?: Uint8Array }> {
  const container = options.container ?? "npz";
  if (container !== "npz" && container !== "safetensors") {
    throw new RangeError(
      `container must be "npz" or "safetensors", got ${JSON.stringify(container)}`,
    );
  }
  if (sae instanceof NormalizedJumpSAE) {
    throw new TypeError(
      `Gemma Scope has no input normalization, got a model with ${sae.inputNormalization} (export to SAELens instead)`,
    );
  }
  const { tensors } = await linearSaeTensors(sae, "Gemma Scope");
  const D = sae.dim, C = sae.nbConcepts;
  if (sae.centerInput) {
    const bEnc = Float32Array.from(tensors.b_enc.data);
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += tensors.b_dec.data[d] * tensors.W_enc.data[d * C + c];
      bEnc[c] -= s;
    }
    tensors.b_enc = { data: bEnc, shape: [C] };
  }
  if (container === "npz") return { "params.npz": await saveNpz(tensors) };
  const lower: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(tensors)) lower[k.toLowerCase()] = t;
  return { "params.safetensors": saveSafetensors(lower, { format: "pt" }) };
}
