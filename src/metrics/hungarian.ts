/**
 * Minimum-cost assignment of a rows×cols cost matrix (scipy's `linear_sum_assignment`): the
 * Hungarian algorithm with potentials (Kuhn–Munkres, O(n²·m)), exact for any finite costs.
 * Each row (or each column, if there are fewer columns) gets a distinct partner.
 *
 * @param cost Row-major costs, `rows × cols` values.
 * @param rows Number of rows.
 * @param cols Number of columns.
 * @returns Matched row and column indices (sorted by row) and the total cost.
 *
 * @example
 * ```ts
 * import { linearSumAssignment } from "./hungarian.ts";
 * const { colInd, total } = linearSumAssignment([4, 1, 3, 2, 0, 5, 3, 2, 2], 3, 3);
 * console.log(colInd, total); // [1, 0, 2] 5
 * ```
 */
export function linearSumAssignment(
  cost: ArrayLike<number>,
  rows: number,
  cols: number,
): { rowInd: number[]; colInd: number[]; total: number } {
  if (
    !Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0 ||
    cost.length !== rows * cols
  ) {
    throw new RangeError(
      `cost must hold rows × cols = ${rows} × ${cols} values, got ${cost.length}`,
    );
  }
  for (let i = 0; i < cost.length; i++) {
    if (!Number.isFinite(cost[i])) {
      throw new RangeError(`cost must be finite, got ${cost[i]} at index ${i}`);
    }
  }
  const transposed = rows > cols;
  const n = transposed ? cols : rows, m = transposed ? rows : cols;
  const a = (i: number, j: number) => (transposed ? cost[j * cols + i] : cost[i * cols + j]);
  // 1-indexed potentials u (rows), v (columns); p[j] = row matched to column j; way[j] = previous column
  const u = new Float64Array(n + 1), v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1), way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = Infinity, j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = a(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const pairs: [number, number][] = [];
  for (let j = 1; j <= m; j++) {
    if (p[j] !== 0) pairs.push(transposed ? [j - 1, p[j] - 1] : [p[j] - 1, j - 1]);
  }
  pairs.sort((x, y) => x[0] - y[0]);
  let total = 0;
  for (const [r, c] of pairs) total += cost[r * cols + c];
  return { rowInd: pairs.map((q) => q[0]), colInd: pairs.map((q) => q[1]), total };
}
