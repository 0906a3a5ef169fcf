/**
 * Finite-difference checks of every gradient of `valueAndGrad`, for every encoder, the
 * dictionary multiplier and decoder bias, both modes and the three input layouts; and the
 * threshold pseudo-gradient (not a true derivative) against its formula for all 8 kernels
 * and both `pseudoGradient` modes.
 */
import { ok as assert } from "node:assert/strict";
import {
  JumpSAE,
  type JumpSAEOptions,
  KERNEL_NAMES,
  kernelValue,
  type Loss,
  losses,
  pseudoGradientScale,
  Random,
  type Tensor,
} from "../mod.ts";

function randomInput(shape: number[], seed: number): Tensor {
  const rng = new Random(seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = 1.5 * rng.normal() + 0.2;
  return { data, shape };
}

/** Central differences of the loss w.r.t. a few entries of every trainable parameter. */
async function checkGradients(
  inputShape: number | number[],
  nbConcepts: number,
  options: JumpSAEOptions,
  xShape: number[],
  loss: Loss,
  evalMode = false,
): Promise<void> {
  const sae = new JumpSAE(inputShape, nbConcepts, {
    device: "reference",
    seed: 3,
    ...options,
    // no re-projection: the seed's gradient deliberately ignores it (it runs under no_grad)
    dictionaryParams: { normalization: "identity", ...options.dictionaryParams },
  });
  try {
    const state = await sae.stateDict();
    // thresholds far below the codes: JumpReLU ≈ ReLU, so the loss is continuous
    state.thresholds = { data: new Float32Array(nbConcepts).fill(-20), shape: [nbConcepts] };
    if (state["dictionary.multiplier"]) state["dictionary.multiplier"].data[0] = 0.25;
    if (state["b_dec"]) state["b_dec"].data.forEach((_, i, a) => a[i] = 0.1 * Math.sin(i));
    await sae.loadStateDict(state);
    if (evalMode) sae.eval();
    const x = randomInput(xShape, 7);
    const { grads } = await sae.valueAndGrad(x, loss);
    const base = await sae.stateDict();
    const lossAt = async (key: string, index: number, delta: number): Promise<number> => {
      const perturbed = structuredClone(base);
      perturbed[key].data[index] += delta;
      await sae.loadStateDict(perturbed);
      return await sae.lossAndGradients(x, loss);
    };
    for (const [key, g] of Object.entries(grads)) {
      if (key === "thresholds") continue; // a pseudo-gradient: checked against its formula below
      let scale = 0;
      for (const v of g.data) scale = Math.max(scale, Math.abs(v));
      for (const index of [0, Math.floor(g.data.length / 2), g.data.length - 1]) {
        const h = 1e-3 * Math.max(1, Math.abs(base[key].data[index])); // small: ReLU kinks are near
        const fd = (await lossAt(key, index, h) - await lossAt(key, index, -h)) / (2 * h);
        const err = Math.abs(fd - g.data[index]);
        assert(
          err <= 1e-2 * scale + 1e-3,
          `${key}[${index}]: finite difference ${fd} vs gradient ${g.data[index]}`,
        );
      }
    }
  } finally {
    sae.dispose();
  }
}

const ENCODERS = ["identity", "linear", "mlp_bn_1", "mlp_ln_1", "mlp_bn_3", "mlp_ln_3"] as const;

for (const encoder of ENCODERS) {
  Deno.test(`valueAndGrad() matches finite differences: encoder ${encoder}, train mode`, async () => {
    const c = encoder === "identity" ? 6 : 9;
    await checkGradients(6, c, { encoderModule: encoder }, [10, 6], losses.mseL1(0.05));
  });
}

for (const encoder of ["mlp_bn_1", "mlp_ln_3", "linear"] as const) {
  Deno.test(`valueAndGrad() matches finite differences: encoder ${encoder}, eval mode`, async () => {
    await checkGradients(6, 9, { encoderModule: encoder }, [10, 6], losses.mse(), true);
  });
}

Deno.test("valueAndGrad() matches finite differences: multiplier, decoder bias and centring", async () => {
  await checkGradients(
    5,
    7,
    { dictionaryParams: { useMultiplier: true }, decoderBias: true, centerInput: true },
    [8, 5],
    losses.mseL1(0.05),
  );
});

Deno.test("valueAndGrad() matches finite differences: [seq, dim] and [dim, h, w] inputs", async () => {
  await checkGradients([3, 5], 7, { encoderModule: "linear" }, [4, 3, 5], losses.mse());
  await checkGradients([4, 2, 3], 7, { encoderModule: "mlp_ln_1" }, [2, 4, 2, 3], losses.mse());
});

/** A loss whose gradient to the codes is all ones (and value 0): isolates the JumpReLU backward. */
const onesOnCodes: Loss = {
  name: "onesOnCodes",
  accumulate(ctx) {
    ctx.backend.fill(ctx.dCodes, 1, ctx.rows * ctx.concepts);
  },
};

for (const mode of ["overcomplete", "paper"] as const) {
  for (const kernel of KERNEL_NAMES) {
    Deno.test(`threshold pseudo-gradient follows its formula: ${kernel}, ${mode}`, async () => {
      const bandwith = 0.3;
      const sae = new JumpSAE(4, 6, {
        encoderModule: "linear",
        kernel,
        bandwith,
        pseudoGradient: mode,
        seed: 5,
        device: "reference",
      });
      try {
        const state = await sae.stateDict();
        const t = new Float32Array([-1.2, -0.9, -0.6, -0.4, -1.6, -0.2]);
        await sae.loadStateDict({ ...state, thresholds: { data: t, shape: [6] } });
        const { preCodes, grads } = await sae.valueAndGrad(randomInput([16, 4], 11), onesOnCodes);
        const eps = Math.fround(bandwith), s = pseudoGradientScale(kernel, eps, mode);
        let inWindow = 0;
        for (let c = 0; c < 6; c++) {
          const theta = Math.fround(Math.exp(t[c]));
          let expected = 0;
          for (let r = 0; r < 16; r++) {
            const v = Math.max(preCodes.data[r * 6 + c], 0);
            const k = kernelValue(kernel, Math.fround(v - theta), eps);
            if (k !== 0) inWindow++;
            expected += -s * theta * k * theta; // −s·θ·K(r − θ)·1, chained through exp (×θ)
          }
          const got = grads.thresholds.data[c];
          assert(
            Math.abs(got - expected) <= 1e-5 * Math.abs(expected) + 1e-6,
            `concept ${c}: ${got} vs ${expected}`,
          );
        }
        assert(inWindow > 0, "no pre-code inside the kernel window: the test would prove nothing");
      } finally {
        sae.dispose();
      }
    });
  }
}

Deno.test("pseudoGradient 'paper' differs from 'overcomplete' by the kernel's mass times ε", () => {
  // rectangle has unit mass: paper = ε·overcomplete; gaussian has mass 1/2: paper = 2ε·overcomplete
  assert(pseudoGradientScale("rectangle", 0.5, "paper") === 1);
  assert(pseudoGradientScale("rectangle", 0.5, "overcomplete") === 2);
  assert(pseudoGradientScale("gaussian", 0.5, "paper") === 2);
  assert(pseudoGradientScale("cosine", 0.25, "paper") === 4);
  assert(pseudoGradientScale("silverman", 0.25, "paper") === 0.5);
});
