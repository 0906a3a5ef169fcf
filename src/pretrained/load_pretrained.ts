/**
 * `loadPretrained`: one entry point for the SAE files of the ecosystem.
 *
 * @module
 */

import { checkOptions, keysOf, withBandwith } from "../_options.ts";
import type { JumpSAE } from "../jump_sae.ts";
import { loadSafetensors, loadSafetensorsMetadata } from "../io/safetensors.ts";
import { CHECKPOINT_CONFIG_KEY, loadModel, type LoadModelOptions } from "./checkpoint.ts";
import { loadGemmaScopeNpz, loadGemmaScopeSafetensors } from "./gemma_scope.ts";
import { loadSAELens } from "./saelens.ts";
import { openSource, type PretrainedSource, type SourceOptions } from "./sources.ts";
import { type ConstructorConfig, loadSeedStateDict } from "./state_dict.ts";
import type { TrainingConfig } from "./_linear_sae.ts";

const LOAD_KEYS = keysOf<LoadPretrainedOptions>()([
  "format",
  "config",
  "normScalingFactor",
  "bandwidth",
  "bandwith",
  "kernel",
  "pseudoGradient",
  "mode",
  "name",
  "device",
  "threads",
  "fetch",
]);
const CONFIG_KEYS = [
  ...keysOf<ConstructorConfig>()([
    "inputShape",
    "nbConcepts",
    "encoderModule",
    "kernel",
    "bandwith",
    "pseudoGradient",
    "dictionaryParams",
    "decoderBias",
    "centerInput",
    "inputNormalization",
  ]),
  "bandwidth",
];

/** The formats `loadPretrained` reads. */
export type PretrainedFormat = "saelens" | "gemma-scope" | "jumpsae" | "state-dict";

/** Options of `loadPretrained`. */
export interface LoadPretrainedOptions extends LoadModelOptions, SourceOptions, TrainingConfig {
  /** Skip detection and read this format. */
  format?: PretrainedFormat;
  /** Constructor arguments for a seed-library state dict (see `fromSeedStateDict`). */
  config?: ConstructorConfig;
  /** SAELens `expected_average_only_in`: the norm scaling factor to fold into the weights. */
  normScalingFactor?: number;
  /** The constructor's other spelling of `bandwith`. */
  bandwidth?: number;
}

/** What `detectPretrained` found: the format and the files it needs, read. */
export interface DetectedPretrained {
  /** The format found. */
  format: PretrainedFormat;
  /** The files by name (`cfg.json`, `sae_weights.safetensors`, `params.npz`, ...). */
  files: Record<string, Uint8Array>;
  /** The main weights file's name. */
  main: string;
  /** The source, for messages. */
  where: string;
}

/** File names looked for in a directory or URL, in this order. */
export const KNOWN_FILES = [
  "cfg.json",
  "sae_weights.safetensors",
  "params.npz",
  "params.safetensors",
  "model.safetensors",
] as const;

function isFiles(
  source: PretrainedSource,
): source is { files: Record<string, Uint8Array | string> } {
  return typeof source === "object" && !(source instanceof URL);
}

/** What a file holds, from its first bytes and, for safetensors, its header. */
function sniff(bytes: Uint8Array, name: string): PretrainedFormat {
  if (
    bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 &&
    bytes[3] === 0x04
  ) {
    return "gemma-scope";
  }
  if (
    bytes.length >= 6 && bytes[0] === 0x93 &&
    String.fromCharCode(...bytes.subarray(1, 6)) === "NUMPY"
  ) {
    throw new TypeError(
      `${name} is a single .npy array, expected a model file (safetensors or a Gemma Scope params.npz)`,
    );
  }
  if (bytes.length < 9 || bytes[8] !== 0x7b /* { */) {
    throw new TypeError(
      `${name} is neither safetensors (8-byte header length then "{") nor npz (starts with PK), got bytes ${
        [...bytes.subarray(0, 9)].map((b) => b.toString(16).padStart(2, "0")).join(" ")
      }`,
    );
  }
  const metadata = loadSafetensorsMetadata(bytes);
  if (CHECKPOINT_CONFIG_KEY in metadata) return "jumpsae";
  const keys = Object.keys(loadSafetensors(bytes));
  if (keys.includes("dictionary._weights") || keys.includes("thresholds")) return "state-dict";
  if (keys.some((k) => k.toLowerCase() === "w_enc")) {
    if (name === "sae_weights.safetensors") {
      throw new TypeError(
        "sae_weights.safetensors is a SAELens weights file and needs its cfg.json next to it, got none",
      );
    }
    return "gemma-scope";
  }
  throw new TypeError(
    `${name} holds tensors ${
      keys.join(", ") || "none"
    }, expected a jumpsae checkpoint, a seed state dict ` +
      "(thresholds, dictionary._weights) or SAE weights (W_enc, W_dec, b_enc, b_dec, threshold)",
  );
}

/**
 * Finds which format a source holds and reads its files.
 *
 * @param source A directory or file path, an http(s) URL, or `{ files }`.
 * @param options `format` to skip detection, `fetch` for URLs.
 * @returns The format and the files.
 */
export async function detectPretrained(
  source: PretrainedSource,
  options: { format?: PretrainedFormat } & SourceOptions = {},
): Promise<DetectedPretrained> {
  let set = openSource(source, options);
  // a path or URL naming a SAELens file: read its directory
  if ((set.single === "cfg.json" || set.single === "sae_weights.safetensors") && !isFiles(source)) {
    const text = source instanceof URL ? source.href : source;
    set = openSource(text.slice(0, text.length - set.single.length) || ".", options);
  }
  const files: Record<string, Uint8Array> = {};
  const get = async (name: string) => {
    if (!(name in files)) {
      const bytes = await set.get(name);
      if (bytes) files[name] = bytes;
    }
    return files[name];
  };
  const done = (format: PretrainedFormat, main: string): DetectedPretrained => {
    if (options.format !== undefined && options.format !== format) {
      throw new TypeError(
        `${set.where} holds the ${format} format, expected ${options.format} (options.format)`,
      );
    }
    return { format, files, main, where: set.where };
  };
  if (set.single) {
    const bytes = (await get(set.single))!;
    if (set.single === "cfg.json") {
      throw new TypeError(
        `${set.where} is a SAELens cfg.json alone, expected its directory (with sae_weights.safetensors)`,
      );
    }
    return done(sniff(bytes, set.single), set.single);
  }
  if (await get("cfg.json")) {
    if (!(await get("sae_weights.safetensors"))) {
      throw new TypeError(
        `${set.where} has cfg.json but no sae_weights.safetensors, expected both (a SAELens directory)`,
      );
    }
    return done("saelens", "sae_weights.safetensors");
  }
  for (
    const name of [
      "params.npz",
      "params.safetensors",
      "model.safetensors",
      "sae_weights.safetensors",
    ]
  ) {
    const bytes = await get(name);
    if (bytes) return done(sniff(bytes, name), name);
  }
  const whole = set.whole ? await set.whole() : undefined;
  if (whole) {
    const name = set.where.split(/[\\/]/).pop() || set.where;
    files[name] = whole;
    return done(sniff(whole, name), name);
  }
  throw new TypeError(
    `${set.where} has none of ${KNOWN_FILES.join(", ")}, expected a SAE directory or file`,
  );
}

/**
 * Loads a pretrained SAE as a `JumpSAE`, in eval mode:
 *
 * - SAELens directories (`cfg.json` + `sae_weights.safetensors`, architecture `jumprelu`);
 * - Gemma Scope `params.npz`, or `params.safetensors` with lowercase keys;
 * - this library's checkpoints (`saveModel`);
 * - a seed-library PyTorch state dict in safetensors, with `options.config` for what the file
 *   cannot hold.
 *
 * @param source A directory or file path, an http(s) URL (a directory URL is probed for the
 * known file names), or `{ files: { name: bytes or text } }`.
 * @param options Backend (`device`), `format`, `config`, `normScalingFactor`, `fetch`, and the
 * kernel, bandwith and pseudo-gradient to train further with.
 * @returns The model.
 *
 * @example Gemma Scope weights given in memory
 * ```ts
 * import { saveNpz } from "../io/npz.ts";
 * import { loadPretrained } from "./load_pretrained.ts";
 * const D = 4, C = 8;
 * const params = await saveNpz({
 *   W_enc: { data: new Float32Array(D * C).fill(0.1), shape: [D, C] },
 *   b_enc: { data: new Float32Array(C), shape: [C] },
 *   W_dec: { data: new Float32Array(C * D).fill(0.2), shape: [C, D] },
 *   b_dec: { data: new Float32Array(D), shape: [D] },
 *   threshold: { data: new Float32Array(C).fill(0.3), shape: [C] },
 * });
 * const sae = await loadPretrained({ files: { "params.npz": params } }, { device: "reference" });
 * const { codes } = await sae.encode([[1, 1, 1, 1]]); // pre = 0.4 > 0.3: every code is 0.4
 * console.log(codes.data[0].toFixed(2)); // 0.40
 * ```
 */
export async function loadPretrained(
  source: PretrainedSource,
  options: LoadPretrainedOptions = {},
): Promise<JumpSAE> {
  checkOptions(options, LOAD_KEYS, "loadPretrained options");
  checkOptions(options.config, CONFIG_KEYS, "loadPretrained options.config");
  options = withBandwith(options, "loadPretrained options");
  if (options.config) {
    options = { ...options, config: withBandwith(options.config, "loadPretrained options.config") };
  }
  const found = await detectPretrained(source, options);
  const { files, main } = found;
  const name = `${found.where === main ? main : `${found.where} ${main}`}`;
  switch (found.format) {
    case "saelens":
      return await loadSAELens(
        new TextDecoder().decode(files["cfg.json"]),
        files["sae_weights.safetensors"],
        options,
      );
    case "gemma-scope":
      return main.endsWith(".npz") || files[main][0] === 0x50
        ? await loadGemmaScopeNpz(files[main], { ...options, name })
        : await loadGemmaScopeSafetensors(files[main], { ...options, name });
    case "jumpsae":
      return await loadModel(files[main], { ...options, name });
    case "state-dict":
      return await loadSeedStateDict(files[main], options.config, { ...options, name });
  }
}
