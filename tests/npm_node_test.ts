/**
 * The Deno test files of `NODE_TESTS` (PyTorch parity, gradients, kernels, the model, safetensors,
 * npy, npz), transpiled by `scripts/build_npm.ts` with the Deno shim, pass under `node --test`
 * against the built npm package.
 */
import { equal, ok as assert } from "node:assert/strict";
import { buildNpm, nodeVersion } from "./npm_helpers.ts";
import { NODE_TESTS } from "./node/node_tests.ts";

const node = nodeVersion();
if (!node) console.warn("npm_node_test: skipped, `node` is not on the PATH");

Deno.test({
  name: "build_npm: the test suite passes under node --test against the built package",
  ignore: !node,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "jumpsae_npm_node_" });
    try {
      await buildNpm(out, ["--no-run"]);
      const files = NODE_TESTS.map((t) => `esm/${t.replace(/\.ts$/, ".js")}`);
      const { code, stdout } = await new Deno.Command("node", {
        args: ["--test", "--test-reporter=tap", "--test-concurrency=2", ...files],
        cwd: out,
        stdout: "piped",
        stderr: "inherit",
      }).output();
      const tap = new TextDecoder().decode(stdout);
      const count = (key: string) => Number(tap.match(new RegExp(`^# ${key} (\\d+)$`, "m"))?.[1]);
      const failures = tap.split("\n").filter((l) => /^\s*not ok /.test(l));
      console.log(
        `node ${node}: ${count("tests")} tests, ${count("pass")} passed, ${
          count("fail")
        } failed, ` +
          `${count("skipped")} skipped`,
      );
      equal(code, 0, `node --test exited with ${code}:\n${failures.join("\n")}`);
      equal(count("fail"), 0);
      equal(count("cancelled"), 0);
      assert(count("pass") >= 90, `expected at least 90 passing tests, got ${count("pass")}`);
      // Every PyTorch fixture replayed, and the safetensors reader/writer exercised.
      const parity = tap.match(/^ok \d+ - parity with PyTorch \(reference backend\): /gm) ?? [];
      assert(parity.length >= 28, `expected 28 parity tests, got ${parity.length}`);
      const safetensors = tap.match(/^ok \d+ - (load|save)Safetensors\(\)/gm) ?? [];
      assert(safetensors.length >= 7, `expected 7 safetensors tests, got ${safetensors.length}`);
      // The WASM backend with 2 worker_threads loaded from the built worker.js.
      assert(/^ok \d+ - wasm plain 2 threads: conformance/m.test(tap), "wasm 2-thread conformance");
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
