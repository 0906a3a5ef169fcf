import { openNpy } from "../io/npy.ts";
import { Random } from "../random.ts";
import { formatShape, type Tensor, type TensorLike, toTensor } from "../tensor.ts";

/** Options of `batchLoader`. */
export interface BatchLoaderOptions {
  /** Rows per batch. */
  batchSize: number;
  /** Visit rows in a new random order every epoch. Default true. */
  shuffle?: boolean;
  /** Seed of the shuffles (epoch e uses a permutation derived from seed and e). Default 0. */
  seed?: number;
  /** Drop the last, smaller batch. Default false. */
  dropLast?: boolean;
}

/** Reads rows of a data set: a tensor in memory or a `.npy` file on disk. */
interface RowSource {
  rows: number;
  rowShape: readonly number[];
  read(indices: Uint32Array): Promise<Tensor>;
  close(): Promise<void>;
}

/**
 * Batches of a large data set, shuffled per epoch with a seeded permutation, so that epoch e,
 * batch b is always the same rows: a training run can resume mid-epoch (`batches(epoch, start)`).
 * Rows are copied batch by batch; the data set itself is never copied (a tensor) or loaded
 * (a `.npy` file, read by runs of consecutive rows).
 */
export class BatchLoader implements AsyncIterable<Tensor> {
  /** Batches per epoch. */
  readonly length: number;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  #source: RowSource;
  #epoch = 0;

  /** Use `batchLoader()`. */
  constructor(source: RowSource, options: BatchLoaderOptions) {
    const { batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be an integer >= 1, got ${batchSize}`);
    }
    this.#source = source;
    this.batchSize = batchSize;
    this.shuffle = options.shuffle ?? true;
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
    this.length = this.dropLast
      ? Math.floor(source.rows / batchSize)
      : Math.ceil(source.rows / batchSize);
  }

  /** Number of rows of the data set. */
  get rows(): number {
    return this.#source.rows;
  }

  /** The row order of `epoch`: a seeded permutation, or 0..rows−1 without shuffling. */
  order(epoch: number): Uint32Array {
    const n = this.#source.rows;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    if (!this.shuffle) return order;
    const rng = new Random((this.seed * 1_000_003 + epoch * 7919) >>> 0);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    return order;
  }

  /** The batches of `epoch` from batch index `start` on. */
  async *batches(epoch: number, start = 0): AsyncGenerator<Tensor> {
    const order = this.order(epoch);
    for (let b = start; b < this.length; b++) {
      const end = Math.min(order.length, (b + 1) * this.batchSize);
      yield await this.#source.read(order.subarray(b * this.batchSize, end));
    }
  }

  /** Iterates the next epoch (0, 1, 2, … on successive loops). */
  [Symbol.asyncIterator](): AsyncIterator<Tensor> {
    return this.batches(this.#epoch++);
  }

  /** Closes the file of a `.npy` loader. */
  close(): Promise<void> {
    return this.#source.close();
  }
}

function tensorSource(t: Tensor): RowSource {
  if (t.shape.length < 1 || t.shape[0] < 1) {
    throw new RangeError(`source must have at least one row, got shape ${formatShape(t.shape)}`);
  }
  const rowShape = t.shape.slice(1);
  const width = rowShape.reduce((a, b) => a * b, 1);
  return {
    rows: t.shape[0],
    rowShape,
    read(indices) {
      const out = new Float32Array(indices.length * width);
      for (let i = 0; i < indices.length; i++) {
        out.set(t.data.subarray(indices[i] * width, (indices[i] + 1) * width), i * width);
      }
      return Promise.resolve({ data: out, shape: [indices.length, ...rowShape] });
    },
    close: () => Promise.resolve(),
  };
}

async function npySource(path: string): Promise<RowSource> {
  const reader = await openNpy(path);
  const rowShape = reader.shape.slice(1);
  const width = rowShape.reduce((a, b) => a * b, 1);
  return {
    rows: reader.rows,
    rowShape,
    async read(indices) {
      const sorted = Array.from(indices.keys()).sort((a, b) => indices[a] - indices[b]);
      const out = new Float32Array(indices.length * width);
      let k = 0;
      while (k < sorted.length) {
        let end = k + 1;
        while (end < sorted.length && indices[sorted[end]] === indices[sorted[end - 1]] + 1) end++;
        const chunk = await reader.readRows(indices[sorted[k]], end - k);
        for (let i = k; i < end; i++) {
          out.set(chunk.data.subarray((i - k) * width, (i - k + 1) * width), sorted[i] * width);
        }
        k = end;
      }
      return { data: out, shape: [indices.length, ...rowShape] };
    },
    close: () => reader.close(),
  };
}

/**
 * Batches (and by default shuffles) a data set for `trainSae`: a tensor of rows, or the path of
 * a `.npy` file (streamed with `openNpy`, never loaded whole).
 *
 * @param source A tensor [rows, ...] or a `.npy` path.
 * @param options Batch size, shuffling, seed, dropLast.
 * @returns The loader; iterate it (one epoch per loop) or call `batches(epoch, start)`.
 *
 * @example Two epochs of batches of 2 rows
 * ```ts
 * import { batchLoader } from "./batch_loader.ts";
 * const data = { data: new Float32Array(5 * 3), shape: [5, 3] };
 * const loader = await batchLoader(data, { batchSize: 2, seed: 1 });
 * for await (const batch of loader) console.log(batch.shape); // [2, 3] [2, 3] [1, 3]
 * console.log(loader.length); // 3
 * ```
 */
export async function batchLoader(
  source: TensorLike | string,
  options: BatchLoaderOptions,
): Promise<BatchLoader> {
  const rows = typeof source === "string"
    ? await npySource(source)
    : tensorSource(toTensor(source, "source"));
  try {
    return new BatchLoader(rows, options);
  } catch (e) {
    await rows.close();
    throw e;
  }
}
