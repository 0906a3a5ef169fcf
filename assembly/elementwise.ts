/**
 * Elementwise kernels: copy, fill, scale, addBias, relu and its backward, scaleByExp.
 * Each takes (outputs, inputs, sizes, tid, nt) and handles its part of the elements
 * (parts are multiples of 4 floats, so every part but the last is whole vectors).
 */

import { partEnd, partStart } from "./simd";

/** dst[i] = src[i] for this thread's part of [0, n). */
export function copy(dst: usize, src: usize, n: i32, tid: i32, nt: i32): void {
  const i0 = partStart(n, tid, nt, 16), i1 = partEnd(n, tid, nt, 16);
  if (i1 > i0) {
    memory.copy(dst + (<usize> i0 << 2), src + (<usize> i0 << 2), <usize> (i1 - i0) << 2);
  }
}

/** dst[i] = value. */
export function fill(dst: usize, value: f32, n: i32, tid: i32, nt: i32): void {
  const i0 = partStart(n, tid, nt, 16), i1 = partEnd(n, tid, nt, 16);
  const v = f32x4.splat(value);
  let i = i0;
  for (; i + 4 <= i1; i += 4) v128.store(dst + (<usize> i << 2), v);
  for (; i < i1; i++) store<f32>(dst + (<usize> i << 2), value);
}

/** out[i] = alpha·x[i] (out may alias x). */
export function scale(out: usize, x: usize, alpha: f32, n: i32, tid: i32, nt: i32): void {
  const i0 = partStart(n, tid, nt, 16), i1 = partEnd(n, tid, nt, 16);
  const a = f32x4.splat(alpha);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const p = <usize> i << 2;
    v128.store(out + p, f32x4.mul(v128.load(x + p), a));
  }
  for (; i < i1; i++) {
    const p = <usize> i << 2;
    store<f32>(out + p, load<f32>(x + p) * alpha);
  }
}

/** out[r, c] += bias[c] for a rows×cols matrix; threads split the rows. */
export function addBias(out: usize, bias: usize, rows: i32, cols: i32, tid: i32, nt: i32): void {
  const r0 = partStart(rows, tid, nt, 1), r1 = partEnd(rows, tid, nt, 1);
  for (let r = r0; r < r1; r++) {
    const o = out + ((<usize> r * <usize> cols) << 2);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const p = <usize> c << 2;
      v128.store(o + p, f32x4.add(v128.load(o + p), v128.load(bias + p)));
    }
    for (; c < cols; c++) {
      const p = <usize> c << 2;
      store<f32>(o + p, load<f32>(o + p) + load<f32>(bias + p));
    }
  }
}

/** out[i] = max(x[i], 0) (out may alias x). */
export function relu(out: usize, x: usize, n: i32, tid: i32, nt: i32): void {
  const i0 = partStart(n, tid, nt, 16), i1 = partEnd(n, tid, nt, 16);
  const zero = f32x4.splat(0);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const p = <usize> i << 2;
    const v = v128.load(x + p);
    v128.store(out + p, v128.and(v, f32x4.gt(v, zero)));
  }
  for (; i < i1; i++) {
    const p = <usize> i << 2;
    const v = load<f32>(x + p);
    store<f32>(out + p, v > 0 ? v : 0);
  }
}

/** dx[i] = dy[i] where x[i] > 0, else 0 (dx may alias dy). */
export function reluBackward(dx: usize, dy: usize, x: usize, n: i32, tid: i32, nt: i32): void {
  const i0 = partStart(n, tid, nt, 16), i1 = partEnd(n, tid, nt, 16);
  const zero = f32x4.splat(0);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const p = <usize> i << 2;
    v128.store(dx + p, v128.and(v128.load(dy + p), f32x4.gt(v128.load(x + p), zero)));
  }
  for (; i < i1; i++) {
    const p = <usize> i << 2;
    store<f32>(dx + p, load<f32>(x + p) > 0 ? load<f32>(dy + p) : 0);
  }
}

/** out[i] = x[i]·exp(logScale[0]), the factor rounded to f32 as torch.exp (out may alias x). */
export function scaleByExp(out: usize, x: usize, logScale: usize, n: i32, tid: i32, nt: i32): void {
  const s = <f32> Math.exp(<f64> load<f32>(logScale));
  scale(out, x, s, n, tid, nt);
}
