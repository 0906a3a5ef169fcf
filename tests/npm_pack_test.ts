/**
 * The npm tarball: `npm pack` of the built package holds the ESM modules, their declarations,
 * the worker, README and LICENSE and nothing else; it installs offline into an empty Node
 * project, where a 10-line script computes the same `forward` as Deno (CPU backend, 2 threads)
 * a TypeScript consumer type-checks against the shipped `.d.ts` files with `lib: ["es2023"]`,
 * `@types/node` and no DOM, `require("jumpsae")` works (Node ≥ 20.19) or says to use `import()`,
 * and the `jumpsae` bin runs the CLI under Node.
 */
import { deepEqual, equal, ok as assert } from "node:assert/strict";
import { JumpSAE, saveNpy } from "../mod.ts";
import { buildNpm, nodeVersion, run } from "./npm_helpers.ts";
import { bareDenoUses } from "../scripts/build_npm.ts";

const node = nodeVersion();
if (!node) console.warn("npm_pack_test: skipped, `node` is not on the PATH");

const SCRIPT = `import { JumpSAE } from "jumpsae";
const sae = new JumpSAE(24, 40, { seed: 7, device: "cpu", threads: 2 });
const x = { data: new Float32Array(6 * 24).map((_, i) => Math.sin(0.37 * i) + 0.05 * (i % 5)), shape: [6, 24] };
const { preCodes, codes, xHat } = await sae.forward(x);
const backend = (await sae.getBackend()).name;
sae.dispose();
console.log(JSON.stringify({ backend, shapes: [preCodes.shape, codes.shape, xHat.shape],
  preCodes: [...preCodes.data], codes: [...codes.data], xHat: [...xHat.data] }));
`;

const CONSUMER = `import { JumpSAE, losses, type Tensor } from "jumpsae";
const sae: JumpSAE = new JumpSAE(4, 8, { kernel: "gaussian", bandwith: 1e-2 });
const out: Promise<{ preCodes: Tensor; codes: Tensor; xHat: Tensor }> = sae.forward([[1, 2, 3, 4]]);
const loss = losses.mseL0(1e-3);
sae[Symbol.dispose]();
export { loss, out };
`;

/** CommonJS: the library, or (Node < 20.19) an error that shows the import() to write. */
const REQUIRE = `try {
  const { JumpSAE } = require("jumpsae");
  console.log(typeof JumpSAE);
} catch (e) {
  console.log(/await import\\("jumpsae"\\)/.test(e.message) ? "use import()" : e.message);
}
`;

/** @types/node for the consumer's type check (from the registry, or npm's cache). */
const TYPES_NODE = "@types/node@20.19.43";

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

Deno.test({
  name: "npm pack: the tarball installs in an empty Node project and forward matches Deno",
  ignore: !node,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "jumpsae_npm_pack_" });
    try {
      await buildNpm(`${dir}/pkg`, ["--no-test"]);
      const env = { npm_config_cache: `${dir}/cache`, npm_config_update_notifier: "false" };
      const packed = JSON.parse(
        await run("npm", ["pack", "--json", "--pack-destination", dir], { cwd: `${dir}/pkg`, env }),
      )[0];
      const files: string[] = packed.files.map((f: { path: string }) => f.path);
      const entries = ["package.json", "README.md", "LICENSE", "esm/mod.js", "esm/mod.d.ts"];
      for (const want of [...entries, "require.cjs", "bin/jumpsae.js", "esm/_globals.d.ts"]) {
        assert(files.includes(want), `${want} missing from the tarball`);
      }
      if (files.includes("esm/src/backends/wasm/mod.js")) {
        assert(files.includes("esm/src/backends/wasm/worker.js"), "the WASM worker is not packed");
      }
      assert(!files.some((f) => f.includes("tests/") || f.endsWith(".ts") && !f.endsWith(".d.ts")));
      for (const f of files.filter((f) => f.startsWith("esm/") && f.endsWith(".js"))) {
        assert(files.includes(f.replace(/\.js$/, ".d.ts")), `${f} has no .d.ts`);
      }
      // The package's own README: imports from "jumpsae", no Deno tasks.
      const readme = await Deno.readTextFile(`${dir}/pkg/README.md`);
      assert(readme.includes('from "jumpsae"') && !readme.includes("./mod.ts"), "npm README");
      // No module of the package touches the global `Deno` (runtime differences: src/platform/).
      for (const f of files.filter((f) => f.endsWith(".js"))) {
        deepEqual(bareDenoUses(await Deno.readTextFile(`${dir}/pkg/${f}`)), [], f);
      }
      console.log(
        `${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${files.length} files`,
      );

      await Deno.mkdir(`${dir}/app`);
      await Deno.writeTextFile(
        `${dir}/app/package.json`,
        JSON.stringify({ name: "app", private: true, type: "module" }),
      );
      await run("npm", [
        "install",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        `${dir}/${packed.filename}`,
        TYPES_NODE,
      ], { cwd: `${dir}/app`, env: { npm_config_update_notifier: "false" } });
      await Deno.writeTextFile(`${dir}/app/run.mjs`, SCRIPT);
      const remote = JSON.parse(await run("node", ["run.mjs"], { cwd: `${dir}/app` }));

      const sae = new JumpSAE(24, 40, { seed: 7, device: "cpu", threads: 2 });
      const x = {
        data: new Float32Array(6 * 24).map((_, i) => Math.sin(0.37 * i) + 0.05 * (i % 5)),
        shape: [6, 24],
      };
      const local = await sae.forward(x);
      const backend = (await sae.getBackend()).name;
      sae.dispose();
      equal(remote.backend, backend);
      deepEqual(remote.shapes, [[6, 40], [6, 40], [6, 24]]);
      // Same kernels, but Deno may run the relaxed-SIMD build where Node 20 runs the plain one.
      assertNear(remote.preCodes, local.preCodes.data, "preCodes");
      assertNear(remote.xHat, local.xHat.data, "xHat");
      // Codes: the same ones are on (none sits within float error of its threshold here).
      deepEqual(
        remote.codes.map((v: number) => v !== 0),
        [...local.codes.data].map((v) => v !== 0),
      );
      assertNear(remote.codes, local.codes.data, "codes");

      // A TypeScript consumer resolves the package's types through `exports`; they check cleanly
      // as `tsc --noEmit --strict --lib es2023 --types node` (no DOM, no skipLibCheck), and with
      // the DOM lib too (a browser project).
      await Deno.writeTextFile(`${dir}/app/check.ts`, CONSUMER);
      // deno-lint-ignore no-import-prefix
      const { default: ts } = await import("npm:typescript@5.9.3");
      for (
        const [lib, types] of [[["lib.es2023.d.ts"], ["node"]], [[
          "lib.es2022.d.ts",
          "lib.dom.d.ts",
        ], []]]
      ) {
        const program = ts.createProgram([`${dir}/app/check.ts`], {
          module: ts.ModuleKind.NodeNext,
          moduleResolution: ts.ModuleResolutionKind.NodeNext,
          target: ts.ScriptTarget.ES2022,
          lib,
          types,
          typeRoots: [`${dir}/app/node_modules/@types`],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        });
        const diagnostics = ts.getPreEmitDiagnostics(program).map((d) =>
          `${d.file?.fileName ?? ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`
        );
        deepEqual(diagnostics, [], `lib ${lib}, types ${types}`);
      }

      // A Node script that never disposes its 2-thread model exits (the workers are unref'd).
      await Deno.writeTextFile(`${dir}/app/forget.mjs`, SCRIPT.replace("sae.dispose();", ""));
      const forget = await new Deno.Command("node", {
        args: ["forget.mjs"],
        cwd: `${dir}/app`,
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      }).output();
      equal(forget.code, 0, new TextDecoder().decode(forget.stderr));
      equal(JSON.parse(new TextDecoder().decode(forget.stdout)).backend, "wasm");

      // CommonJS.
      await Deno.writeTextFile(`${dir}/app/require.cjs`, REQUIRE);
      const required = (await run("node", ["require.cjs"], { cwd: `${dir}/app` })).trim();
      assert(["function", "use import()"].includes(required), required);

      // The bin: the CLI under Node, from the app's folder (relative paths are the caller's).
      const bin = `${dir}/app/node_modules/.bin/jumpsae`;
      assert((await run(bin, ["--help"], { cwd: `${dir}/app` })).includes("jumpsae <command>"));
      const acts = new Float32Array(256 * 8).map((_, i) => Math.sin(0.7 * i) * (i % 3));
      await Deno.writeFile(`${dir}/app/acts.npy`, saveNpy({ data: acts, shape: [256, 8] }));
      await run(bin, [
        "train",
        "acts.npy",
        "-o",
        "sae.safetensors",
        "--concepts",
        "16",
        "--epochs",
        "1",
        "--encoder",
        "linear",
      ], { cwd: `${dir}/app` });
      const inspected = await run(bin, ["inspect", "sae.safetensors"], { cwd: `${dir}/app` });
      assert(/16/.test(inspected), inspected);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
