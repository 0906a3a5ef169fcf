/**
 * The sparse-A path of the matrix product (the `sparseA` hint: A is JumpReLU codes, mostly
 * zeros), for out = op(A)·B with B stored k×n (NN and TN), chosen on the GPU without a readback:
 *
 * 1. the nonzeros of A are counted (the deterministic reduction of `reduce.ts`);
 * 2. `chooseKernel` (one invocation) writes the indirect dispatch sizes of both paths: the
 *    dense GEMM's grid and zeros for the sparse kernel when the density is above the threshold,
 *    the other way round below it;
 * 3. both are dispatched indirectly; the one given zeros does nothing.
 *
 * `sparseGemmKernel`: a workgroup owns RB = 8 rows of out and 1024 columns (4 per invocation,
 * strided by 256 so loads coalesce). Per chunk of 256 values of k it stages the 8×256 slice of A
 * and, per k, whether any of the 8 rows is nonzero; then it walks the chunk and, only for those
 * k, reads the row of B and accumulates with fma. The dense GEMM also accumulates with fma in
 * increasing k, and fma(0, b, acc) = acc for finite b, so both paths give the same bits.
 */

import { bind, header, type KernelSource } from "./common.ts";

/** Rows of out per workgroup of the sparse kernel. */
export const SPARSE_ROWS = 8;
/** Columns of out per workgroup of the sparse kernel (4 per invocation). */
export const SPARSE_COLS = 1024;

/** out (m×n) = op(A)·B (+ out), A m×k (or k×m with trans_a), skipping k where A's rows are zero. */
export function sparseGemmKernel(): KernelSource {
  const fields = [["m", "u32"], ["n", "u32"], ["k", "u32"], ["trans_a", "u32"], [
    "accumulate",
    "u32",
  ]] as const;
  const bindings = [
    bind("out", { write: true, scalar: true }),
    bind("a", { scalar: true }),
    bind("b", { scalar: true }),
  ];
  const R = SPARSE_ROWS;
  const code = () => {
    const rows = Array.from({ length: R }, (_, r) => r);
    const cols = [0, 1, 2, 3];
    const acc = (r: number, j: number) => `acc_${r}_${j}`;
    return `${header({ fields, bindings })}
var<workgroup> sa: array<f32, ${R * 256}>;
var<workgroup> nz: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i0 = (wid.x + P.base_x) * ${R}u;
  let col0 = (wid.y + P.base_y) * ${SPARSE_COLS}u + lid;
${rows.map((r) => cols.map((j) => `  var ${acc(r, j)} = 0.0;`).join("\n")).join("\n")}
  for (var l0 = 0u; l0 < P.k; l0 = l0 + 256u) {
    var any = 0u;
    let l = l0 + lid;
    for (var r = 0u; r < ${R}u; r = r + 1u) {
      var v = 0.0;
      if (l < P.k && i0 + r < P.m) {
        if (P.trans_a != 0u) { v = buf_a[l * P.m + i0 + r]; } else { v = buf_a[(i0 + r) * P.k + l]; }
      }
      sa[r * 256u + lid] = v;
      any = any | select(0u, 1u, v != 0.0);
    }
    nz[lid] = any;
    workgroupBarrier();
    let count = min(256u, P.k - l0);
    for (var t = 0u; t < count; t = t + 1u) {
      if (nz[t] != 0u) {
        let brow = (l0 + t) * P.n;
${
      cols.map((j) =>
        `        let b${j} = select(0.0, buf_b[brow + col0 + ${j * 256}u], col0 + ${
          j * 256
        }u < P.n);`
      ).join("\n")
    }
${
      rows.map((r) =>
        `        let a${r} = sa[${r * 256}u + t];\n` +
        cols.map((j) => `        ${acc(r, j)} = fma(a${r}, b${j}, ${acc(r, j)});`).join("\n")
      ).join("\n")
    }
      }
    }
    workgroupBarrier();
  }
${
      rows.map((r) =>
        `  if (i0 + ${r}u < P.m) {\n` +
        cols.map((j) =>
          `    if (col0 + ${j * 256}u < P.n) { put((i0 + ${r}u) * P.n + col0 + ${j * 256}u, ${
            acc(r, j)
          }); }`
        ).join("\n") + "\n  }"
      ).join("\n")
    }
}

fn put(i: u32, v: f32) {
  if (P.accumulate != 0u) { buf_out[i] = buf_out[i] + v; } else { buf_out[i] = v; }
}
`;
  };
  return { key: "sparse_gemm", fields, bindings, code };
}

/**
 * Writes the indirect dispatch sizes: args[0..3) for the dense GEMM, args[3..6) for the sparse
 * kernel; the path not taken gets (0, 0, 0). Sparse when count ≤ limit.
 */
export function chooseKernel(): KernelSource {
  const fields = [
    ["limit", "f32"],
    ["dense_x", "u32"],
    ["dense_y", "u32"],
    ["sparse_x", "u32"],
    ["sparse_y", "u32"],
  ] as const;
  const bindings = [
    { name: "args", type: "u32", write: true } as const,
    bind("count", { scalar: true }),
  ];
  const code = () =>
    `${header({ fields, bindings })}
@compute @workgroup_size(1)
fn main() {
  let sparse = buf_count[0] <= P.limit;
  buf_args[0] = select(P.dense_x, 0u, sparse);
  buf_args[1] = select(P.dense_y, 0u, sparse);
  buf_args[2] = select(1u, 0u, sparse);
  buf_args[3] = select(0u, P.sparse_x, sparse);
  buf_args[4] = select(0u, P.sparse_y, sparse);
  buf_args[5] = select(0u, 1u, sparse);
}
`;
  return { key: "choose_sparse", fields, bindings, code };
}
