/**
 * Backend conformance: every op of `Backend` compared against the reference backend on seeded
 * random inputs. Reused by each backend's test file:
 *
 * ```ts
 * import { backendConformance } from "./_backend_conformance.ts";
 * backendConformance("wasm relaxed 2 threads", () => createWasmBackend({ threads: 2 }));
 * ```
 *
 * Each op is one `t.step` of a single `Deno.test` named after `label`; the backend under test is
 * created once per test and disposed at the end. Shapes are small and odd (SIMD tails), matmul
 * runs every transpose with and without `accumulate` and the sparse hint (~95 % zeros).
 *
 * A value passes when |got − want| ≤ tol·(|want| + scale), where `scale` is the largest |want|
 * of that buffer (a relative test that does not blow up on values that cancel to near zero).
 */

import { KERNEL_NAMES } from "../src/kernels.ts";
import type { Backend, DeviceBuffer, NormalizationKind } from "../src/backends/backend.ts";
import { createReferenceBackend } from "../src/backends/reference.ts";

/** Options of `backendConformance`. */
export interface ConformanceOptions {
  /** Relative tolerance (default 1e-5), see the module doc. */
  tolerance?: number;
  /** Deno.test `ignore` (e.g. no GPU adapter). */
  ignore?: boolean;
}

/** A seeded generator (mulberry32) of floats. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform in [lo, hi). */
  uniform(n: number, lo = -1, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.next();
    return out;
  }
  /** Uniform in [lo, hi) with a fraction `zeros` of exact zeros. */
  sparse(n: number, zeros: number, lo = -1, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() < zeros ? 0 : lo + (hi - lo) * this.next();
    return out;
  }
}

/**
 * Compares `got` against `want` element by element; throws with the worst index. The scale of
 * the tolerance is the largest |want|, or `floor` if larger (for values that are zero up to
 * rounding, e.g. a bias gradient in front of a BatchNorm).
 */
export function assertClose(
  got: Float32Array,
  want: Float32Array,
  tol: number,
  what: string,
  floor = 0,
) {
  assert(got.length === want.length, `${what}: expected length ${want.length}, got ${got.length}`);
  let scale = floor;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    const bound = tol * (Math.abs(want[i]) + scale);
    const excess = Number.isNaN(got[i]) !== Number.isNaN(want[i]) ? Infinity : err - bound;
    if (excess > worstExcess || (Number.isNaN(excess) && worst < 0)) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: expected ${want[worst]} at index ${worst} (tolerance ${tol}, scale ${scale}), got ${
        got[worst]
      }`,
    );
  }
}

/** Throws an Error with `message` unless `cond` holds. */
function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

type Inputs = Record<string, Float32Array>;
type Bufs = Record<string, DeviceBuffer>;

/**
 * Runs `op` on the reference backend and on `backend` with the same initial buffers, then
 * compares every buffer (inputs too: in-place ops and accidental writes show).
 */
async function runBoth(
  backend: Backend,
  inputs: Inputs,
  op: (b: Backend, bufs: Bufs) => void,
  tol: number,
  what: string,
) {
  const ref = createReferenceBackend();
  const load = (b: Backend) => {
    const bufs: Bufs = {};
    for (const [name, data] of Object.entries(inputs)) {
      bufs[name] = b.alloc(data.length);
      b.upload(bufs[name], data);
    }
    return bufs;
  };
  const want = load(ref), got = load(backend);
  op(ref, want);
  op(backend, got);
  try {
    for (const name of Object.keys(inputs)) {
      const w = await ref.download(want[name]);
      const g = await backend.download(got[name]);
      assertClose(g, w, tol, `${what}: buffer ${name}`);
    }
  } finally {
    for (const buf of Object.values(got)) backend.free(buf);
    ref.dispose();
  }
}

/** Registers one Deno.test named `label` whose steps check every op of the backend. */
export function backendConformance(
  label: string,
  create: () => Promise<Backend>,
  options: ConformanceOptions = {},
): void {
  const tol = options.tolerance ?? 1e-5;
  Deno.test({
    name: `${label}: conformance with the reference backend`,
    ignore: options.ignore ?? false,
    fn: async (t) => {
      const backend = await create();
      try {
        for (const [name, check] of Object.entries(checks)) {
          await t.step(name, () => check(backend, tol));
        }
      } finally {
        backend.dispose();
      }
    },
  });
}

const R = 37, C = 53; // odd sizes: SIMD tails everywhere

/** One check per op (or group of ops); each may run several cases. */
const checks: Record<string, (b: Backend, tol: number) => Promise<void>> = {
  async "alloc is zero-filled, upload with offset, partial download"(b) {
    const buf = b.alloc(23);
    try {
      assert(buf.length === 23, `expected length 23, got ${buf.length}`);
      const zeros = await b.download(buf);
      assert(zeros.every((v) => v === 0), `expected zeros, got ${zeros}`);
      b.upload(buf, new Float32Array([1, 2, 3, 4, 5]), 7);
      const all = await b.download(buf);
      const want = new Float32Array(23);
      want.set([1, 2, 3, 4, 5], 7);
      assertClose(all, want, 0, "upload at offset 7");
      assertClose(await b.download(buf, 8, 3), new Float32Array([2, 3, 4]), 0, "download(8, 3)");
      assertClose(await b.download(buf, 20), new Float32Array(3), 0, "download(20)");
    } finally {
      b.free(buf);
    }
    // A freed and reallocated buffer is zero-filled again.
    const again = b.alloc(23);
    try {
      const zeros = await b.download(again);
      assert(zeros.every((v) => v === 0), `expected zeros after reuse, got ${zeros}`);
    } finally {
      b.free(again);
    }
  },

  async "download into an array; downloadSparseRows"(b) {
    const rng = new Rng(11);
    const dense = rng.sparse(R * C, 0.9);
    dense[5] = -0; // a negative zero is a zero
    const buf = b.alloc(R * C);
    try {
      b.upload(buf, dense);
      const into = new Float32Array(R * C + 2).fill(9);
      const got = await b.download(buf, 3, R * C - 3, into);
      assert(got === into, "download(..., into) resolves to into");
      assertClose(into.subarray(0, R * C - 3), dense.subarray(3), 0, "download into");
      assert(
        into[R * C - 3] === 9 && into[R * C + 1] === 9,
        "download into: past length untouched",
      );
      const csr = await b.downloadSparseRows(buf, R, C);
      assert(csr.shape[0] === R && csr.shape[1] === C, `shape ${csr.shape}`);
      assert(csr.indptr.length === R + 1 && csr.indptr[0] === 0, "indptr");
      const back = new Float32Array(R * C);
      for (let r = 0; r < R; r++) {
        for (let j = csr.indptr[r]; j < csr.indptr[r + 1]; j++) {
          if (j > csr.indptr[r]) assert(csr.indices[j] > csr.indices[j - 1], `row ${r} order`);
          back[r * C + csr.indices[j]] = csr.values[j];
        }
      }
      const nz = dense.filter((v) => v !== 0).length;
      assert(csr.indptr[R] === nz && csr.values.length === nz, `${csr.indptr[R]} != ${nz}`);
      assertClose(back, dense.map((v) => v === 0 ? 0 : v), 0, "downloadSparseRows");
    } finally {
      b.free(buf);
    }
  },

  async "auxKSelect (ties at zero, k of 0, half and all) and auxKBackward"(b, tol) {
    const rng = new Rng(12);
    const pre = rng.uniform(R * C, -1, 2);
    // codes: JumpReLU with θ = 0.8 (p = 0 on active codes and non-positive pre: many ties)
    const codes = pre.map((v) => v >= 0.8 ? v : 0);
    for (let i = 0; i < R * C; i += 7) pre[i] = codes[i] = 0.5; // ties above zero too
    for (const k of [0, 1, Math.floor(C / 2), C]) {
      const inputs = { aux: rng.uniform(R * C), sel: rng.uniform(R * C), pre, codes };
      await runBoth(
        b,
        inputs,
        (k2, x) => k2.auxKSelect(x.aux, x.sel, x.pre, x.codes, R, C, k),
        0,
        `auxKSelect k ${k}`,
      );
    }
    const sel = rng.sparse(R * C, 0.5).map((v) => v === 0 ? 0 : 1);
    const inputs = {
      dp: rng.uniform(R * C),
      dz: rng.uniform(R * C),
      g: rng.uniform(R * C),
      sel,
      pre,
    };
    await runBoth(
      b,
      inputs,
      (k, x) => k.auxKBackward(x.dp, x.dz, x.g, x.sel, x.pre, R * C),
      tol,
      "auxKBackward",
    );
  },

  async "copy, fill, scale"(b, tol) {
    const rng = new Rng(1);
    const n = 101;
    const inputs = { dst: rng.uniform(n + 3), src: rng.uniform(n + 3) };
    await runBoth(b, inputs, (k, x) => k.copy(x.dst, x.src, n), tol, "copy");
    await runBoth(b, inputs, (k, x) => k.fill(x.dst, 0.375, n), tol, "fill");
    await runBoth(b, inputs, (k, x) => k.scale(x.dst, x.src, -1.75, n), tol, "scale");
    await runBoth(b, inputs, (k, x) => k.scale(x.src, x.src, 3.5, n), tol, "scale in place");
  },

  async "matmul: all transposes, accumulate, odd sizes"(b, tol) {
    const rng = new Rng(2);
    for (const [m, n, k] of [[1, 1, 1], [7, 9, 5], [13, 37, 29], [33, 18, 64]]) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const accumulate of [false, true]) {
            const inputs = {
              out: rng.uniform(m * n),
              a: rng.uniform(m * k),
              b: rng.uniform(k * n),
            };
            await runBoth(
              b,
              inputs,
              (kb, x) => kb.matmul(x.out, x.a, x.b, { m, n, k, transA, transB, accumulate }),
              tol,
              `matmul m=${m} n=${n} k=${k} transA=${transA} transB=${transB} acc=${accumulate}`,
            );
          }
        }
      }
    }
  },

  async "matmul: sparse hint (95 % zeros, an all-zero row and column)"(b, tol) {
    const rng = new Rng(3);
    for (const [m, n, k] of [[19, 23, 61], [40, 17, 130]]) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const accumulate of [false, true]) {
            const a = rng.sparse(m * k, 0.95, 0, 2);
            // row 0 of op(A) and column 1 of op(A) all zero
            for (let l = 0; l < k; l++) a[transA ? l * m : l] = 0;
            for (let i = 0; i < m; i++) a[transA ? m + i : i * k + 1] = 0;
            const inputs = { out: rng.uniform(m * n), a, b: rng.uniform(k * n) };
            await runBoth(
              b,
              inputs,
              (kb, x) =>
                kb.matmul(x.out, x.a, x.b, { m, n, k, transA, transB, accumulate, sparseA: true }),
              tol,
              `sparse matmul m=${m} n=${n} k=${k} transA=${transA} transB=${transB} acc=${accumulate}`,
            );
          }
        }
      }
    }
  },

  async "addBias, sumRows"(b, tol) {
    const rng = new Rng(4);
    const inputs = { out: rng.uniform(R * C), bias: rng.uniform(C), sums: rng.uniform(C) };
    await runBoth(b, inputs, (k, x) => k.addBias(x.out, x.bias, R, C), tol, "addBias");
    await runBoth(b, inputs, (k, x) => k.sumRows(x.sums, x.out, R, C), tol, "sumRows");
  },

  async "relu, reluBackward"(b, tol) {
    const rng = new Rng(5);
    const n = 99;
    const x = rng.uniform(n);
    x[3] = 0;
    const inputs = { out: rng.uniform(n), x, dy: rng.uniform(n) };
    await runBoth(b, inputs, (k, v) => k.relu(v.out, v.x, n), tol, "relu");
    await runBoth(b, inputs, (k, v) => k.relu(v.x, v.x, n), tol, "relu in place");
    await runBoth(b, inputs, (k, v) => k.reluBackward(v.out, v.dy, v.x, n), tol, "reluBackward");
    await runBoth(
      b,
      inputs,
      (k, v) => k.reluBackward(v.dy, v.dy, v.x, n),
      tol,
      "reluBackward in place",
    );
  },

  async "batchNormTrain, batchNormEval, batchNormBackward"(b, tol) {
    const rng = new Rng(6);
    for (const rows of [2, R]) {
      const x = rng.uniform(rows * C, -2, 3);
      for (let r = 0; r < rows; r++) x[r * C + 2] = 0.5; // a constant column: var = 0
      const inputs = {
        out: rng.uniform(rows * C),
        mean: rng.uniform(C),
        rstd: rng.uniform(C),
        runningMean: rng.uniform(C),
        runningVar: rng.uniform(C, 0.5, 2),
        x,
        weight: rng.uniform(C),
        bias: rng.uniform(C),
        dy: rng.uniform(rows * C),
        dx: rng.uniform(rows * C),
        dweight: rng.uniform(C),
        dbias: rng.uniform(C),
      };
      await runBoth(
        b,
        inputs,
        (k, v) => {
          k.batchNormTrain(
            v.out,
            v.mean,
            v.rstd,
            v.runningMean,
            v.runningVar,
            v.x,
            v.weight,
            v.bias,
            rows,
            C,
            0.1,
            1e-5,
          );
          k.batchNormBackward(
            v.dx,
            v.dweight,
            v.dbias,
            v.dy,
            v.x,
            v.mean,
            v.rstd,
            v.weight,
            rows,
            C,
          );
        },
        tol,
        `batchNormTrain + backward rows=${rows}`,
      );
      await runBoth(
        b,
        inputs,
        (k, v) => {
          k.batchNormEval(v.out, v.x, v.runningMean, v.runningVar, v.weight, v.bias, rows, C, 1e-3);
        },
        tol,
        `batchNormEval rows=${rows}`,
      );
    }
  },

  async "layerNorm, layerNormBackward"(b, tol) {
    const rng = new Rng(7);
    const x = rng.uniform(R * C, -2, 3);
    for (let c = 0; c < C; c++) x[4 * C + c] = -1.25; // a constant row
    const inputs = {
      out: rng.uniform(R * C),
      mean: rng.uniform(R),
      rstd: rng.uniform(R),
      x,
      weight: rng.uniform(C),
      bias: rng.uniform(C),
      dy: rng.uniform(R * C),
      dx: rng.uniform(R * C),
      dweight: rng.uniform(C),
      dbias: rng.uniform(C),
    };
    await runBoth(
      b,
      inputs,
      (k, v) => {
        k.layerNorm(v.out, v.mean, v.rstd, v.x, v.weight, v.bias, R, C, 1e-5);
        k.layerNormBackward(v.dx, v.dweight, v.dbias, v.dy, v.x, v.mean, v.rstd, v.weight, R, C);
      },
      tol,
      "layerNorm + backward",
    );
  },

  async "jumpRelu, jumpReluBackward, heavisideL0: 8 kernels × 2 modes"(b, tol) {
    const rng = new Rng(8);
    const bandwidth = 0.05;
    // θ = exp(t) ∈ [0.2, 0.5]; pre spread around θ so that many fall inside every kernel window
    const logThreshold = new Float32Array(C);
    for (let c = 0; c < C; c++) logThreshold[c] = Math.log(0.2 + 0.3 * rng.next());
    const pre = new Float32Array(R * C);
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < C; c++) {
        const theta = Math.exp(logThreshold[c]);
        const u = rng.next();
        // 1/4 negative, 1/2 within ±1.2ε of θ, 1/4 elsewhere in [0, 1)
        pre[r * C + c] = u < 0.25
          ? -rng.next()
          : u < 0.75
          ? theta + (2 * rng.next() - 1) * 1.2 * bandwidth
          : rng.next();
      }
    }
    const inputs = {
      codes: rng.uniform(R * C),
      pre,
      logThreshold,
      dCodes: rng.uniform(R * C),
      dPre: rng.uniform(R * C),
      dLogThreshold: rng.uniform(C),
      loss: new Float32Array([0.25]),
    };
    await runBoth(
      b,
      inputs,
      (k, v) => k.jumpRelu(v.codes, v.pre, v.logThreshold, R, C),
      tol,
      "jumpRelu",
    );
    for (const kernel of KERNEL_NAMES) {
      for (const mode of ["overcomplete", "paper"] as const) {
        const pg = { kernel, bandwidth, mode };
        await runBoth(
          b,
          inputs,
          (k, v) => {
            k.jumpReluBackward(v.dPre, v.dLogThreshold, v.dCodes, v.pre, v.logThreshold, R, C, pg);
            k.heavisideL0(v.loss, v.dLogThreshold, v.pre, v.logThreshold, R, C, 0.125, pg);
          },
          tol,
          `jumpReluBackward + heavisideL0 ${kernel} ${mode}`,
        );
      }
    }
    // the seed's default bandwith 1e-3 with silverman (long tails)
    const pg = { kernel: "silverman" as const, bandwidth: 1e-3, mode: "overcomplete" as const };
    await runBoth(
      b,
      inputs,
      (k, v) => {
        k.jumpReluBackward(v.dPre, v.dLogThreshold, v.dCodes, v.pre, v.logThreshold, R, C, pg);
        k.heavisideL0(v.loss, v.dLogThreshold, v.pre, v.logThreshold, R, C, 0.125, pg);
      },
      tol,
      "jumpReluBackward + heavisideL0 silverman ε=1e-3",
    );
  },

  async "squaredError, absSum, sumSquares"(b, tol) {
    const rng = new Rng(9);
    const n = 203;
    const a = rng.uniform(n);
    a[5] = 0;
    const inputs = {
      loss: new Float32Array([1.5]),
      grad: rng.uniform(n),
      a,
      b: rng.uniform(n),
    };
    await runBoth(
      b,
      inputs,
      (k, v) => k.squaredError(v.loss, v.grad, v.a, v.b, n, 0.3),
      tol,
      "squaredError",
    );
    await runBoth(b, inputs, (k, v) => k.absSum(v.loss, v.grad, v.a, n, 0.7), tol, "absSum");
    await runBoth(b, inputs, (k, v) => k.sumSquares(v.loss, v.a, n), tol, "sumSquares");
  },

  async "normalizeRows: l2, max_l2, l1, max_l1"(b, tol) {
    const rng = new Rng(10);
    for (const kind of ["l2", "max_l2", "l1", "max_l1"] as NormalizationKind[]) {
      const w = rng.uniform(R * C, -3, 3);
      const inputs = { w };
      await runBoth(
        b,
        inputs,
        (k, v) => k.normalizeRows(v.w, R, C, kind),
        tol,
        `normalizeRows ${kind}`,
      );
    }
  },

  async "scaleByExp, dotScaledByExp"(b, tol) {
    const rng = new Rng(11);
    const n = 77;
    const inputs = {
      out: rng.uniform(n),
      x: rng.uniform(n),
      y: rng.uniform(n),
      logScale: new Float32Array([0.3]),
      acc: new Float32Array([0.5]),
    };
    await runBoth(b, inputs, (k, v) => k.scaleByExp(v.out, v.x, v.logScale, n), tol, "scaleByExp");
    await runBoth(
      b,
      inputs,
      (k, v) => k.scaleByExp(v.x, v.x, v.logScale, n),
      tol,
      "scaleByExp in place",
    );
    await runBoth(
      b,
      inputs,
      (k, v) => k.dotScaledByExp(v.acc, v.x, v.y, v.logScale, n),
      tol,
      "dotScaledByExp",
    );
  },

  async "adam: Adam and AdamW, with and without weight decay, 3 steps"(b, tol) {
    const rng = new Rng(12);
    const n = 67;
    for (const decoupled of [false, true]) {
      for (const weightDecay of [0, 0.01]) {
        const inputs = {
          p: rng.uniform(n),
          g: rng.uniform(n),
          m: new Float32Array(n),
          v: new Float32Array(n),
        };
        await runBoth(
          b,
          inputs,
          (k, x) => {
            for (let step = 1; step <= 3; step++) {
              k.adam(x.p, x.g, x.m, x.v, n, {
                lr: 1e-2,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weightDecay,
                decoupled,
                step,
              });
            }
          },
          tol,
          `adam decoupled=${decoupled} weightDecay=${weightDecay}`,
        );
      }
    }
  },

  async "sgd: plain, momentum, dampening, nesterov, weight decay, 3 steps"(b, tol) {
    const rng = new Rng(13);
    const n = 45;
    const cases = [
      { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
      { momentum: 0, dampening: 0, weightDecay: 0.1, nesterov: false },
      { momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false },
      { momentum: 0.9, dampening: 0.5, weightDecay: 0.01, nesterov: false },
      { momentum: 0.9, dampening: 0, weightDecay: 0.01, nesterov: true },
    ];
    for (const c of cases) {
      const inputs = { p: rng.uniform(n), g: rng.uniform(n), buf: rng.uniform(n) };
      await runBoth(
        b,
        inputs,
        (k, x) => {
          for (let step = 1; step <= 3; step++) {
            k.sgd(x.p, x.g, x.buf, n, { lr: 0.05, ...c, firstStep: step === 1 });
          }
        },
        tol,
        `sgd ${JSON.stringify(c)}`,
      );
    }
  },
};
