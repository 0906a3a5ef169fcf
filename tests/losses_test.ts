/**
 * Every loss: its formula's gradient against float64 finite differences on host arrays, the
 * backend version against the formula, and end-to-end finite differences through the model.
 */
import { deepEqual, ok, rejects, throws } from "node:assert/strict";
import {
  dictionaryL2Term,
  hoyerTerm,
  kappa4Term,
  l1Term,
  mseTerm,
  reanimationTerm,
  targetL0Outer,
  type TermResult,
  topKAuxTerm,
  topKIndices,
} from "../src/_loss_math.ts";
import { createReferenceBackend } from "../src/backends/reference.ts";
import type { DeviceBuffer } from "../src/backends/backend.ts";
import {
  JumpSAE,
  kernelValue,
  type Loss,
  type LossContext,
  losses,
  pseudoGradientScale,
  Random,
} from "../mod.ts";

const B = 5, D = 4, C = 8;

function randn(n: number, rng: Random, scale = 1, shift = 0): Float64Array {
  return Float64Array.from({ length: n }, () => scale * rng.normal() + shift);
}

/** Central differences (float64) of `f` w.r.t. every entry of `arr`, compared with `grad`. */
function checkFd(
  name: string,
  arr: Float64Array,
  grad: Float64Array | undefined,
  f: () => number,
  h = 1e-6,
) {
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    arr[i] = v + h;
    const up = f();
    arr[i] = v - h;
    const down = f();
    arr[i] = v;
    const fd = (up - down) / (2 * h);
    const g = grad ? grad[i] : 0;
    ok(
      Math.abs(fd - g) <= 1e-6 * Math.max(1, Math.abs(fd)),
      `${name}[${i}]: finite difference ${fd} vs gradient ${g}`,
    );
  }
}

function inputs(seed: number) {
  const rng = new Random(seed);
  const x = randn(B * D, rng), xHat = randn(B * D, rng);
  const pre = randn(B * C, rng, 1, 0.3);
  // codes: JumpReLU of pre with threshold 0.4 (so some are exactly 0 and some equal pre)
  const codes = Float64Array.from(pre, (p) => (p >= 0.4 ? p : 0));
  const dict = randn(C * D, rng, 0.5);
  return { x, xHat, pre, codes, dict };
}

/**
 * Inputs where every row has more than C/2 strictly positive relu(pre) − codes: the top-k set is
 * then stable under small perturbations (at ties with 0 the AuxK loss has a kink).
 */
function topKInputs(seed: number) {
  const t = inputs(seed);
  const rng = new Random(seed + 100);
  for (let r = 0; r < B; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      t.pre[i] = c < 6 ? 0.1 + Math.abs(rng.normal()) : -0.5;
      t.codes[i] = c === r % 6 ? t.pre[i] : 0; // one fired code per row, p = 0 there
    }
  }
  return t;
}

Deno.test("loss formulas: gradients match float64 finite differences", () => {
  const t = inputs(1);
  const k = topKInputs(1);
  const cases: [string, () => TermResult, [string, Float64Array, keyof TermResult][]][] = [
    ["mse", () => mseTerm(t.x, t.xHat), [["xHat", t.xHat, "dXHat"]]],
    ["l1", () => l1Term(t.codes, 0.3), [["codes", t.codes, "dCodes"]]],
    ["hoyer", () => hoyerTerm(t.codes, B, C, 0.7), [["codes", t.codes, "dCodes"]]],
    ["kappa4", () => kappa4Term(t.codes, B, C, 0.7), [["codes", t.codes, "dCodes"]]],
    ["dictionaryL2", () => dictionaryL2Term(t.dict, 0.4), [["dictionary", t.dict, "dDictionary"]]],
    ["reanimation", () => reanimationTerm(t.pre, t.codes, B, C, 0.2), [[
      "preCodes",
      t.pre,
      "dPreCodes",
    ]]],
    ["topKAux", () => topKAuxTerm(k.x, k.xHat, k.pre, k.codes, k.dict, B, D, C, 0.3), [
      ["xHat", k.xHat, "dXHat"],
      ["preCodes", k.pre, "dPreCodes"],
      ["codes", k.codes, "dCodes"],
      ["dictionary", k.dict, "dDictionary"],
    ]],
  ];
  for (const [name, f, wrt] of cases) {
    const r = f();
    for (const [label, arr, key] of wrt) {
      // l1 has a kink at 0: skip entries that are exactly 0
      if (name === "l1") {
        const g = r[key] as Float64Array;
        arr.forEach((v, i) => {
          if (v !== 0) ok(Math.abs(g[i] - 0.3 * Math.sign(v) / arr.length) < 1e-15);
        });
        continue;
      }
      checkFd(`${name} d/d${label}`, arr, r[key] as Float64Array, () => f().value);
    }
  }
});

Deno.test("loss formulas: hand values", () => {
  // hoyer of a one-hot row ≈ 1, kappa4 of [1, 1] = 2/(4 + 1e-6)
  ok(Math.abs(hoyerTerm([0, 3, 0, 0], 1, 4, 1).value - (2 - 3 / (3 + 1e-6))) < 1e-12);
  ok(Math.abs(kappa4Term([1, 1], 1, 2, 2).value - 2 * 2 / (4 + 1e-6)) < 1e-12);
  // an all-zero row: value √C/(√C − 1)·penalty/B, gradient 0 (PyTorch: NaN)
  const z = hoyerTerm([0, 0, 0, 0], 1, 4, 1);
  ok(Math.abs(z.value - 2) < 1e-12);
  deepEqual([...z.dCodes!], [0, 0, 0, 0]);
  // reanimation: codes [[0, 1], [0, 0]] → column 0 dead; pre [[2, 5], [−1, 7]] → −(2 − 1)/(1 + 1e-6)
  ok(
    Math.abs(reanimationTerm([2, 5, -1, 7], [0, 1, 0, 0], 2, 2, 1).value + 1 / (1 + 1e-6)) < 1e-12,
  );
  deepEqual(topKIndices([0.5, 2, 2, -1], 2), [1, 2]);
  // target L0: l0 = 30, target 20, penalty 2 → 2·0.25 = 0.5, d/dl0 = 2·2·0.5/20
  deepEqual(targetL0Outer(30, 20, 2), { value: 0.5, dL0: 0.1 });
});

/** A LossContext on the reference backend from host arrays (float32). */
function context(t: ReturnType<typeof inputs>, logThreshold: number[]) {
  const be = createReferenceBackend();
  const buf = (a: ArrayLike<number>) => {
    const b = be.alloc(a.length);
    be.upload(b, Float32Array.from(a));
    return b;
  };
  const ctx: LossContext = {
    backend: be,
    rows: B,
    dim: D,
    concepts: C,
    x: buf(t.x),
    xHat: buf(t.xHat),
    preCodes: buf(t.pre),
    codes: buf(t.codes),
    dictionary: buf(t.dict),
    logThreshold: buf(logThreshold),
    pseudoGradient: { kernel: "rectangle", bandwidth: 0.5, mode: "overcomplete" },
    loss: be.alloc(1),
    dXHat: be.alloc(B * D),
    dCodes: be.alloc(B * C),
    dPreCodes: be.alloc(B * C),
    dDictionary: be.alloc(C * D),
    dLogThreshold: be.alloc(C),
  };
  const read = async (b: DeviceBuffer) => Float64Array.from(await be.download(b));
  return { be, ctx, read };
}

function expectClose(
  name: string,
  actual: Float64Array,
  expected: Float64Array | undefined,
  tol = 1e-6,
) {
  for (let i = 0; i < actual.length; i++) {
    const e = expected ? expected[i] : 0;
    ok(
      Math.abs(actual[i] - e) <= tol * Math.max(1, Math.abs(e)),
      `${name}[${i}]: ${actual[i]} vs ${e}`,
    );
  }
}

function addTerms(...terms: TermResult[]): TermResult {
  const sum = (k: keyof TermResult, n: number) => {
    const out = new Float64Array(n);
    for (const t of terms) (t[k] as Float64Array | undefined)?.forEach((v, i) => out[i] += v);
    return out;
  };
  return {
    value: terms.reduce((s, t) => s + t.value, 0),
    dXHat: sum("dXHat", B * D),
    dCodes: sum("dCodes", B * C),
    dPreCodes: sum("dPreCodes", B * C),
    dDictionary: sum("dDictionary", C * D),
  };
}

Deno.test("losses on the backend: value and every gradient buffer match the formulas", async () => {
  const t = inputs(2);
  const f32 = (a: Float64Array) => Float64Array.from(Float32Array.from(a));
  const t32 = {
    x: f32(t.x),
    xHat: f32(t.xHat),
    pre: f32(t.pre),
    codes: f32(t.codes),
    dict: f32(t.dict),
  };
  const cases: [Loss, TermResult][] = [
    [losses.mse(), mseTerm(t32.x, t32.xHat)],
    [ // the seed's mse_l1 sums |z| over the batch: l1Term's mean times the number of entries
      losses.mseL1(0.3),
      addTerms(mseTerm(t32.x, t32.xHat), l1Term(t32.codes, 0.3 * t32.codes.length)),
    ],
    [losses.mseHoyer(0.7), addTerms(mseTerm(t32.x, t32.xHat), hoyerTerm(t32.codes, B, C, 0.7))],
    [losses.mseKappa4(0.7), addTerms(mseTerm(t32.x, t32.xHat), kappa4Term(t32.codes, B, C, 0.7))],
    [
      losses.mseElastic(0.25),
      addTerms(mseTerm(t32.x, t32.xHat), l1Term(t32.codes, 0.75), dictionaryL2Term(t32.dict, 0.25)),
    ],
    [
      losses.topKAuxiliaryLoss(0.3),
      addTerms(
        mseTerm(t32.x, t32.xHat),
        topKAuxTerm(t32.x, t32.xHat, t32.pre, t32.codes, t32.dict, B, D, C, 0.3),
      ),
    ],
    [losses.reanimationRegularizer(0.2), reanimationTerm(t32.pre, t32.codes, B, C, 0.2)],
  ];
  for (const [loss, expected] of cases) {
    const { ctx, read } = context(t, new Array(C).fill(Math.log(0.4)));
    await loss.accumulate(ctx);
    expectClose(`${loss.name} value`, await read(ctx.loss), Float64Array.of(expected.value), 1e-5);
    expectClose(`${loss.name} dXHat`, await read(ctx.dXHat), expected.dXHat, 1e-5);
    expectClose(`${loss.name} dCodes`, await read(ctx.dCodes), expected.dCodes, 1e-5);
    expectClose(
      `${loss.name} dDictionary`,
      await read(ctx.dDictionary),
      expected.dDictionary,
      1e-5,
    );
    if (loss.touchesPreCodes) {
      expectClose(`${loss.name} dPreCodes`, await read(ctx.dPreCodes), expected.dPreCodes, 1e-5);
    } else {ok(
        !(expected.dPreCodes ?? []).some((v) => v !== 0),
        `${loss.name} needs touchesPreCodes`,
      );}
  }
});

Deno.test("l0Penalty(), targetL0(), sparsityWarmup(), scheduled(): values and threshold pseudo-gradients", async () => {
  const t = inputs(3);
  const logT = Array.from({ length: C }, (_, c) => Math.log(0.2 + 0.1 * c));
  const pg = { kernel: "rectangle" as const, bandwidth: 0.5, mode: "overcomplete" as const };
  // formula of the Heaviside L0 and its pseudo-gradient, per concept
  let l0 = 0;
  const dL0 = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const theta = Math.fround(Math.exp(logT[c]));
    for (let r = 0; r < B; r++) {
      const v = Math.max(Math.fround(t.pre[r * C + c]), 0);
      if (v > theta) l0 += 1 / B;
      dL0[c] += theta * -pseudoGradientScale(pg.kernel, pg.bandwidth, pg.mode) *
        kernelValue(pg.kernel, Math.fround(v - theta), pg.bandwidth) / B;
    }
  }
  const run = async (loss: Loss) => {
    const { ctx, read } = context(t, logT);
    await loss.accumulate(ctx);
    return { value: (await read(ctx.loss))[0], dt: await read(ctx.dLogThreshold) };
  };
  const pen = await run(losses.l0Penalty(0.5));
  ok(Math.abs(pen.value - 0.5 * l0) < 1e-5);
  expectClose("l0Penalty dThresholds", pen.dt, dL0.map((v) => 0.5 * v), 1e-5);
  // target 3, penalty 2: value 2(l0/3 − 1)², gradient 2·2(l0/3 − 1)/3 · dL0
  const tgt = await run(losses.targetL0(3, 2));
  const outer = targetL0Outer(l0, 3, 2);
  ok(Math.abs(tgt.value - outer.value) < 1e-5, `${tgt.value} vs ${outer.value}`);
  expectClose("targetL0 dThresholds", tgt.dt, dL0.map((v) => outer.dL0 * v), 1e-5);
  // warm-up: the penalty ramps as step/warmupSteps; mse untouched
  const mseValue = mseTerm(Float32Array.from(t.x), Float32Array.from(t.xHat)).value;
  const warm = losses.sparsityWarmup(losses.mse(), losses.l0Penalty(0.5), 4);
  for (const [step, factor] of [[0, 0], [1, 0.25], [3, 0.75], [10, 1]]) {
    warm.setStep!(step);
    const r = await run(warm);
    ok(Math.abs(r.value - (mseValue + factor * 0.5 * l0)) < 1e-5, `step ${step}: ${r.value}`);
    expectClose(`warm-up step ${step}`, r.dt, dL0.map((v) => factor * 0.5 * v), 1e-5);
  }
  // without setStep, a scheduled loss counts its own calls
  const sched = losses.scheduled(losses.mse(), (s) => s + 1);
  ok(Math.abs((await run(sched)).value - mseValue) < 1e-5);
  ok(Math.abs((await run(sched)).value - 2 * mseValue) < 1e-5);
  throws(() => losses.targetL0(0), /target must be a finite number > 0, got 0/);
  throws(
    () => losses.sparsityWarmup(losses.mse(), losses.mse(), -1),
    /warmupSteps must be an integer >= 0, got -1/,
  );
  throws(() => losses.mseElastic(2), /alpha must be a number in \[0, 1\], got 2/);
});

Deno.test("hostLoss(): a custom loss equals its built-in twin through the model, and bad outputs are refused", async () => {
  const sae = new JumpSAE(6, 10, { seed: 4, device: "reference" });
  const rng = new Random(5);
  const x = { data: Float32Array.from({ length: 8 * 6 }, () => rng.normal()), shape: [8, 6] };
  try {
    const penalty = 0.05;
    const custom = losses.hostLoss(({ x, xHat, codes }) => {
      const m = mseTerm(x.data, xHat.data), l = l1Term(codes.data, penalty * codes.data.length);
      return { value: m.value + l.value, grads: { xHat: m.dXHat, codes: l.dCodes } };
    }, { name: "customMseL1", touchesPreCodes: false });
    const a = await sae.valueAndGrad(x, custom);
    const b = await sae.valueAndGrad(x, losses.mseL1(penalty));
    ok(Math.abs(a.loss - b.loss) < 1e-6);
    for (const key of Object.keys(b.grads)) {
      expectClose(
        key,
        Float64Array.from(a.grads[key].data),
        Float64Array.from(b.grads[key].data),
        1e-5,
      );
    }
    await rejects(
      () => sae.valueAndGrad(x, losses.hostLoss(() => ({ value: 0, grads: { codes: [1, 2] } }))),
      /grads.codes must have 80 values, got 2/,
    );
    await rejects(
      () =>
        sae.valueAndGrad(
          x,
          losses.hostLoss(() => ({ value: 0, grads: { preCodes: new Float32Array(80) } }), {
            touchesPreCodes: false,
          }),
        ),
      /touchesPreCodes: false/,
    );
  } finally {
    sae.dispose();
  }
});

/** End-to-end finite differences (float32) through a linear-encoder model with an identity dictionary projection. */
Deno.test("losses through the model: gradients of every parameter match finite differences", async () => {
  const cases: Loss[] = [
    losses.mseHoyer(0.3),
    losses.mseKappa4(0.3),
    losses.mseElastic(0.4),
    losses.topKAuxiliaryLoss(0.5),
    losses.sum(losses.mse(), losses.reanimationRegularizer(0.2)),
  ];
  for (const loss of cases) {
    const sae = new JumpSAE(5, 8, {
      seed: 6,
      device: "reference",
      encoderModule: "linear",
      dictionaryParams: { normalization: "identity" },
    });
    try {
      const state = await sae.stateDict();
      // thresholds far below the codes: JumpReLU ≈ ReLU (continuous); codes of a few columns
      // stay at 0 (negative bias), so the reanimation term sees dead codes
      state.thresholds.data.fill(-20);
      state["encoder.final_block.0.bias"].data.forEach((_, i, a) => a[i] = i < 2 ? -50 : 0.3);
      await sae.loadStateDict(state);
      const rng = new Random(8);
      const x = { data: Float32Array.from({ length: 12 * 5 }, () => rng.normal()), shape: [12, 5] };
      const { grads } = await sae.valueAndGrad(x, loss);
      const base = await sae.stateDict();
      const at = async (key: string, i: number, d: number) => {
        const p = structuredClone(base);
        p[key].data[i] += d;
        await sae.loadStateDict(p);
        return await sae.lossAndGradients(x, loss);
      };
      for (
        const key of [
          "encoder.final_block.0.weight",
          "encoder.final_block.0.bias",
          "dictionary._weights",
        ]
      ) {
        const g = grads[key];
        const scale = g.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        for (const i of [0, 3, Math.floor(g.data.length / 2) + 1, g.data.length - 1]) {
          const h = 1e-2;
          const fd = (await at(key, i, h) - await at(key, i, -h)) / (2 * h);
          ok(
            Math.abs(fd - g.data[i]) <= 2e-2 * scale + 1e-4,
            `${loss.name} ${key}[${i}]: finite difference ${fd} vs gradient ${g.data[i]}`,
          );
        }
      }
    } finally {
      sae.dispose();
    }
  }
});
