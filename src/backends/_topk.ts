/**
 * The plain per-row top-k that the backends' `topK` must reproduce: the non-zero codes of each
 * row sorted by descending value, equal values by lower index; −1 and 0 pad short rows.
 */
export function topKRows(
  values: Float32Array,
  indices: Float32Array,
  nnz: Float32Array,
  codes: Float32Array,
  rows: number,
  cols: number,
  k: number,
): void {
  for (let r = 0; r < rows; r++) {
    const at = r * cols;
    const nz: number[] = [];
    for (let c = 0; c < cols; c++) if (codes[at + c] !== 0) nz.push(c);
    nz.sort((a, b) => codes[at + b] - codes[at + a] || a - b);
    for (let j = 0; j < k; j++) {
      values[r * k + j] = j < nz.length ? codes[at + nz[j]] : 0;
      indices[r * k + j] = j < nz.length ? nz[j] : -1;
    }
    nnz[r] = nz.length;
  }
}
