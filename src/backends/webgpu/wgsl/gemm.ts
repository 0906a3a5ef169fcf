/**
 * Tiled matrix product out (m×n) = op(A)·op(B) (+ out when accumulating) for the NN, NT, TN and
 * TT layouts. A workgroup of 16×16 invocations computes a (16·tm)×(16·tn) tile of out: per step
 * of TK along k it stages a TK×BM slice of A and a TK×BN slice of B in workgroup memory (stored
 * k-major as vec4 so the inner loop reads whole vec4s), then every invocation accumulates a
 * tm×tn register block with vec4 FMAs (named registers, every index a constant, so nothing spills
 * to local memory). Global loads are bounds-checked scalars laid out so that consecutive
 * invocations read consecutive addresses in each layout, and stores are masked, so any m, n, k
 * work. The layout and `accumulate` are uniforms (branches uniform across the whole dispatch), so
 * one pipeline per tile size serves every product. Grid: x over column tiles, y over row tiles.
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

/** Builds the GEMM kernel of a tile size; uniforms m, n, k, trans_a, trans_b, accumulate. */
export function gemmKernel(v: GemmTile): KernelSource {
  const { tm, tn } = v;
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
  const bindings = [
    bind("out", { write: true, scalar: true }),
    bind("a", { scalar: true }),
    bind("b", { scalar: true }),
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
        for (let e = 0; e < 4; e++) {
          const c = `c0 + ${j * 4 + e}u`;
          store.push(`    if (${c} < P.n) { put(o + ${c}, ${acc(r, j)}.${"xyzw"[e]}); }`);
        }
      }
      store.push("  }");
    }
    return `${header({ fields, bindings })}
var<workgroup> As: array<vec4<f32>, ${(TK * bm) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(TK * bn) / 4}>;

fn put(i: u32, v: f32) {
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
  for (var k0 = 0u; k0 < P.k; k0 = k0 + ${TK}u) {
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
  return { key: `gemm:${tm}x${tn}`, fields, bindings, code };
}
