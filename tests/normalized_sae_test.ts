/** NormalizedJumpSAE: bad input rejects its promises; outputs into caller arrays are restored. */
import { deepEqual, rejects } from "node:assert/strict";
import { losses } from "../mod.ts";
import { NormalizedJumpSAE } from "../src/pretrained/normalized_sae.ts";

Deno.test("NormalizedJumpSAE: encode/valueAndGrad/lossAndGradients reject bad input instead of throwing", async () => {
  const sae = new NormalizedJumpSAE(4, 8, {
    inputNormalization: "constant_norm_rescale",
    encoderModule: "linear",
    device: "reference",
    seed: 0,
  });
  const zero = [[0, 0, 0, 0]]; // constant_norm_rescale needs a non-zero norm
  let promise = sae.encode(zero);
  await rejects(promise, RangeError);
  promise = sae.valueAndGrad(zero, losses.mse()) as never;
  await rejects(promise, RangeError);
  promise = sae.lossAndGradients(zero, losses.mse()) as never;
  await rejects(promise, RangeError);
  sae.dispose();
});

Deno.test("NormalizedJumpSAE.forward(x, { out }) writes x̂ in the scale of x, as without out", async () => {
  const sae = new NormalizedJumpSAE(4, 8, {
    inputNormalization: "layer_norm",
    encoderModule: "linear",
    device: "reference",
    seed: 1,
  }).eval();
  const x = [[1, 2, 3, 5], [-1, 0.5, 2, 7]];
  const plain = await sae.forward(x);
  const out = { xHat: new Float32Array(8), codes: new Float32Array(16) };
  const into = await sae.forward(x, { out });
  deepEqual(Array.from(out.xHat), Array.from(plain.xHat.data));
  deepEqual(Array.from(into.codes.data), Array.from(plain.codes.data));
  sae.dispose();
});
