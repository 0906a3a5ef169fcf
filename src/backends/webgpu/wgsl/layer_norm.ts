/**
 * LayerNorm forward and backward. The row kernels use one workgroup of 256 invocations per row
 * (strided over the columns, tree-reduced); the parameter gradients, sums over rows, use the
 * column layout of `columns.ts`.
 */

import { bind, header, type KernelSource, reduceSumFn } from "./common.ts";
import { COLUMN_ENTRY, columnSumFn, ROW_LANES } from "./columns.ts";

/** Invocations per row in the row kernels. */
export const ROW_WORKGROUP = 256;

const ROW_ENTRY = `@compute @workgroup_size(${ROW_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + P.base_x;
  let base = row * P.cols;`;

/** out = (x − mean)·rstd·weight + bias per row; mean and rstd stored per row. */
export function layerNormKernel(): KernelSource {
  const fields = [["cols", "u32"], ["eps", "f32"]] as const;
  const bindings = [
    bind("out", { write: true, scalar: true }),
    bind("mean", { write: true, scalar: true }),
    bind("rstd", { write: true, scalar: true }),
    bind("x", { scalar: true }),
    bind("weight", { scalar: true }),
    bind("bias", { scalar: true }),
  ];
  const code = () =>
    `${header({ fields, bindings })}
${reduceSumFn(ROW_WORKGROUP)}
${ROW_ENTRY}
  var acc = 0.0;
  for (var c = lid; c < P.cols; c = c + ${ROW_WORKGROUP}u) { acc = acc + buf_x[base + c]; }
  let m = reduce_sum(acc, lid) / f32(P.cols);
  var sq = 0.0;
  for (var c = lid; c < P.cols; c = c + ${ROW_WORKGROUP}u) {
    let d = buf_x[base + c] - m;
    sq = sq + d * d;
  }
  let s = 1.0 / sqrt(reduce_sum(sq, lid) / f32(P.cols) + P.eps);
  if (lid == 0u) {
    buf_mean[row] = m;
    buf_rstd[row] = s;
  }
  for (var c = lid; c < P.cols; c = c + ${ROW_WORKGROUP}u) {
    buf_out[base + c] = (buf_x[base + c] - m) * s * buf_weight[c] + buf_bias[c];
  }
}
`;
  return { key: "layer_norm", fields, bindings, code };
}

/** dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) per row, g = dy·weight. */
export function layerNormBackwardKernel(): KernelSource {
  const fields = [["cols", "u32"]] as const;
  const bindings = [
    bind("dx", { write: true, scalar: true }),
    bind("dy", { scalar: true }),
    bind("x", { scalar: true }),
    bind("mean", { scalar: true }),
    bind("rstd", { scalar: true }),
    bind("weight", { scalar: true }),
  ];
  const code = () =>
    `${header({ fields, bindings })}
${reduceSumFn(ROW_WORKGROUP, "sum_g")}
${reduceSumFn(ROW_WORKGROUP, "sum_gx")}
${ROW_ENTRY}
  let mu = buf_mean[row];
  let rs = buf_rstd[row];
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = lid; c < P.cols; c = c + ${ROW_WORKGROUP}u) {
    let g = buf_dy[base + c] * buf_weight[c];
    sg = sg + g;
    sgx = sgx + g * (buf_x[base + c] - mu) * rs;
  }
  let mean_g = sum_g(sg, lid) / f32(P.cols);
  let mean_gx = sum_gx(sgx, lid) / f32(P.cols);
  for (var c = lid; c < P.cols; c = c + ${ROW_WORKGROUP}u) {
    let i = base + c;
    let xhat = (buf_x[i] - mu) * rs;
    buf_dx[i] = rs * (buf_dy[i] * buf_weight[c] - mean_g - xhat * mean_gx);
  }
}
`;
  return { key: "layer_norm_backward", fields, bindings, code };
}

/** dweight[c] += Σ_r dy·x̂, dbias[c] += Σ_r dy (column layout). */
export function layerNormParamGradKernel(): KernelSource {
  const fields = [["rows", "u32"], ["cols", "u32"]] as const;
  const bindings = [
    bind("dweight", { write: true, scalar: true }),
    bind("dbias", { write: true, scalar: true }),
    bind("dy", { scalar: true }),
    bind("x", { scalar: true }),
    bind("mean", { scalar: true }),
    bind("rstd", { scalar: true }),
  ];
  const code = () =>
    `${header({ fields, bindings })}
${columnSumFn("a")}
${columnSumFn("b")}
${COLUMN_ENTRY}
  var sw = 0.0;
  var sb = 0.0;
  if (live) {
    for (var r = ly; r < P.rows; r = r + ${ROW_LANES}u) {
      let i = r * P.cols + c;
      let g = buf_dy[i];
      sw = sw + g * (buf_x[i] - buf_mean[r]) * buf_rstd[r];
      sb = sb + g;
    }
  }
  let tw = a_sum(sw, lx, ly);
  let tb = b_sum(sb, lx, ly);
  if (live && ly == 0u) {
    buf_dweight[c] = buf_dweight[c] + tw;
    buf_dbias[c] = buf_dbias[c] + tb;
  }
}
`;
  return { key: "layer_norm_param_grad", fields, bindings, code };
}
