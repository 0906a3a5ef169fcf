/**
 * The whole JumpSAE on the WASM backend against the reference backend: forward (train and eval)
 * and valueAndGrad with every encoder, for both SIMD builds on 1 and 2 threads. Sizes are large
 * enough that the 2-thread runs split the work (more than 32768 elements per op).
 */

import { assertClose, Rng } from "./_backend_conformance.ts";
import { JumpSAE, losses } from "../mod.ts";
import { relaxedSimdSupported } from "../src/backends/wasm/mod.ts";

const D = 48, C = 700, B = 61;
const x = { data: new Rng(31).uniform(B * D, -2, 2), shape: [B, D] };

/** Runs forward (train), valueAndGrad (mseL0) and forward (eval) on one device. */
async function run(
  device: "cpu" | "reference",
  encoderModule: string,
  simd?: "relaxed" | "plain",
  threads?: number,
) {
  const sae = new JumpSAE(D, C, {
    seed: 3,
    device,
    simd,
    threads,
    // deno-lint-ignore no-explicit-any
    encoderModule: encoderModule as any,
    bandwith: 0.05,
    kernel: "gaussian",
  });
  try {
    // thresholds near the pre-codes so that the pseudo-gradient windows hold many codes
    const state = await sae.stateDict();
    state.thresholds = { data: new Float32Array(C).fill(Math.log(0.4)), shape: [C] };
    await sae.loadStateDict(state);
    const fwd = await sae.forward(x);
    const vg = await sae.valueAndGrad(x, losses.mseL0(0.01));
    sae.eval();
    const ev = await sae.forward(x);
    return { fwd, vg, ev };
  } finally {
    sae.dispose();
  }
}

for (const encoder of ["mlp_bn_1", "mlp_ln_1", "linear"]) {
  const want = run("reference", encoder);
  for (const simd of ["relaxed", "plain"] as const) {
    for (const threads of [1, 2]) {
      Deno.test({
        name:
          `JumpSAE on wasm ${simd} ${threads} thread(s), encoder ${encoder}: equals the reference backend`,
        ignore: simd === "relaxed" && !relaxedSimdSupported(),
        fn: async () => {
          const w = await want;
          const g = await run("cpu", encoder, simd, threads);
          const tol = 2e-4;
          for (const k of ["preCodes", "codes", "xHat"] as const) {
            assertClose(g.fwd[k].data, w.fwd[k].data, tol, `forward ${k}`);
            assertClose(g.ev[k].data, w.ev[k].data, tol, `eval forward ${k}`);
            assertClose(g.vg[k].data, w.vg[k].data, tol, `valueAndGrad ${k}`);
          }
          assertClose(new Float32Array([g.vg.loss]), new Float32Array([w.vg.loss]), 1e-5, "loss");
          const names = Object.keys(w.vg.grads).sort();
          if (names.join() !== Object.keys(g.vg.grads).sort().join()) {
            throw new Error(`expected gradients ${names}, got ${Object.keys(g.vg.grads).sort()}`);
          }
          // a gradient that is zero up to rounding (the Linear bias in front of BatchNorm) is
          // compared on the scale of all the gradients
          let floor = 0;
          for (const name of names) {
            for (const v of w.vg.grads[name].data) floor = Math.max(floor, Math.abs(v));
          }
          for (const name of names) {
            assertClose(
              g.vg.grads[name].data,
              w.vg.grads[name].data,
              tol,
              `grad ${name}`,
              floor * 1e-3,
            );
          }
        },
      });
    }
  }
}
