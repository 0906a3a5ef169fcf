/**
 * Dictionary projections (`normalizeRows`), in two phases so that threads split the rows:
 * `rowNorms` writes one f32 norm per row (+1e-8 for l2/l1, as the seed), the caller takes the
 * maximum for max_l2/max_l1, then `divideRows` divides each row by its norm (or by `common` > 0).
 */

import { partEnd, partStart } from "./simd";

/** norms[r] = ‖W[r]‖ (kind 0: l2, 1: l1), rounded to f32 as torch.norm; + 1e-8 when addEps. */
export function rowNorms(
  norms: usize,
  w: usize,
  rows: i32,
  cols: i32,
  l1: bool,
  addEps: bool,
  tid: i32,
  nt: i32,
): void {
  const r0 = partStart(rows, tid, nt, 1), r1 = partEnd(rows, tid, nt, 1);
  for (let r = r0; r < r1; r++) {
    const wr = w + ((<usize> r * <usize> cols) << 2);
    let acc: f64 = 0;
    for (let c = 0; c < cols; c++) {
      const v = <f64> load<f32>(wr + (<usize> c << 2));
      acc += l1 ? Math.abs(v) : v * v;
    }
    let norm = <f64> <f32> (l1 ? acc : Math.sqrt(acc));
    if (addEps) norm = <f64> <f32> (norm + 1e-8);
    store<f32>(norms + (<usize> r << 2), <f32> norm);
  }
}

/** W[r, c] /= (common > 0 ? common : norms[r]). */
export function divideRows(
  w: usize,
  norms: usize,
  common: f32,
  rows: i32,
  cols: i32,
  tid: i32,
  nt: i32,
): void {
  const r0 = partStart(rows, tid, nt, 1), r1 = partEnd(rows, tid, nt, 1);
  for (let r = r0; r < r1; r++) {
    const wr = w + ((<usize> r * <usize> cols) << 2);
    const d: f32 = common > 0 ? common : load<f32>(norms + (<usize> r << 2));
    const dv = f32x4.splat(d);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const p = wr + (<usize> c << 2);
      v128.store(p, f32x4.div(v128.load(p), dv));
    }
    for (; c < cols; c++) {
      const p = wr + (<usize> c << 2);
      store<f32>(p, load<f32>(p) / d);
    }
  }
}
