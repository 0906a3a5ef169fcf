/**
 * The top-k auxiliary loss's selection and backward (`topKAuxiliaryLoss`). Per row,
 * p = max(pre, 0) − codes; the k largest p (ties: the lower column) are found by a radix select
 * on order-preserving u32 keys (four 8-bit histogram passes narrow down the k-th largest key T),
 * then one pass keeps every key above T and the first ties at T. Threads split the rows.
 */

/** An unsigned key with the order of the float (−0 and +0 equal). */
// @ts-ignore: decorator
@inline function sortKey(p: f32): u32 {
  const b = reinterpret<u32>(p);
  return p >= 0 ? b | 0x80000000 : ~b;
}

// @ts-ignore: decorator
@inline function pAt(pre: usize, codes: usize, i: usize): f32 {
  return max<f32>(load<f32>(pre + (i << 2)), 0) - load<f32>(codes + (i << 2));
}

/** aux = p and selected = 1 at each row's k largest p, else 0. Workspace: 256 i32 per thread. */
export function auxKSelect(
  aux: usize,
  selected: usize,
  pre: usize,
  codes: usize,
  rows: i32,
  cols: i32,
  k: i32,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  const r0 = <i32> ((<i64> rows * tid) / nt), r1 = <i32> ((<i64> rows * (tid + 1)) / nt);
  const hist = ws + <usize> tid * wsStride;
  for (let r = r0; r < r1; r++) {
    const base = <usize> r * <usize> cols;
    memory.fill(aux + (base << 2), 0, <usize> cols << 2);
    memory.fill(selected + (base << 2), 0, <usize> cols << 2);
    if (k <= 0) continue;
    let prefix: u32 = 0, mask: u32 = 0, need = min(k, cols);
    for (let shift: u32 = 24; ; shift -= 8) {
      memory.fill(hist, 0, 256 << 2);
      for (let c = 0; c < cols; c++) {
        const key = sortKey(pAt(pre, codes, base + <usize> c));
        if ((key & mask) == prefix) {
          const h = hist + (<usize> ((key >> shift) & 255) << 2);
          store<i32>(h, load<i32>(h) + 1);
        }
      }
      let acc = 0;
      for (let b = 255; b >= 0; b--) {
        const n = load<i32>(hist + (<usize> b << 2));
        if (acc + n >= need) {
          prefix |= <u32> b << shift;
          need -= acc;
          break;
        }
        acc += n;
      }
      mask |= <u32> 255 << shift;
      if (shift == 0) break;
    }
    // prefix is the k-th largest key; need = how many of its ties to keep. Tied zeros (fewer
    // than k positive p) all get the weight need/ties (the expectation over a random tie-break,
    // as the host's rule); tied positive values (measure zero) go to the lower column.
    let ties = 0;
    if (prefix == sortKey(0)) {
      for (let c = 0; c < cols; c++) if (sortKey(pAt(pre, codes, base + <usize> c)) == prefix) ties++;
    }
    const weight: f32 = ties > 0 ? <f32> need / <f32> ties : 1;
    for (let c = 0; c < cols; c++) {
      const i = base + <usize> c;
      const p = pAt(pre, codes, i);
      const key = sortKey(p);
      if (key > prefix) {
        store<f32>(aux + (i << 2), p);
        store<f32>(selected + (i << 2), 1);
      } else if (key == prefix && ties > 0) {
        store<f32>(selected + (i << 2), weight);
      } else if (key == prefix && need-- > 0) {
        store<f32>(aux + (i << 2), p);
        store<f32>(selected + (i << 2), 1);
      }
    }
  }
}

/** dPre += w·dAux where pre > 0; dCodes −= w·dAux, w the selection weight (this thread's part). */
export function auxKBackward(
  dPre: usize,
  dCodes: usize,
  dAux: usize,
  selected: usize,
  pre: usize,
  n: i32,
  tid: i32,
  nt: i32,
): void {
  const i0 = <i32> ((<i64> n * tid) / nt), i1 = <i32> ((<i64> n * (tid + 1)) / nt);
  for (let i = <usize> i0; i < <usize> i1; i++) {
    const w = load<f32>(selected + (i << 2));
    if (w == 0) continue;
    const g = w == 1 ? load<f32>(dAux + (i << 2)) : w * load<f32>(dAux + (i << 2));
    if (load<f32>(pre + (i << 2)) > 0) store<f32>(dPre + (i << 2), load<f32>(dPre + (i << 2)) + g);
    store<f32>(dCodes + (i << 2), load<f32>(dCodes + (i << 2)) - g);
  }
}
