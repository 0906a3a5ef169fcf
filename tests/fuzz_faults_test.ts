/** Faults during training and use: skipped steps change nothing, a diverging step is undone. */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { Adam, JumpSAE, losses, Random, type Tensor, trainSae } from "../mod.ts";

const D = 6, C = 12;

function batch(seed: number, rows = 8): Tensor {
  const rng = new Random(seed);
  return { data: Float32Array.from({ length: rows * D }, () => rng.normal()), shape: [rows, D] };
}

function setup() {
  const sae = new JumpSAE(D, C, { seed: 4, device: "reference", bandwith: 0.1 });
  return { sae, optimizer: new Adam(sae, { lr: 1e-2 }) };
}

async function state(sae: JumpSAE, optimizer: Adam) {
  const dict = await sae.stateDict();
  const opt = await optimizer.stateDict();
  return {
    model: Object.fromEntries(Object.entries(dict).map(([k, v]) => [k, [...v.data]])),
    optimizer: { ...opt, buffers: Object.entries(opt.buffers).map(([k, v]) => [k, [...v.data]]) },
  };
}

Deno.test("trainSae(): a skipped step (NaN batch, non-finite loss) changes nothing and is counted", async () => {
  const nan = batch(3);
  nan.data[5] = NaN;
  const huge = batch(4);
  huge.data.fill(1e30); // finite, but the loss overflows to Infinity
  const run = async (batches: Tensor[]) => {
    const { sae, optimizer } = setup();
    try {
      const steps: boolean[] = [];
      const logs = await trainSae(sae, batches, losses.mse(), optimizer, {
        verbose: false,
        nbEpochs: 1,
        onStep: (s) => void steps.push(s.skipped),
      });
      return { logs, steps, state: await state(sae, optimizer) };
    } finally {
      sae.dispose();
    }
  };
  const clean = await run([batch(1), batch(2)]);
  const faulty = await run([batch(1), nan, huge, batch(2)]);
  deepEqual(faulty.steps, [false, true, true, false]);
  deepEqual(faulty.logs.skippedSteps, [2]);
  // parameters, BatchNorm running statistics, the dictionary, Adam's moments and step: identical
  deepEqual(faulty.state, clean.state);
  equal(faulty.state.optimizer.step, 2);
});

Deno.test("trainSae(): a step that makes the model non-finite is an error naming it, and is undone", async () => {
  const { sae } = setup();
  try {
    const before = await sae.stateDict();
    const optimizer = new Adam(sae, { lr: 1e30 });
    await rejects(
      () =>
        trainSae(sae, [batch(1), batch(2)], losses.mse(), optimizer, {
          verbose: false,
          nbEpochs: 1,
        }),
      (e: Error) =>
        e instanceof RangeError &&
        /^step 0 \(epoch 1, batch 0\) made .* non-finite with lr 1e\+30/.test(e.message),
    );
    const after = await sae.stateDict();
    for (const key of Object.keys(before)) deepEqual(after[key].data, before[key].data, key);
    ok(after["thresholds"].data.every(Number.isFinite));
  } finally {
    sae.dispose();
  }
});
