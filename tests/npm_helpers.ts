/**
 * Helpers of the npm tests: is Node there, build the npm package into a folder, run a command.
 */
import { ok as assert } from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** The version line of `node`, or undefined when Node is not on the PATH. */
export function nodeVersion(): string | undefined {
  try {
    const { code, stdout } = new Deno.Command("node", { args: ["--version"], stdout: "piped" })
      .outputSync();
    return code === 0 ? new TextDecoder().decode(stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Runs a command; rejects with its output when it fails; resolves to its stdout. */
export async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  const err = new TextDecoder().decode(stderr);
  assert(code === 0, `${cmd} ${args.join(" ")} exited with ${code}\n${out}\n${err}`);
  return out;
}

/** Builds the npm package into `out` with `scripts/build_npm.ts` and the given flags. */
export async function buildNpm(out: string, flags: string[]): Promise<void> {
  await run(Deno.execPath(), ["run", "-A", "scripts/build_npm.ts", "--out", out, ...flags], {
    cwd: new URL(".", ROOT).pathname,
  });
}
