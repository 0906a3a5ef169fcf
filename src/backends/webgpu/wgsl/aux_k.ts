/**
 * The top-k auxiliary loss's selection and backward. Selection: one workgroup of 256 invocations
 * per row; p = max(pre, 0) − codes as order-preserving u32 keys; the k-th largest key T is built
 * bit by bit from the top (32 workgroup counts of the keys ≥ candidate); then every key above T
 * is kept, and the ties at T in column order (each invocation owns a contiguous chunk of
 * columns, chunks ranked by an exclusive scan of their tie counts).
 */

import { bind, header, type KernelSource, reduceSumFn } from "./common.ts";
import type { MapSpec } from "./elementwise.ts";

/** Invocations per row. */
export const AUXK_WORKGROUP = 256;

/**
 * aux = p and selected = 1 at each row's k largest p, else 0; tied zeros share the slots left
 * (selected = slots/ties), tied positive values go to the lower column.
 */
export function auxKSelectKernel(): KernelSource {
  const fields = [["cols", "u32"], ["k", "u32"]] as const;
  const bindings = [
    bind("aux", { write: true, scalar: true }),
    bind("selected", { write: true, scalar: true }),
    bind("pre", { scalar: true }),
    bind("codes", { scalar: true }),
  ];
  const W = AUXK_WORKGROUP;
  const code = () =>
    `${header({ fields, bindings })}
${reduceSumFn(W)}
var<workgroup> ties: array<u32, ${W}>;
fn p_at(i: u32) -> f32 { return max(buf_pre[i], 0.0) - buf_codes[i]; }
fn key_of(p: f32) -> u32 {
  let b = bitcast<u32>(p);
  return select(~b, b | 0x80000000u, p >= 0.0);
}
@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + P.base_x;
  let base = row * P.cols;
  let k = min(P.k, P.cols);
  // T: the largest t with #{key >= t} >= k (the k-th largest key)
  var t = 0u;
  for (var bit = 0u; bit < 32u; bit = bit + 1u) {
    let cand = t | (0x80000000u >> bit);
    var n = 0.0;
    for (var c = lid; c < P.cols; c = c + ${W}u) {
      if (key_of(p_at(base + c)) >= cand) { n = n + 1.0; }
    }
    if (reduce_sum(n, lid) >= f32(k)) { t = cand; }
  }
  // keys above T, then the first (k − #above) ties in column order
  var above = 0.0;
  let chunk = (P.cols + ${W - 1}u) / ${W}u;
  let c0 = min(lid * chunk, P.cols);
  let c1 = min(c0 + chunk, P.cols);
  var mine = 0u;
  for (var c = c0; c < c1; c = c + 1u) {
    let key = key_of(p_at(base + c));
    if (key > t) { above = above + 1.0; }
    if (key == t) { mine = mine + 1u; }
  }
  let need = i32(k) - i32(reduce_sum(above, lid));
  // tied zeros (fewer than k positive p) share the slots left: weight need/ties
  let total = reduce_sum(f32(mine), lid);
  let zeroTies = t == 0x80000000u && need > 0 && total > 0.0;
  let weight = f32(need) / max(total, 1.0);
  ties[lid] = mine;
  workgroupBarrier();
  if (lid == 0u) {
    var run = 0u;
    for (var j = 0u; j < ${W}u; j = j + 1u) {
      let m = ties[j];
      ties[j] = run;
      run = run + m;
    }
  }
  workgroupBarrier();
  var rank = i32(ties[lid]);
  for (var c = c0; c < c1; c = c + 1u) {
    let p = p_at(base + c);
    let key = key_of(p);
    var keep = key > t && k > 0u;
    var w = 1.0;
    if (key == t && zeroTies) {
      keep = true;
      w = weight;
    } else if (key == t) {
      keep = rank < need;
      rank = rank + 1;
    }
    buf_aux[base + c] = select(0.0, p, keep);
    buf_selected[base + c] = select(0.0, w, keep);
  }
}
`;
  return { key: "aux_k_select", fields, bindings, code };
}

/** dPre += w·dAux where pre > 0; dCodes −= w·dAux, w the selection weight. */
export const AUXK_BACKWARD: MapSpec = {
  family: "aux_k_backward",
  outputs: ["dPre", "dCodes"],
  inputs: ["dAux", "selected", "pre"],
  body: `  let g = selected * dAux;
  dPre = dPre + select(vec4<f32>(0.0), g, pre > vec4<f32>(0.0));
  dCodes = dCodes - g;`,
};
