/**
 * The column-reduction layout shared by ops that sum over the rows of a rows×cols matrix
 * (bias gradients, BatchNorm statistics, threshold gradients): a workgroup of 64×4 invocations
 * owns 64 adjacent columns; each invocation walks every fourth row of one column (coalesced:
 * 64 consecutive floats per row), then the four partial sums of a column are added in a fixed
 * order. One pass, deterministic, no atomics.
 */

import { bind, header, type KernelSource } from "./common.ts";

/** Columns per workgroup. */
export const COLUMN_TILE = 64;
/** Row lanes per workgroup. */
export const ROW_LANES = 4;

/**
 * WGSL of `col_sum(v, lx, ly) -> f32`: the sum of `v` over the 4 row lanes of column lx,
 * returned to all of them. Call from uniform control flow; `slot` names the shared array.
 */
export function columnSumFn(slot = "col"): string {
  return `
var<workgroup> red_${slot}: array<f32, ${COLUMN_TILE * ROW_LANES}>;
fn ${slot}_sum(v: f32, lx: u32, ly: u32) -> f32 {
  red_${slot}[ly * ${COLUMN_TILE}u + lx] = v;
  workgroupBarrier();
  let total = (red_${slot}[lx] + red_${slot}[${COLUMN_TILE}u + lx]) +
    (red_${slot}[${2 * COLUMN_TILE}u + lx] + red_${slot}[${3 * COLUMN_TILE}u + lx]);
  workgroupBarrier();
  return total;
}
`;
}

/** The entry point's signature and the column/lane indices `c`, `lx`, `ly`. */
export const COLUMN_ENTRY = `@compute @workgroup_size(${COLUMN_TILE}, ${ROW_LANES})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lx = lid3.x;
  let ly = lid3.y;
  let c = (wid.x + P.base_x) * ${COLUMN_TILE}u + lx;
  let live = c < P.cols;`;

/** out[c] += Σ_r x[r, c]. */
export function sumRowsKernel(): KernelSource {
  const fields = [["rows", "u32"], ["cols", "u32"]] as const;
  const bindings = [bind("out", { write: true, scalar: true }), bind("x", { scalar: true })];
  const code = () =>
    `${header({ fields, bindings })}
${columnSumFn()}
${COLUMN_ENTRY}
  var acc = 0.0;
  if (live) {
    for (var r = ly; r < P.rows; r = r + ${ROW_LANES}u) { acc = acc + buf_x[r * P.cols + c]; }
  }
  let total = col_sum(acc, lx, ly);
  if (live && ly == 0u) { buf_out[c] = buf_out[c] + total; }
}
`;
  return { key: "sum_rows", fields, bindings, code };
}
