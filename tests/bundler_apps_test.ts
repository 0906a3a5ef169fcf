/**
 * The npm package in a browser app built by each common bundler with its default configuration:
 * the packed tarball is installed with esbuild, Vite, webpack and Rollup (with node-resolve,
 * which it needs for any npm import) from the npm registry (npm's cache makes later runs
 * offline), a 15-line app is bundled by each, and each bundle runs in headless Chromium served
 * with and without the cross-origin isolation headers.
 *
 * - isolated: `threads: 2` gives the WASM backend with 2 threads (Vite and webpack emit the
 *   worker located by `new Worker(new URL("./worker.js", import.meta.url), …)`; esbuild and
 *   Rollup emit no worker file, and the pool starts the same code from a Blob);
 * - not isolated (no SharedArrayBuffer global): the same call runs on one thread, over an
 *   ordinary memory;
 * - `device: "auto"` (isolated; no GPU adapter with --disable-gpu): the CPU backend on
 *   `navigator.hardwareConcurrency` threads;
 * - both give Deno's `forward` (same seed) to 1e-5, with no console error.
 *
 * Needs Node/npm and Chromium (`apt-get install -y chromium`, or `CHROMIUM_PATH`).
 */
import { deepEqual, equal, ok as assert } from "node:assert/strict";
// deno-lint-ignore no-import-prefix
import type { BrowserContext } from "npm:playwright-core@1.65.1";
import { JumpSAE } from "../mod.ts";
import { serveWeb } from "../scripts/serve_web.ts";
import { buildNpm, nodeVersion, run } from "./npm_helpers.ts";

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
const node = nodeVersion();
if (!haveChromium || !node) {
  console.warn(`bundler_apps_test: skipped, needs node (${node}) and Chromium at ${CHROMIUM}`);
}

/** Pinned bundlers (the app's devDependencies). */
const BUNDLERS = {
  esbuild: "0.28.2",
  vite: "8.4.1",
  webpack: "5.113.0",
  "webpack-cli": "7.3.1",
  rollup: "4.69.3",
  "@rollup/plugin-node-resolve": "16.0.3",
};

/** Rollup's usual configuration: ESM out, node_modules resolved (it does no resolution alone). */
const ROLLUP_CONFIG = `import { nodeResolve } from "@rollup/plugin-node-resolve";
export default {
  input: "src/index.js",
  output: { dir: "rollup", format: "es" },
  plugins: [nodeResolve({ browser: true })],
};
`;

const N = 64, DIM = 64, CONCEPTS = 512;
const INPUT = `new Float32Array(${N * DIM}).map((_, i) => Math.sin(0.37 * i) + 0.05 * (i % 5))`;

/** The app: one forward with `?device=&threads=`, the result on `globalThis.result`. */
const APP = `import { JumpSAE } from "jumpsae";

const query = new URLSearchParams(location.search);
const device = query.get("device"), threads = query.has("threads") ? Number(query.get("threads")) : undefined;
const x = { data: ${INPUT}, shape: [${N}, ${DIM}] };
(async () => {
  const sae = new JumpSAE(${DIM}, ${CONCEPTS}, { seed: 7, device, threads });
  try {
    const { codes, xHat } = await sae.forward(x);
    const backend = await sae.getBackend();
    globalThis.result = { backend: backend.name, threads: backend.threads, codes: [...codes.data], xHat: [...xHat.data] };
  } finally {
    sae.dispose();
  }
})().catch((e) => (globalThis.result = { error: String(e?.stack ?? e) }));
`;

/** A page that loads `src` (a module script where `module`). */
const page = (src: string, module: boolean) =>
  `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>` +
  `<body><script ${module ? 'type="module" ' : ""}src="${src}"></script></body></html>\n`;

interface Result {
  backend?: string;
  threads?: number;
  codes?: number[];
  xHat?: number[];
  error?: string;
}

/** max |a − b| ≤ rel · max |b| elementwise. */
function assertNear(actual: number[], expected: Float32Array, label: string, rel = 1e-5) {
  equal(actual.length, expected.length, label);
  let diff = 0, scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  assert(diff <= rel * scale, `${label}: max diff ${diff} > ${rel} · ${scale}`);
}

/** Opens `root/index.html?query`; resolves to the result and the paths of the scripts fetched. */
async function open(context: BrowserContext, root: string, isolate: boolean, query: string) {
  const controller = new AbortController();
  const server = serveWeb({ port: 0, root, isolate, signal: controller.signal });
  const tab = await context.newPage();
  try {
    const problems: string[] = [], scripts: string[] = [];
    tab.on("console", (m) => m.type() === "error" && problems.push(m.text()));
    tab.on("pageerror", (e) => problems.push(e.message));
    tab.on("response", (r) => {
      const url = new URL(r.url());
      if (url.pathname.endsWith(".js")) scripts.push(`${r.status()} ${url.pathname}`);
    });
    await tab.goto(`http://127.0.0.1:${server.port}/?${query}`);
    await tab.waitForFunction("globalThis.result", undefined, { timeout: 120_000 });
    const result = await tab.evaluate("globalThis.result") as Result;
    const isolated = await tab.evaluate("self.crossOriginIsolated") as boolean;
    return { result, isolated, problems, scripts };
  } finally {
    await tab.close();
    controller.abort();
    await server.finished;
  }
}

Deno.test({
  name: "bundlers: the packed package in esbuild, Vite, webpack and Rollup apps runs in Chromium",
  ignore: !haveChromium || !node,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "jumpsae_bundlers_" });
    try {
      await buildNpm(`${dir}/pkg`, ["--no-test"]);
      const env = { npm_config_update_notifier: "false" };
      const packed = JSON.parse(
        await run("npm", ["pack", "--json", "--pack-destination", dir], { cwd: `${dir}/pkg`, env }),
      )[0];
      const app = `${dir}/app`;
      await Deno.mkdir(`${app}/src`, { recursive: true });
      await Deno.writeTextFile(
        `${app}/package.json`,
        JSON.stringify({ name: "app", private: true, type: "module" }),
      );
      await run("npm", [
        "install",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        `${dir}/${packed.filename}`,
        ...Object.entries(BUNDLERS).map(([name, version]) => `${name}@${version}`),
      ], { cwd: app, env });
      await Deno.writeTextFile(`${app}/src/index.js`, APP);

      // Each bundler's defaults: Vite builds index.html into dist/, webpack src/index.js into
      // dist/main.js; esbuild bundles to an IIFE where asked. Outputs are moved to out/<name>.
      const bin = (name: string) => `${app}/node_modules/.bin/${name}`;
      await Deno.writeTextFile(`${app}/index.html`, page("/src/index.js", true));
      await run(bin("vite"), ["build"], { cwd: app });
      await Deno.rename(`${app}/dist`, `${dir}/vite`);
      await run(bin("webpack"), ["--mode", "production"], { cwd: app });
      await Deno.rename(`${app}/dist`, `${dir}/webpack`);
      await Deno.writeTextFile(`${dir}/webpack/index.html`, page("main.js", false));
      await run(bin("esbuild"), ["src/index.js", "--bundle", `--outdir=${dir}/esbuild`], {
        cwd: app,
      });
      await Deno.writeTextFile(`${dir}/esbuild/index.html`, page("index.js", false));
      await Deno.writeTextFile(`${app}/rollup.config.mjs`, ROLLUP_CONFIG);
      await run(bin("rollup"), ["-c"], { cwd: app });
      await Deno.rename(`${app}/rollup`, `${dir}/rollup`);
      await Deno.writeTextFile(`${dir}/rollup/index.html`, page("index.js", true));

      const sae = new JumpSAE(DIM, CONCEPTS, { seed: 7, device: "cpu", threads: 1 });
      const x = {
        data: new Float32Array(N * DIM).map((_, i) => Math.sin(0.37 * i) + 0.05 * (i % 5)),
        shape: [N, DIM],
      };
      const want = await sae.forward(x);
      sae.dispose();

      // deno-lint-ignore no-import-prefix
      const { chromium } = await import("npm:playwright-core@1.65.1");
      const context = await chromium.launchPersistentContext(`${dir}/profile`, {
        executablePath: CHROMIUM,
        headless: true,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
      });
      const table: string[] = [];
      const probe = await context.newPage();
      const cores = await probe.evaluate("navigator.hardwareConcurrency") as number;
      await probe.close();
      try {
        for (const bundler of ["esbuild", "vite", "webpack", "rollup"]) {
          for (const isolate of [true, false]) {
            await t.step(`${bundler}, ${isolate ? "isolated" : "not isolated"}`, async () => {
              const { result, isolated, problems, scripts } = await open(
                context,
                `${dir}/${bundler}`,
                isolate,
                "device=cpu&threads=2",
              );
              equal(result.error, undefined, result.error);
              // Rollup keeps new URL("./worker.js", import.meta.url) but emits no worker: the
              // browser may log its 404, then the pool uses a Blob. Nothing else is logged.
              const allowed = bundler === "rollup" && isolate ? /404/ : /^$/;
              assert(problems.every((p) => allowed.test(p)), problems.join("\n"));
              equal(isolated, isolate);
              equal(result.backend, "wasm");
              equal(result.threads, isolate ? 2 : 1);
              assertNear(result.xHat!, want.xHat.data, "xHat");
              assertNear(result.codes!, want.codes.data, "codes");
              // Scripts other than the entry (main.js, index.js, assets/index-*.js): the worker.
              const workerFile = scripts.filter((s) => !/\/(main|index)[-.][\w-]*\.?js$/.test(s));
              if (isolate && (bundler === "vite" || bundler === "webpack")) {
                // Vite and webpack recognised the pattern: the worker is a file of the bundle.
                assert(workerFile.length === 1 && workerFile[0].startsWith("200"), scripts.join());
              }
              if (isolate && bundler === "rollup") deepEqual(workerFile, ["404 /worker.js"]);
              table.push(
                `${bundler.padEnd(8)} ${
                  isolate ? "isolated    " : "not isolated"
                } threads ${result.threads}` +
                  ` worker ${
                    isolate
                      ? (workerFile[0]?.startsWith("200") ? workerFile[0].slice(4) : "from a Blob")
                      : "-"
                  }`,
              );
            });
          }
          // device "auto" (no GPU adapter here): the CPU backend on every core the page has.
          await t.step(`${bundler}, isolated, device auto`, async () => {
            const { result, problems } = await open(
              context,
              `${dir}/${bundler}`,
              true,
              "device=auto",
            );
            equal(result.error, undefined, result.error);
            const allowed = bundler === "rollup" ? /404/ : /^$/;
            assert(problems.every((p) => allowed.test(p)), problems.join("\n"));
            equal(result.backend, "wasm");
            equal(result.threads, Math.min(cores, 64));
            assertNear(result.xHat!, want.xHat.data, "xHat");
            table.push(`${bundler.padEnd(8)} auto         threads ${result.threads}`);
          });
        }
      } finally {
        await context.close();
        console.log(table.join("\n"));
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
