/**
 * Reductions and losses. Scalar results are written as one f64 partial per thread to
 * `partials[tid]`; the caller adds the partials (in thread order) into the output scalar.
 * Sums run in f32x4 over blocks of 64 floats, each block added into an f64 total.
 */

import { hsum64, partEnd, partStart } from "./simd";

/** Accumulates out[c] += Σ_r x[r, c]; threads split the columns; f64 sums in the workspace. */
export function sumRows(
  out: usize,
  x: usize,
  rows: i32,
  cols: i32,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  const c0 = partStart(cols, tid, nt, 4), c1 = partEnd(cols, tid, nt, 4);
  const acc = ws + <usize> tid * wsStride;
  for (let cb = c0; cb < c1; cb += 512) {
    const ce = min(cb + 512, c1);
    memory.fill(acc, 0, <usize> (ce - cb) << 3);
    for (let r = 0; r < rows; r++) {
      addRowF64(acc, x + ((<usize> r * <usize> cols + <usize> cb) << 2), ce - cb);
    }
    for (let c = cb; c < ce; c++) {
      const o = out + (<usize> c << 2);
      store<f32>(o, <f32> (<f64> load<f32>(o) + load<f64>(acc + (<usize> (c - cb) << 3))));
    }
  }
}

/** acc[i] += x[i] for i < n, acc in f64. */
// @ts-ignore: decorator
@inline export function addRowF64(acc: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize> i << 2));
    const p = acc + (<usize> i << 3);
    v128.store(p, f64x2.add(v128.load(p), f64x2.promote_low_f32x4(v)));
    v128.store(
      p,
      f64x2.add(v128.load(p, 16), f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1))),
      16,
    );
  }
  for (; i < n; i++) {
    const p = acc + (<usize> i << 3);
    store<f64>(p, load<f64>(p) + <f64> load<f32>(x + (<usize> i << 2)));
  }
}

/** Accumulates grad[i] += 2·scale·(a[i] − b[i]); partials[tid] = Σ (a − b)². */
export function squaredError(
  partials: usize,
  grad: usize,
  a: usize,
  b: usize,
  n: i32,
  scale: f32,
  tid: i32,
  nt: i32,
): void {
  const i0 = partStart(n, tid, nt, 64), i1 = partEnd(n, tid, nt, 64);
  const twoScale: f32 = <f32> 2 * scale;
  const g2 = f32x4.splat(twoScale);
  let total: f64 = 0;
  let i = i0;
  for (; i + 64 <= i1; i += 64) {
    let s = f32x4.splat(0);
    for (let q = 0; q < 64; q += 4) {
      const p = <usize> (i + q) << 2;
      const d = f32x4.sub(v128.load(a + p), v128.load(b + p));
      s = f32x4.add(s, f32x4.mul(d, d));
      v128.store(grad + p, f32x4.add(v128.load(grad + p), f32x4.mul(g2, d)));
    }
    total += hsum64(s);
  }

  for (; i < i1; i++) {
    const p = <usize> i << 2;
    const d = load<f32>(a + p) - load<f32>(b + p);
    total += <f64> d * <f64> d;
    store<f32>(grad + p, load<f32>(grad + p) + twoScale * d);
  }
  store<f64>(partials + (<usize> tid << 3), total);
}

/** Accumulates grad[i] += scale·sign(a[i]) (sign(0) = 0); partials[tid] = Σ |a|. */
export function absSum(
  partials: usize,
  grad: usize,
  a: usize,
  n: i32,
  scale: f32,
  tid: i32,
  nt: i32,
): void {
  const i0 = partStart(n, tid, nt, 64), i1 = partEnd(n, tid, nt, 64);
  const sc = f32x4.splat(scale);
  const zero = f32x4.splat(0);
  let total: f64 = 0;
  let i = i0;
  for (; i + 64 <= i1; i += 64) {
    let s = f32x4.splat(0);
    for (let q = 0; q < 64; q += 4) {
      const p = <usize> (i + q) << 2;
      const v = v128.load(a + p);
      s = f32x4.add(s, f32x4.abs(v));
      const sg = f32x4.sub(v128.and(f32x4.gt(v, zero), sc), v128.and(f32x4.lt(v, zero), sc));
      v128.store(grad + p, f32x4.add(v128.load(grad + p), sg));
    }
    total += hsum64(s);
  }
  for (; i < i1; i++) {
    const p = <usize> i << 2;
    const v = load<f32>(a + p);
    total += <f64> abs<f32>(v);
    const sg: f32 = v > 0 ? scale : v < 0 ? -scale : 0;
    store<f32>(grad + p, load<f32>(grad + p) + sg);
  }
  store<f64>(partials + (<usize> tid << 3), total);
}

/** partials[tid] = Σ x[i]·y[i] over this thread's part (sumSquares passes x twice). */
export function dot(partials: usize, x: usize, y: usize, n: i32, tid: i32, nt: i32): void {
  const i0 = partStart(n, tid, nt, 64), i1 = partEnd(n, tid, nt, 64);
  let total: f64 = 0;
  let i = i0;
  for (; i + 64 <= i1; i += 64) {
    let s = f32x4.splat(0);
    for (let q = 0; q < 64; q += 4) {
      const p = <usize> (i + q) << 2;
      s = f32x4.add(s, f32x4.mul(v128.load(x + p), v128.load(y + p)));
    }
    total += hsum64(s);
  }
  for (; i < i1; i++) {
    const p = <usize> i << 2;
    total += <f64> load<f32>(x + p) * <f64> load<f32>(y + p);
  }
  store<f64>(partials + (<usize> tid << 3), total);
}
