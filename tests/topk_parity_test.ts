/**
 * Parity of `TopKSAE` and `BatchTopKSAE` with the seed's own classes
 * (`scripts/make_topk_fixtures.py`) on every backend: outputs, loss, every gradient, the state
 * after the step and BatchTopK's running threshold.
 */
import { ok } from "node:assert/strict";
import { BatchTopKSAE, losses, type Tensor, TopKSAE } from "../mod.ts";
import { createBackend, type Device } from "../src/backends/select.ts";
import { loadSafetensors, loadSafetensorsMetadata } from "../src/io/safetensors.ts";
import { assertClose } from "./_parity.ts";

const DIR = new URL("./fixtures/topk/", import.meta.url);
const NAMES = [...Deno.readDirSync(DIR)].map((e) => e.name.replace(".safetensors", "")).sort();

function prefixed(t: Record<string, Tensor>, prefix: string): Record<string, Tensor> {
  return Object.fromEntries(
    Object.entries(t).filter(([k]) => k.startsWith(prefix)).map((
      [k, v],
    ) => [k.slice(prefix.length), v]),
  );
}

async function replay(name: string, device: Device, options: Record<string, unknown>) {
  const bytes = Deno.readFileSync(new URL(`${name}.safetensors`, DIR));
  const t = loadSafetensors(bytes);
  const c = JSON.parse(loadSafetensorsMetadata(bytes).config);
  const common = { encoderModule: c.encoder, device, ...options };
  const sae = c.class === "TopKSAE"
    ? new TopKSAE(c.dim, c.nb_concepts, { topK: c.top_k, ...common })
    : new BatchTopKSAE(c.dim, c.nb_concepts, {
      topK: c.top_k,
      thresholdMomentum: c.threshold_momentum,
      ...common,
    });
  try {
    await sae.loadStateDict(prefixed(t, "state."));
    for (let i = 0; i < c.warmup; i++) {
      await sae.forward(t[`warmup.x.${i}`]);
      const got = (sae as BatchTopKSAE).runningThreshold!;
      const want = t[`warmup.running_threshold.${i}`].data[0];
      ok(
        Math.abs(got - want) <= 1e-5 * Math.abs(want),
        `running threshold ${i}: ${got} vs ${want}`,
      );
    }
    if (c.mode === "eval") sae.eval();
    const loss = c.loss === "mse" ? losses.mse() : losses.topKAuxiliaryLoss(0.3);
    const out = await sae.valueAndGrad(t["input.x"], loss);
    assertClose(out.preCodes, t["out.pre_codes"], "preCodes");
    assertClose(out.codes, t["out.codes"], "codes");
    assertClose(out.xHat, t["out.x_hat"], "xHat");
    assertClose({ data: Float32Array.of(out.loss), shape: [] }, t.loss, "loss");
    const grads = prefixed(t, "grad.");
    ok(
      JSON.stringify(Object.keys(out.grads).sort()) === JSON.stringify(Object.keys(grads).sort()),
      `gradient keys ${Object.keys(out.grads)} vs ${Object.keys(grads)}`,
    );
    for (const [k, g] of Object.entries(grads)) {
      assertClose(out.grads[k], g, `grad ${k}`, 1e-5, 1e-7);
    }
    const after = await sae.stateDict(), want = prefixed(t, "after.");
    ok(
      JSON.stringify(Object.keys(after)) === JSON.stringify(Object.keys(want)),
      "state keys/order",
    );
    for (const [k, v] of Object.entries(want)) assertClose(after[k], v, `after ${k}`);
    if (c.class === "BatchTopKSAE") {
      const got = (sae as BatchTopKSAE).runningThreshold!, w = t.running_threshold.data[0];
      ok(Math.abs(got - w) <= 1e-5 * Math.abs(w), `running threshold ${got} vs ${w}`);
    }
    // forward() gives the same outputs as valueAndGrad's forward in eval mode
    if (c.mode === "eval") {
      const f = await sae.forward(t["input.x"]);
      assertClose(f.codes, t["out.codes"], "forward codes");
      assertClose(f.xHat, t["out.x_hat"], "forward xHat");
    }
  } finally {
    sae.dispose();
  }
}

const backends: [Device, string, Record<string, unknown>][] = [
  ["reference", "reference", {}],
  ["cpu", "wasm plain, 2 threads", { simd: "plain", threads: 2 }],
  ["cpu", "wasm, 1 thread", { threads: 1 }],
];
try {
  (await createBackend("webgpu")).dispose();
  backends.push(["webgpu", "webgpu", {}]);
} catch { /* no WebGPU adapter here */ }

for (const [device, label, options] of backends) {
  for (const name of NAMES) {
    Deno.test(`TopK parity with the seed (${label}): ${name}`, () => replay(name, device, options));
  }
}
