/**
 * Tiled matrix product out (m×n) = op(A)·op(B) (+ out when accumulating) for the NN, NT, TN and
 * TT layouts. A workgroup of 16×16 invocations computes a (16·tm)×(16·tn) tile of out: per step
 * of TK along k it stages a TK×BM slice of A and a TK×BN slice of B in workgroup memory (stored
 * k-major as vec4 so the inner loop reads whole vec4s), then every invocation accumulates a
 * tm×tn register block with vec4 FMAs (named registers, every index a constant, so nothing spills
 * to local memory).
 *
 * Two variants per tile size:
 * - scalar: bounds-checked scalar global loads laid out so that consecutive invocations read
 *   consecutive addresses in each layout, masked scalar stores: any m, n, k.
 * - `vec4` (m, n, k all multiples of 4): A, B and out bound as vec4 arrays; vec4 global loads
 *   (stored straight into the tile when the vec4 runs along m or n) and vec4 stores.
 * The layout and `accumulate` are uniforms (branches uniform across the whole dispatch), so one
 * pipeline per variant serves every product. Grid: x over column tiles, y over row tiles.
 */

import { bind, header, type KernelSource } from "./common.ts";

/** Depth of one k step. */
export const GEMM_TK = 16;

/** Register block of one invocation: tm rows × tn columns (multiples of 4). */
export interface GemmTile {
  tm: number;
  tn: number;
}

/** Rows (`bm`) and columns (`bn`) of out per workgroup. */
export function gemmTile(v: GemmTile): { bm: number; bn: number } {
  return { bm: 16 * v.tm, bn: 16 * v.tn };
}

/** Loads of the A and B tiles in the scalar variant. */
function scalarLoads(bm: number, bn: number, TK: number): string {
  return `
    for (var l = 0u; l < ${(bm * TK) / 256}u; l = l + 1u) {
      let li = lid + l * 256u;
      var val = 0.0;
      var r = 0u;
      var kk = 0u;
      if (P.trans_a != 0u) {
        // A stored k×m: consecutive invocations read consecutive rows.
        r = li % ${bm}u; kk = li / ${bm}u;
        if (row0 + r < P.m && k0 + kk < P.k) { val = buf_a[(k0 + kk) * P.m + row0 + r]; }
      } else {
        kk = li % ${TK}u; r = li / ${TK}u;
        if (row0 + r < P.m && k0 + kk < P.k) { val = buf_a[(row0 + r) * P.k + k0 + kk]; }
      }
      As[kk * ${bm / 4}u + r / 4u][r % 4u] = val;
    }
    for (var l = 0u; l < ${(bn * TK) / 256}u; l = l + 1u) {
      let li = lid + l * 256u;
      var val = 0.0;
      var c = 0u;
      var kk = 0u;
      if (P.trans_b != 0u) {
        // B stored n×k.
        kk = li % ${TK}u; c = li / ${TK}u;
        if (col0 + c < P.n && k0 + kk < P.k) { val = buf_b[(col0 + c) * P.k + k0 + kk]; }
      } else {
        c = li % ${bn}u; kk = li / ${bn}u;
        if (col0 + c < P.n && k0 + kk < P.k) { val = buf_b[(k0 + kk) * P.n + col0 + c]; }
      }
      Bs[kk * ${bn / 4}u + c / 4u][c % 4u] = val;
    }`;
}

/**
 * Loads of the vec4 variant (m, n, k multiples of 4, so a vec4 is wholly in or out of bounds).
 * Along m (transposed A) or n (plain B) a vec4 goes straight into the tile; along k its four
 * lanes go to four k rows of the tile.
 */
function vec4Loads(bm: number, bn: number, TK: number): string {
  const zero = "vec4<f32>(0.0)";
  return `
    for (var l = 0u; l < ${(bm * TK) / 1024}u; l = l + 1u) {
      let li = lid + l * 256u;
      if (P.trans_a != 0u) {
        let rq = li % ${bm / 4}u; let kk = li / ${bm / 4}u;
        var v = ${zero};
        if (row0 + 4u * rq < P.m && k0 + kk < P.k) { v = buf_a[((k0 + kk) * P.m + row0) / 4u + rq]; }
        As[kk * ${bm / 4}u + rq] = v;
      } else {
        let kq = li % ${TK / 4}u; let r = li / ${TK / 4}u;
        var v = ${zero};
        if (row0 + r < P.m && k0 + 4u * kq < P.k) { v = buf_a[((row0 + r) * P.k + k0) / 4u + kq]; }
        As[(4u * kq) * ${bm / 4}u + r / 4u][r % 4u] = v.x;
        As[(4u * kq + 1u) * ${bm / 4}u + r / 4u][r % 4u] = v.y;
        As[(4u * kq + 2u) * ${bm / 4}u + r / 4u][r % 4u] = v.z;
        As[(4u * kq + 3u) * ${bm / 4}u + r / 4u][r % 4u] = v.w;
      }
    }
    for (var l = 0u; l < ${(bn * TK) / 1024}u; l = l + 1u) {
      let li = lid + l * 256u;
      if (P.trans_b != 0u) {
        let kq = li % ${TK / 4}u; let c = li / ${TK / 4}u;
        var v = ${zero};
        if (col0 + c < P.n && k0 + 4u * kq < P.k) { v = buf_b[((col0 + c) * P.k + k0) / 4u + kq]; }
        Bs[(4u * kq) * ${bn / 4}u + c / 4u][c % 4u] = v.x;
        Bs[(4u * kq + 1u) * ${bn / 4}u + c / 4u][c % 4u] = v.y;
        Bs[(4u * kq + 2u) * ${bn / 4}u + c / 4u][c % 4u] = v.z;
        Bs[(4u * kq + 3u) * ${bn / 4}u + c / 4u][c % 4u] = v.w;
      } else {
        let cq = li % ${bn / 4}u; let kk = li / ${bn / 4}u;
        var v = ${zero};
        if (col0 + 4u * cq < P.n && k0 + kk < P.k) { v = buf_b[((k0 + kk) * P.n + col0) / 4u + cq]; }
        Bs[kk * ${bn / 4}u + cq] = v;
      }
    }`;
}

/**
 * Builds the GEMM kernel of a tile size; uniforms m, n, k, trans_a, trans_b, accumulate. With
 * `vec4`, m, n and k must be multiples of 4.
 */
export function gemmKernel(v: GemmTile & { vec4?: boolean }): KernelSource {
  const { tm, tn } = v;
  const vec4 = !!v.vec4;
  const { bm, bn } = gemmTile(v);
  const TK = GEMM_TK;
  const fields = [
    ["m", "u32"],
    ["n", "u32"],
    ["k", "u32"],
    ["trans_a", "u32"],
    ["trans_b", "u32"],
    ["accumulate", "u32"],
  ] as const;
  const scalar = !vec4;
  const bindings = [
    bind("out", { write: true, scalar }),
    bind("a", { scalar }),
    bind("b", { scalar }),
  ];
  const code = () => {
    const acc = (r: number, j: number) => `acc_${r}_${j}`;
    const decl: string[] = [], inner: string[] = [], store: string[] = [];
    for (let r = 0; r < tm; r++) {
      for (let j = 0; j < tn / 4; j++) decl.push(`  var ${acc(r, j)} = vec4<f32>(0.0);`);
    }
    for (let i = 0; i < tm / 4; i++) {
      inner.push(`      let a${i} = As[kk * ${bm / 4}u + ty * ${tm / 4}u + ${i}u];`);
    }
    for (let j = 0; j < tn / 4; j++) {
      inner.push(`      let b${j} = Bs[kk * ${bn / 4}u + tx * ${tn / 4}u + ${j}u];`);
    }
    for (let r = 0; r < tm; r++) {
      for (let j = 0; j < tn / 4; j++) {
        inner.push(
          `      ${acc(r, j)} = fma(vec4<f32>(a${r >> 2}.${"xyzw"[r & 3]}), b${j}, ${acc(r, j)});`,
        );
      }
    }
    for (let r = 0; r < tm; r++) {
      store.push(
        `  if (row0 + ty * ${tm}u + ${r}u < P.m) {`,
        `    let o = (row0 + ty * ${tm}u + ${r}u) * P.n;`,
      );
      for (let j = 0; j < tn / 4; j++) {
        if (vec4) {
          store.push(`    if (c0 + ${j * 4}u < P.n) { put((o + c0) / 4u + ${j}u, ${acc(r, j)}); }`);
          continue;
        }
        for (let e = 0; e < 4; e++) {
          const c = `c0 + ${j * 4 + e}u`;
          store.push(`    if (${c} < P.n) { put(o + ${c}, ${acc(r, j)}.${"xyzw"[e]}); }`);
        }
      }
      store.push("  }");
    }
    const t = vec4 ? "vec4<f32>" : "f32";
    return `${header({ fields, bindings })}
var<workgroup> As: array<vec4<f32>, ${(TK * bm) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(TK * bn) / 4}>;

fn put(i: u32, v: ${t}) {
  if (P.accumulate != 0u) { buf_out[i] = buf_out[i] + v; } else { buf_out[i] = v; }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let tx = lid3.x;
  let ty = lid3.y;
  let row0 = (wid.y + P.base_y) * ${bm}u;
  let col0 = (wid.x + P.base_x) * ${bn}u;
${decl.join("\n")}
  for (var k0 = 0u; k0 < P.k; k0 = k0 + ${TK}u) {${
      vec4 ? vec4Loads(bm, bn, TK) : scalarLoads(bm, bn, TK)
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${TK}u; kk = kk + 1u) {
${inner.join("\n")}
    }
    workgroupBarrier();
  }
  let c0 = col0 + tx * ${tn}u;
${store.join("\n")}
}
`;
  };
  return { key: `gemm:${tm}x${tn}${vec4 ? ":vec4" : ""}`, fields, bindings, code };
}
