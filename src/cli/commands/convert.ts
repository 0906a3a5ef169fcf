/**
 * `jumpsae convert`: between this library's checkpoints, SAELens directories and (as input)
 * Gemma Scope files and seed state dicts.
 *
 * @module
 */

import { saveModel } from "../../pretrained/checkpoint.ts";
import { exportSAELens } from "../../pretrained/saelens.ts";
import type { JumpSAE } from "../../jump_sae.ts";
import { type CommandSpec, formatBytes, UsageError } from "../args.ts";
import { type CliContext, loadCliModel, MODEL_OPTIONS } from "../_common.ts";

/** The command's arguments. */
export const CONVERT: CommandSpec = {
  name: "convert",
  summary: "Convert a model (any readable format) to a jumpsae checkpoint or a SAELens directory",
  positionals: ["model"],
  options: {
    output: {
      kind: "string",
      alias: "o",
      help: "Output file (jumpsae) or directory (saelens)",
      meta: "PATH",
    },
    to: {
      kind: "string",
      help: "Output format",
      choices: ["jumpsae", "saelens"],
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
    "Examples:\n  jumpsae convert params.npz -o model.safetensors\n  jumpsae convert model.safetensors --to saelens -o my_sae/",
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
