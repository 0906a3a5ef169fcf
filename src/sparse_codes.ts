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
 * Keeps the k largest values of each row of `csr` (ties: the lower concept), in concept order.
 * Returns `csr` itself when no row holds more than k.
 */
export function topKRows(csr: SparseCodes, k: number): SparseCodes {
  const { indptr, indices, values } = csr, rows = indptr.length - 1;
  let longest = 0;
  for (let r = 0; r < rows; r++) longest = Math.max(longest, indptr[r + 1] - indptr[r]);
  if (longest <= k) return csr;
  const outPtr = new Int32Array(rows + 1);
  for (let r = 0; r < rows; r++) outPtr[r + 1] = outPtr[r] + Math.min(k, indptr[r + 1] - indptr[r]);
  const outIdx = new Int32Array(outPtr[rows]), outVal = new Float32Array(outPtr[rows]);
  for (let r = 0; r < rows; r++) {
    const a = indptr[r], n = indptr[r + 1] - a;
    let o = outPtr[r];
    if (n <= k) {
      outIdx.set(indices.subarray(a, a + n), o);
      outVal.set(values.subarray(a, a + n), o);
      continue;
    }
    const order = Array.from({ length: n }, (_, i) => a + i);
    order.sort((p, q) => values[q] - values[p] || indices[p] - indices[q]);
    for (const j of order.slice(0, k).sort((p, q) => p - q)) {
      outIdx[o] = indices[j];
      outVal[o++] = values[j];
    }
  }
  return { indptr: outPtr, indices: outIdx, values: outVal, shape: csr.shape };
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
