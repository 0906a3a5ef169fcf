/**
 * The part of the `Deno` namespace that the command-line tool (`src/cli/`) uses, over Node's
 * APIs: the npm build points every `Deno.x` of the CLI's modules here, so that the package's
 * `jumpsae` bin runs on a machine with only Node and npm. Any other member throws a TypeError
 * naming it (and `scripts/build_npm.ts` warns about it at build time).
 *
 * Never imported by the library (`mod.ts`): browsers and bundles never see `node:` here.
 *
 * @module
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** The members of `Deno` this shim provides (`scripts/build_npm.ts` checks the CLI against it). */
export const SHIMMED: readonly string[] = [
  "args",
  "exit",
  "memoryUsage",
  "makeTempDir",
  "mkdir",
  "remove",
  "stat",
  "stderr",
  "writeFile",
  "writeTextFile",
  "readFile",
  "readTextFile",
  "cwd",
];

const api = {
  args: process.argv.slice(2),
  exit: (code = 0): void => {
    process.exit(code);
  },
  memoryUsage: () => process.memoryUsage(),
  makeTempDir: ({ dir, prefix = "" }: { dir?: string; prefix?: string } = {}) =>
    fsp.mkdtemp(join(dir ?? tmpdir(), prefix)),
  mkdir: async (path: string, { recursive = false }: { recursive?: boolean } = {}) => {
    await fsp.mkdir(path, { recursive });
  },
  remove: (path: string, { recursive = false }: { recursive?: boolean } = {}) =>
    fsp.rm(path, { recursive }),
  stat: async (path: string) => {
    const s = await fsp.stat(path);
    return { size: s.size, isFile: s.isFile(), isDirectory: s.isDirectory(), mtime: s.mtime };
  },
  stderr: {
    isTerminal: () => process.stderr.isTTY === true,
    writeSync: (bytes: Uint8Array) => fs.writeSync(2, bytes),
  },
  writeFile: (path: string, data: Uint8Array) => fsp.writeFile(path, data),
  writeTextFile: (path: string, text: string) => fsp.writeFile(path, text),
  readFile: async (path: string) => new Uint8Array(await fsp.readFile(path)),
  readTextFile: (path: string) => fsp.readFile(path, "utf8"),
  cwd: () => process.cwd(),
};

/** `Deno` for the CLI under Node. */
export const Deno: typeof api = new Proxy(api, {
  get(target, key) {
    if (key in target) return target[key as keyof typeof api];
    throw new TypeError(
      `the jumpsae CLI under Node has no Deno member ${String(key)} (expected one of ${
        SHIMMED.join(", ")
      })`,
    );
  },
});
