/**
 * The `jumpsae` command-line tool. Run `deno task cli --help`, or install it with
 * `deno install -A -g -n jumpsae cli.ts`.
 *
 * @example Encode activations with a Gemma Scope SAE
 * ```sh
 * deno run -A cli.ts encode params.npz acts.npy -o codes.npz --top-k 64 --max-memory 256MB
 * ```
 *
 * @module
 */

import { main } from "./src/cli/main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
