/**
 * The `jumpsae` command-line tool. Run `deno task cli --help`, install it with
 * `deno install -A -g -n jumpsae cli.ts`, or, with only Node and npm, use the npm package's
 * `jumpsae` bin (`npx jumpsae --help`).
 *
 * @example Encode activations with a Gemma Scope SAE
 * ```sh
 * deno run -A cli.ts encode params.npz acts.npy -o codes.npz --top-k 64 --max-memory 256MB
 * ```
 *
 * @module
 */

import { main } from "./src/cli/main.ts";

if (import.meta.main) {
  // `deno task cli` runs in the project's folder; INIT_CWD is the folder it was called from, so
  // that relative paths are the caller's.
  const caller = Deno.env.get("INIT_CWD");
  if (caller) Deno.chdir(caller);
  Deno.exit(await main(Deno.args));
}
