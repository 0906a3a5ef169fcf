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

/** Growable CSR arrays being appended to, row by row. */
export class SparseRowsBuilder {
  #indices = new Int32Array(1024);
  #values = new Float32Array(1024);
  #n = 0;
  readonly indptr: Int32Array;
  #row = 0;

  constructor(rows: number, readonly cols: number, readonly topK: number | undefined) {
    this.indptr = new Int32Array(rows + 1);
  }

  #reserve(extra: number): void {
    if (this.#n + extra <= this.#indices.length) return;
    const size = Math.max(this.#n + extra, this.#indices.length * 2);
    const i = new Int32Array(size), v = new Float32Array(size);
    i.set(this.#indices.subarray(0, this.#n));
    v.set(this.#values.subarray(0, this.#n));
    this.#indices = i;
    this.#values = v;
  }

  /**
   * Appends the non-zeros of `rows` dense rows of `dense` (cols wide), keeping the `topK`
   * largest of each row when set (ties: the lower concept first).
   */
  append(dense: Float32Array, rows: number): void {
    const C = this.cols, k = this.topK;
    for (let r = 0; r < rows; r++) {
      const base = r * C;
      let count = 0;
      for (let c = 0; c < C; c++) if (dense[base + c] !== 0) count++;
      const keep = k === undefined ? count : Math.min(k, count);
      this.#reserve(keep);
      let n = this.#n;
      if (keep === count) {
        for (let c = 0; c < C; c++) {
          const v = dense[base + c];
          if (v !== 0) {
            this.#indices[n] = c;
            this.#values[n++] = v;
          }
        }
      } else if (keep > 0) {
        const nz: number[] = [];
        for (let c = 0; c < C; c++) if (dense[base + c] !== 0) nz.push(c);
        nz.sort((a, b) => dense[base + b] - dense[base + a] || a - b);
        const top = nz.slice(0, keep).sort((a, b) => a - b);
        for (const c of top) {
          this.#indices[n] = c;
          this.#values[n++] = dense[base + c];
        }
      }
      this.#n = n;
      this.indptr[++this.#row] = n;
    }
  }

  /** The finished CSR codes (arrays trimmed to the stored count). */
  finish(): SparseCodes {
    return {
      indptr: this.indptr,
      indices: this.#indices.slice(0, this.#n),
      values: this.#values.slice(0, this.#n),
      shape: [this.indptr.length - 1, this.cols],
    };
  }
}
