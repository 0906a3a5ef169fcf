/**
 * `jumpsae convert`: between this library's checkpoints, SAELens directories, Gemma Scope
 * files and seed-library state dicts.
 *
 * @module
 */

import { saveModel } from "../../pretrained/checkpoint.ts";
import { exportSAELens } from "../../pretrained/saelens.ts";
import { exportGemmaScope } from "../../pretrained/gemma_scope.ts";
import { NormalizedJumpSAE } from "../../pretrained/normalized_sae.ts";
import { saveSafetensors } from "../../io/safetensors.ts";
import type { JumpSAE } from "../../jump_sae.ts";
import { Linear } from "../../layers/linear.ts";
import { type CommandSpec, formatBytes, UsageError } from "../args.ts";
import { type CliContext, loadCliModel, MODEL_OPTIONS } from "../_common.ts";

/** The command's arguments. */
export const CONVERT: CommandSpec = {
  name: "convert",
  summary: "Convert a model between jumpsae, SAELens, Gemma Scope and seed state-dict files",
  positionals: ["model"],
  options: {
    output: {
      kind: "string",
      alias: "o",
      help: "Output file, or directory for saelens (and gemma-scope: params.npz inside)",
      meta: "PATH",
    },
    to: {
      kind: "string",
      help: "Output format",
      choices: ["jumpsae", "saelens", "gemma-scope", "state-dict"],
      default: "jumpsae",
    },
    dtype: {
      kind: "string",
      help: "SAELens weight dtype",
      choices: ["F32", "F16", "BF16"],
      default: "F32",
    },
    ...MODEL_OPTIONS,
  },
  epilog:
    "Examples:\n  jumpsae convert params.npz -o model.safetensors\n  jumpsae convert model.safetensors --to saelens -o my_sae/\n" +
    "  jumpsae convert my_sae/ --to gemma-scope -o params.npz\n\n" +
    "gemma-scope needs a linear encoder (input centring is folded into b_enc); state-dict writes the\n" +
    "seed library's PyTorch state_dict() (no decoder bias or input normalization, which the seed lacks).",
};

/**
 * Writes a model in a format: a checkpoint file, or a SAELens directory.
 *
 * @returns The written files and their sizes.
 */
export async function writeModel(
  sae: JumpSAE,
  output: string,
  to: string,
  dtype = "F32",
): Promise<[string, number][]> {
  const layers = sae.encoder.layers;
  if (
    (to === "saelens" || to === "gemma-scope") &&
    !(layers.length === 1 && layers[0] instanceof Linear)
  ) {
    throw new UsageError(
      `--to ${to} needs a model with a Linear encoder (train it with --encoder linear), got ${
        layers.map((l) => l.constructor.name).join(" + ") || "the identity encoder"
      }`,
    );
  }
  if (to === "saelens") {
    const files = await exportSAELens(sae, { dtype: dtype as "F32" });
    await Deno.mkdir(output, { recursive: true });
    const dir = output.replace(/[\\/]+$/, "");
    await Deno.writeTextFile(`${dir}/cfg.json`, files["cfg.json"]);
    await Deno.writeFile(`${dir}/sae_weights.safetensors`, files["sae_weights.safetensors"]);
    return [[`${dir}/cfg.json`, files["cfg.json"].length], [
      `${dir}/sae_weights.safetensors`,
      files["sae_weights.safetensors"].length,
    ]];
  }
  if (to === "gemma-scope") {
    const asSafetensors = output.endsWith(".safetensors");
    const files = await exportGemmaScope(sae, { container: asSafetensors ? "safetensors" : "npz" });
    const bytes = (asSafetensors ? files["params.safetensors"] : files["params.npz"])!;
    let path = output;
    if (!/\.(npz|safetensors)$/.test(output)) {
      await Deno.mkdir(output, { recursive: true });
      path = `${output.replace(/[\\/]+$/, "")}/params.npz`;
    }
    await Deno.writeFile(path, bytes);
    return [[path, bytes.length]];
  }
  if (to === "state-dict") {
    if (sae.decoderBias || sae instanceof NormalizedJumpSAE) {
      throw new TypeError(
        "The seed library's JumpSAE has no decoder bias nor input normalization, got a model with " +
          `${
            sae.decoderBias ? "decoderBias" : "inputNormalization"
          } (convert to jumpsae or saelens instead)`,
      );
    }
    const state = await sae.stateDict();
    const dtypes: Record<string, "I64"> = {};
    for (const key of Object.keys(state)) {
      if (key.endsWith("num_batches_tracked")) dtypes[key] = "I64";
    }
    const bytes = saveSafetensors(state, { format: "pt" }, { dtypes });
    await Deno.writeFile(output, bytes);
    return [[output, bytes.length]];
  }
  const bytes = await saveModel(sae);
  await Deno.writeFile(output, bytes);
  return [[output, bytes.length]];
}

/** Runs `convert`. */
export async function runConvert(
  positionals: Record<string, string | undefined>,
  options: Record<string, unknown>,
  ctx: CliContext,
): Promise<number> {
  const output = options.output as string | undefined;
  if (!output) throw new UsageError("convert needs --output PATH, got none");
  const sae = await loadCliModel(positionals.model!, options);
  try {
    const written = await writeModel(sae, output, options.to as string, options.dtype as string);
    for (const [path, size] of written) ctx.out(`wrote ${path} (${formatBytes(size)})`);
    return 0;
  } finally {
    sae.dispose();
  }
}
