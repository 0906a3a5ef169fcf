/**
 * BatchNorm1d training forward and backward in the column layout of `columns.ts`: a workgroup
 * owns 64 columns and walks all rows (two passes for mean then variance, as the reference, then
 * one to write). Eval mode is elementwise (`BATCH_NORM_EVAL` in `elementwise.ts`).
 */

import { bind, header, type KernelSource } from "./common.ts";
import { COLUMN_ENTRY, columnSumFn, ROW_LANES } from "./columns.ts";

/** Training forward: out, mean, rstd written; running statistics updated in place. */
export function batchNormTrainKernel(): KernelSource {
  const fields = [["rows", "u32"], ["cols", "u32"], ["momentum", "f32"], ["eps", "f32"]] as const;
  const bindings = [
    bind("out", { write: true, scalar: true }),
    bind("mean", { write: true, scalar: true }),
    bind("rstd", { write: true, scalar: true }),
    bind("rmean", { write: true, scalar: true }),
    bind("rvar", { write: true, scalar: true }),
    bind("x", { scalar: true }),
    bind("weight", { scalar: true }),
    bind("bias", { scalar: true }),
  ];
  const code = () =>
    `${header({ fields, bindings })}
${columnSumFn()}
${COLUMN_ENTRY}
  var acc = 0.0;
  if (live) {
    for (var r = ly; r < P.rows; r = r + ${ROW_LANES}u) { acc = acc + buf_x[r * P.cols + c]; }
  }
  let m = col_sum(acc, lx, ly) / f32(P.rows);
  var sq = 0.0;
  if (live) {
    for (var r = ly; r < P.rows; r = r + ${ROW_LANES}u) {
      let d = buf_x[r * P.cols + c] - m;
      sq = sq + d * d;
    }
  }
  let ss = col_sum(sq, lx, ly);
  if (live) {
    let s = 1.0 / sqrt(ss / f32(P.rows) + P.eps);
    if (ly == 0u) {
      buf_mean[c] = m;
      buf_rstd[c] = s;
      buf_rmean[c] = (1.0 - P.momentum) * buf_rmean[c] + P.momentum * m;
      buf_rvar[c] = (1.0 - P.momentum) * buf_rvar[c] + P.momentum * (ss / f32(P.rows - 1u));
    }
    let w = buf_weight[c];
    let b = buf_bias[c];
    for (var r = ly; r < P.rows; r = r + ${ROW_LANES}u) {
      let i = r * P.cols + c;
      buf_out[i] = (buf_x[i] - m) * s * w + b;
    }
  }
}
`;
  return { key: "batch_norm_train", fields, bindings, code };
}

/** Backward: dx written; dweight, dbias accumulated. */
export function batchNormBackwardKernel(): KernelSource {
  const fields = [["rows", "u32"], ["cols", "u32"]] as const;
  const bindings = [
    bind("dx", { write: true, scalar: true }),
    bind("dweight", { write: true, scalar: true }),
    bind("dbias", { write: true, scalar: true }),
    bind("dy", { scalar: true }),
    bind("x", { scalar: true }),
    bind("mean", { scalar: true }),
    bind("rstd", { scalar: true }),
    bind("weight", { scalar: true }),
  ];
  const code = () =>
    `${header({ fields, bindings })}
${columnSumFn("a")}
${columnSumFn("b")}
${COLUMN_ENTRY}
  var sdy = 0.0;
  var sdyx = 0.0;
  var mu = 0.0;
  var rs = 0.0;
  if (live) {
    mu = buf_mean[c];
    rs = buf_rstd[c];
    for (var r = ly; r < P.rows; r = r + ${ROW_LANES}u) {
      let i = r * P.cols + c;
      let g = buf_dy[i];
      sdy = sdy + g;
      sdyx = sdyx + g * (buf_x[i] - mu) * rs;
    }
  }
  let sum_dy = a_sum(sdy, lx, ly);
  let sum_dyx = b_sum(sdyx, lx, ly);
  if (live) {
    if (ly == 0u) {
      buf_dbias[c] = buf_dbias[c] + sum_dy;
      buf_dweight[c] = buf_dweight[c] + sum_dyx;
    }
    let mean_dy = sum_dy / f32(P.rows);
    let mean_dyx = sum_dyx / f32(P.rows);
    let k = rs * buf_weight[c];
    for (var r = ly; r < P.rows; r = r + ${ROW_LANES}u) {
      let i = r * P.cols + c;
      let xhat = (buf_x[i] - mu) * rs;
      buf_dx[i] = k * (buf_dy[i] - mean_dy - xhat * mean_dyx);
    }
  }
}
`;
  return { key: "batch_norm_backward", fields, bindings, code };
}
