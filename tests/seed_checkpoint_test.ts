/**
 * A seed JumpSAE saved straight after the seed's `train_sae` (its dictionary rows not re-normalised
 * yet, as the seed projects them at use) loads with `loadPretrained`, and its eval forward equals
 * the seed's. Fixtures: `scripts/make_seed_checkpoint_fixtures.py` (the seed's own code).
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { JumpSAE, loadPretrained } from "../mod.ts";
import { assertRejects } from "./_io_assert.ts";
import { loadSafetensors, loadSafetensorsMetadata } from "../src/io/safetensors.ts";
import { assertClose } from "./_parity.ts";
import { createBackend, type Device } from "../src/backends/select.ts";

const DIR = new URL("./fixtures/seed_checkpoint/", import.meta.url);

const devices: Device[] = ["reference", "cpu"];
try {
  (await createBackend("webgpu")).dispose();
  devices.push("webgpu");
} catch { /* no WebGPU adapter */ }

for (const device of devices) {
  for (const name of ["default_linear", "mlp_bn_1"]) {
    Deno.test(`seed checkpoint after train_sae loads and matches the seed's eval forward (${device}): ${name}`, async () => {
      const file = await Deno.readFile(new URL(`${name}.safetensors`, DIR));
      const expectedBytes = await Deno.readFile(new URL(`expected.${name}.safetensors`, DIR));
      const expected = loadSafetensors(expectedBytes);
      const meta = loadSafetensorsMetadata(expectedBytes);
      const config = JSON.parse(meta.config);
      ok(Number(meta.max_row_norm_error) > 1e-4, "the fixture's rows are off unit norm");
      const sae = await loadPretrained({ files: { "sae.safetensors": file } }, {
        device,
        config: { kernel: config.kernel, bandwith: config.bandwidth },
      });
      try {
        sae.eval();
        const out = await sae.forward(expected.x);
        assertClose(out.preCodes, expected.pre_codes, "preCodes");
        assertClose(out.codes, expected.codes, "codes");
        assertClose(out.xHat, expected.x_hat, "xHat");
      } finally {
        sae.dispose();
      }
    });
  }
}

Deno.test("a seed state dict with its default (Linear-only) encoder, loaded into a default JumpSAE, names the fix and changes nothing", async () => {
  const dict = loadSafetensors(
    await Deno.readFile(new URL("default_linear.safetensors", DIR)),
  );
  const sae = new JumpSAE(12, 32, { device: "reference", seed: 3 });
  const before = await sae.stateDict();
  await assertRejects(
    () => sae.loadStateDict(dict),
    RangeError,
    "Linear-only encoder (encoder.final_block.0.* only), as the seed library's code builds by default",
  );
  await assertRejects(() => sae.loadStateDict(dict), RangeError, '{ encoderModule: "linear" }');
  await assertRejects(() => sae.loadStateDict(dict), RangeError, "loadPretrained");
  deepStrictEqual(await sae.stateDict(), before);
  sae.dispose();
  const linear = new JumpSAE(12, 32, { device: "reference", encoderModule: "linear" });
  await linear.loadStateDict(dict);
  linear.dispose();
});
