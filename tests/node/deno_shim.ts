/**
 * The small part of the `Deno` namespace that the test files use, on Node's APIs, as
 * @deno/shim-deno does for @deno/dnt. `scripts/build_npm.ts` transpiles the tests for Node with
 * every reference to the global `Deno` replaced by this module's `Deno`, so the library itself
 * still sees no `globalThis.Deno` and takes its Node code paths.
 *
 * @module
 */
import { test as nodeTest, type TestContext } from "node:test";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as process from "node:process";

type PathLike = string | URL;

/** The Deno test context subset: `name` and `step`. */
export interface ShimTestContext {
  name: string;
  step(nameOrDef: string | StepDefinition, fn?: (t: ShimTestContext) => unknown): Promise<boolean>;
}

interface StepDefinition {
  name: string;
  fn: (t: ShimTestContext) => unknown;
  ignore?: boolean;
}

interface TestDefinition extends StepDefinition {
  only?: boolean;
  permissions?: unknown;
  sanitizeOps?: boolean;
  sanitizeResources?: boolean;
  sanitizeExit?: boolean;
}

type TestFn = (t: ShimTestContext) => unknown;

function wrap(t: TestContext): ShimTestContext {
  return {
    name: t.name,
    async step(nameOrDef, fn) {
      const def: StepDefinition = typeof nameOrDef === "string"
        ? { name: nameOrDef, fn: fn! }
        : nameOrDef;
      await t.test(def.name, { skip: def.ignore ? "ignored" : false }, async (sub) => {
        await def.fn(wrap(sub));
      });
      return true;
    },
  };
}

/** `Deno.test` in all its overloads, registered with `node:test`. */
function denoTest(
  a: string | TestDefinition | TestFn,
  b?: TestFn | Omit<TestDefinition, "fn"> | Omit<TestDefinition, "name">,
  c?: TestFn,
): void {
  let def: TestDefinition;
  if (typeof a === "string") {
    def = typeof b === "function" ? { name: a, fn: b } : { ...(b as object), name: a, fn: c! };
  } else if (typeof a === "function") {
    def = { name: a.name, fn: a };
  } else {
    def = typeof b === "function" ? { ...a, fn: b } : a;
  }
  nodeTest(def.name, { skip: def.ignore ? "ignored" : false, only: def.only }, async (t) => {
    await def.fn(wrap(t));
  });
}

/** A fresh `Uint8Array` (not a pooled Node `Buffer`), as Deno returns. */
function bytes(buffer: Uint8Array): Uint8Array {
  return new Uint8Array(buffer);
}

function dirEntries(p: PathLike) {
  return fs.readdirSync(p, { withFileTypes: true }).map((d) => ({
    name: d.name,
    isFile: d.isFile() ||
      (d.isSymbolicLink() && fs.statSync(path.join(fs.realpathSync(p), d.name)).isFile()),
    isDirectory: d.isDirectory(),
    isSymlink: d.isSymbolicLink(),
  }));
}

const api = {
  test: denoTest,
  build: { os: process.platform === "win32" ? "windows" : process.platform },
  env: {
    get: (key: string): string | undefined => process.env[key],
    toObject: () => ({ ...process.env }),
  },
  args: process.argv.slice(2),
  cwd: () => process.cwd(),
  readFile: async (p: PathLike) => bytes(await fsp.readFile(p)),
  readFileSync: (p: PathLike) => bytes(fs.readFileSync(p)),
  readTextFile: (p: PathLike) => fsp.readFile(p, "utf8"),
  readTextFileSync: (p: PathLike) => fs.readFileSync(p, "utf8"),
  writeFile: (p: PathLike, data: Uint8Array) => fsp.writeFile(p, data),
  writeTextFile: (p: PathLike, data: string) => fsp.writeFile(p, data),
  copyFile: (from: PathLike, to: PathLike) => fsp.copyFile(from, to),
  readDirSync: dirEntries,
  readDir: async function* (p: PathLike) {
    yield* dirEntries(p);
  },
  stat: async (p: PathLike) => {
    const s = await fsp.stat(p);
    return { size: s.size, isFile: s.isFile(), isDirectory: s.isDirectory() };
  },
  makeTempDir: ({ prefix = "" }: { prefix?: string } = {}) =>
    fsp.mkdtemp(path.join(os.tmpdir(), prefix)),
  makeTempFile: async ({ prefix = "", suffix = "" }: { prefix?: string; suffix?: string } = {}) => {
    const name = `${prefix}${process.pid}_${Math.random().toString(36).slice(2)}${suffix}`;
    const file = path.join(os.tmpdir(), name);
    await (await fsp.open(file, "wx")).close();
    return file;
  },
  remove: (p: PathLike, { recursive = false }: { recursive?: boolean } = {}) =>
    fsp.rm(p, { recursive }),
  mkdir: async (p: PathLike, { recursive = false }: { recursive?: boolean } = {}) => {
    await fsp.mkdir(p, { recursive });
  },
};

/** The shim; any other member throws an error naming it, so a gap shows up plainly. */
export const Deno: typeof api = new Proxy(api, {
  get(target, key) {
    if (key in target) return target[key as keyof typeof api];
    throw new TypeError(
      `Deno.${String(key)} is not in the Node test shim (tests/node/deno_shim.ts)`,
    );
  },
});
