/**
 * Sparse-A matrix products for codes that are mostly zeros: the cost is proportional to the
 * non-zero entries of A times n, not to m·k·n.
 * - `sparseGemmNN`: out (m×n) = A (m×k, sparse)·B (k×n): codes·dictionary (decoding).
 * - `sparseGemmTN`: out (m×n) = Aᵀ·B with A stored k×m (sparse): codesᵀ·dxHat (dictionary gradient).
 * NN buckets the non-zeros of a block of rows by column (each row of B is then read once per
 * block); TN gathers, per column block of A, lists of non-zeros that `accumulateRow` sums over
 * rows of B in register blocks of 32 floats.
 */

import { madd } from "./simd";

/** Column block of A (rows of out) gathered at once by `sparseGemmTN`. */
export const TN_BLOCK: i32 = 32;

/** Workspace bytes per thread of `sparseGemmTN` with depth k. */
export function sparseWorkspaceBytes(k: i32): i32 {
  return (TN_BLOCK * 2 + 8 + k * TN_BLOCK * 2) << 2;
}

/** Rows of out handled per block by `sparseGemmNN` (their output rows stay in L2). */
export const NN_BLOCK: i32 = 128;

/** Workspace bytes per thread of `sparseGemmNN` with depth k. */
export function sparseNNWorkspaceBytes(k: i32): i32 {
  return ((k + 4) * 2 + NN_BLOCK * k * 2) << 2;
}

/**
 * out = A·B (+ out) for the rows of out in this thread's part; A is m×k and mostly zeros.
 * Rows go in blocks of NN_BLOCK: the non-zeros of the block are bucketed by column l of A
 * (a CSC of the block), then each row l of B is read once per block and added, scaled, into
 * the output rows that use it (an axpy against rows that stay in L2, B's row in L1).
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
  const start = ws + <usize> tid * wsStride; // k + 1 i32 bucket starts
  const cursor = start + (<usize> (k + 4) << 2); // k i32 fill cursors
  const rowsOf = cursor + (<usize> (k + 4) << 2); // ≤ NN_BLOCK·k i32 row indices
  const vals = rowsOf + (<usize> (NN_BLOCK * k) << 2); // and their values
  const ldb = <usize> n << 2;
  for (let ib = i0; ib < i1; ib += NN_BLOCK) {
    const ie = min(ib + NN_BLOCK, i1);
    if (!accumulate) {
      memory.fill(out + ((<usize> ib * <usize> n) << 2), 0, (<usize> (ie - ib) * <usize> n) << 2);
    }
    // pass 1: count the non-zeros of each column l in the block
    memory.fill(start, 0, <usize> (k + 1) << 2);
    for (let i = ib; i < ie; i++) {
      const row = a + ((<usize> i * <usize> k) << 2);
      let l = 0;
      for (; l + 16 <= k; l += 16) {
        const p = row + (<usize> l << 2);
        const any = v128.or(
          v128.or(v128.load(p), v128.load(p, 16)),
          v128.or(v128.load(p, 32), v128.load(p, 48)),
        );
        if (v128.any_true(any)) {
          for (let q = l; q < l + 16; q++) {
            if (load<f32>(row + (<usize> q << 2)) != 0) {
              const c = start + (<usize> (q + 1) << 2);
              store<i32>(c, load<i32>(c) + 1);
            }
          }
        }
      }
      for (; l < k; l++) {
        if (load<f32>(row + (<usize> l << 2)) != 0) {
          const c = start + (<usize> (l + 1) << 2);
          store<i32>(c, load<i32>(c) + 1);
        }
      }
    }
    for (let l = 0; l < k; l++) {
      const c = start + (<usize> (l + 1) << 2);
      const s0 = load<i32>(c - 4);
      store<i32>(c, load<i32>(c) + s0);
      store<i32>(cursor + (<usize> l << 2), s0);
    }
    // pass 2: bucket (row, value) by column
    for (let i = ib; i < ie; i++) {
      const row = a + ((<usize> i * <usize> k) << 2);
      let l = 0;
      for (; l < k; l += 16) {
        const p = row + (<usize> l << 2);
        const full = l + 16 <= k;
        const any = full
          ? v128.any_true(
            v128.or(
              v128.or(v128.load(p), v128.load(p, 16)),
              v128.or(v128.load(p, 32), v128.load(p, 48)),
            ),
          )
          : true;
        if (any) {
          const qe = min(l + 16, k);
          for (let q = l; q < qe; q++) {
            const v = load<f32>(row + (<usize> q << 2));
            if (v != 0) {
              const c = cursor + (<usize> q << 2);
              const t = load<i32>(c);
              store<i32>(c, t + 1);
              store<i32>(rowsOf + (<usize> t << 2), i);
              store<f32>(vals + (<usize> t << 2), v);
            }
          }
        }
      }
    }
    // pass 3: out[i, :] += v·B[l, :] for every (i, v) in column l
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

/** out = Aᵀ·B (+ out) for the rows of out in this thread's part; A is stored k×m, mostly zeros. */
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
  const blocks = (m + TN_BLOCK - 1) / TN_BLOCK;
  const per = (blocks + nt - 1) / nt;
  const i0 = min(tid * per * TN_BLOCK, m), i1 = min(i0 + per * TN_BLOCK, m);
  const counts = ws + <usize> tid * wsStride; // TN_BLOCK + 1 i32 offsets
  const fill = counts + (<usize> (TN_BLOCK + 4) << 2); // TN_BLOCK i32 cursors
  const idx = fill + (<usize> (TN_BLOCK + 4) << 2); // k·TN_BLOCK i32
  const val = idx + (<usize> (k * TN_BLOCK) << 2); // k·TN_BLOCK f32
  const ld = <usize> m << 2;
  for (let ib = i0; ib < i1; ib += TN_BLOCK) {
    const w = min(TN_BLOCK, i1 - ib);
    // pass 1: count the non-zeros of each column of A in the block
    memory.fill(counts, 0, <usize> (TN_BLOCK + 1) << 2);
    let src = a + (<usize> ib << 2);
    for (let l = 0; l < k; l++) {
      let c = 0;
      for (; c + 4 <= w; c += 4) {
        if (v128.any_true(v128.load(src + (<usize> c << 2)))) {
          for (let q = c; q < c + 4; q++) {
            if (load<f32>(src + (<usize> q << 2)) != 0) {
              const p = counts + (<usize> (q + 1) << 2);
              store<i32>(p, load<i32>(p) + 1);
            }
          }
        }
      }
      for (; c < w; c++) {
        if (load<f32>(src + (<usize> c << 2)) != 0) {
          const p = counts + (<usize> (c + 1) << 2);
          store<i32>(p, load<i32>(p) + 1);
        }
      }
      src += ld;
    }
    // offsets
    for (let c = 0; c < w; c++) {
      const p = counts + (<usize> (c + 1) << 2);
      store<i32>(p, load<i32>(p) + load<i32>(p - 4));
      store<i32>(fill + (<usize> c << 2), load<i32>(p - 4));
    }
    // pass 2: fill the lists (row l ascending within each column)
    src = a + (<usize> ib << 2);
    for (let l = 0; l < k; l++) {
      let c = 0;
      for (; c < w; c += 4) {
        const any = c + 4 <= w ? v128.any_true(v128.load(src + (<usize> c << 2))) : true;
        if (any) {
          const qe = min(c + 4, w);
          for (let q = c; q < qe; q++) {
            const v = load<f32>(src + (<usize> q << 2));
            if (v != 0) {
              const p = fill + (<usize> q << 2);
              const t = load<i32>(p);
              store<i32>(p, t + 1);
              store<i32>(idx + (<usize> t << 2), l);
              store<f32>(val + (<usize> t << 2), v);
            }
          }
        }
      }
      src += ld;
    }
    for (let c = 0; c < w; c++) {
      const start = load<i32>(counts + (<usize> c << 2));
      const end = load<i32>(counts + (<usize> (c + 1) << 2));
      accumulateRow(
        out + ((<usize> (ib + c) * <usize> n) << 2),
        b,
        n,
        idx + (<usize> start << 2),
        val + (<usize> start << 2),
        end - start,
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
