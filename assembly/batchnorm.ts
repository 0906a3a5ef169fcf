/**
 * BatchNorm1d over a rows×cols matrix (llm.c style: forward keeps mean and rstd for the backward).
 * Threads split the columns; each walks all rows over blocks of `BN_BLOCK` columns with f64 sums
 * in its workspace (`BN_WORKSPACE` bytes).
 */

import { addRowF64 } from "./reductions";
import { partEnd, partStart } from "./simd";

/** Columns handled per pass (their f64 sums stay in L1). */
export const BN_BLOCK: i32 = 256;
/** Workspace bytes per thread: five f64 rows of BN_BLOCK. */
export const BN_WORKSPACE: i32 = BN_BLOCK * 40;

/** Training mode: batch statistics, mean/rstd stored, running statistics updated. */
export function batchNormTrain(
  out: usize,
  mean: usize,
  rstd: usize,
  runningMean: usize,
  runningVar: usize,
  x: usize,
  weight: usize,
  bias: usize,
  rows: i32,
  cols: i32,
  momentum: f64,
  eps: f64,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  const c0 = partStart(cols, tid, nt, 4), c1 = partEnd(cols, tid, nt, 4);
  const sum = ws + <usize> tid * wsStride;
  const sq = sum + (<usize> BN_BLOCK << 3);
  for (let cb = c0; cb < c1; cb += BN_BLOCK) {
    const w = min(BN_BLOCK, c1 - cb);
    memory.fill(sum, 0, <usize> BN_BLOCK << 4);
    for (let r = 0; r < rows; r++) {
      addRowF64(sum, x + ((<usize> r * <usize> cols + <usize> cb) << 2), w);
    }
    for (let c = 0; c < w; c++) {
      const p = sum + (<usize> c << 3);
      store<f64>(p, load<f64>(p) / <f64> rows);
    }
    for (let r = 0; r < rows; r++) {
      const xr = x + ((<usize> r * <usize> cols + <usize> cb) << 2);
      let c = 0;
      for (; c + 2 <= w; c += 2) {
        const v = f64x2.promote_low_f32x4(v128.load64_zero(xr + (<usize> c << 2)));
        const d = f64x2.sub(v, v128.load(sum + (<usize> c << 3)));
        const q = sq + (<usize> c << 3);
        v128.store(q, f64x2.add(v128.load(q), f64x2.mul(d, d)));
      }
      for (; c < w; c++) {
        const d = <f64> load<f32>(xr + (<usize> c << 2)) - load<f64>(sum + (<usize> c << 3));
        const q = sq + (<usize> c << 3);
        store<f64>(q, load<f64>(q) + d * d);
      }
    }
    for (let c = 0; c < w; c++) {
      const m = load<f64>(sum + (<usize> c << 3));
      const s2 = load<f64>(sq + (<usize> c << 3));
      const s = 1 / Math.sqrt(s2 / <f64> rows + eps);
      const cc = <usize> (cb + c) << 2;
      store<f32>(mean + cc, <f32> m);
      store<f32>(rstd + cc, <f32> s);
      store<f32>(
        runningMean + cc,
        <f32> ((1 - momentum) * <f64> load<f32>(runningMean + cc) + momentum * m),
      );
      store<f32>(
        runningVar + cc,
        <f32> ((1 - momentum) * <f64> load<f32>(runningVar + cc) +
          momentum * (s2 / <f64> (rows - 1))),
      );
      // keep the f32 scale s·w and the f32 mean for the normalization pass
      store<f32>(sq + (<usize> c << 2), <f32> (s * <f64> load<f32>(weight + cc)));
      store<f32>(sum + (<usize> c << 2), <f32> m);
    }
    normalizeBlock(out, x, sum, sq, bias + (<usize> cb << 2), rows, cols, cb, w);
  }
}

/** out[r, cb + c] = (x − mu[c])·a[c] + bias[c] over a block of w columns (f32). */
// @ts-ignore: decorator
@inline function normalizeBlock(
  out: usize,
  x: usize,
  mu: usize,
  a: usize,
  bias: usize,
  rows: i32,
  cols: i32,
  cb: i32,
  w: i32,
): void {
  for (let r = 0; r < rows; r++) {
    const off = (<usize> r * <usize> cols + <usize> cb) << 2;
    const xr = x + off, or = out + off;
    let c = 0;
    for (; c + 4 <= w; c += 4) {
      const p = <usize> c << 2;
      const v = f32x4.sub(v128.load(xr + p), v128.load(mu + p));
      v128.store(or + p, f32x4.add(f32x4.mul(v, v128.load(a + p)), v128.load(bias + p)));
    }
    for (; c < w; c++) {
      const p = <usize> c << 2;
      store<f32>(
        or + p,
        (load<f32>(xr + p) - load<f32>(mu + p)) * load<f32>(a + p) + load<f32>(bias + p),
      );
    }
  }
}

/** Eval mode: out = (x − runningMean)·(weight/sqrt(runningVar + eps)) + bias. */
export function batchNormEval(
  out: usize,
  x: usize,
  runningMean: usize,
  runningVar: usize,
  weight: usize,
  bias: usize,
  rows: i32,
  cols: i32,
  eps: f64,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  const c0 = partStart(cols, tid, nt, 4), c1 = partEnd(cols, tid, nt, 4);
  const a = ws + <usize> tid * wsStride;
  for (let cb = c0; cb < c1; cb += BN_BLOCK) {
    const w = min(BN_BLOCK, c1 - cb);
    for (let c = 0; c < w; c++) {
      const cc = <usize> (cb + c) << 2;
      const s = 1 / Math.sqrt(<f64> load<f32>(runningVar + cc) + eps);
      store<f32>(a + (<usize> c << 2), <f32> (s * <f64> load<f32>(weight + cc)));
    }
    normalizeBlock(
      out,
      x,
      runningMean + (<usize> cb << 2),
      a,
      bias + (<usize> cb << 2),
      rows,
      cols,
      cb,
      w,
    );
  }
}

/** Backward of batchNormTrain: writes dx, accumulates dweight and dbias. */
export function batchNormBackward(
  dx: usize,
  dweight: usize,
  dbias: usize,
  dy: usize,
  x: usize,
  mean: usize,
  rstd: usize,
  weight: usize,
  rows: i32,
  cols: i32,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  const c0 = partStart(cols, tid, nt, 4), c1 = partEnd(cols, tid, nt, 4);
  const sDy = ws + <usize> tid * wsStride;
  const sDyX = sDy + (<usize> BN_BLOCK << 3);
  const ka = sDyX + (<usize> BN_BLOCK << 3);
  const kDy = ka + (<usize> BN_BLOCK << 3), kDyX = kDy + (<usize> BN_BLOCK << 3);
  for (let cb = c0; cb < c1; cb += BN_BLOCK) {
    const w = min(BN_BLOCK, c1 - cb);
    memory.fill(sDy, 0, <usize> BN_BLOCK << 4);
    const mu = mean + (<usize> cb << 2), rs = rstd + (<usize> cb << 2);
    for (let r = 0; r < rows; r++) {
      const off = (<usize> r * <usize> cols + <usize> cb) << 2;
      const g = dy + off, xr = x + off;
      let c = 0;
      for (; c + 2 <= w; c += 2) {
        const p4 = <usize> c << 2, p8 = <usize> c << 3;
        const gv = f64x2.promote_low_f32x4(v128.load64_zero(g + p4));
        const xh = f64x2.mul(
          f64x2.sub(
            f64x2.promote_low_f32x4(v128.load64_zero(xr + p4)),
            f64x2.promote_low_f32x4(v128.load64_zero(mu + p4)),
          ),
          f64x2.promote_low_f32x4(v128.load64_zero(rs + p4)),
        );
        v128.store(sDy + p8, f64x2.add(v128.load(sDy + p8), gv));
        v128.store(sDyX + p8, f64x2.add(v128.load(sDyX + p8), f64x2.mul(gv, xh)));
      }
      for (; c < w; c++) {
        const p4 = <usize> c << 2, p8 = <usize> c << 3;
        const gv = <f64> load<f32>(g + p4);
        const xh = (<f64> load<f32>(xr + p4) - <f64> load<f32>(mu + p4)) * <f64> load<f32>(rs + p4);
        store<f64>(sDy + p8, load<f64>(sDy + p8) + gv);
        store<f64>(sDyX + p8, load<f64>(sDyX + p8) + gv * xh);
      }
    }
    // per column: dbias, dweight, and the f64 coefficients of
    // dx = a·(dy − mean(dy) − x̂·mean(dy·x̂)), a = rstd·w, x̂ = (x − mean)·rstd (as the reference)
    for (let c = 0; c < w; c++) {
      const cc = <usize> (cb + c) << 2, c8 = <usize> c << 3;
      const sd = load<f64>(sDy + c8), sdx = load<f64>(sDyX + c8);
      store<f32>(dbias + cc, <f32> (<f64> load<f32>(dbias + cc) + sd));
      store<f32>(dweight + cc, <f32> (<f64> load<f32>(dweight + cc) + sdx));
      store<f64>(ka + c8, <f64> load<f32>(rstd + cc) * <f64> load<f32>(weight + cc));
      store<f64>(kDy + c8, sd / <f64> rows);
      store<f64>(kDyX + c8, sdx / <f64> rows);
    }
    for (let r = 0; r < rows; r++) {
      const off = (<usize> r * <usize> cols + <usize> cb) << 2;
      const g = dy + off, xr = x + off, o = dx + off;
      let c = 0;
      for (; c + 2 <= w; c += 2) {
        const p4 = <usize> c << 2, p8 = <usize> c << 3;
        const xh = f64x2.mul(
          f64x2.sub(
            f64x2.promote_low_f32x4(v128.load64_zero(xr + p4)),
            f64x2.promote_low_f32x4(v128.load64_zero(mu + p4)),
          ),
          f64x2.promote_low_f32x4(v128.load64_zero(rs + p4)),
        );
        const gv = f64x2.promote_low_f32x4(v128.load64_zero(g + p4));
        const inner = f64x2.sub(
          f64x2.sub(gv, v128.load(kDy + p8)),
          f64x2.mul(xh, v128.load(kDyX + p8)),
        );
        const v = f32x4.demote_f64x2_zero(f64x2.mul(v128.load(ka + p8), inner));
        v128.store64_lane(o + p4, v, 0);
      }
      for (; c < w; c++) {
        const p4 = <usize> c << 2, p8 = <usize> c << 3;
        const xh = (<f64> load<f32>(xr + p4) - <f64> load<f32>(mu + p4)) * <f64> load<f32>(rs + p4);
        const inner = <f64> load<f32>(g + p4) - load<f64>(kDy + p8) - xh * load<f64>(kDyX + p8);
        store<f32>(o + p4, <f32> (load<f64>(ka + p8) * inner));
      }
    }
  }
}
