/**
 * Optimizers, gradient clipping and the cosine scheduler against PyTorch trajectories
 * (`tests/fixtures/optim/trajectories.safetensors`, written by `scripts/make_optim_fixtures.py`).
 */
import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { createReferenceBackend } from "../src/backends/reference.ts";
import type { Backend } from "../src/backends/backend.ts";
import { Parameter } from "../src/parameter.ts";
import type { Tensor } from "../src/tensor.ts";
import { loadSafetensors, loadSafetensorsMetadata } from "../src/io/safetensors.ts";
import {
  Adam,
  AdamW,
  clipGradNorm,
  CosineScheduler,
  gradNorm,
  type Optimizer,
  type ParameterSource,
  SGD,
} from "../src/optim/mod.ts";
import { assertClose } from "./_parity.ts";

const bytes = Deno.readFileSync(
  new URL("./fixtures/optim/trajectories.safetensors", import.meta.url),
);
const T = loadSafetensors(bytes);
const META = loadSafetensorsMetadata(bytes);
const STEPS = Number(META.steps);
const CASES: Record<string, Record<string, unknown>> = JSON.parse(META.cases);

/** Two parameters p0 [3, 4], p1 [5] on a reference backend, as a ParameterSource. */
function toyModel(init: Record<string, Tensor>) {
  const be: Backend = createReferenceBackend();
  const params = ["p0", "p1"].map((k) =>
    new Parameter(k, init[k].shape, true, Float32Array.from(init[k].data))
  );
  for (const p of params) p.bind(be);
  const source: ParameterSource = {
    parameters: () => params.map((parameter) => ({ name: parameter.name, parameter })),
    getBackend: () => Promise.resolve(be),
  };
  return { be, params, source };
}

function makeOptimizer(
  source: ParameterSource,
  kind: string,
  kw: Record<string, unknown>,
): Optimizer {
  const common = { lr: kw.lr as number, weightDecay: kw.weight_decay as number | undefined };
  if (kind === "adam" || kind === "adamw") {
    const opts = {
      ...common,
      betas: kw.betas as [number, number] | undefined,
      eps: kw.eps as number | undefined,
    };
    return kind === "adam" ? new Adam(source, opts) : new AdamW(source, opts);
  }
  return new SGD(source, {
    ...common,
    momentum: kw.momentum as number | undefined,
    dampening: kw.dampening as number | undefined,
    nesterov: kw.nesterov as boolean | undefined,
  });
}

const init = { p0: T["init.p0"], p1: T["init.p1"] };

for (const [name, kw] of Object.entries(CASES)) {
  Deno.test(`${kw.kind === "sgd" ? "SGD" : kw.kind === "adam" ? "Adam" : "AdamW"}: PyTorch trajectory ${name}`, async () => {
    const { be, params, source } = toyModel(init);
    const opt = makeOptimizer(source, kw.kind as string, kw);
    for (let s = 0; s < STEPS; s++) {
      await opt.zeroGrad();
      for (const p of params) be.upload(p.grad!, T[`grad.${s}.${p.name}`].data);
      await opt.step();
      for (const p of params) {
        const actual = { data: await be.download(p.value!), shape: p.shape };
        assertClose(actual, T[`${name}.${s}.${p.name}`], `${name} step ${s} ${p.name}`, 2e-6, 1e-7);
      }
    }
    equal(opt.stepCount, STEPS);
  });
}

Deno.test("Adam: stateDict/loadStateDict resumes the same trajectory", async () => {
  const kw = CASES.adam_wd;
  const a = toyModel(init), b = toyModel(init);
  const optA = makeOptimizer(a.source, "adam", kw);
  for (let s = 0; s < 3; s++) {
    for (const p of a.params) a.be.upload(p.grad!, T[`grad.${s}.${p.name}`].data);
    await optA.step();
  }
  // copy parameters and optimizer state into the second model, then continue both
  for (let i = 0; i < 2; i++) {
    b.be.upload(b.params[i].value!, await a.be.download(a.params[i].value!));
  }
  const optB = makeOptimizer(b.source, "adam", { ...kw, lr: 123 });
  await optB.loadStateDict(await optA.stateDict());
  equal(optB.lr, kw.lr);
  equal(optB.stepCount, 3);
  for (let s = 3; s < STEPS; s++) {
    for (const m of [a, b]) {
      for (const p of m.params) m.be.upload(p.grad!, T[`grad.${s}.${p.name}`].data);
    }
    await optA.step();
    await optB.step();
  }
  for (let i = 0; i < 2; i++) {
    deepEqual(await b.be.download(b.params[i].value!), await a.be.download(a.params[i].value!));
  }
  const wrongKind = { ...(await optA.stateDict()), kind: "SGD" };
  await rejects(() => optB.loadStateDict(wrongKind), TypeError);
  const broken = await optA.stateDict();
  delete broken.buffers["p1.exp_avg"];
  await rejects(() => optB.loadStateDict(broken), /Missing optimizer buffer p1.exp_avg/);
});

Deno.test("clipGradNorm(): matches torch.nn.utils.clip_grad_norm_", async () => {
  for (const [name, maxNorm] of [["clip", 0.5], ["noclip", 100]] as const) {
    const { be, params, source } = toyModel(init);
    for (const p of params) {
      be.upload(p.grad!, T[`grad.0.${p.name}`].data.map((v) => Math.fround(v * 3)));
    }
    const total = await clipGradNorm(source, maxNorm);
    ok(Math.abs(total - T[`${name}.total`].data[0]) <= 1e-6 * total, `${name}: ${total}`);
    for (const p of params) {
      assertClose(
        { data: await be.download(p.grad!), shape: p.shape },
        T[`${name}.grad.${p.name}`],
        name,
        1e-6,
        1e-7,
      );
    }
    if (name === "clip") ok(Math.abs((await gradNorm(source)) - 0.5) < 1e-5);
  }
  const { source } = toyModel(init);
  await rejects(() => clipGradNorm(source, 0), /maxNorm must be a finite number > 0, got 0/);
});

Deno.test("clipGradNorm(): a non-finite gradient is reported and left unscaled", async () => {
  const { be, params, source } = toyModel(init);
  be.upload(params[0].grad!, new Float32Array(12).fill(1));
  be.upload(params[1].grad!, Float32Array.from([1, NaN, 1, 1, 1]));
  ok(Number.isNaN(await clipGradNorm(source, 1)));
  deepEqual([...await be.download(params[0].grad!)], new Array(12).fill(1));
});

Deno.test("CosineScheduler: matches the seed library's schedule", () => {
  const scheds: Record<string, number[]> = JSON.parse(META.schedulers);
  for (const [name, [base, final, total, warmup, start]] of Object.entries(scheds)) {
    const opt = { lr: 42 };
    const sched = new CosineScheduler(opt, base, final, total, warmup, start);
    equal(opt.lr, 42); // untouched until the first step, as in the seed
    const expected = T[`${name}.lrs`].data;
    for (let i = 0; i < expected.length; i++) {
      sched.step();
      ok(
        Math.abs(sched.lr - expected[i]) <= 1e-7 * Math.abs(expected[i]) + 1e-12,
        `${name} it ${i + 1}: ${sched.lr} vs ${expected[i]}`,
      );
    }
    equal(sched.iteration, expected.length);
    const resumed = new CosineScheduler({ lr: 0 }, base, final, total, warmup, start);
    resumed.loadStateDict(sched.stateDict());
    equal(resumed.lr, sched.lr);
  }
  // hand values: warm-up 0 → 1 in 3 values (0, 0.5, 1), then 1 + cos decay to 0 over 2 iterations
  const s = new CosineScheduler({ lr: 0 }, 1, 0, 5, 3, 0);
  deepEqual([...s.schedule], [0, 0.5, 1, 1, 0.5]);
  throws(
    () => new CosineScheduler({ lr: 0 }, 1, 0, 2, 3),
    /totalIters must be an integer >= warmupIters \(3\), got 2/,
  );
  // totalIters == warmupIters: a warm-up only, as the seed accepts (also a seed fixture above)
  deepEqual([...new CosineScheduler({ lr: 0 }, 1, 0, 3, 3).schedule], [0, 0.5, 1]);
});

Deno.test("Adam/SGD: bad hyper-parameters are refused", () => {
  const { source } = toyModel(init);
  throws(() => new Adam(source, { lr: -1 }), /lr must be a finite number in \[0, ∞\), got -1/);
  throws(() => new Adam(source, { betas: [0.9, 1] }), /betas must be < 1/);
  throws(() => new SGD(source, { nesterov: true }), /nesterov needs momentum > 0/);
  throws(
    () => new SGD({} as ParameterSource),
    /SGD needs a model with parameters\(\) and getBackend\(\)/,
  );
});
