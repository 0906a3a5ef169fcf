/**
 * The decoder's code gradient dCodes += dXHat·Dᵀ, only at the entries `jumpReluBackward` reads:
 * active codes (pre > 0 and r ≥ θ) and the pre-codes inside its kernel window |r − θ| ≤ w
 * (`kernelWindow`: the support for the bounded kernels, where the f32 kernel is below 1e-17 of
 * its peak for gaussian and silverman, everything for cauchy). Everywhere else that backward
 * neither passes dCodes on nor reads it, so skipping those entries changes no bit of its outputs.
 * Each entry is summed exactly as `gemm` sums it: KC-deep blocks, each one chain of `madd` from
 * zero in order of depth, added to the output after each block. Threads split the rows.
 */

import { KC } from "./gemm";
import { kernelWindow, thresholds } from "./jumprelu";
import { madd } from "./simd";

/**
 * Writes the columns of row `p` (cols pre-codes) that need a gradient into `list` (i32) and
 * returns how many: the test of `jumpReluBackward`, quad by quad.
 */
// @ts-ignore: decorator
@inline function maskRow(list: usize, p: usize, theta: usize, cols: i32, win: v128): i32 {
  const zero = f32x4.splat(0);
  let n = 0;
  let c = 0;
  for (; c + 4 <= cols; c += 4) {
    const o = <usize> c << 2;
    const x = v128.load(p + o);
    const v = f32x4.max(x, zero);
    const th = v128.load(theta + o);
    const active = v128.and(f32x4.gt(x, zero), f32x4.ge(v, th));
    let bits = i32x4.bitmask(v128.or(active, f32x4.le(f32x4.abs(f32x4.sub(v, th)), win)));
    while (bits != 0) {
      store<i32>(list + (<usize> n << 2), c + ctz(bits));
      n++;
      bits &= bits - 1;
    }
  }
  const winS = f32x4.extract_lane(win, 0);
  for (; c < cols; c++) {
    const x = load<f32>(p + (<usize> c << 2));
    const v: f32 = x > 0 ? x : 0;
    const th = load<f32>(theta + (<usize> c << 2));
    if ((x > 0 && v >= th) || abs<f32>(v - th) <= winS) {
      store<i32>(list + (<usize> n << 2), c);
      n++;
    }
  }
  return n;
}

/** The dictionary row of list entry j + q (entry j past cnt). */
// @ts-ignore: decorator
@inline function rowAt(dict: usize, list: usize, j: i32, q: i32, cnt: i32, rowBytes: usize): usize {
  return dict + <usize> load<i32>(list + (<usize> (q < cnt ? j + q : j) << 2)) * rowBytes;
}

/** partials[tid] = the number of entries `maskedCodeGradient` computes in this thread's rows. */
export function codeMaskCount(
  partials: usize,
  pre: usize,
  logThreshold: usize,
  rows: i32,
  cols: i32,
  kind: i32,
  eps: f64,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  const r0 = <i32> ((<i64> rows * tid) / nt), r1 = <i32> ((<i64> rows * (tid + 1)) / nt);
  const theta = ws + <usize> tid * wsStride;
  const list = theta + (<usize> ((cols + 3) & ~3) << 2);
  thresholds(theta, logThreshold, 0, cols);
  const win = f32x4.splat(kernelWindow(kind, eps));
  let total: f64 = 0;
  for (let r = r0; r < r1; r++) {
    total += <f64> maskRow(list, pre + ((<usize> r * <usize> cols) << 2), theta, cols, win);
  }
  store<f64>(partials + (<usize> tid << 3), total);
}

/**
 * dCodes[r, c] += Σ_d dXHat[r, d]·dict[c, d] at the entries of `maskRow`, bit for bit as
 * gemm(dCodes, dXHat, dict, transB, accumulate). Workspace: cols f32 (θ) + cols i32 (the list).
 */
export function maskedCodeGradient(
  dCodes: usize,
  dXHat: usize,
  dict: usize,
  pre: usize,
  logThreshold: usize,
  rows: i32,
  cols: i32,
  dim: i32,
  kind: i32,
  eps: f64,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  const r0 = <i32> ((<i64> rows * tid) / nt), r1 = <i32> ((<i64> rows * (tid + 1)) / nt);
  const theta = ws + <usize> tid * wsStride;
  const list = theta + (<usize> ((cols + 3) & ~3) << 2);
  thresholds(theta, logThreshold, 0, cols);
  const win = f32x4.splat(kernelWindow(kind, eps));
  const rowBytes = <usize> dim << 2;
  for (let r = r0; r < r1; r++) {
    const n = maskRow(list, pre + ((<usize> r * <usize> cols) << 2), theta, cols, win);
    const x = dXHat + <usize> r * rowBytes;
    const out = dCodes + ((<usize> r * <usize> cols) << 2);
    for (let j = 0; j < n; j += 8) {
      const cnt = min(8, n - j);
      // eight dictionary rows (the last one repeated past cnt)
      const d0 = rowAt(dict, list, j, 0, cnt, rowBytes), d1 = rowAt(dict, list, j, 1, cnt, rowBytes);
      const d2 = rowAt(dict, list, j, 2, cnt, rowBytes), d3 = rowAt(dict, list, j, 3, cnt, rowBytes);
      const d4 = rowAt(dict, list, j, 4, cnt, rowBytes), d5 = rowAt(dict, list, j, 5, cnt, rowBytes);
      const d6 = rowAt(dict, list, j, 6, cnt, rowBytes), d7 = rowAt(dict, list, j, 7, cnt, rowBytes);
      // the outputs, as gemm reads them before its first block
      let tot0 = f32x4.splat(0), tot1 = tot0;
      for (let q = 0; q < cnt; q++) {
        const v = load<f32>(out + (<usize> load<i32>(list + (<usize> (j + q) << 2)) << 2));
        if (q == 0) tot0 = f32x4.replace_lane(tot0, 0, v);
        else if (q == 1) tot0 = f32x4.replace_lane(tot0, 1, v);
        else if (q == 2) tot0 = f32x4.replace_lane(tot0, 2, v);
        else if (q == 3) tot0 = f32x4.replace_lane(tot0, 3, v);
        else if (q == 4) tot1 = f32x4.replace_lane(tot1, 0, v);
        else if (q == 5) tot1 = f32x4.replace_lane(tot1, 1, v);
        else if (q == 6) tot1 = f32x4.replace_lane(tot1, 2, v);
        else tot1 = f32x4.replace_lane(tot1, 3, v);
      }
      for (let pc = 0; pc < dim; pc += KC) {
        const pe = min(pc + KC, dim);
        let a0 = f32x4.splat(0), a1 = a0;
        let l = pc;
        for (; l + 4 <= pe; l += 4) {
          const o = <usize> l << 2;
          const x0 = v128.load32_splat(x + o), x1 = v128.load32_splat(x + o, 4);
          const x2 = v128.load32_splat(x + o, 8), x3 = v128.load32_splat(x + o, 12);
          // 4×4 transposes: lane q of column l + i is dict[c_q, l + i]
          let r0 = v128.load(d0 + o), r1 = v128.load(d1 + o);
          let r2 = v128.load(d2 + o), r3 = v128.load(d3 + o);
          let t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
          let t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
          a0 = madd(x0, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), a0);
          a0 = madd(x1, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), a0);
          a0 = madd(x2, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), a0);
          a0 = madd(x3, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), a0);
          r0 = v128.load(d4 + o);
          r1 = v128.load(d5 + o);
          r2 = v128.load(d6 + o);
          r3 = v128.load(d7 + o);
          t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
          t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
          t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
          t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
          a1 = madd(x0, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), a1);
          a1 = madd(x1, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), a1);
          a1 = madd(x2, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), a1);
          a1 = madd(x3, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), a1);
        }
        for (; l < pe; l++) {
          const o = <usize> l << 2;
          const xs = v128.load32_splat(x + o);
          let b0 = f32x4.splat(load<f32>(d0 + o)), b1 = f32x4.splat(load<f32>(d4 + o));
          b0 = f32x4.replace_lane(b0, 1, load<f32>(d1 + o));
          b0 = f32x4.replace_lane(b0, 2, load<f32>(d2 + o));
          b0 = f32x4.replace_lane(b0, 3, load<f32>(d3 + o));
          b1 = f32x4.replace_lane(b1, 1, load<f32>(d5 + o));
          b1 = f32x4.replace_lane(b1, 2, load<f32>(d6 + o));
          b1 = f32x4.replace_lane(b1, 3, load<f32>(d7 + o));
          a0 = madd(xs, b0, a0);
          a1 = madd(xs, b1, a1);
        }
        tot0 = f32x4.add(a0, tot0);
        tot1 = f32x4.add(a1, tot1);
      }
      for (let q = 0; q < cnt; q++) {
        const v: f32 = q == 0 ? f32x4.extract_lane(tot0, 0)
          : q == 1 ? f32x4.extract_lane(tot0, 1)
          : q == 2 ? f32x4.extract_lane(tot0, 2)
          : q == 3 ? f32x4.extract_lane(tot0, 3)
          : q == 4 ? f32x4.extract_lane(tot1, 0)
          : q == 5 ? f32x4.extract_lane(tot1, 1)
          : q == 6 ? f32x4.extract_lane(tot1, 2)
          : f32x4.extract_lane(tot1, 3);
        store<f32>(out + (<usize> load<i32>(list + (<usize> (j + q) << 2)) << 2), v);
      }
    }
  }
}
