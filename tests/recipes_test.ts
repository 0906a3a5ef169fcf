/**
 * Training recipes: the input-scale fold is exact, the L0 controller's coefficient moves as
 * documented, a recipe run reaches the target L0 on held-out data, resumes identically, and bad
 * options are refused before anything changes.
 */
import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import {
  canFoldInputScale,
  defaultTargetL0,
  foldInputScale,
  getRecipe,
  JumpSAE,
  l0Controller,
  losses,
  r2Score,
  Random,
  RECIPE_NAMES,
  type Tensor,
  trainSae,
  unitMeanSquareScale,
} from "../mod.ts";
import { withTempDir } from "./_pretrained_helpers.ts";
import { pca, pcaReconstruct } from "../examples/_pca.ts";

function randn(rows: number, dim: number, seed: number, scale = 1): Tensor {
  const rng = new Random(seed);
  return { data: new Float32Array(rows * dim).map(() => scale * rng.normal()), shape: [rows, dim] };
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let m = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return m / (s || 1);
}

/** Sparse non-negative combinations of random unit features, the demo's kind of data. */
function sparseData(rows: number, dim: number, features: number, active: number, seed: number) {
  const rng = new Random(seed);
  const f = new Float32Array(features * dim).map(() => rng.normal());
  for (let i = 0; i < features; i++) {
    const row = f.subarray(i * dim, (i + 1) * dim);
    const n = Math.hypot(...row);
    row.forEach((v, j) => (row[j] = v / n));
  }
  const x = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < features; i++) {
      if (rng.next() >= active / features) continue;
      const a = 0.5 + rng.next();
      for (let d = 0; d < dim; d++) x[r * dim + d] += 3 * a * f[i * dim + d];
    }
  }
  return { data: x, shape: [rows, dim] };
}

for (
  const [encoder, decoderBias] of [
    ["linear", true],
    ["mlp_bn_1", false],
    ["mlp_ln_3", true],
    ["identity", false],
  ] as const
) {
  Deno.test(`foldInputScale() ${encoder}${decoderBias ? " + centred b_dec" : ""}: the folded model on x is the model on s·x, divided by s`, async () => {
    const D = 6, C = encoder === "identity" ? 6 : 10, s = 7.5;
    const sae = new JumpSAE(D, C, {
      seed: 3,
      device: "reference",
      encoderModule: encoder,
      decoderBias,
      centerInput: decoderBias,
    });
    const state = await sae.stateDict();
    state.thresholds.data.fill(Math.log(0.2));
    if (state.b_dec) state.b_dec.data.set([0.5, -1, 2, 0, 1, -0.25]);
    if (state["encoder.final_block.1.running_var"]) {
      state["encoder.final_block.1.running_var"].data.fill(2.5);
      state["encoder.final_block.1.running_mean"].data.fill(0.3);
    }
    await sae.loadStateDict(state);
    sae.eval();
    const x = randn(12, D, 1);
    const sx = { data: x.data.map((v) => v * s), shape: x.shape };
    const before = await sae.forward(sx);
    ok(canFoldInputScale(sae));
    await foldInputScale(sae, s);
    const after = await sae.forward(x);
    const codes = before.codes.data.map((v) => v / s), xHat = before.xHat.data.map((v) => v / s);
    ok(maxRelDiff(after.codes.data, codes) < 1e-6, `codes ${maxRelDiff(after.codes.data, codes)}`);
    ok(maxRelDiff(after.xHat.data, xHat) < 1e-6, `xHat ${maxRelDiff(after.xHat.data, xHat)}`);
    let active = 0;
    for (let i = 0; i < codes.length; i++) {
      equal(after.codes.data[i] !== 0, codes[i] !== 0, `code ${i} keeps its firing`);
      active += codes[i] !== 0 ? 1 : 0;
    }
    ok(active > 0 && active < codes.length, "the test exercises the thresholds");
    sae.dispose();
  });
}

Deno.test("unitMeanSquareScale() gives unit mean square per element, and refuses all-zero data", () => {
  const s = unitMeanSquareScale({ data: Float32Array.of(3, 4, 0, 0), shape: [2, 2] });
  equal(s, 1 / Math.sqrt(25 / 4));
  throws(() => unitMeanSquareScale({ data: new Float32Array(4), shape: [2, 2] }), RangeError);
});

Deno.test("l0Controller() adds λ·L0 and its gradient, then moves log λ by gain·(L0/target − 1)", async () => {
  const D = 4, C = 8, B = 16;
  const sae = new JumpSAE(D, C, { seed: 2, device: "reference", encoderModule: "linear" });
  const x = randn(B, D, 4, 2);
  const plain = await sae.valueAndGrad(x, losses.sum(losses.mse(), losses.l0Penalty(0.01)));
  const controller = l0Controller(2, { initialPenalty: 0.01, gain: 0.5, unit: 1e-3 });
  const controlled = await sae.valueAndGrad(x, losses.sum(losses.mse(), controller));
  ok(Math.abs(plain.loss - controlled.loss) < 1e-6, `${plain.loss} vs ${controlled.loss}`);
  ok(maxRelDiff(controlled.grads.thresholds.data, plain.grads.thresholds.data) < 1e-6);
  let active = 0;
  for (const v of plain.codes.data) active += v !== 0 ? 1 : 0;
  const l0 = active / B;
  equal(controller.lastL0, l0);
  const error = Math.max(-1, Math.min(1, l0 / 2 - 1));
  const u = Math.asinh(0.01 / 1e-3) + (error < 0 ? 4 : 1) * 0.5 * error;
  ok(Math.abs(controller.penalty - 1e-3 * Math.sinh(u)) < 1e-12);
  ok(l0 > 2 ? controller.penalty > 0.01 : controller.penalty < 0.01);
  controller.loadStateDict({ u: -2 });
  ok(Math.abs(controller.stateDict().penalty - 1e-3 * Math.sinh(-2)) < 1e-15, "λ turns negative");
  throws(() => controller.loadStateDict({ u: NaN }), RangeError);
  throws(() => l0Controller(0), RangeError);
  throws(() => l0Controller(4, { gain: NaN }), RangeError);
  sae.dispose();
});

Deno.test("trainSae(model, data, { targetL0 }) reaches the target on held-out rows and reconstructs", async () => {
  const D = 16, C = 48, target = 3;
  const all = sparseData(5120, D, 40, 2.5, 7);
  const rows = (a: number, b: number): Tensor => ({
    data: all.data.subarray(a * D, b * D),
    shape: [b - a, D],
  });
  const train = rows(0, 4096), test = rows(4096, 5120);
  const sae = new JumpSAE(D, C, { seed: 0, device: "cpu", threads: 1, encoderModule: "linear" });
  const logs = await trainSae(sae, train, {
    targetL0: target,
    nbEpochs: 25,
    batchSize: 128,
    verbose: false,
  });
  deepEqual(logs.targetL0, [target]);
  equal(logs.stepLoss.length, 800);
  equal(sae.bandwith, getRecipe("jumpsae").bandwith, "the recipe's pseudo-gradient was set");
  ok(logs.inputScale[0] > 0 && logs.inputScale[0] !== 1);
  sae.eval();
  const { codes, xHat } = await sae.forward(test);
  let active = 0;
  for (const v of codes.data) active += v !== 0 ? 1 : 0;
  const l0 = active / test.shape[0];
  ok(Math.abs(l0 / target - 1) < 0.05, `held-out L0 ${l0}, target ${target}`);
  // better than the best linear code of the same size (PCA with `target` components)
  const r2 = r2Score(test, xHat);
  const pcaR2 = r2Score(test, pcaReconstruct(test, pca(train), target));
  ok(r2 > 0.7 && r2 > pcaR2 + 0.1, `held-out R² ${r2}, PCA(${target}) ${pcaR2}`);
  sae.dispose();
});

Deno.test("trainSae() with a recipe resumes from a checkpoint to the same parameters and λ", async () => {
  await withTempDir(async (dir) => {
    const D = 8, C = 24;
    const x = sparseData(512, D, 16, 2, 11);
    const options = { targetL0: 2, nbEpochs: 3, batchSize: 64, verbose: false } as const;
    const make = () => new JumpSAE(D, C, { seed: 1, device: "reference", encoderModule: "linear" });
    const whole = make();
    const logsWhole = await trainSae(whole, x, options);
    const cut = make();
    const controller = new AbortController();
    await rejects(
      trainSae(cut, x, {
        ...options,
        checkpoint: `${dir}/ckpt.safetensors`,
        signal: controller.signal,
        onStep: (s) => void (s.step === 10 && controller.abort()),
      }),
    );
    const resumed = make();
    const logsResumed = await trainSae(resumed, x, {
      ...options,
      checkpoint: `${dir}/ckpt.safetensors`,
    });
    deepEqual(logsResumed.l0Penalty, logsWhole.l0Penalty);
    deepEqual(logsResumed.stepLoss, logsWhole.stepLoss);
    const a = await whole.stateDict(), b = await resumed.stateDict();
    for (const key of Object.keys(a)) deepEqual(b[key].data, a[key].data, key);
    for (const m of [whole, cut, resumed]) m.dispose();
  });
});

Deno.test("trainSae() recipe options are checked before anything changes", async () => {
  const sae = new JumpSAE(4, 8, { seed: 0, device: "reference" });
  const before = await sae.stateDict();
  const x = randn(64, 4, 0);
  await rejects(trainSae(sae, x, { recipe: "overcomplete", targetL0: 2 }), TypeError);
  await rejects(trainSae(sae, x, { targetL0: 8 }), RangeError);
  await rejects(trainSae(sae, x, { targetL0: -1 }), RangeError);
  await rejects(trainSae(sae, x, { recipe: "nope" as "jumpsae" }), RangeError);
  await rejects(trainSae(sae, x, { lr: 0 }), RangeError);
  const after = await sae.stateDict();
  for (const key of Object.keys(before)) deepEqual(after[key].data, before[key].data, key);
  equal(sae.bandwith, 1e-3);
  sae.dispose();
});

Deno.test("getRecipe() and defaultTargetL0(): every named recipe, √D targets", () => {
  for (const name of RECIPE_NAMES) equal(getRecipe(name).name, name);
  equal(getRecipe("overcomplete").sparsity, 1e-3);
  equal(getRecipe("overcomplete").bandwith, 1e-3);
  throws(() => getRecipe("seed" as "jumpsae"), RangeError);
  equal(defaultTargetL0(64, 256), 8);
  equal(defaultTargetL0(768, 16384), 28);
  equal(defaultTargetL0(64, 16), 4);
});

Deno.test("setPseudoGradient() changes the threshold gradient, not the forward; bad values are refused", async () => {
  const sae = new JumpSAE(4, 6, { seed: 1, device: "reference", encoderModule: "linear" });
  const x = randn(8, 4, 3);
  const state = await sae.stateDict();
  state.thresholds.data.fill(Math.log(0.3));
  await sae.loadStateDict(state);
  const a = await sae.valueAndGrad(x, losses.mseL0(0.1));
  sae.setPseudoGradient({ bandwith: 0.5, kernel: "rectangle" });
  equal(sae.bandwith, 0.5);
  equal(sae.kernel, "rectangle");
  const b = await sae.valueAndGrad(x, losses.mseL0(0.1));
  deepEqual(b.codes.data, a.codes.data);
  ok(maxRelDiff(a.grads.thresholds.data, b.grads.thresholds.data) > 1e-3);
  throws(() => sae.setPseudoGradient({ bandwith: 0 }), RangeError);
  throws(() => sae.setPseudoGradient({ kernel: "box" as "rectangle" }), RangeError);
  throws(() => sae.setPseudoGradient({ bandwidht: 1 } as never), TypeError);
  equal(sae.bandwith, 0.5, "a refused change leaves the model as it was");
  sae.dispose();
});

Deno.test("calibrateThresholds(): one common factor makes the sample's eval-mode L0 the target exactly", async () => {
  const { calibrateThresholds } = await import("../src/train/_thresholds.ts");
  const sae = new JumpSAE(6, 20, { seed: 4, device: "reference", encoderModule: "mlp_bn_1" });
  const x = randn(200, 6, 9, 3);
  await sae.forward(x); // training mode: BatchNorm's running statistics move off their init
  const before = (await sae.stateDict()).thresholds.data.slice();
  const shift = await calibrateThresholds(sae, x, 2.5);
  equal(sae.training, true, "the mode is restored");
  const after = (await sae.stateDict()).thresholds.data;
  for (let c = 0; c < 20; c++) {
    ok(Math.abs(after[c] - before[c] - shift) < 1e-6, "one common shift");
  }
  sae.eval();
  const { codes } = await sae.forward(x);
  let active = 0;
  for (const v of codes.data) active += v !== 0 ? 1 : 0;
  equal(active, 500, "2.5 active codes per row on the 200 rows");
  sae.dispose();
});
