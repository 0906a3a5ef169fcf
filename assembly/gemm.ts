/**
 * Dense matrix product out (m×n) = op(A)·op(B) (+ out when accumulating), blocked as BLIS:
 * B is packed in KC×NC blocks of NR-wide micro-panels, A in MC×KC blocks of MR-high micro-panels,
 * and a register-resident MR×NR micro-kernel runs over them: 6×8 floats (12 f32x4 accumulators)
 * with fused multiply-adds (relaxed build), 4×8 with mul + add (plain build), whose temporary
 * would make a 6×8 tile spill: V8 allocates 15 of the 16 xmm registers on x64.
 * Packing reads every transpose layout, so one micro-kernel serves NN, NT, TN and TT.
 * Threads split the output columns, or the rows when m > n (so that the larger operand is packed
 * once); each packs its own panels into its workspace: `gemmWorkspaceBytes()` bytes per thread.
 */

import { madd } from "./simd";

/** Micro-tile height (rows of out). */
export const MR: i32 = ASC_FEATURE_RELAXED_SIMD ? 6 : 4;
/** Micro-tile width (columns of out). */
export const NR: i32 = 8;
/** Depth of a packed block. */
export const KC: i32 = 256;
/** Rows of a packed A block (kept in L2). */
export const MC: i32 = 120;
/** Columns of a packed B block. */
export const NC: i32 = 1024;

/** Workspace bytes one thread needs for `gemm`: packed A block, packed B block, one edge tile. */
export function gemmWorkspaceBytes(): i32 {
  return (MC * KC + KC * NC + MR * NR) << 2;
}

/**
 * out = op(A)·op(B) for this thread's part. A is m×k (k×m when transA), B is k×n (n×k when
 * transB), all row-major; `ws` is this call's workspace base, `wsStride` the bytes per thread.
 */
export function gemm(
  out: usize,
  a: usize,
  b: usize,
  m: i32,
  n: i32,
  k: i32,
  transA: bool,
  transB: bool,
  accumulate: bool,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  let i0 = 0, i1 = m, j0 = 0, j1 = n;
  const colTiles = (n + NR - 1) / NR, rowTiles = (m + MR - 1) / MR;
  // Split the dimension whose operand is cheaper to pack twice: splitting the columns makes every
  // thread pack all of op(A) (m·k), splitting the rows all of op(B) (k·n).
  const splitCols = m > n ? rowTiles < nt * 4 : colTiles >= nt * 4 || colTiles >= rowTiles;
  if (splitCols) {
    const per = ((colTiles + nt - 1) / nt) * NR;
    j0 = min(tid * per, n);
    j1 = min(j0 + per, n);
  } else {
    const per = ((rowTiles + nt - 1) / nt) * MR;
    i0 = min(tid * per, m);
    i1 = min(i0 + per, m);
  }
  if (i0 >= i1 || j0 >= j1) return;
  const base = ws + <usize> tid * wsStride;
  gemmBlock(out, a, b, m, n, k, transA, transB, accumulate, i0, i1, j0, j1, base);
}

/** out[i0..i1, j0..j1] of the product, single-threaded. */
export function gemmBlock(
  out: usize,
  a: usize,
  b: usize,
  m: i32,
  n: i32,
  k: i32,
  transA: bool,
  transB: bool,
  accumulate: bool,
  i0: i32,
  i1: i32,
  j0: i32,
  j1: i32,
  ws: usize,
): void {
  const packA = ws;
  const packB = packA + (<usize> (MC * KC) << 2);
  const tile = packB + (<usize> (KC * NC) << 2);
  if (k == 0) {
    if (!accumulate) {
      for (let i = i0; i < i1; i++) {
        memory.fill(out + ((<usize> i * <usize> n + <usize> j0) << 2), 0, <usize> (j1 - j0) << 2);
      }
    }
    return;
  }
  // rows in equal blocks of at most MC (a multiple of MR): no thin last block that would stream
  // the whole packed B block for a few rows
  const rowBlocks = (i1 - i0 + MC - 1) / MC;
  const mcStep = (((i1 - i0 + rowBlocks - 1) / rowBlocks + MR - 1) / MR) * MR;
  for (let jc = j0; jc < j1; jc += NC) {
    const nc = min(NC, j1 - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      packPanelsB(packB, b, transB, n, k, pc, kc, jc, nc);
      const overwrite = pc == 0 && !accumulate;
      for (let ic = i0; ic < i1; ic += mcStep) {
        const mc = min(mcStep, i1 - ic);
        packPanelsA(packA, a, transA, m, k, ic, mc, pc, kc);
        for (let jr = 0; jr < nc; jr += NR) {
          const bp = packB + ((<usize> jr * <usize> kc) << 2);
          const nr = min(NR, nc - jr);
          for (let ir = 0; ir < mc; ir += MR) {
            const ap = packA + ((<usize> ir * <usize> kc) << 2);
            const mr = min(MR, mc - ir);
            const cp = out + ((<usize> (ic + ir) * <usize> n + <usize> (jc + jr)) << 2);
            if (mr == MR && nr == NR) {
              if (MR == 6) kernel6x8(cp, n, ap, bp, kc, overwrite);
              else kernel4x8(cp, n, ap, bp, kc, overwrite);
            } else {
              if (MR == 6) kernel6x8(tile, NR, ap, bp, kc, true);
              else kernel4x8(tile, NR, ap, bp, kc, true);
              for (let r = 0; r < mr; r++) {
                for (let c = 0; c < nr; c++) {
                  const o = cp + ((<usize> r * <usize> n + <usize> c) << 2);
                  const v = load<f32>(tile + (<usize> (r * NR + c) << 2));
                  store<f32>(o, overwrite ? v : load<f32>(o) + v);
                }
              }
            }
          }
        }
      }
    }
  }
}

/**
 * Packs rows [ic, ic+mc) × depth [pc, pc+kc) of op(A) into MR-high micro-panels:
 * panel p holds, for each l, the MR values op(A)[ic + p·MR + r, pc + l] (zero past mc).
 */
function packPanelsA(
  dst: usize,
  a: usize,
  transA: bool,
  m: i32,
  k: i32,
  ic: i32,
  mc: i32,
  pc: i32,
  kc: i32,
): void {
  if (transA) {
    packPanelsAT(dst, a, m, ic, mc, pc, kc);
    return;
  }
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = min(MR, mc - ir);
    const d = dst + ((<usize> ir * <usize> kc) << 2);
    const i = ic + ir;
    if (transA) {
      // stored k×m: handled for the whole block below, one contiguous row of A per l
      continue;    } else {
      // stored m×k: each row is contiguous in l; rows 0-3 by 4×4 transposes, rows 4-5 scalar
      const ld = <usize> k << 2;
      const s0 = a + ((<usize> i * <usize> k + <usize> pc) << 2);
      const step = <usize> (MR * 4); // bytes per l in a panel
      if (mr == MR) {
        const s1 = s0 + ld, s2 = s1 + ld, s3 = s2 + ld, s4 = s3 + ld, s5 = s4 + ld;
        let l = 0;
        for (; l + 4 <= kc; l += 4) {
          const o = <usize> l << 2;
          const r0 = v128.load(s0 + o), r1 = v128.load(s1 + o);
          const r2 = v128.load(s2 + o), r3 = v128.load(s3 + o);
          const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5); // a0 b0 a1 b1
          const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5); // c0 d0 c1 d1
          const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7); // a2 b2 a3 b3
          const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7); // c2 d2 c3 d3
          const q = d + <usize> l * step;
          v128.store(q, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
          v128.store(q + step, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
          v128.store(q + 2 * step, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
          v128.store(q + 3 * step, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
          if (MR == 6) {
            store<f32>(q, load<f32>(s4 + o), 16);
            store<f32>(q, load<f32>(s5 + o), 20);
            store<f32>(q, load<f32>(s4 + o, 4), 40);
            store<f32>(q, load<f32>(s5 + o, 4), 44);
            store<f32>(q, load<f32>(s4 + o, 8), 64);
            store<f32>(q, load<f32>(s5 + o, 8), 68);
            store<f32>(q, load<f32>(s4 + o, 12), 88);
            store<f32>(q, load<f32>(s5 + o, 12), 92);
          }
        }
        for (; l < kc; l++) {
          const o = <usize> l << 2;
          const q = d + <usize> l * step;
          store<f32>(q, load<f32>(s0 + o));
          store<f32>(q, load<f32>(s1 + o), 4);
          store<f32>(q, load<f32>(s2 + o), 8);
          store<f32>(q, load<f32>(s3 + o), 12);
          if (MR == 6) {
            store<f32>(q, load<f32>(s4 + o), 16);
            store<f32>(q, load<f32>(s5 + o), 20);
          }
        }
      } else {
        for (let l = 0; l < kc; l++) {
          for (let r = 0; r < MR; r++) {
            const v: f32 = r < mr ? load<f32>(s0 + <usize> r * ld + (<usize> l << 2)) : 0;
            store<f32>(d + (<usize> (l * MR + r) << 2), v);
          }
        }
      }
    }
  }
}

/**
 * packPanelsA for A stored k×m (transA): reads, for each l, the mc contiguous values of row
 * pc + l once (so that a large m does not thrash the caches with a stride of m floats) and
 * scatters them into the MR-high panels.
 */
function packPanelsAT(dst: usize, a: usize, m: i32, ic: i32, mc: i32, pc: i32, kc: i32): void {
  const full = mc - (mc % MR);
  const panelBytes = <usize> (MR * kc) << 2;
  for (let l = 0; l < kc; l++) {
    const src = a + ((<usize> (pc + l) * <usize> m + <usize> ic) << 2);
    let d = dst + <usize> (l * MR * 4);
    let ir = 0;
    for (; ir < full; ir += MR) {
      const s = src + (<usize> ir << 2);
      v128.store(d, v128.load(s));
      if (MR == 6) {
        store<f32>(d, load<f32>(s, 16), 16);
        store<f32>(d, load<f32>(s, 20), 20);
      }
      d += panelBytes;
    }
    if (ir < mc) {
      for (let r = 0; r < MR; r++) {
        store<f32>(d + (<usize> r << 2), ir + r < mc ? load<f32>(src + (<usize> (ir + r) << 2)) : 0);
      }
    }
  }
}

/**
 * Packs depth [pc, pc+kc) × columns [jc, jc+nc) of op(B) into NR-wide micro-panels:
 * panel p holds, for each l, the NR values op(B)[pc + l, jc + p·NR + c] (zero past nc).
 */
function packPanelsB(
  dst: usize,
  b: usize,
  transB: bool,
  n: i32,
  k: i32,
  pc: i32,
  kc: i32,
  jc: i32,
  nc: i32,
): void {
  if (!transB) {
    packPanelsBN(dst, b, n, pc, kc, jc, nc);
    return;
  }
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = min(NR, nc - jr);
    const d = dst + ((<usize> jr * <usize> kc) << 2);
    const j = jc + jr;
    // stored n×k: each column of op(B) is a contiguous row; transpose 4×4 blocks
    const ld = <usize> k << 2;
    if (nr == NR) {
      for (let h = 0; h < 2; h++) {
        const s0 = b + ((<usize> (j + 4 * h) * <usize> k + <usize> pc) << 2);
        const s1 = s0 + ld, s2 = s1 + ld, s3 = s2 + ld;
        const dh = d + (<usize> h << 4);
        let l = 0;
        for (; l + 4 <= kc; l += 4) {
          const o = <usize> l << 2;
          const r0 = v128.load(s0 + o), r1 = v128.load(s1 + o);
          const r2 = v128.load(s2 + o), r3 = v128.load(s3 + o);
          const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
          const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
          const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
          const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
          const q = dh + (<usize> l << 5);
          v128.store(q, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
          v128.store(q, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 32);
          v128.store(q, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 64);
          v128.store(q, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 96);
        }
        for (; l < kc; l++) {
          const o = <usize> l << 2;
          const q = dh + (<usize> l << 5);
          store<f32>(q, load<f32>(s0 + o));
          store<f32>(q, load<f32>(s1 + o), 4);
          store<f32>(q, load<f32>(s2 + o), 8);
          store<f32>(q, load<f32>(s3 + o), 12);
        }
      }
    } else {
      for (let l = 0; l < kc; l++) {
        for (let c = 0; c < NR; c++) {
          const v: f32 = c < nr
            ? load<f32>(b + ((<usize> (j + c) * <usize> k + <usize> (pc + l)) << 2))
            : 0;
          store<f32>(d + (<usize> (l * NR + c) << 2), v);
        }
      }
    }
  }
}

/**
 * packPanelsB for B stored k×n: reads, for each l, the nc contiguous values of row pc + l once
 * and scatters them into the NR-wide panels (a stride of n floats per panel would thrash).
 */
function packPanelsBN(dst: usize, b: usize, n: i32, pc: i32, kc: i32, jc: i32, nc: i32): void {
  const full = nc - (nc % NR);
  const panelBytes = <usize> (NR * kc) << 2;
  for (let l = 0; l < kc; l++) {
    const src = b + ((<usize> (pc + l) * <usize> n + <usize> jc) << 2);
    let d = dst + (<usize> l << 5);
    let jr = 0;
    for (; jr < full; jr += NR) {
      const s = src + (<usize> jr << 2);
      v128.store(d, v128.load(s));
      v128.store(d, v128.load(s, 16), 16);
      d += panelBytes;
    }
    if (jr < nc) {
      for (let c = 0; c < NR; c++) {
        store<f32>(d + (<usize> c << 2), jr + c < nc ? load<f32>(src + (<usize> (jr + c) << 2)) : 0);
      }
    }
  }
}

/**
 * The 6×8 micro-kernel: c (6 rows of stride ldc floats, 8 columns) = or += Σ_l ap[l]ᵀ·bp[l],
 * with ap an MR-high and bp an NR-wide packed micro-panel of depth kc. 12 accumulators, 2 B
 * vectors and 1 splat of A: 15 of the 16 xmm registers V8 allocates on x64.
 */
// @ts-ignore: decorator
@inline function kernel6x8(c: usize, ldc: i32, ap: usize, bp: usize, kc: i32, overwrite: bool): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  let c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (let l = 0; l < kc; l++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    a = v128.load32_splat(ap, 16);
    c40 = madd(a, b0, c40);
    c41 = madd(a, b1, c41);
    a = v128.load32_splat(ap, 20);
    c50 = madd(a, b0, c50);
    c51 = madd(a, b1, c51);
    ap += 24;
    bp += 32;
  }
  const ld = <usize>ldc << 2;
  const r0 = c, r1 = c + ld, r2 = r1 + ld, r3 = r2 + ld, r4 = r3 + ld, r5 = r4 + ld;
  if (!overwrite) {
    c00 = f32x4.add(c00, v128.load(r0));
    c01 = f32x4.add(c01, v128.load(r0, 16));
    c10 = f32x4.add(c10, v128.load(r1));
    c11 = f32x4.add(c11, v128.load(r1, 16));
    c20 = f32x4.add(c20, v128.load(r2));
    c21 = f32x4.add(c21, v128.load(r2, 16));
    c30 = f32x4.add(c30, v128.load(r3));
    c31 = f32x4.add(c31, v128.load(r3, 16));
    c40 = f32x4.add(c40, v128.load(r4));
    c41 = f32x4.add(c41, v128.load(r4, 16));
    c50 = f32x4.add(c50, v128.load(r5));
    c51 = f32x4.add(c51, v128.load(r5, 16));
  }
  v128.store(r0, c00);
  v128.store(r0, c01, 16);
  v128.store(r1, c10);
  v128.store(r1, c11, 16);
  v128.store(r2, c20);
  v128.store(r2, c21, 16);
  v128.store(r3, c30);
  v128.store(r3, c31, 16);
  v128.store(r4, c40);
  v128.store(r4, c41, 16);
  v128.store(r5, c50);
  v128.store(r5, c51, 16);
}

/**
 * The 4×8 micro-kernel of the plain build (8 accumulators, 2 B vectors, 1 splat of A and the
 * temporary of mul + add), see kernel6x8.
 */
// @ts-ignore: decorator
@inline function kernel4x8(c: usize, ldc: i32, ap: usize, bp: usize, kc: i32, overwrite: bool): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00;
  let c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (let l = 0; l < kc; l++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    ap += 16;
    bp += 32;
  }
  const ld = <usize> ldc << 2;
  const r0 = c, r1 = c + ld, r2 = r1 + ld, r3 = r2 + ld;
  if (!overwrite) {
    c00 = f32x4.add(c00, v128.load(r0));
    c01 = f32x4.add(c01, v128.load(r0, 16));
    c10 = f32x4.add(c10, v128.load(r1));
    c11 = f32x4.add(c11, v128.load(r1, 16));
    c20 = f32x4.add(c20, v128.load(r2));
    c21 = f32x4.add(c21, v128.load(r2, 16));
    c30 = f32x4.add(c30, v128.load(r3));
    c31 = f32x4.add(c31, v128.load(r3, 16));
  }
  v128.store(r0, c00);
  v128.store(r0, c01, 16);
  v128.store(r1, c10);
  v128.store(r1, c11, 16);
  v128.store(r2, c20);
  v128.store(r2, c21, 16);
  v128.store(r3, c30);
  v128.store(r3, c31, 16);
}

/** The naive oracle: out = op(A)·op(B) (+ out), one dot product per element, f64 sums. */
export function gemmNaive(
  out: usize,
  a: usize,
  b: usize,
  m: i32,
  n: i32,
  k: i32,
  transA: bool,
  transB: bool,
  accumulate: bool,
): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc: f64 = 0;
      for (let l = 0; l < k; l++) {
        const av = load<f32>(a + (<usize> (transA ? l * m + i : i * k + l) << 2));
        const bv = load<f32>(b + (<usize> (transB ? j * k + l : l * n + j) << 2));
        acc += <f64> av * <f64> bv;
      }
      const o = out + (<usize> (i * n + j) << 2);
      store<f32>(o, <f32> (accumulate ? <f64> load<f32>(o) + acc : acc));
    }
  }
}
