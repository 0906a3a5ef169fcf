/**
 * Per-row top-k (`topK`): one workgroup per row makes k selection passes; in pass j every
 * invocation takes its best non-zero code strictly below the pair chosen in pass j − 1 (lower
 * value, or equal value and higher index), and a workgroup reduction keeps the best of those.
 * O(k·C / 64) per invocation; the non-zeros are counted on the way.
 */

import { bind, header, type KernelSource, reduceSumFn } from "./common.ts";

/** Invocations per row. */
export const TOP_K_WORKGROUP = 64;

/** values, indices [rows, k] and nnz [rows] of codes [rows, cols]. */
export function topKKernel(): KernelSource {
  const W = TOP_K_WORKGROUP;
  const fields = [["cols", "u32"], ["k", "u32"]] as const;
  const bindings = [
    bind("values", { write: true, scalar: true }),
    bind("indices", { write: true, scalar: true }),
    bind("nnz", { write: true, scalar: true }),
    bind("codes", { scalar: true }),
  ];
  const code = () =>
    `${header({ fields, bindings })}
${reduceSumFn(W)}
var<workgroup> best_v: array<f32, ${W}>;
var<workgroup> best_i: array<u32, ${W}>;
const NONE = 0xffffffffu;
// a before b: larger value, or equal value and lower index; NONE is after everything
fn before(va: f32, ia: u32, vb: f32, ib: u32) -> bool {
  return ib == NONE || (ia != NONE && (va > vb || (va == vb && ia < ib)));
}
@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + P.base_x;
  let base = row * P.cols;
  var count = 0.0;
  for (var c = lid; c < P.cols; c = c + ${W}u) {
    if (buf_codes[base + c] != 0.0) { count = count + 1.0; }
  }
  let nnz = reduce_sum(count, lid);
  var pv = 0.0;
  var pi = NONE;
  for (var j = 0u; j < P.k; j = j + 1u) {
    var bv = 0.0;
    var bi = NONE;
    for (var c = lid; c < P.cols; c = c + ${W}u) {
      let v = buf_codes[base + c];
      let below = j == 0u || (pi != NONE && (v < pv || (v == pv && c > pi)));
      if (v != 0.0 && below && before(v, c, bv, bi)) { bv = v; bi = c; }
    }
    best_v[lid] = bv;
    best_i[lid] = bi;
    workgroupBarrier();
    for (var s = ${W / 2}u; s > 0u; s = s >> 1u) {
      if (lid < s && before(best_v[lid + s], best_i[lid + s], best_v[lid], best_i[lid])) {
        best_v[lid] = best_v[lid + s];
        best_i[lid] = best_i[lid + s];
      }
      workgroupBarrier();
    }
    pv = best_v[0];
    pi = best_i[0];
    workgroupBarrier();
    if (lid == 0u) {
      buf_values[row * P.k + j] = select(pv, 0.0, pi == NONE);
      buf_indices[row * P.k + j] = select(f32(pi), -1.0, pi == NONE);
    }
  }
  if (lid == 0u) { buf_nnz[row] = nnz; }
}
`;
  return { key: "top_k", fields, bindings, code };
}
