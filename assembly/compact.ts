/**
 * Compressed sparse rows of a dense matrix (the codes of `encodeSparse`), in two passes that
 * threads split by rows: `rowNonZeros` counts each row's non-zeros, the caller turns the counts
 * into row offsets, and `compactRows` writes each row's column indices (i32) and values there.
 * Non-zeros are found 16 at a time with a SIMD bitmask.
 */

/** Bit q (0..15) set where p[q] != 0 (NaN counts as non-zero). */
// @ts-ignore: decorator
@inline function nonZero16(p: usize): i32 {
  const z = f32x4.splat(0);
  return i32x4.bitmask(f32x4.ne(v128.load(p), z)) |
    (i32x4.bitmask(f32x4.ne(v128.load(p, 16), z)) << 4) |
    (i32x4.bitmask(f32x4.ne(v128.load(p, 32), z)) << 8) |
    (i32x4.bitmask(f32x4.ne(v128.load(p, 48), z)) << 12);
}

/** counts[r] (i32) = the number of non-zeros of row r of src (rows×cols). */
export function rowNonZeros(counts: usize, src: usize, rows: i32, cols: i32, tid: i32, nt: i32): void {
  const r0 = <i32> ((<i64> rows * tid) / nt), r1 = <i32> ((<i64> rows * (tid + 1)) / nt);
  for (let r = r0; r < r1; r++) {
    const row = src + ((<usize> r * <usize> cols) << 2);
    let n = 0, c = 0;
    for (; c + 16 <= cols; c += 16) n += popcnt(nonZero16(row + (<usize> c << 2)));
    for (; c < cols; c++) if (load<f32>(row + (<usize> c << 2)) != 0) n++;
    store<i32>(counts + (<usize> r << 2), n);
  }
}

/** Row r's non-zeros of src go to indices/values from offsets[r] (i32), in column order. */
export function compactRows(
  indices: usize,
  values: usize,
  offsets: usize,
  src: usize,
  rows: i32,
  cols: i32,
  tid: i32,
  nt: i32,
): void {
  const r0 = <i32> ((<i64> rows * tid) / nt), r1 = <i32> ((<i64> rows * (tid + 1)) / nt);
  for (let r = r0; r < r1; r++) {
    const row = src + ((<usize> r * <usize> cols) << 2);
    let o = <usize> load<i32>(offsets + (<usize> r << 2));
    let c = 0;
    for (; c + 16 <= cols; c += 16) {
      let mask = nonZero16(row + (<usize> c << 2));
      while (mask != 0) {
        const j = c + ctz(mask);
        mask &= mask - 1;
        store<i32>(indices + (o << 2), j);
        store<f32>(values + (o << 2), load<f32>(row + (<usize> j << 2)));
        o++;
      }
    }
    for (; c < cols; c++) {
      const v = load<f32>(row + (<usize> c << 2));
      if (v != 0) {
        store<i32>(indices + (o << 2), c);
        store<f32>(values + (o << 2), v);
        o++;
      }
    }
  }
}
