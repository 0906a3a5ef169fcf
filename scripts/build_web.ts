/**
 * Builds the browser bundles into `examples/web/dist/`:
 * - `jumpsae.js`: `mod.ts` bundled by esbuild (ESM, es2022, minified);
 * - one bundle per worker that the library loads by URL, next to it: a
 *   `new URL("./x.ts", import.meta.url)` reference is rewritten to `new URL("./<flat name>.js", …)`
 *   (the WASM pool's worker: `src_backends_wasm_worker.js`);
 * - `app.js`: the demo page's script `examples/web/app.ts`, importing `./jumpsae.js`.
 *
 * Usage: `deno run -A scripts/build_web.ts [--out DIR] [--no-minify]`
 *
 * @module
 */
// deno-lint-ignore no-import-prefix
import * as esbuild from "npm:esbuild@0.28.2";
import { basename, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const WEB = join(ROOT, "examples/web");

/** Options of `buildWeb`. */
export interface WebBuildOptions {
  /** Output folder. Default `examples/web/dist`. */
  out?: string;
  /** Minify the bundles. Default true. */
  minify?: boolean;
  /** The library module bundled as `jumpsae.js`. Default `mod.ts`. */
  entry?: string;
}

/** What `buildWeb` wrote: file name → size in bytes. */
export type WebBuildResult = Record<string, number>;

const LITERAL_URL = /\bnew URL\(\s*["'](\.\.?\/[^"'\n]+\.ts)["']\s*,\s*import\.meta\.url\s*\)/g;
function urlReferences(source: string): boolean {
  return new RegExp(LITERAL_URL.source).test(source);
}

/**
 * An esbuild plugin that finds the workers of each library module and names their bundles
 * (`workers`: output name → source path).
 */
function workerPlugin(workers: Map<string, string>): esbuild.Plugin {
  const claim = (name: string, path: string) => {
    const had = workers.get(name);
    if (had && had !== path) {
      throw new Error(`two workers bundle to ${name}.js: ${had} and ${path}`);
    }
    workers.set(name, path);
  };
  return {
    name: "worker-urls",
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, async (args) => {
        let source = await Deno.readTextFile(args.path);
        if (!urlReferences(source)) return { contents: source, loader: "ts" };
        source = source.replace(LITERAL_URL, (_, specifier: string) => {
          const path = join(args.path, "..", specifier);
          const name = relative(ROOT, path).replace(/\.ts$/, "").replace(/[^\w]+/g, "_");
          claim(name, path);
          return `new URL("./${name}.js", import.meta.url)`;
        });
        return { contents: source, loader: "ts" };
      });
    },
  };
}

/** Resolves the page's imports of `mod.ts` to the library bundle `./jumpsae.js`. */
const libraryExternal: esbuild.Plugin = {
  name: "library-external",
  setup(build) {
    build.onResolve({ filter: /mod\.ts$/ }, (args) => {
      const path = join(args.resolveDir, args.path);
      return path === join(ROOT, "mod.ts") ? { path: "./jumpsae.js", external: true } : undefined;
    });
  },
};

/** Stops esbuild's service (started by `buildWeb`) so that the process may exit. */
export function stopBuilder(): Promise<void> | void {
  return esbuild.stop();
}

/** Builds the bundles; resolves to the size of each file written. */
export async function buildWeb(options: WebBuildOptions = {}): Promise<WebBuildResult> {
  const out = options.out ?? join(WEB, "dist");
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(out, { recursive: true });
  const common: esbuild.BuildOptions = {
    absWorkingDir: ROOT,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: options.minify ?? true,
    legalComments: "none",
    external: ["node:*"],
    logLevel: "warning",
    write: true,
  };
  const workers = new Map<string, string>();
  await esbuild.build({
    ...common,
    entryPoints: [{ in: options.entry ?? "mod.ts", out: "jumpsae" }],
    outdir: out,
    plugins: [workerPlugin(workers)],
  });
  const built = new Set<string>();
  while (built.size < workers.size) {
    const pending = [...workers].filter(([name]) => !built.has(name));
    for (const [name] of pending) built.add(name);
    await esbuild.build({
      ...common,
      entryPoints: pending.map(([name, path]) => ({ in: path, out: name })),
      outdir: out,
      plugins: [workerPlugin(workers)],
    });
  }
  await esbuild.build({
    ...common,
    entryPoints: [{ in: join(WEB, "app.ts"), out: "app" }],
    outdir: out,
    plugins: [libraryExternal],
  });
  const sizes: WebBuildResult = {};
  for await (const entry of Deno.readDir(out)) {
    if (entry.isFile) sizes[entry.name] = (await Deno.stat(join(out, entry.name))).size;
  }
  return sizes;
}

if (import.meta.main) {
  const args = [...Deno.args];
  const at = args.indexOf("--out");
  try {
    const sizes = await buildWeb({
      out: at >= 0 ? args[at + 1] : undefined,
      minify: !args.includes("--no-minify"),
    });
    for (const [name, size] of Object.entries(sizes).sort()) {
      console.log(`${basename(name).padEnd(24)} ${(size / 1024).toFixed(1).padStart(8)} KiB`);
    }
  } finally {
    esbuild.stop();
  }
}
