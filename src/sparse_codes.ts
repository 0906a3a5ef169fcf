/**
 * Codes in compressed sparse rows (CSR), as `JumpSAE.encodeSparse` returns them: row r holds the
 * concepts `indices[indptr[r] .. indptr[r + 1])` (ascending) with their `values`.
 */
export interface SparseCodes {
  /** Row starts, `rows + 1` entries; `indptr[rows]` is the number of stored codes. */
  indptr: Int32Array;
  /** Concept of each stored code, ascending within a row. */
  indices: Int32Array;
  /** Value of each stored code. */
  values: Float32Array;
  /** [tokens, nbConcepts] of the dense codes. */
  shape: [number, number];
}

/** The non-zeros of a rows×cols row-major matrix as CSR (two scans: count, then copy). */
export function csrFromDense(dense: Float32Array, rows: number, cols: number): SparseCodes {
  const indptr = new Int32Array(rows + 1);
  for (let r = 0; r < rows; r++) {
    let n = 0;
    const base = r * cols;
    for (let c = 0; c < cols; c++) if (dense[base + c] !== 0) n++;
    indptr[r + 1] = indptr[r] + n;
  }
  const indices = new Int32Array(indptr[rows]), values = new Float32Array(indptr[rows]);
  let j = 0;
  for (let i = 0; i < rows * cols; i++) {
    const v = dense[i];
    if (v !== 0) {
      indices[j] = i % cols;
      values[j++] = v;
    }
  }
  return { indptr, indices, values, shape: [rows, cols] };
}

/**
 * The CSR of a per-row top-k selected on the backend (`Backend.topK`: values and indices [rows, k]
 * by descending value, ties to the lower index, nnz [rows] non-zeros per row): each row keeps
 * min(nnz, k) entries, in column order as every CSR here.
 */
export function csrFromTopK(
  values: Float32Array,
  indices: Float32Array,
  nnz: Float32Array,
  k: number,
  cols: number,
): SparseCodes {
  const rows = nnz.length, indptr = new Int32Array(rows + 1);
  for (let r = 0; r < rows; r++) indptr[r + 1] = indptr[r] + Math.min(k, nnz[r]);
  const outIdx = new Int32Array(indptr[rows]), outVal = new Float32Array(indptr[rows]);
  const order: number[] = [];
  for (let r = 0; r < rows; r++) {
    const m = indptr[r + 1] - indptr[r];
    order.length = 0;
    for (let j = 0; j < m; j++) order.push(r * k + j);
    order.sort((p, q) => indices[p] - indices[q]);
    for (let j = 0; j < m; j++) {
      outIdx[indptr[r] + j] = indices[order[j]];
      outVal[indptr[r] + j] = values[order[j]];
    }
  }
  return { indptr, indices: outIdx, values: outVal, shape: [rows, cols] };
}

/** CSR row blocks, stacked in order into one CSR (the blocks of an eval-mode batch). */
export function concatRows(parts: SparseCodes[], cols: number): SparseCodes {
  if (parts.length === 1) return parts[0];
  const rows = parts.reduce((s, p) => s + p.indptr.length - 1, 0);
  const nnz = parts.reduce((s, p) => s + p.indices.length, 0);
  const indptr = new Int32Array(rows + 1), indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let r0 = 0, n0 = 0;
  for (const p of parts) {
    const rows = p.indptr.length - 1;
    for (let r = 1; r <= rows; r++) indptr[r0 + r] = n0 + p.indptr[r];
    indices.set(p.indices, n0);
    values.set(p.values, n0);
    r0 += rows;
    n0 += p.indices.length;
  }
  return { indptr, indices, values, shape: [rows, cols] };
}
