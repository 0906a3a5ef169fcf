/**
 * The demo page's pieces, in Deno: the synthetic data, R², and the trainer's three paths
 * (`trainSae` + Adam, Adam on the backend, Adam on host arrays through the state dict), which
 * must take the same steps.
 */
import { deepEqual, equal, ok as assert } from "node:assert/strict";
import { JumpSAE, type Tensor } from "../mod.ts";
import { Adam, trainSae } from "../src/train/mod.ts";
import { createSynthetic } from "../examples/web/synthetic.ts";
import {
  createTrainer,
  meanL0,
  r2,
  type StepMetrics,
  type TrainingApi,
} from "../examples/web/trainer.ts";

const OPTIONS = { dim: 8, nbFeatures: 12, active: 2, noise: 0.01, seed: 3 };

Deno.test("createSynthetic(): unit features, seeded batches, the features that are on", () => {
  const a = createSynthetic(OPTIONS), b = createSynthetic(OPTIONS);
  deepEqual(a.features, b.features);
  for (let k = 0; k < 12; k++) {
    const row = a.features.subarray(k * 8, (k + 1) * 8);
    assert(Math.abs(Math.hypot(...row) - 1) < 1e-6, `feature ${k} is not unit`);
  }
  const x = a.sample(64), y = b.sample(64);
  deepEqual(x.x.shape, [64, 8]);
  deepEqual(x.x.data, y.x.data);
  deepEqual(x.on, y.on);
  const meanOn = x.on.reduce((s, on) => s + on.length, 0) / 64;
  assert(meanOn > 1 && meanOn < 3, `mean features on ${meanOn}, expected about 2`);
  // A sample without features is noise only.
  const quiet = x.on.findIndex((on) => on.length === 0);
  if (quiet >= 0) assert(Math.hypot(...x.x.data.subarray(quiet * 8, quiet * 8 + 8)) < 0.1);
});

Deno.test("r2(): 1 for a perfect reconstruction, 0 for the column means, by hand otherwise", () => {
  const x: Tensor = { data: new Float32Array([1, 2, 3, 6]), shape: [2, 2] };
  equal(r2(x, x), 1);
  equal(r2(x, { data: new Float32Array([2, 4, 2, 4]), shape: [2, 2] }), 0);
  // SSE = 1, SST = 1 + 1 + 4 + 4 = 10.
  assert(Math.abs(r2(x, { data: new Float32Array([1, 2, 3, 5]), shape: [2, 2] }) - 0.9) < 1e-12);
});

Deno.test("meanL0(): non-zero codes per row", () => {
  equal(meanL0({ data: new Float32Array([0, 1, 2, 0, 0, 0, -3, 0]), shape: [2, 4] }), 1.5);
});

async function trajectory(api: TrainingApi, steps: number) {
  const data = createSynthetic(OPTIONS);
  const sae = new JumpSAE(8, 16, { seed: 5, device: "reference", bandwith: 5e-2 });
  const trainer = createTrainer(sae, { lr: 1e-2, l0Penalty: 5e-3 }, api);
  const metrics: StepMetrics[] = [];
  await trainer.run(steps, () => data.sample(32).x, (m) => void metrics.push(m));
  // A training-mode forward re-projects the dictionary atoms, as the next step would.
  await sae.forward(data.sample(4).x);
  const state = await sae.stateDict();
  sae.dispose();
  return { mode: trainer.mode, metrics, state };
}

const API = { Adam, trainSae } as unknown as TrainingApi;

Deno.test("createTrainer(): trainSae, backend Adam and host Adam take the same steps", async () => {
  const host = await trajectory({}, 5);
  equal(host.mode, "Adam on host arrays (valueAndGrad)");
  for (const api of [{ Adam: API.Adam }, API]) {
    const other = await trajectory(api, 5);
    equal(other.mode, api.trainSae ? "trainSae + Adam" : "Adam on the backend");
    deepEqual(other.metrics.map((m) => m.step), [1, 2, 3, 4, 5]);
    // Same first loss (same model, same batch), then the same parameters after 5 updates.
    assert(Math.abs(other.metrics[0].loss - host.metrics[0].loss) < 1e-6, other.mode);
    for (const name of ["thresholds", "encoder.final_block.0.weight", "dictionary._weights"]) {
      const a = other.state[name].data, b = host.state[name].data;
      let diff = 0;
      for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
      assert(diff < 1e-5, `${other.mode}, ${name}: max diff ${diff}`);
    }
  }
});

Deno.test("createTrainer(): the loss falls and L0 shrinks on the synthetic data", async () => {
  const { metrics } = await trajectory({}, 150);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(metrics.slice(0, 10).map((m) => m.loss));
  const last = mean(metrics.slice(-10).map((m) => m.loss));
  assert(last < 0.5 * first, `loss ${first} → ${last}`);
  assert(mean(metrics.slice(-10).map((m) => m.l0)) < mean(metrics.slice(0, 10).map((m) => m.l0)));
  deepEqual(metrics.map((m) => m.step), [...Array(150).keys()].map((i) => i + 1));
});
