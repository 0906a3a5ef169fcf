/**
 * Dictionary projections (`normalizeRows`): a row kernel computes each row's norm (L2 or L1,
 * plus 1e-8 for the plain projections, as the seed), a single workgroup takes the maximum for
 * the `max_*` kinds, then an elementwise pass divides (`DIVIDE_ROWS` / `DIVIDE_SCALAR` in
 * `elementwise.ts`).
 */

import type { NormalizationKind } from "../../backend.ts";
import { bind, header, type KernelSource, reduceSumFn } from "./common.ts";
import { ROW_WORKGROUP } from "./layer_norm.ts";

/** norms[r] = ‖w[r]‖ (+1e-8 for "l2" and "l1"). */
export function rowNormKernel(kind: NormalizationKind): KernelSource {
  const l2 = kind === "l2" || kind === "max_l2";
  const plain = kind === "l2" || kind === "l1";
  const fields = [["cols", "u32"]] as const;
  const bindings = [bind("norms", { write: true, scalar: true }), bind("w", { scalar: true })];
  const code = () =>
    `${header({ fields, bindings })}
${reduceSumFn(ROW_WORKGROUP)}
@compute @workgroup_size(${ROW_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + P.base_x;
  var acc = 0.0;
  for (var c = lid; c < P.cols; c = c + ${ROW_WORKGROUP}u) {
    let v = buf_w[row * P.cols + c];
    acc = acc + ${l2 ? "v * v" : "abs(v)"};
  }
  let total = reduce_sum(acc, lid);
  if (lid == 0u) { buf_norms[row] = ${l2 ? "sqrt(total)" : "total"}${plain ? " + 1e-8" : ""}; }
}
`;
  return { key: `row_norm:${kind}`, fields, bindings, code };
}

/** out[0] = max(x[0..n)) by one workgroup (n ≥ 1). */
export function maxKernel(): KernelSource {
  const fields = [["n", "u32"]] as const;
  const bindings = [bind("out", { write: true, scalar: true }), bind("x", { scalar: true })];
  const code = () =>
    `${header({ fields, bindings })}
${reduceSumFn(ROW_WORKGROUP, "reduce_max", "max")}
@compute @workgroup_size(${ROW_WORKGROUP})
fn main(@builtin(local_invocation_index) lid: u32) {
  var m = buf_x[0];
  for (var i = lid; i < P.n; i = i + ${ROW_WORKGROUP}u) { m = max(m, buf_x[i]); }
  let total = reduce_max(m, lid);
  if (lid == 0u) { buf_out[0] = total; }
}
`;
  return { key: "max", fields, bindings, code };
}
