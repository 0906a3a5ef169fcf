/**
 * Sparse-A matrix products for codes that are mostly zeros: the cost is proportional to the
 * non-zero entries of A times n (plus one scan of A), not to m·k·n.
 * - `sparseGemmNN`: out (m×n) = A (m×k, sparse)·B (k×n): codes·dictionary (decoding).
 * - `sparseGemmTN`: out (m×n) = Aᵀ·B with A stored k×m (sparse): codesᵀ·dxHat (dictionary gradient).
 * Both bucket the non-zeros of a block of A by the row of B they multiply (a compressed-column
 * copy of the block, built in two scans that find non-zeros 16 at a time with a SIMD bitmask):
 * NN then adds each row of B, read once per block, into the output rows that use it; TN sums, for
 * each output row, the listed rows of B in register blocks of 32 floats.
 */

import { madd } from "./simd";

/** Rows of out handled per block by `sparseGemmNN` (their output rows stay in L2). */
export const NN_BLOCK: i32 = 256;
/** Columns of A (rows of out) handled per block by `sparseGemmTN`. */
export const TN_BLOCK: i32 = 512;

/** Workspace bytes per thread of `sparseGemmNN` with depth k. */
export function sparseNNWorkspaceBytes(k: i32): i32 {
  return ((k + 4) * 2 + NN_BLOCK * k * 2) << 2;
}

/** Workspace bytes per thread of `sparseGemmTN` with depth k. */
export function sparseWorkspaceBytes(k: i32): i32 {
  return ((TN_BLOCK + 4) * 2 + TN_BLOCK * k * 2) << 2;
}

/** Bit q (0..15) set where p[q] != 0 (NaN counts as non-zero). */
// @ts-ignore: decorator
@inline function nonZeroMask16(p: usize): i32 {
  const z = f32x4.splat(0);
  return i32x4.bitmask(f32x4.ne(v128.load(p), z)) |
    (i32x4.bitmask(f32x4.ne(v128.load(p, 16), z)) << 4) |
    (i32x4.bitmask(f32x4.ne(v128.load(p, 32), z)) << 8) |
    (i32x4.bitmask(f32x4.ne(v128.load(p, 48), z)) << 12);
}

/**
 * Counts the non-zeros of row[0..w) into counts[1 + q] (i32), 16 at a time.
 */
// @ts-ignore: decorator
@inline function countRow(counts: usize, row: usize, w: i32): void {
  let q = 0;
  for (; q + 16 <= w; q += 16) {
    let mask = nonZeroMask16(row + (<usize> q << 2));
    while (mask != 0) {
      const c = counts + (<usize> (q + ctz(mask) + 1) << 2);
      store<i32>(c, load<i32>(c) + 1);
      mask &= mask - 1;
    }
  }
  for (; q < w; q++) {
    if (load<f32>(row + (<usize> q << 2)) != 0) {
      const c = counts + (<usize> (q + 1) << 2);
      store<i32>(c, load<i32>(c) + 1);
    }
  }
}

/**
 * Appends (tag, row[q]) to the bucket of q for every non-zero of row[0..w): cursor[q] (i32) is
 * the next slot of bucket q in tags (i32) and vals (f32).
 */
// @ts-ignore: decorator
@inline function bucketRow(cursor: usize, tags: usize, vals: usize, row: usize, w: i32, tag: i32): void {
  let q = 0;
  for (; q + 16 <= w; q += 16) {
    let mask = nonZeroMask16(row + (<usize> q << 2));
    while (mask != 0) {
      const j = q + ctz(mask);
      const c = cursor + (<usize> j << 2);
      const t = load<i32>(c);
      store<i32>(c, t + 1);
      store<i32>(tags + (<usize> t << 2), tag);
      store<f32>(vals + (<usize> t << 2), load<f32>(row + (<usize> j << 2)));
      mask &= mask - 1;
    }
  }
  for (; q < w; q++) {
    const v = load<f32>(row + (<usize> q << 2));
    if (v != 0) {
      const c = cursor + (<usize> q << 2);
      const t = load<i32>(c);
      store<i32>(c, t + 1);
      store<i32>(tags + (<usize> t << 2), tag);
      store<f32>(vals + (<usize> t << 2), v);
    }
  }
}

/** counts[1..w] → bucket starts (prefix sums in place); cursor[q] = start of bucket q. */
// @ts-ignore: decorator
@inline function prefixSums(counts: usize, cursor: usize, w: i32): void {
  for (let q = 0; q < w; q++) {
    const c = counts + (<usize> (q + 1) << 2);
    const s0 = load<i32>(c - 4);
    store<i32>(c, load<i32>(c) + s0);
    store<i32>(cursor + (<usize> q << 2), s0);
  }
}

/**
 * out = A·B (+ out) for the rows of out in this thread's part; A is m×k and mostly zeros.
 * Rows go in blocks of NN_BLOCK: the non-zeros of the block are bucketed by column l of A, then
 * each row l of B is read once per block and added, scaled, into the output rows that use it
 * (an axpy against output rows that stay in L2, with B's row in L1).
 */
export function sparseGemmNN(
  out: usize,
  a: usize,
  b: usize,
  m: i32,
  n: i32,
  k: i32,
  accumulate: bool,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  const per = (m + nt - 1) / nt;
  const i0 = min(tid * per, m), i1 = min(i0 + per, m);
  const start = ws + <usize> tid * wsStride; // k + 1 bucket starts
  const cursor = start + (<usize> (k + 4) << 2); // k fill cursors
  const rowsOf = cursor + (<usize> (k + 4) << 2); // ≤ NN_BLOCK·k row indices
  const vals = rowsOf + (<usize> (NN_BLOCK * k) << 2); // and their values
  const ldb = <usize> n << 2;
  for (let ib = i0; ib < i1; ib += NN_BLOCK) {
    const ie = min(ib + NN_BLOCK, i1);
    if (!accumulate) {
      memory.fill(out + ((<usize> ib * <usize> n) << 2), 0, (<usize> (ie - ib) * <usize> n) << 2);
    }
    memory.fill(start, 0, <usize> (k + 1) << 2);
    for (let i = ib; i < ie; i++) countRow(start, a + ((<usize> i * <usize> k) << 2), k);
    prefixSums(start, cursor, k);
    for (let i = ib; i < ie; i++) bucketRow(cursor, rowsOf, vals, a + ((<usize> i * <usize> k) << 2), k, i);
    // out[i, :] += v·B[l, :] for every (i, v) in bucket l
    for (let l = 0; l < k; l++) {
      const t0 = load<i32>(start + (<usize> l << 2)), t1 = load<i32>(start + (<usize> (l + 1) << 2));
      if (t0 == t1) continue;
      const br = b + <usize> l * ldb;
      for (let t = t0; t < t1; t++) {
        const o = out + <usize> load<i32>(rowsOf + (<usize> t << 2)) * ldb;
        axpy(o, br, load<f32>(vals + (<usize> t << 2)), n);
      }
    }
  }
}

/** o[0..n) += v·x[0..n), 16 floats per step then a scalar tail. */
// @ts-ignore: decorator
@inline function axpy(o: usize, x: usize, v: f32, n: i32): void {
  const vv = f32x4.splat(v);
  let j = 0;
  for (; j + 16 <= n; j += 16) {
    const p = <usize> j << 2;
    const op = o + p, xp = x + p;
    v128.store(op, madd(vv, v128.load(xp), v128.load(op)));
    v128.store(op, madd(vv, v128.load(xp, 16), v128.load(op, 16)), 16);
    v128.store(op, madd(vv, v128.load(xp, 32), v128.load(op, 32)), 32);
    v128.store(op, madd(vv, v128.load(xp, 48), v128.load(op, 48)), 48);
  }
  for (; j + 4 <= n; j += 4) {
    const p = <usize> j << 2;
    v128.store(o + p, madd(vv, v128.load(x + p), v128.load(o + p)));
  }
  for (; j < n; j++) {
    const p = <usize> j << 2;
    store<f32>(o + p, load<f32>(o + p) + v * load<f32>(x + p));
  }
}

/**
 * out = Aᵀ·B (+ out) for the rows of out in this thread's part; A is stored k×m, mostly zeros.
 * Columns of A (rows of out) go in blocks of TN_BLOCK: each row of A contributes its contiguous
 * segment of the block, bucketed by column; then each output row sums its bucket's rows of B.
 */
export function sparseGemmTN(
  out: usize,
  a: usize,
  b: usize,
  m: i32,
  n: i32,
  k: i32,
  accumulate: bool,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  const blocks = (m + 15) / 16;
  const per = ((blocks + nt - 1) / nt) * 16;
  const c0 = min(tid * per, m), c1 = min(c0 + per, m);
  const start = ws + <usize> tid * wsStride; // TN_BLOCK + 1 bucket starts
  const cursor = start + (<usize> (TN_BLOCK + 4) << 2); // TN_BLOCK fill cursors
  const rowsOf = cursor + (<usize> (TN_BLOCK + 4) << 2); // ≤ k·TN_BLOCK row indices of A
  const vals = rowsOf + (<usize> (k * TN_BLOCK) << 2); // and their values
  const lda = <usize> m << 2;
  for (let cb = c0; cb < c1; cb += TN_BLOCK) {
    const w = min(TN_BLOCK, c1 - cb);
    memory.fill(start, 0, <usize> (w + 1) << 2);
    const seg = a + (<usize> cb << 2);
    for (let l = 0; l < k; l++) countRow(start, seg + <usize> l * lda, w);
    prefixSums(start, cursor, w);
    for (let l = 0; l < k; l++) bucketRow(cursor, rowsOf, vals, seg + <usize> l * lda, w, l);
    for (let c = 0; c < w; c++) {
      const t0 = load<i32>(start + (<usize> c << 2)), t1 = load<i32>(start + (<usize> (c + 1) << 2));
      accumulateRow(
        out + ((<usize> (cb + c) * <usize> n) << 2),
        b,
        n,
        rowsOf + (<usize> t0 << 2),
        vals + (<usize> t0 << 2),
        t1 - t0,
        accumulate,
      );
    }
  }
}

/**
 * o[0..n) = (accumulate ? o : 0) + Σ_t val[t]·B[idx[t], 0..n) with B row-major of width n,
 * 32 columns (8 registers) at a time.
 */
function accumulateRow(
  o: usize,
  b: usize,
  n: i32,
  idx: usize,
  val: usize,
  count: i32,
  accumulate: bool,
): void {
  const ldb = <usize> n << 2;
  let j = 0;
  for (; j + 32 <= n; j += 32) {
    const op = o + (<usize> j << 2);
    let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    if (accumulate) {
      s0 = v128.load(op);
      s1 = v128.load(op, 16);
      s2 = v128.load(op, 32);
      s3 = v128.load(op, 48);
      s4 = v128.load(op, 64);
      s5 = v128.load(op, 80);
      s6 = v128.load(op, 96);
      s7 = v128.load(op, 112);
    }
    const bj = b + (<usize> j << 2);
    for (let t = 0; t < count; t++) {
      const v = v128.load32_splat(val + (<usize> t << 2));
      const bp = bj + <usize> load<i32>(idx + (<usize> t << 2)) * ldb;
      s0 = madd(v, v128.load(bp), s0);
      s1 = madd(v, v128.load(bp, 16), s1);
      s2 = madd(v, v128.load(bp, 32), s2);
      s3 = madd(v, v128.load(bp, 48), s3);
      s4 = madd(v, v128.load(bp, 64), s4);
      s5 = madd(v, v128.load(bp, 80), s5);
      s6 = madd(v, v128.load(bp, 96), s6);
      s7 = madd(v, v128.load(bp, 112), s7);
    }
    v128.store(op, s0);
    v128.store(op, s1, 16);
    v128.store(op, s2, 32);
    v128.store(op, s3, 48);
    v128.store(op, s4, 64);
    v128.store(op, s5, 80);
    v128.store(op, s6, 96);
    v128.store(op, s7, 112);
  }
  for (; j + 4 <= n; j += 4) {
    const op = o + (<usize> j << 2);
    let s = accumulate ? v128.load(op) : f32x4.splat(0);
    const bj = b + (<usize> j << 2);
    for (let t = 0; t < count; t++) {
      const v = v128.load32_splat(val + (<usize> t << 2));
      s = madd(v, v128.load(bj + <usize> load<i32>(idx + (<usize> t << 2)) * ldb), s);
    }
    v128.store(op, s);
  }
  for (; j < n; j++) {
    const op = o + (<usize> j << 2);
    let s: f32 = accumulate ? load<f32>(op) : 0;
    const bj = b + (<usize> j << 2);
    for (let t = 0; t < count; t++) {
      s += load<f32>(val + (<usize> t << 2)) *
        load<f32>(bj + <usize> load<i32>(idx + (<usize> t << 2)) * ldb);
    }
    store<f32>(op, s);
  }
}
