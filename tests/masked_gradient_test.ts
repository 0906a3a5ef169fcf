/**
 * `maskedCodeGradient` against the dense path it replaces: after
 * matmul(dCodes, dXHat, dictionary, transB, accumulate) or maskedCodeGradient(...),
 * `jumpReluBackward` must give the same dPre and threshold gradient bit for bit, for every
 * backend, all 8 kernels, both pseudo-gradient modes, and pre-codes placed on the edges of every
 * kernel's support (its float32 window and the float64 underflow points) and on the threshold.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Rng } from "./_backend_conformance.ts";
import { createReferenceBackend } from "../src/backends/reference.ts";
import { createWasmBackend, relaxedSimdSupported } from "../src/backends/wasm/mod.ts";
import type { Backend, PseudoGradient } from "../src/backends/backend.ts";
import { KERNEL_NAMES } from "../src/kernels.ts";

const B = 64, C = 4 * 17 + 3, D = 2 * 256 + 5; // a cols tail, two GEMM depth blocks + a tail
const EPS = 1e-3;

/** The next float32 above (dir 1) or below (dir −1) x. */
function nextF32(x: number, dir: 1 | -1): number {
  const f = new Float32Array([x]), u = new Int32Array(f.buffer);
  if (x === 0) return dir * 1.4e-45;
  u[0] += (x > 0 ? 1 : -1) * dir;
  return f[0];
}

/** Offsets from θ where a kernel's support, window or f64 underflow ends (h = ε/2). */
function edgeOffsets(eps: number): number[] {
  const h = Math.fround(eps) / 2;
  const ends = [
    h,
    h * 1.001,
    eps,
    eps * 1.001,
    12 * h,
    40 * Math.SQRT2 * h,
    38.6 * h, // gaussian's exp(−u²/2) underflows in f64 near u = 38.6
    745.2 * Math.SQRT2 * h, // silverman's exp(−u) in f64 near u = 745
  ];
  const out = [0];
  for (const e of ends) {
    for (const s of [1, -1]) {
      const v = Math.fround(s * e);
      out.push(v, nextF32(v, 1), nextF32(v, -1));
    }
  }
  return out;
}

function normal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

function inputs(rng: Rng) {
  const logT = new Float32Array(C).map(() => -3 + 2.5 * rng.next());
  const theta = Array.from(logT, (t) => Math.fround(Math.exp(t)));
  const pre = new Float32Array(B * C);
  const edges = edgeOffsets(EPS);
  for (let r = 0; r < B; r++) {
    for (let c = 0; c < C; c++) {
      const u = rng.next();
      // most entries far below the threshold (or negative): the sparse majority
      pre[r * C + c] = u < 0.5 ? -rng.next() : Math.fround(theta[c] * 0.2 * rng.next());
    }
  }
  // on every column, a few entries on the edges (and the threshold itself, 0 offset)
  for (let c = 0; c < C; c++) {
    for (let q = 0; q < 2; q++) {
      const r = Math.floor(rng.next() * B);
      const e = edges[(c * 2 + q) % edges.length];
      pre[r * C + c] = Math.fround(theta[c] + e);
    }
    if (c % 5 === 0) pre[Math.floor(rng.next() * B) * C + c] = theta[c] + 0.5; // active
  }
  const dXHat = new Float32Array(B * D).map(() => normal(rng));
  const dict = new Float32Array(C * D).map(() => normal(rng) * 0.05);
  // what a loss wrote into dCodes first (mseL1-like), on a quarter of the entries
  const dCodes0 = new Float32Array(B * C).map(() => rng.next() < 0.25 ? normal(rng) : 0);
  return { logT, pre, dXHat, dict, dCodes0 };
}

async function run(be: Backend, masked: boolean, pg: PseudoGradient, x: ReturnType<typeof inputs>) {
  const up = (a: Float32Array) => {
    const b = be.alloc(a.length);
    be.upload(b, a);
    return b;
  };
  const dCodes = up(x.dCodes0), dXHat = up(x.dXHat), dict = up(x.dict);
  const pre = up(x.pre), logT = up(x.logT);
  const dPre = be.alloc(B * C), dT = up(new Float32Array(C).fill(0.25));
  if (masked) be.maskedCodeGradient(dCodes, dXHat, dict, pre, logT, B, C, D, pg);
  else be.matmul(dCodes, dXHat, dict, { m: B, n: C, k: D, transB: true, accumulate: true });
  be.jumpReluBackward(dPre, dT, dCodes, pre, logT, B, C, pg);
  const out = {
    dCodes: await be.download(dCodes),
    dPre: await be.download(dPre),
    dT: await be.download(dT),
  };
  for (const b of [dCodes, dXHat, dict, pre, logT, dPre, dT]) be.free(b);
  return out;
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

const backends: { name: string; make: () => Promise<Backend> | Backend; ignore?: boolean }[] = [
  { name: "reference", make: () => createReferenceBackend() },
];
for (const simd of ["relaxed", "plain"] as const) {
  for (const threads of [1, 2]) {
    backends.push({
      name: `wasm ${simd} ${threads} thread${threads > 1 ? "s" : ""}`,
      make: () => createWasmBackend({ simd, threads, parallelMin: 0 }),
      ignore: simd === "relaxed" && !relaxedSimdSupported(),
    });
  }
}

for (const { name, make, ignore } of backends) {
  Deno.test({
    name: `maskedCodeGradient() ${name}: jumpReluBackward gives the dense path's bits`,
    ignore,
    async fn() {
      const be = await make();
      try {
        let seed = 1;
        for (const kernel of KERNEL_NAMES) {
          for (const mode of ["overcomplete", "paper"] as const) {
            const pg: PseudoGradient = { kernel, bandwidth: EPS, mode };
            const x = inputs(new Rng(seed++));
            const dense = await run(be, false, pg, x);
            const masked = await run(be, true, pg, x);
            const what = `${kernel} ${mode}`;
            assertEquals(bits(masked.dPre), bits(dense.dPre), `dPre, ${what}`);
            assertEquals(bits(masked.dT), bits(dense.dT), `threshold gradient, ${what}`);
            // the threshold gradient is not trivially the initial value
            assert(dense.dT.some((v) => v !== 0.25), `some threshold gradient, ${what}`);
            // every computed entry is the dense entry; the skipped ones keep the loss's value
            let skipped = 0;
            for (let i = 0; i < B * C; i++) {
              if (masked.dCodes[i] === dense.dCodes[i]) continue;
              assertEquals(masked.dCodes[i], x.dCodes0[i], `dCodes[${i}], ${what}`);
              skipped++;
            }
            // the f64 reference reads dCodes wherever its kernel does not underflow
            const wide = kernel === "cauchy" ||
              (name === "reference" && ["gaussian", "silverman"].includes(kernel));
            if (!wide) assert(skipped > B * C / 2, `skipped ${skipped} of ${B * C}, ${what}`);
          }
        }
      } finally {
        be.dispose();
      }
    },
  });
}
