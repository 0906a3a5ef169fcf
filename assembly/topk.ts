/**
 * Per-row top-k by selection: one pass over the row with a bounded min-heap of the k best
 * (value, index) pairs, O(C + m·log k) for m entries into the heap, then the heap sorted in
 * place. Order: larger value first, equal values by lower index. Only non-zero codes are
 * candidates; rows with fewer than k pad with index −1 and value 0. Threads split the rows.
 */

/** Whether pair a is worse (lower value, or equal value and higher index) than pair b. */
// @ts-ignore: decorator
@inline function worse(va: f32, ia: i32, vb: f32, ib: i32): bool {
  return va < vb || (va == vb && ia > ib);
}

/** Sifts the pair at slot i of a heap of n pairs (values hv, indices hi) down to its place. */
// @ts-ignore: decorator
@inline function siftDown(hv: usize, hi: usize, i: i32, n: i32): void {
  const v = load<f32>(hv + (<usize> i << 2)), x = load<i32>(hi + (<usize> i << 2));
  for (;;) {
    let c = 2 * i + 1;
    if (c >= n) break;
    let cv = load<f32>(hv + (<usize> c << 2)), cx = load<i32>(hi + (<usize> c << 2));
    if (c + 1 < n) {
      const rv = load<f32>(hv + (<usize> (c + 1) << 2)), rx = load<i32>(hi + (<usize> (c + 1) << 2));
      if (worse(rv, rx, cv, cx)) {
        c++;
        cv = rv;
        cx = rx;
      }
    }
    if (!worse(cv, cx, v, x)) break;
    store<f32>(hv + (<usize> i << 2), cv);
    store<i32>(hi + (<usize> i << 2), cx);
    i = c;
  }
  store<f32>(hv + (<usize> i << 2), v);
  store<i32>(hi + (<usize> i << 2), x);
}

/** Sifts the pair at slot i of a heap up to its place (after an insertion). */
// @ts-ignore: decorator
@inline function siftUp(hv: usize, hi: usize, i: i32): void {
  const v = load<f32>(hv + (<usize> i << 2)), x = load<i32>(hi + (<usize> i << 2));
  while (i > 0) {
    const p = (i - 1) >> 1;
    const pv = load<f32>(hv + (<usize> p << 2)), px = load<i32>(hi + (<usize> p << 2));
    if (!worse(v, x, pv, px)) break;
    store<f32>(hv + (<usize> i << 2), pv);
    store<i32>(hi + (<usize> i << 2), px);
    i = p;
  }
  store<f32>(hv + (<usize> i << 2), v);
  store<i32>(hi + (<usize> i << 2), x);
}

/**
 * values, indices [rows, k] (indices as f32: exact below 2^24 concepts) and nnz [rows] (the
 * number of non-zero codes) of codes [rows, cols]. Workspace: 2k words per thread.
 */
export function topK(
  values: usize,
  indices: usize,
  nnz: usize,
  codes: usize,
  rows: i32,
  cols: i32,
  k: i32,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  const per = (rows + nt - 1) / nt;
  const r0 = min(tid * per, rows), r1 = min(r0 + per, rows);
  const hv = ws + <usize> tid * wsStride, hi = hv + (<usize> k << 2);
  const zero = f32x4.splat(0);
  for (let r = r0; r < r1; r++) {
    const row = codes + ((<usize> r * <usize> cols) << 2);
    let n = 0, count = 0;
    let floor: f32 = 0; // the heap's worst value once full: only larger values can enter
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const v = v128.load(row + (<usize> c << 2));
      const nonzero = i32x4.bitmask(f32x4.ne(v, zero));
      if (nonzero == 0) continue;
      count += popcnt(nonzero);
      let m = n < k ? nonzero : i32x4.bitmask(f32x4.gt(v, f32x4.splat(floor)));
      while (m != 0) {
        const lane = ctz(m);
        m &= m - 1;
        const j = c + lane, x = load<f32>(row + (<usize> j << 2));
        if (x == 0) continue;
        if (n < k) {
          store<f32>(hv + (<usize> n << 2), x);
          store<i32>(hi + (<usize> n << 2), j);
          siftUp(hv, hi, n);
          n++;
        } else if (x > load<f32>(hv)) {
          store<f32>(hv, x);
          store<i32>(hi, j);
          siftDown(hv, hi, 0, n);
        } else {
          continue;
        }
        if (n == k) floor = load<f32>(hv);
      }
    }
    for (; c < cols; c++) {
      const x = load<f32>(row + (<usize> c << 2));
      if (x == 0) continue;
      count++;
      if (n < k) {
        store<f32>(hv + (<usize> n << 2), x);
        store<i32>(hi + (<usize> n << 2), c);
        siftUp(hv, hi, n);
        n++;
      } else if (x > load<f32>(hv)) {
        store<f32>(hv, x);
        store<i32>(hi, c);
        siftDown(hv, hi, 0, n);
      }
    }
    // heap sort: the worst pair goes last, so the slots end best first
    for (let e = n - 1; e > 0; e--) {
      const v = load<f32>(hv), x = load<i32>(hi);
      store<f32>(hv, load<f32>(hv + (<usize> e << 2)));
      store<i32>(hi, load<i32>(hi + (<usize> e << 2)));
      store<f32>(hv + (<usize> e << 2), v);
      store<i32>(hi + (<usize> e << 2), x);
      siftDown(hv, hi, 0, e);
    }
    const out = (<usize> r * <usize> k) << 2;
    for (let j = 0; j < k; j++) {
      const o = out + (<usize> j << 2);
      store<f32>(values + o, j < n ? load<f32>(hv + (<usize> j << 2)) : 0);
      store<f32>(indices + o, j < n ? <f32> load<i32>(hi + (<usize> j << 2)) : -1);
    }
    store<f32>(nnz + (<usize> r << 2), <f32> count);
  }
}
