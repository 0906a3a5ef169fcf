/**
 * Builds the npm package of jumpsae into `npm/` the way @deno/dnt would (dnt itself lives on
 * JSR): every module reachable from `mod.ts` (static and dynamic imports, and workers named by
 * `new URL("./x.ts", import.meta.url)` or `siblingModule(import.meta.url, "x")`) is transpiled
 * by esbuild to ESM JavaScript in the same
 * folder layout under `npm/esm/`, with relative `.ts` specifiers rewritten to `.js`; TypeScript
 * emits the `.d.ts` files next to them; `package.json` (ESM with a CommonJS entry that explains,
 * a `jumpsae` bin: the CLI's modules with their `Deno` pointed at `src/platform/deno_node.ts`),
 * the package's own README (`scripts/npm_readme.md`) and LICENSE complete the package.
 *
 * Unless `--no-test`, the test files listed in `tests/node/node_tests.ts` (and their helpers) are transpiled
 * too, with every use of the global `Deno` pointed at `tests/node/deno_shim.ts` (what dnt does
 * with @deno/shim-deno), and run with `node --test` against the built package.
 *
 * Usage: `deno task build:npm [--out DIR] [--no-test] [--no-run]`
 *   --out DIR   output folder (default `npm`, emptied first)
 *   --no-test   build the package only (no test files)
 *   --no-run    build the test files but do not run them
 *
 * @module
 */
// Pinned tools from the npm registry (no deno.json imports: a fresh clone needs nothing else).
// deno-lint-ignore no-import-prefix
import * as esbuild from "npm:esbuild@0.28.2";
// deno-lint-ignore no-import-prefix
import ts from "npm:typescript@5.9.3";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { NODE_TESTS } from "../tests/node/node_tests.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

export { NODE_TESTS };

/** Folders of test data linked (not copied) next to the built tests. */
const TEST_DATA = ["tests/fixtures"];

const SHIM = "tests/node/deno_shim.ts";

interface Options {
  out: string;
  tests: boolean;
  run: boolean;
}

function parseArgs(args: string[]): Options {
  const options: Options = { out: join(ROOT, "npm"), tests: true, run: true };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--out") options.out = args[++i];
    else if (arg === "--no-test") options.tests = options.run = false;
    else if (arg === "--no-run") options.run = false;
    else throw new TypeError(`unknown argument ${arg}, expected --out DIR, --no-test or --no-run`);
  }
  if (!options.out) throw new TypeError("--out needs a folder");
  return options;
}

/** `from "./a.ts"`, `import("./a.ts")`, `import "./a.ts"`, `new URL("./a.ts", …)` → `.js`. */
export function rewriteSpecifiers(code: string): string {
  return code.replace(
    /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\bnew URL\(\s*)(["'])(\.\.?\/[^"'\n]*?)\.ts\2/g,
    (_, head, quote, path) => `${head}${quote}${path}.js${quote}`,
  );
}

const WORKER_URL = /\bnew URL\(\s*["'](\.\.?\/[^"'\n]+\.ts)["']\s*,\s*import\.meta\.url\s*\)/g;
/** `siblingModule(import.meta.url, "worker")` (src/platform/workers.ts): `./worker.ts`. */
const SIBLING = /\bsiblingModule\(\s*import\.meta\.url\s*,\s*["']([\w.-]+)["']\s*\)/g;

/** Modules that `source` loads by URL rather than by import (workers), relative specifiers. */
export function urlReferences(source: string): string[] {
  return [
    ...[...source.matchAll(WORKER_URL)].map((m) => m[1]),
    ...[...source.matchAll(SIBLING)].map((m) => `./${m[1]}.ts`),
  ];
}

/**
 * Every local module reachable from `entries`, as paths relative to the repository: esbuild's
 * import graph, plus the modules named by `new URL("./x.ts", import.meta.url)` (workers).
 */
async function moduleGraph(entries: string[]): Promise<string[]> {
  const seen = new Set<string>();
  let pending = entries;
  while (pending.length > 0) {
    const result = await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: pending,
      bundle: true,
      write: false,
      metafile: true,
      format: "esm",
      platform: "neutral",
      outdir: "/tmp/unused",
      logLevel: "silent",
      plugins: [{
        name: "external-non-relative",
        setup(build) {
          build.onResolve({ filter: /^[^./]/ }, (args) => ({ path: args.path, external: true }));
        },
      }],
    });
    const next: string[] = [];
    for (const input of Object.keys(result.metafile!.inputs)) {
      if (seen.has(input)) continue;
      seen.add(input);
      if (!input.endsWith(".ts")) continue;
      const source = await Deno.readTextFile(join(ROOT, input));
      for (const specifier of urlReferences(source)) {
        const target = relative(ROOT, join(ROOT, input, "..", specifier));
        if (!seen.has(target)) next.push(target);
      }
    }
    pending = next;
  }
  return [...seen].sort();
}

async function emptyDir(dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  await Deno.mkdir(dir, { recursive: true });
}

async function writeText(path: string, text: string): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, text);
}

/**
 * Uses of the global `Deno` in emitted JavaScript (comments are gone by then): `Deno.x`, not
 * `globalThis.Deno` or `g.Deno`. Each is a line that would throw under Node if it ran.
 */
export function bareDenoUses(code: string): string[] {
  return code.split("\n").filter((line) => /(?<![\w$.])Deno\./.test(line)).map((l) => l.trim());
}

/**
 * Transpiles one module (or copies a non-TypeScript asset) into `esm/`; resolves to the lines
 * of the output that use the global `Deno`.
 */
async function transpile(
  file: string,
  esm: string,
  define?: Record<string, string>,
  banner?: string,
): Promise<string[]> {
  const source = await Deno.readTextFile(join(ROOT, file));
  if (!file.endsWith(".ts")) {
    await writeText(join(esm, file), source);
    return [];
  }
  const { code } = await esbuild.transform(source, {
    loader: "ts",
    format: "esm",
    target: "es2022",
    sourcefile: file,
    define,
    banner,
  });
  await writeText(join(esm, file.replace(/\.ts$/, ".js")), rewriteSpecifiers(code));
  return bareDenoUses(code);
}

/** Emits the `.d.ts` files of `files` into `esm/`; returns the diagnostics as text. */
function declarations(files: string[], esm: string): string[] {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts", "lib.esnext.disposable.d.ts"],
    types: [],
    strict: true,
    skipLibCheck: true,
    declaration: true,
    emitDeclarationOnly: true,
    allowImportingTsExtensions: true,
    rewriteRelativeImportExtensions: true,
    rootDir: ROOT,
    outDir: esm,
  };
  const host = ts.createCompilerHost(options);
  const program = ts.createProgram(files.map((f) => join(ROOT, f)), options, host);
  const written = new Set<string>();
  const emit = program.emit(undefined, (fileName, text) => {
    written.add(fileName);
    Deno.mkdirSync(join(fileName, ".."), { recursive: true });
    Deno.writeTextFileSync(fileName, rewriteSpecifiers(text));
  });
  // The build has no @types/node: `import("node:…")` inside functions is typed by hand there
  // and never appears in a declaration, so "cannot find module 'node:…'" is not a problem.
  const nodeModule = (d: ts.Diagnostic) =>
    d.code === 2307 && /'node:[\w/]+'/.test(ts.flattenDiagnosticMessageText(d.messageText, ""));
  // The CLI's modules name the global `Deno` (the shim at run time); mod.d.ts never reaches them.
  const cliDeno = (d: ts.Diagnostic) =>
    d.code === 2304 && /src\/cli\//.test(d.file?.fileName ?? "") &&
    /'Deno'/.test(ts.flattenDiagnosticMessageText(d.messageText, ""));
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emit.diagnostics].filter((d) =>
    !nodeModule(d) && !cliDeno(d)
  );
  const format = (d: ts.Diagnostic) =>
    ts.formatDiagnostic(d, {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => ROOT,
      getNewLine: () => "\n",
    }).trim();
  const missing = files.filter((f) =>
    f.endsWith(".ts") && !written.has(join(esm, f.replace(/\.ts$/, ".d.ts")))
  );
  if (emit.emitSkipped || missing.length > 0) {
    throw new Error(
      `declaration emit failed (missing: ${missing.join(", ")})\n${
        diagnostics.map(format).join("\n")
      }`,
    );
  }
  return diagnostics.map(format);
}

/**
 * Declarations of the globals the `.d.ts` files name that TypeScript declares only in lib.dom
 * (`WebAssembly.*`) or lib.esnext.disposable (`Symbol.dispose`), so that a consumer compiles
 * with `lib: ["es2023"]` and no DOM. Where the real ones exist these merge into them.
 */
export const GLOBALS_DTS =
  `// Globals named by jumpsae's declarations, for consumers compiled without lib.dom.
declare global {
  namespace WebAssembly {
    interface Module {}
    interface Memory {}
    interface Instance {}
  }
  interface SymbolConstructor {
    readonly dispose: unique symbol;
  }
}
export {};
`;

/**
 * The CommonJS entry: Node ≥ 22.12 can `require()` an ES module without top-level await, which
 * the library is; older Node gets an error that shows the `import()` to write instead.
 */
export const REQUIRE_CJS = `"use strict";
// jumpsae is an ES module. This CommonJS entry hands it over where Node can require() ES modules.
if (process.features && process.features.require_module) {
  module.exports = require("./esm/mod.js");
} else {
  const error = new Error(
    'jumpsae is an ES module (ESM only): in CommonJS write \`const { JumpSAE } = await import("jumpsae");\`' +
      " (require() of ES modules needs Node >= 22.12; this is Node " + process.versions.node + ")",
  );
  error.code = "ERR_REQUIRE_ESM";
  throw error;
}
`;

/** The `jumpsae` bin: the CLI of `cli.ts` under Node (its `Deno` is src/platform/deno_node.ts). */
export const BIN = `#!/usr/bin/env node
import process from "node:process";
import { main } from "../esm/src/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
`;

const NODE_DENO = "src/platform/deno_node.ts";

function packageJson(version: string, libraryFiles: string[]) {
  return {
    name: "jumpsae",
    version,
    description:
      "JumpReLU Sparse Autoencoder (the JumpSAE of the Python library overcomplete) in TypeScript: CPU (WASM) and WebGPU backends, training, safetensors/npy/npz I/O.",
    license: "MIT",
    keywords: ["sparse-autoencoder", "jumprelu", "interpretability", "sae", "webgpu", "wasm"],
    type: "module",
    main: "./esm/mod.js",
    module: "./esm/mod.js",
    types: "./esm/mod.d.ts",
    exports: {
      ".": { types: "./esm/mod.d.ts", import: "./esm/mod.js", require: "./require.cjs" },
      "./package.json": "./package.json",
    },
    bin: { jumpsae: "./bin/jumpsae.js" },
    engines: { node: ">=20" },
    sideEffects: false,
    files: [
      ...libraryFiles.flatMap((f) =>
        f.endsWith(".ts")
          ? [`esm/${f.replace(/\.ts$/, ".js")}`, `esm/${f.replace(/\.ts$/, ".d.ts")}`]
          : [`esm/${f}`]
      ),
      "esm/_globals.d.ts",
      "require.cjs",
      "bin/jumpsae.js",
      "README.md",
      "LICENSE",
    ],
  };
}

/** The import of the Node `Deno` shim `shim` from `file`, as an esbuild banner. */
function shimBanner(file: string, shim: string): string {
  const to = relative(join(ROOT, file, ".."), join(ROOT, shim)).replace(/\.ts$/, ".js");
  return `import * as __denoShim from "${to.startsWith(".") ? to : "./" + to}";`;
}

/** Runs `node --test` on the built tests; resolves to Node's exit code. */
async function runNodeTests(out: string, tests: string[]): Promise<number> {
  const files = tests.map((t) => join("esm", t.replace(/\.ts$/, ".js")));
  console.log(`node --test ${files.join(" ")}`);
  const { code } = await new Deno.Command("node", {
    args: ["--test", "--test-reporter=spec", "--test-concurrency=2", ...files],
    cwd: out,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return code;
}

/** Builds the package (and the Node tests) as `options` say. */
export async function buildNpm(options: Options): Promise<void> {
  const out = options.out;
  const esm = join(out, "esm");
  const { version } = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  await emptyDir(out);

  const library = await moduleGraph(["mod.ts"]);
  for (const file of library) {
    for (const line of await transpile(file, esm)) {
      console.warn(`warning: ${file} uses Deno outside src/platform/, breaks under Node: ${line}`);
    }
  }
  // The CLI's own modules, their `Deno` pointed at the Node shim (as dnt would with shim-deno).
  const { SHIMMED } = await import("../src/platform/deno_node.ts");
  const cli = [
    ...(await moduleGraph(["src/cli/main.ts"])).filter((f) => !library.includes(f)),
    NODE_DENO,
  ];
  for (const file of cli) {
    const source = await Deno.readTextFile(join(ROOT, file));
    const uses = file !== NODE_DENO && /(?<![\w$.])Deno\./.test(source);
    for (const [, name] of uses ? source.matchAll(/(?<![\w$.])Deno\.(\w+)/g) : []) {
      if (!SHIMMED.includes(name)) {
        console.warn(
          `warning: ${file} uses Deno.${name}, missing from ${NODE_DENO}: the bin throws`,
        );
      }
    }
    await transpile(
      file,
      esm,
      uses ? { Deno: "__denoShim.Deno" } : undefined,
      uses ? shimBanner(file, NODE_DENO) : undefined,
    );
  }
  const shipped = [...library, ...cli];
  const diagnostics = declarations(shipped.filter((f) => f.endsWith(".ts")), esm);
  await writeText(join(esm, "_globals.d.ts"), GLOBALS_DTS);
  const modDts = join(esm, "mod.d.ts");
  await writeText(
    modDts,
    `/// <reference path="./_globals.d.ts" />\n${await Deno.readTextFile(modDts)}`,
  );
  await writeText(join(out, "require.cjs"), REQUIRE_CJS);
  await writeText(join(out, "bin/jumpsae.js"), BIN);
  await Deno.chmod(join(out, "bin/jumpsae.js"), 0o755);
  // TypeScript's lib.dom has no WebGPU types (Deno has them built in): names like GPUDevice stay
  // as written in the .d.ts of src/backends/webgpu/, which `mod.d.ts` does not reach.
  const gpu = diagnostics.filter((d) => /Cannot find name 'GPU\w*'/.test(d));
  if (gpu.length > 0) {
    console.warn(
      `note (d.ts): ${gpu.length} references to WebGPU types (GPU*) are not checked: TypeScript's ` +
        `lib.dom has none; a consumer that deep-imports src/backends/webgpu needs @webgpu/types`,
    );
  }
  for (const line of diagnostics.filter((d) => !gpu.includes(d))) {
    console.warn(`warning (d.ts): ${line}`);
  }

  await writeText(
    join(out, "package.json"),
    JSON.stringify(packageJson(version, shipped), null, 2) + "\n",
  );
  await Deno.copyFile(join(ROOT, "scripts/npm_readme.md"), join(out, "README.md"));
  await Deno.copyFile(join(ROOT, "LICENSE"), join(out, "LICENSE"));
  console.log(`built ${shipped.length} modules of jumpsae ${version} into ${out}`);

  if (!options.tests) return;
  const tests = NODE_TESTS.filter((t) => {
    try {
      return Deno.statSync(join(ROOT, t)).isFile;
    } catch {
      console.warn(`warning: ${t} does not exist, not run under Node`);
      return false;
    }
  });
  const testModules = (await moduleGraph(tests)).filter((f) => !shipped.includes(f));
  for (const file of testModules) {
    const uses = (await Deno.readTextFile(join(ROOT, file))).includes("Deno.");
    await transpile(
      file,
      esm,
      uses ? { Deno: "__denoShim.Deno" } : undefined,
      uses ? shimBanner(file, SHIM) : undefined,
    );
  }
  await transpile(SHIM, esm);
  for (const dir of TEST_DATA) {
    await Deno.symlink(join(ROOT, dir), join(esm, dir), { type: "dir" });
  }
  console.log(`built ${tests.length} test files (${testModules.length} modules) for Node`);
  if (!options.run) return;
  const code = await runNodeTests(out, tests);
  if (code !== 0) throw new Error(`node --test failed with exit code ${code}`);
}

if (import.meta.main) {
  try {
    await buildNpm(parseArgs(Deno.args));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  } finally {
    esbuild.stop();
  }
}
