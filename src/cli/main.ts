/**
 * The `jumpsae` command-line tool: `train`, `encode`, `eval`, `inspect`, `convert`.
 *
 * @module
 */

import { type CommandSpec, formatHelp, parseArgs, UsageError } from "./args.ts";
import type { CliContext } from "./_common.ts";
import { CONVERT, runConvert } from "./commands/convert.ts";
import { ENCODE, runEncode } from "./commands/encode.ts";
import { EVAL, runEval } from "./commands/eval.ts";
import { INSPECT, runInspect } from "./commands/inspect.ts";
import { runTrain, TRAIN } from "./commands/train.ts";

type Runner = (
  p: Record<string, string | undefined>,
  o: Record<string, unknown>,
  ctx: CliContext,
) => Promise<number>;

/** The commands, in the order `--help` lists them. */
export const COMMANDS: Record<string, [CommandSpec, Runner]> = {
  train: [TRAIN, runTrain],
  encode: [ENCODE, runEncode],
  eval: [EVAL, runEval],
  inspect: [INSPECT, runInspect],
  convert: [CONVERT, runConvert],
};

/** The top-level help. */
export function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  return [
    "jumpsae — JumpReLU sparse autoencoders: train, encode, evaluate, inspect and convert",
    "",
    "Usage: jumpsae <command> [arguments] [options]",
    "",
    "Commands:",
    ...Object.entries(COMMANDS).map(([name, [spec]]) => `  ${name.padEnd(width)}${spec.summary}`),
    "",
    "Models: a jumpsae checkpoint (.safetensors), a SAELens directory (cfg.json + sae_weights.safetensors),",
    "a Gemma Scope params.npz / params.safetensors, a seed state dict, as a path or an http(s) URL.",
    "",
    "Run `jumpsae <command> --help` for a command's options.",
  ].join("\n");
}

const defaultContext: CliContext = {
  out: (text) => console.log(text),
  err: (text) => console.error(text),
};

/**
 * Runs the tool.
 *
 * @param argv The arguments (without the program).
 * @param ctx Where to write (default: stdout and stderr).
 * @returns The exit status: 0 on success, 1 on an error, 2 on a usage error.
 */
export async function main(
  argv: readonly string[],
  ctx: CliContext = defaultContext,
): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    const topic = command === "help" ? rest[0] : undefined;
    if (topic && COMMANDS[topic]) ctx.out(formatHelp(COMMANDS[topic][0]));
    else ctx.out(mainHelp());
    return command === undefined ? 2 : 0;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    ctx.err(
      `error: unknown command ${command}, expected one of ${
        Object.keys(COMMANDS).join(", ")
      }\n\n${mainHelp()}`,
    );
    return 2;
  }
  const [spec, run] = entry;
  try {
    const args = parseArgs(spec, rest);
    if (args.help) {
      ctx.out(formatHelp(spec));
      return 0;
    }
    return await run(args.positionals, args.options, ctx);
  } catch (error) {
    if (error instanceof UsageError) {
      ctx.err(`error: ${error.message}\nRun \`jumpsae ${command} --help\` for its options.`);
      return 2;
    }
    const message = error instanceof Error
      ? `${error.name === "Error" ? "" : `${error.name}: `}${error.message}`
      : String(error);
    ctx.err(`error: ${message}`);
    return 1;
  }
}
