/**
 * Kernel specs in AssemblyScript: each fast kernel against a naive loop written here (or the
 * naive `gemmNaive` oracle), on odd sizes that leave SIMD tails, single-threaded (tid 0 of 1).
 */

import { gemm, gemmNaive, gemmWorkspaceBytes } from "../gemm";
import { sparseGemmNN, sparseGemmTN, sparseNNWorkspaceBytes, sparseWorkspaceBytes } from "../sparse";
import { addBias, relu, reluBackward, scale } from "../elementwise";
import { dot, sumRows } from "../reductions";
import { heavisideL0, jumpRelu, jumpReluBackward, kernelValue } from "../jumprelu";
import { adam } from "../optim";
import { batchNormBackward, batchNormTrain, BN_WORKSPACE } from "../batchnorm";

let seed: u32 = 12345;
/** Uniform in [-1, 1), a small LCG. */
function rnd(): f32 {
  seed = seed * 1664525 + 1013904223;
  return <f32>((<f64>(seed >>> 8) / 16777216.0) * 2 - 1);
}
function floats(n: i32): usize {
  const p = heap.alloc(<usize>n << 2);
  for (let i = 0; i < n; i++) store<f32>(p + (<usize>i << 2), rnd());
  return p;
}
function zeros(n: i32): usize {
  const p = heap.alloc(<usize>max(n, 1) << 2);
  memory.fill(p, 0, <usize>max(n, 1) << 2);
  return p;
}
function at(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}
/** Largest |a − b| / (1 + |b|) over n floats. */
function maxRelErr(a: usize, b: usize, n: i32): f64 {
  let worst: f64 = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.abs(<f64>at(a, i) - <f64>at(b, i)) / (1 + Math.abs(<f64>at(b, i)));
    if (e > worst) worst = e;
  }
  return worst;
}

describe("gemm", () => {
  it("matches gemmNaive for every transpose, with and without accumulate", () => {
    const m = 29, n = 37, k = 300; // edges in m and n, two KC blocks in k
    const a = floats(m * k), b = floats(k * n), init = floats(m * n);
    const got = zeros(m * n), want = zeros(m * n);
    const ws = heap.alloc(<usize>gemmWorkspaceBytes());
    for (let t = 0; t < 8; t++) {
      const transA = (t & 1) != 0, transB = (t & 2) != 0, acc = (t & 4) != 0;
      memory.copy(got, init, <usize>(m * n) << 2);
      memory.copy(want, init, <usize>(m * n) << 2);
      gemm(got, a, b, m, n, k, transA, transB, acc, ws, 0, 0, 1);
      gemmNaive(want, a, b, m, n, k, transA, transB, acc);
      expect<f64>(maxRelErr(got, want, m * n)).toBeLessThan(1e-5);
    }
  });
  it("splits the work between threads without overlap", () => {
    const m = 13, n = 50, k = 20;
    const a = floats(m * k), b = floats(k * n);
    const got = zeros(m * n), want = zeros(m * n);
    const stride = <usize>gemmWorkspaceBytes();
    const ws = heap.alloc(stride * 3);
    for (let tid = 0; tid < 3; tid++) gemm(got, a, b, m, n, k, false, true, false, ws, stride, tid, 3);
    gemmNaive(want, a, b, m, n, k, false, true, false);
    expect<f64>(maxRelErr(got, want, m * n)).toBeLessThan(1e-5);
  });
});

describe("sparse", () => {
  it("sparseGemmNN and sparseGemmTN equal the dense product", () => {
    const m = 21, n = 43, k = 70;
    const a = zeros(m * k);
    for (let i = 0; i < m * k; i += 7) store<f32>(a + (<usize>i << 2), rnd());
    const b = floats(k * n), got = zeros(m * n), want = zeros(m * n);
    const ws = heap.alloc(<usize>sparseNNWorkspaceBytes(k));
    sparseGemmNN(got, a, b, m, n, k, false, ws, 0, 0, 1);
    gemmNaive(want, a, b, m, n, k, false, false, false);
    expect<f64>(maxRelErr(got, want, m * n)).toBeLessThan(1e-5);
    // Aᵀ·B with A stored k'×m' = m×k: out is k×n from B (m×n)
    const b2 = floats(m * n), got2 = zeros(k * n), want2 = zeros(k * n);
    const ws2 = heap.alloc(<usize>sparseWorkspaceBytes(m));
    sparseGemmTN(got2, a, b2, k, n, m, false, ws2, 0, 0, 1);
    gemmNaive(want2, a, b2, k, n, m, true, false, false);
    expect<f64>(maxRelErr(got2, want2, k * n)).toBeLessThan(1e-5);
  });
});

describe("elementwise and reductions", () => {
  it("relu, reluBackward, scale, addBias, sumRows, dot", () => {
    const rows = 5, cols = 11, n = rows * cols;
    const x = floats(n), dy = floats(n), out = zeros(n), bias = floats(cols);
    relu(out, x, n, 0, 1);
    for (let i = 0; i < n; i++) expect<f32>(at(out, i)).toBe(at(x, i) > 0 ? at(x, i) : 0);
    reluBackward(out, dy, x, n, 0, 1);
    for (let i = 0; i < n; i++) expect<f32>(at(out, i)).toBe(at(x, i) > 0 ? at(dy, i) : 0);
    scale(out, x, 2.5, n, 0, 1);
    for (let i = 0; i < n; i++) expect<f32>(at(out, i)).toBe(at(x, i) * 2.5);
    memory.copy(out, x, <usize>n << 2);
    addBias(out, bias, rows, cols, 0, 1);
    for (let i = 0; i < n; i++) expect<f32>(at(out, i)).toBe(at(x, i) + at(bias, i % cols));
    const sums = zeros(cols), ws = heap.alloc(512 * 8);
    sumRows(sums, x, rows, cols, ws, 0, 0, 1);
    for (let c = 0; c < cols; c++) {
      let s: f64 = 0;
      for (let r = 0; r < rows; r++) s += <f64>at(x, r * cols + c);
      expect<f64>(Math.abs(<f64>at(sums, c) - s)).toBeLessThan(1e-6);
    }
    const partials = zeros(2);
    dot(partials, x, dy, n, 0, 1);
    let d: f64 = 0;
    for (let i = 0; i < n; i++) d += <f64>at(x, i) * <f64>at(dy, i);
    expect<f64>(Math.abs(load<f64>(partials) - d)).toBeLessThan(1e-5);
  });
});

describe("batchnorm", () => {
  it("normalizes each column to mean 0 and variance 1 and its backward sums dy", () => {
    const rows = 9, cols = 7, n = rows * cols;
    const x = floats(n), out = zeros(n), mean = zeros(cols), rstd = zeros(cols);
    const rm = zeros(cols), rv = zeros(cols), w = zeros(cols), b = zeros(cols);
    for (let c = 0; c < cols; c++) store<f32>(w + (<usize>c << 2), 1);
    const ws = heap.alloc(<usize>BN_WORKSPACE);
    batchNormTrain(out, mean, rstd, rm, rv, x, w, b, rows, cols, 0.1, 1e-5, ws, 0, 0, 1);
    for (let c = 0; c < cols; c++) {
      let s: f64 = 0, sq: f64 = 0;
      for (let r = 0; r < rows; r++) s += <f64>at(out, r * cols + c);
      for (let r = 0; r < rows; r++) sq += <f64>at(out, r * cols + c) * <f64>at(out, r * cols + c);
      expect<f64>(Math.abs(s / rows)).toBeLessThan(1e-5);
      expect<f64>(Math.abs(sq / rows - 1)).toBeLessThan(1e-3);
    }
    const dy = floats(n), dx = zeros(n), dw = zeros(cols), db = zeros(cols);
    batchNormBackward(dx, dw, db, dy, x, mean, rstd, w, rows, cols, ws, 0, 0, 1);
    for (let c = 0; c < cols; c++) {
      let s: f64 = 0, sdx: f64 = 0;
      for (let r = 0; r < rows; r++) s += <f64>at(dy, r * cols + c);
      for (let r = 0; r < rows; r++) sdx += <f64>at(dx, r * cols + c);
      expect<f64>(Math.abs(<f64>at(db, c) - s)).toBeLessThan(1e-5);
      expect<f64>(Math.abs(sdx)).toBeLessThan(1e-4); // dx sums to zero over the batch
    }
  });
});

describe("jumprelu", () => {
  it("zeroes codes below exp(threshold), passes the gradient where active", () => {
    const rows = 3, cols = 5, n = rows * cols;
    const pre = floats(n), t = zeros(cols), codes = zeros(n);
    for (let c = 0; c < cols; c++) store<f32>(t + (<usize>c << 2), <f32>Math.log(0.3));
    const ws = heap.alloc(<usize>(cols * 12 + 64));
    jumpRelu(codes, pre, t, rows, cols, ws, 0, 0, 1);
    const theta = <f32>Math.exp(<f64><f32>Math.log(0.3));
    for (let i = 0; i < n; i++) {
      const v = at(pre, i) > 0 ? at(pre, i) : <f32>0;
      expect<f32>(at(codes, i)).toBe(v < theta ? 0 : v);
    }
    const g = floats(n), dPre = zeros(n), dT = zeros(cols);
    jumpReluBackward(dPre, dT, g, pre, t, rows, cols, 0, 0.05, 20, ws, 0, 0, 1);
    for (let i = 0; i < n; i++) {
      expect<f32>(at(dPre, i)).toBe(at(pre, i) > 0 && at(pre, i) >= theta ? at(g, i) : 0);
    }
    // rectangle kernel, ε = 0.05, s = 1/ε: dT[c] = θ·Σ −20·θ·K·g over rows in the window
    for (let c = 0; c < cols; c++) {
      let acc: f64 = 0;
      for (let r = 0; r < rows; r++) {
        const v = max<f32>(at(pre, r * cols + c), 0);
        acc += -20 * <f64>theta * kernelValue(0, <f64>(v - theta), <f64><f32>0.05) * <f64>at(g, r * cols + c);
      }
      expect<f64>(Math.abs(<f64>at(dT, c) - acc * <f64>theta)).toBeLessThan(1e-4);
    }
    const partials = zeros(2), dT2 = zeros(cols);
    heavisideL0(partials, dT2, pre, t, rows, cols, 1, 6, 0.05, 20, ws, 0, 0, 1);
    let count = 0;
    for (let i = 0; i < n; i++) if (max<f32>(at(pre, i), 0) > theta) count++;
    expect<f64>(load<f64>(partials)).toBe(<f64>count);
  });
  it("kernel values: rectangle, triangular, cauchy at 0", () => {
    expect<f64>(kernelValue(0, 0, 0.5)).toBe(2);
    expect<f64>(kernelValue(0, 0.3, 0.5)).toBe(0);
    expect<f64>(kernelValue(2, 0, 0.5)).toBe(4);
    expect<f64>(Math.abs(kernelValue(7, 0, 0.5) - 1 / (Math.PI * 0.25))).toBeLessThan(1e-12);
  });
});

describe("optim", () => {
  it("one Adam step moves each parameter by about lr against the gradient sign", () => {
    const n = 11;
    const p = floats(n), g = floats(n), m = zeros(n), v = zeros(n), p0 = zeros(n);
    memory.copy(p0, p, <usize>n << 2);
    // step 1: bias corrections 1 − β1 and 1 − β2
    adam(p, g, m, v, n, 0.9, 0.999, 0, 1, <f32>(0.01 / 0.1), <f32>Math.sqrt(0.001), 1e-8, 0, 1);
    for (let i = 0; i < n; i++) {
      const step = <f64>at(p0, i) - <f64>at(p, i);
      const sign: f64 = at(g, i) > 0 ? 1 : -1;
      expect<f64>(Math.abs(step - 0.01 * sign)).toBeLessThan(1e-5);
    }
  });
});
