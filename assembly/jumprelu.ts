/**
 * JumpReLU forward/backward and the Heaviside L0 penalty, with the eight pseudo-gradient kernels
 * of `src/kernels.ts` (same index order). θ = exp(logThreshold) rounded to f32, r = max(pre, 0).
 * The threshold gradient only needs the kernel inside its window: elements outside are skipped
 * (exactly zero kernels; for gaussian and silverman, where the value is below 1e-17 of the peak),
 * four at a time when no lane is inside. Column sums run in f64; threads split the columns.
 */

import { partEnd, partStart } from "./simd";

/** The kernel value at x (= r − θ) with bandwith eps, in f64 (mirrors `kernelValue`). */
export function kernelValue(kind: i32, x: f64, eps: f64): f64 {
  const h = eps / 2;
  switch (kind) {
    case 0:
      return x >= -h && x <= h ? 1 / eps : 0; // rectangle
    case 1: { // gaussian
      const u = x / h;
      return Math.exp(-0.5 * u * u) / (eps * Math.sqrt(2 * Math.PI));
    }
    case 2: { // triangular
      const a = Math.abs(x);
      return a <= h ? (1 - a / h) / h : 0;
    }
    case 3:
      return Math.abs(x) <= eps ? (1 + Math.cos(x * (Math.PI / eps))) / 2 : 0; // cosine
    case 4: { // epanechnikov
      const u = x / h;
      return Math.abs(u) <= 1 ? (0.75 * (1 - u * u)) / h : 0;
    }
    case 5: { // quartic
      const u = x / h;
      const w = 1 - u * u;
      return Math.abs(u) <= 1 ? ((15.0 / 16.0) * w * w) / h : 0;
    }
    case 6: { // silverman
      const u = Math.abs(x) / h / Math.SQRT2;
      return (Math.exp(-u) * Math.sin(u + Math.PI / 4)) / h;
    }
    default: { // cauchy
      const u = x / h;
      return 1 / (1 + u * u) / (Math.PI * h);
    }
  }
}

/** |x| above which the kernel is skipped (a little wider than the support; ∞ for cauchy). */
export function kernelWindow(kind: i32, eps: f64): f32 {
  const h = eps / 2;
  switch (kind) {
    case 1:
      return <f32> (12 * h); // exp(−72) ≈ 5e−32
    case 3:
      return <f32> (eps * 1.001);
    case 6:
      return <f32> (40 * Math.SQRT2 * h); // exp(−40) ≈ 4e−18
    case 7:
      return Infinity;
    default:
      return <f32> (h * 1.001);
  }
}

/** theta[c] = f32(exp(t[c])) for c in [c0, c1), written at theta[c − c0]. */
// @ts-ignore: decorator
@inline export function thresholds(theta: usize, logThreshold: usize, c0: i32, c1: i32): void {
  for (let c = c0; c < c1; c++) {
    store<f32>(
      theta + (<usize> (c - c0) << 2),
      <f32> Math.exp(<f64> load<f32>(logThreshold + (<usize> c << 2))),
    );
  }
}

/** codes = r where r ≥ θ else 0; threads split the rows; workspace: cols f32. */
export function jumpRelu(
  codes: usize,
  pre: usize,
  logThreshold: usize,
  rows: i32,
  cols: i32,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  const r0 = partStart(rows, tid, nt, 1), r1 = partEnd(rows, tid, nt, 1);
  if (r0 >= r1) return;
  const theta = ws + <usize> tid * wsStride;
  thresholds(theta, logThreshold, 0, cols);
  const zero = f32x4.splat(0);
  for (let r = r0; r < r1; r++) {
    const off = (<usize> r * <usize> cols) << 2;
    const p = pre + off, z = codes + off;
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize> c << 2;
      const v = f32x4.max(v128.load(p + o), zero);
      v128.store(z + o, v128.and(v, f32x4.ge(v, v128.load(theta + o))));
    }
    for (; c < cols; c++) {
      const o = <usize> c << 2;
      const x = load<f32>(p + o);
      const v: f32 = x > 0 ? x : 0;
      store<f32>(z + o, v < load<f32>(theta + o) ? 0 : v);
    }
  }
}

/**
 * dPre = dCodes where r ≥ θ and pre > 0 else 0; dLogThreshold[c] += θ·Σ_r −s·θ·K(r − θ)·dCodes.
 * Threads split the columns; workspace: cols f32 (θ) + cols f64 (sums).
 */
export function jumpReluBackward(
  dPre: usize,
  dLogThreshold: usize,
  dCodes: usize,
  pre: usize,
  logThreshold: usize,
  rows: i32,
  cols: i32,
  kind: i32,
  eps: f64,
  s: f64,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  const c0 = partStart(cols, tid, nt, 4), c1 = partEnd(cols, tid, nt, 4);
  if (c0 >= c1) return;
  const w = c1 - c0;
  const theta = ws + <usize> tid * wsStride;
  const acc = theta + (<usize> ((w + 3) & ~3) << 2);
  thresholds(theta, logThreshold, c0, c1);
  memory.fill(acc, 0, <usize> w << 3);
  const win = f32x4.splat(kernelWindow(kind, eps));
  const zero = f32x4.splat(0);
  for (let r = 0; r < rows; r++) {
    const off = (<usize> r * <usize> cols + <usize> c0) << 2;
    const p = pre + off, g = dCodes + off, d = dPre + off;
    let c = 0;
    for (; c + 4 <= w; c += 4) {
      const o = <usize> c << 2;
      const x = v128.load(p + o);
      const v = f32x4.max(x, zero);
      const th = v128.load(theta + o);
      const gv = v128.load(g + o);
      v128.store(d + o, v128.and(gv, v128.and(f32x4.gt(x, zero), f32x4.ge(v, th))));
      // only the lanes inside the window read dCodes (see maskedCodeGradient)
      let lanes = i32x4.bitmask(f32x4.le(f32x4.abs(f32x4.sub(v, th)), win));
      while (lanes != 0) {
        const cq = <usize> (c + ctz(lanes));
        lanes &= lanes - 1;
        const t = <f64> load<f32>(theta + (cq << 2));
        const diff = <f64> (max<f32>(load<f32>(p + (cq << 2)), 0) - <f32> t);
        const k = kernelValue(kind, diff, eps);
        if (k != 0) {
          const a = acc + (cq << 3);
          store<f64>(a, load<f64>(a) + -s * t * k * <f64> load<f32>(g + (cq << 2)));
        }
      }
    }
    const winS = f32x4.extract_lane(win, 0);
    for (; c < w; c++) {
      const cq = <usize> c;
      const x = load<f32>(p + (cq << 2));
      const v: f32 = x > 0 ? x : 0;
      const tf = load<f32>(theta + (cq << 2));
      const gq = load<f32>(g + (cq << 2));
      store<f32>(d + (cq << 2), x > 0 && v >= tf ? gq : 0);
      if (!(abs<f32>(v - tf) <= winS)) continue;
      const t = <f64> tf;
      const k = kernelValue(kind, <f64> (v - tf), eps);
      const a = acc + (cq << 3);
      store<f64>(a, load<f64>(a) + -s * t * k * <f64> gq);
    }
  }
  for (let c = 0; c < w; c++) {
    const o = dLogThreshold + (<usize> (c0 + c) << 2);
    const t = <f64> load<f32>(theta + (<usize> c << 2));
    store<f32>(o, <f32> (<f64> load<f32>(o) + load<f64>(acc + (<usize> c << 3)) * t));
  }
}

/**
 * partials[tid] = #{r > θ} over this thread's columns; dLogThreshold[c] += θ·Σ_r −s·K(r − θ)·scale.
 * Threads split the columns; workspace as jumpReluBackward.
 */
export function heavisideL0(
  partials: usize,
  dLogThreshold: usize,
  pre: usize,
  logThreshold: usize,
  rows: i32,
  cols: i32,
  scale: f64,
  kind: i32,
  eps: f64,
  s: f64,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  const c0 = partStart(cols, tid, nt, 4), c1 = partEnd(cols, tid, nt, 4);
  store<f64>(partials + (<usize> tid << 3), 0);
  if (c0 >= c1) return;
  const w = c1 - c0;
  const theta = ws + <usize> tid * wsStride;
  const acc = theta + (<usize> ((w + 3) & ~3) << 2);
  thresholds(theta, logThreshold, c0, c1);
  memory.fill(acc, 0, <usize> w << 3);
  const win = f32x4.splat(kernelWindow(kind, eps));
  const zero = f32x4.splat(0);
  let counts = i32x4.splat(0);
  let count: i32 = 0;
  for (let r = 0; r < rows; r++) {
    const p = pre + ((<usize> r * <usize> cols + <usize> c0) << 2);
    let c = 0;
    for (; c + 4 <= w; c += 4) {
      const o = <usize> c << 2;
      const v = f32x4.max(v128.load(p + o), zero);
      const th = v128.load(theta + o);
      counts = i32x4.sub(counts, f32x4.gt(v, th)); // true lanes are −1
      const u = f32x4.sub(v, th);
      if (v128.any_true(f32x4.le(f32x4.abs(u), win))) {
        for (let q = 0; q < 4; q++) {
          const cq = <usize> (c + q);
          const t = <f64> load<f32>(theta + (cq << 2));
          const k = kernelValue(kind, <f64> (max<f32>(load<f32>(p + (cq << 2)), 0) - <f32> t), eps);
          if (k != 0) {
            const a = acc + (cq << 3);
            store<f64>(a, load<f64>(a) + -s * k * scale);
          }
        }
      }
    }
    for (; c < w; c++) {
      const cq = <usize> c;
      const x = load<f32>(p + (cq << 2));
      const v: f32 = x > 0 ? x : 0;
      const tf = load<f32>(theta + (cq << 2));
      if (v > tf) count++;
      const a = acc + (cq << 3);
      store<f64>(a, load<f64>(a) + -s * kernelValue(kind, <f64> (v - tf), eps) * scale);
    }
  }
  count += i32x4.extract_lane(counts, 0) + i32x4.extract_lane(counts, 1) +
    i32x4.extract_lane(counts, 2) + i32x4.extract_lane(counts, 3);
  for (let c = 0; c < w; c++) {
    const o = dLogThreshold + (<usize> (c0 + c) << 2);
    const t = <f64> load<f32>(theta + (<usize> c << 2));
    store<f32>(o, <f32> (<f64> load<f32>(o) + load<f64>(acc + (<usize> c << 3)) * t));
  }
  store<f64>(partials + (<usize> tid << 3), <f64> count);
}
