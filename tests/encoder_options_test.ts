/**
 * `mlpEncoder` (the seed's MLPEncoder options: hiddenDim, residual, hiddenActivation, norm) and
 * `untiedEncoder` (the seed's `sae.untied(bias)`) in a JumpSAE against the seed's own classes (`scripts/make_encoder_fixtures.py`), on every backend.
 */
import { ok, throws } from "node:assert/strict";
import { JumpSAE, losses, mlpEncoder, type Tensor, untiedEncoder } from "../mod.ts";
import { createBackend, type Device } from "../src/backends/select.ts";
import { loadSafetensors, loadSafetensorsMetadata } from "../src/io/safetensors.ts";
import { assertClose } from "./_parity.ts";

const DIR = new URL("./fixtures/encoders/", import.meta.url);
const NAMES = [...Deno.readDirSync(DIR)].map((e) => e.name.replace(".safetensors", "")).sort();

const prefixed = (t: Record<string, Tensor>, p: string) =>
  Object.fromEntries(
    Object.entries(t).filter(([k]) => k.startsWith(p)).map(([k, v]) => [k.slice(p.length), v]),
  );

async function replay(name: string, device: Device) {
  const bytes = Deno.readFileSync(new URL(`${name}.safetensors`, DIR));
  const t = loadSafetensors(bytes), meta = loadSafetensorsMetadata(bytes);
  const c = JSON.parse(meta.config), o = JSON.parse(meta.options);
  const sae = new JumpSAE(c.dim, c.nb_concepts, {
    kernel: c.kernel,
    bandwith: c.bandwidth,
    encoderModule: o.untied
      ? untiedEncoder(t["state.encoder.weight"], { bias: o.bias })
      : mlpEncoder(c.dim, c.nb_concepts, o),
    device,
  });
  try {
    await sae.loadStateDict(prefixed(t, "state."));
    const out = await sae.valueAndGrad(t["input.x"], losses.mseL1(c.penalty));
    assertClose(out.preCodes, t["out.pre_codes"], "preCodes");
    assertClose(out.codes, t["out.codes"], "codes");
    assertClose(out.xHat, t["out.x_hat"], "xHat");
    assertClose({ data: Float32Array.of(out.loss), shape: [] }, t.loss, "loss");
    const grads = prefixed(t, "grad.");
    ok(JSON.stringify(Object.keys(out.grads).sort()) === JSON.stringify(Object.keys(grads).sort()));
    for (const [k, g] of Object.entries(grads)) {
      assertClose(out.grads[k], g, `grad ${k}`, 1e-5, 1e-6);
    }
    const after = await sae.stateDict(), want = prefixed(t, "after.");
    ok(
      JSON.stringify(Object.keys(after)) === JSON.stringify(Object.keys(want)),
      "state keys/order",
    );
    for (const [k, v] of Object.entries(want)) assertClose(after[k], v, `after ${k}`);
  } finally {
    sae.dispose();
  }
}

const devices: Device[] = ["reference", "cpu"];
try {
  (await createBackend("webgpu")).dispose();
  devices.push("webgpu");
} catch { /* no WebGPU adapter */ }
for (const device of devices) {
  for (const name of NAMES) {
    Deno.test(`mlpEncoder parity with the seed's MLPEncoder (${device}): ${name}`, () =>
      replay(name, device));
  }
}

Deno.test("mlpEncoder: bad options are refused, naming the argument", () => {
  throws(() => mlpEncoder(8, 16, { hiddenDim: 0 }), /hiddenDim must be an integer >= 1, got 0/);
  throws(() => mlpEncoder(8, 16, { nbBlocks: -1 }), /nbBlocks must be an integer >= 0, got -1/);
  throws(
    () => mlpEncoder(8, 16, { norm: "group" as never }),
    /norm must be "batch", "layer" or "none"/,
  );
  throws(
    () => mlpEncoder(8, 16, { hiddenActivation: "gelu" as never }),
    /hiddenActivation must be "relu" or "identity", got gelu/,
  );
  throws(() => mlpEncoder(8, 16, { width: 3 } as never), /Unknown option width of mlpEncoder/);
  // the default options are the registered mlp_bn_1 (same keys)
  const a = new JumpSAE(8, 16, { encoderModule: mlpEncoder(8, 16), device: "reference" });
  const b = new JumpSAE(8, 16, { device: "reference" });
  ok(
    JSON.stringify(a.parameters().map((p) => p.name)) ===
      JSON.stringify(b.parameters().map((p) => p.name)),
  );
  a.dispose();
  b.dispose();
  throws(() => untiedEncoder([1, 2]), /dictionary must have shape \[nbConcepts, dim\], got \[2\]/);
});
