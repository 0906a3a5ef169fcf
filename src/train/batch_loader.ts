import { Random } from "../random.ts";
import { formatShape, sizeOf, type Tensor, type TensorLike, toTensor } from "../tensor.ts";
import {
  concatSources,
  type DataFile,
  memorySource,
  openRowSource,
  type RowSource,
} from "./_row_sources.ts";

export type { DataFile } from "./_row_sources.ts";

/** What `batchLoader` reads: a tensor of rows, a file, or several files end to end (shards). */
export type DataSource = TensorLike | DataFile | readonly DataFile[];

/** Options of `batchLoader`. */
export interface BatchLoaderOptions {
  /** Rows per batch. */
  batchSize: number;
  /** Visit rows in a new random order every epoch. Default true. */
  shuffle?: boolean;
  /**
   * How to shuffle: `"rows"`, an exact seeded permutation of all rows (the data are read at
   * random places: meant for data in memory), or `"chunks"`, a seeded order of contiguous
   * chunks of `chunkRows` rows, mixed `bufferRows` rows at a time. Default: `"rows"` for data
   * in memory (a tensor, or files read whole), `"chunks"` for files streamed from disk.
   */
  shuffleBy?: "rows" | "chunks";
  /** Seed of the shuffles (epoch e uses an order derived from seed and e). Default 0. */
  seed?: number;
  /** Drop the last, smaller batch. Default false. */
  dropLast?: boolean;
  /** Rows per contiguous read when streaming. Default: 1 MiB of float32 rows, at least 1. */
  chunkRows?: number;
  /** Rows mixed together when shuffling by chunks. Default: 64 chunks (64 MiB of rows). */
  bufferRows?: number;
  /**
   * Files whose rows take at most this many bytes as float32 are read whole, once, and kept
   * in memory. Default: a quarter of the machine's memory, at most 4 GiB (0 streams always).
   */
  inMemoryBytes?: number;
  /** Batches prepared ahead while the current one is used. Default 2. */
  readAhead?: number;
}

/** A quarter of the machine's memory, at most 4 GiB (1 GiB where the runtime does not say). */
function defaultInMemoryBytes(): number {
  let total = 4 * 2 ** 30;
  try {
    const d = (globalThis as { Deno?: { systemMemoryInfo(): { total: number } } }).Deno;
    if (d) total = d.systemMemoryInfo().total;
  } catch {
    // no --allow-sys: keep the default
  }
  return Math.min(4 * 2 ** 30, Math.floor(total / 4));
}

function checkCount(value: unknown, name: string, min: number): number {
  if (!Number.isSafeInteger(value) || (value as number) < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${value}`);
  }
  return value as number;
}

/** Checks the options before any file is read. */
function checkOptions(options: BatchLoaderOptions): void {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`options must be an object with a batchSize, got ${options}`);
  }
  checkCount(options.batchSize, "batchSize", 1);
  const { shuffleBy, shuffle, inMemoryBytes } = options;
  if (shuffleBy !== undefined && shuffleBy !== "rows" && shuffleBy !== "chunks") {
    throw new RangeError(`shuffleBy must be "rows" or "chunks", got ${JSON.stringify(shuffleBy)}`);
  }
  if (shuffle !== undefined && typeof shuffle !== "boolean") {
    throw new TypeError(`shuffle must be a boolean, got ${JSON.stringify(shuffle)}`);
  }
  if (options.chunkRows !== undefined) checkCount(options.chunkRows, "chunkRows", 1);
  if (options.bufferRows !== undefined) checkCount(options.bufferRows, "bufferRows", 1);
  if (options.readAhead !== undefined) checkCount(options.readAhead, "readAhead", 0);
  if (inMemoryBytes !== undefined && !(inMemoryBytes >= 0)) {
    throw new RangeError(`inMemoryBytes must be a number >= 0, got ${inMemoryBytes}`);
  }
}

/** Fisher–Yates of 0..n−1 with a seeded generator. */
function permutation(n: number, seed: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rng = new Random(seed >>> 0);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** One window of the chunk shuffle: its rows (in chunk order) and their permutation. */
interface Window {
  data: Float32Array;
  perm: Uint32Array;
}

/**
 * Batches of a large data set, shuffled per epoch with a seeded order, so that epoch e,
 * batch b is always the same rows: a training run can resume mid-epoch (`batches(epoch, start)`).
 * Files are read by large contiguous ranges, ahead of use: whole when they fit `inMemoryBytes`,
 * else chunk by chunk (see `shuffleBy`).
 */
export class BatchLoader implements AsyncIterable<Tensor> {
  /** Batches per epoch. */
  readonly length: number;
  /** Rows per batch. */
  readonly batchSize: number;
  /** Whether each epoch visits the rows in a new seeded order. */
  readonly shuffle: boolean;
  /** How rows are shuffled (see `BatchLoaderOptions.shuffleBy`). */
  readonly shuffleBy: "rows" | "chunks";
  /** Seed of the shuffles. */
  readonly seed: number;
  /** Whether the last, smaller batch of an epoch is dropped. */
  readonly dropLast: boolean;
  /** Rows per contiguous read (streamed files). */
  readonly chunkRows: number;
  /** Rows mixed together by the chunk shuffle. */
  readonly bufferRows: number;
  /** Whether the data set is held in memory. */
  readonly inMemory: boolean;
  /** The shape of one row. */
  readonly rowShape: readonly number[];
  #source: RowSource;
  #width: number;
  #readAhead: number;
  #epoch = 0;

  /** Use `batchLoader()`. */
  constructor(source: RowSource, inMemory: boolean, options: BatchLoaderOptions) {
    checkOptions(options);
    this.batchSize = options.batchSize;
    const { shuffleBy } = options;
    if (source.rows < 1) {
      throw new RangeError(`source must have at least one row, got ${source.name} with none`);
    }
    this.#source = source;
    this.#width = sizeOf(source.rowShape);
    this.rowShape = source.rowShape;
    this.inMemory = inMemory;
    this.shuffle = options.shuffle ?? true;
    this.shuffleBy = shuffleBy ?? (inMemory ? "rows" : "chunks");
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
    this.chunkRows = options.chunkRows ??
      Math.max(1, Math.floor(2 ** 20 / (4 * Math.max(1, this.#width))));
    this.bufferRows = options.bufferRows ?? 64 * this.chunkRows;
    this.#readAhead = options.readAhead ?? 2;
    this.length = this.dropLast
      ? Math.floor(source.rows / this.batchSize)
      : Math.ceil(source.rows / this.batchSize);
  }

  /** Number of rows of the data set. */
  get rows(): number {
    return this.#source.rows;
  }

  /** What identifies the batches (a checkpoint refuses to resume on other data). */
  description(): Record<string, unknown> {
    const base = {
      kind: "BatchLoader",
      rows: this.rows,
      batchSize: this.batchSize,
      shuffle: this.shuffle,
      seed: this.seed,
    };
    return this.#byChunks
      ? { ...base, shuffleBy: "chunks", chunkRows: this.chunkRows, bufferRows: this.bufferRows }
      : base;
  }

  get #byChunks(): boolean {
    return this.shuffle && this.shuffleBy === "chunks";
  }

  get #seedOf(): (epoch: number) => number {
    return (epoch) => this.seed * 1_000_003 + epoch * 7919;
  }

  /** The chunk shuffle of an epoch: chunks in order, grouped in windows of whole chunks. */
  #windows(epoch: number): { chunks: Uint32Array; perWindow: number; starts: number[] } {
    const n = Math.ceil(this.rows / this.chunkRows);
    const chunks = permutation(n, this.#seedOf(epoch) ^ 0x5bd1e995);
    const perWindow = Math.max(1, Math.round(this.bufferRows / this.chunkRows));
    const starts = [0];
    for (let w = 0; w * perWindow < n; w++) {
      let rows = 0;
      for (let i = w * perWindow; i < Math.min(n, (w + 1) * perWindow); i++) {
        rows += Math.min(this.chunkRows, this.rows - chunks[i] * this.chunkRows);
      }
      starts.push(starts[w] + rows);
    }
    return { chunks, perWindow, starts };
  }

  #windowPerm(epoch: number, w: number, n: number): Uint32Array {
    return permutation(n, this.#seedOf(epoch) ^ Math.imul(w + 1, 0x9e3779b1));
  }

  /**
   * The row order of `epoch`: a seeded permutation (by rows, or by chunks mixed in windows of
   * `bufferRows` rows), or 0..rows−1 without shuffling. Batch b is rows order[b·B .. (b+1)·B).
   */
  order(epoch: number): Uint32Array {
    const n = this.rows;
    if (!this.shuffle) return Uint32Array.from({ length: n }, (_, i) => i);
    if (!this.#byChunks) return permutation(n, this.#seedOf(epoch));
    const { chunks, perWindow, starts } = this.#windows(epoch);
    const order = new Uint32Array(n);
    for (let w = 0; w + 1 < starts.length; w++) {
      const rows: number[] = [];
      for (let i = w * perWindow; i < Math.min(chunks.length, (w + 1) * perWindow); i++) {
        const first = chunks[i] * this.chunkRows;
        for (let r = first; r < Math.min(n, first + this.chunkRows); r++) rows.push(r);
      }
      const perm = this.#windowPerm(epoch, w, rows.length);
      for (let j = 0; j < rows.length; j++) order[starts[w] + j] = rows[perm[j]];
    }
    return order;
  }

  /** The batches of `epoch` from batch index `start` on, read `readAhead` batches ahead. */
  async *batches(epoch: number, start = 0): AsyncGenerator<Tensor> {
    checkCount(epoch, "epoch", 0);
    checkCount(start, "start", 0);
    const make = this.#byChunks ? this.#chunkBatches(epoch) : this.#rowBatches(epoch);
    const ahead: Promise<Tensor>[] = [];
    let next = start;
    try {
      while (next < this.length || ahead.length > 0) {
        while (next < this.length && ahead.length <= this.#readAhead) {
          const p = make(next++);
          p.catch(() => {}); // surfaces when awaited in turn
          ahead.push(p);
        }
        yield await ahead.shift()!;
      }
    } finally {
      await Promise.allSettled(ahead);
    }
  }

  #bounds(b: number): [number, number] {
    return [b * this.batchSize, Math.min(this.rows, (b + 1) * this.batchSize)];
  }

  /** Batches of an exact per-row order: in memory a gather, on disk runs of consecutive rows. */
  #rowBatches(epoch: number): (b: number) => Promise<Tensor> {
    const order = this.order(epoch), width = this.#width, source = this.#source;
    const memory = source.data;
    return async (b) => {
      const [from, to] = this.#bounds(b);
      const indices = order.subarray(from, to);
      const out = new Float32Array(indices.length * width);
      if (memory) {
        for (let i = 0; i < indices.length; i++) {
          out.set(memory.subarray(indices[i] * width, (indices[i] + 1) * width), i * width);
        }
        return { data: out, shape: [indices.length, ...this.rowShape] };
      }
      const sorted = Array.from(indices.keys()).sort((i, j) => indices[i] - indices[j]);
      const reads: Promise<void>[] = [];
      const runs: [number, number, Float32Array][] = [];
      for (let k = 0; k < sorted.length;) {
        let end = k + 1;
        while (end < sorted.length && indices[sorted[end]] === indices[sorted[end - 1]] + 1) end++;
        const run = new Float32Array((end - k) * width);
        reads.push(source.read(indices[sorted[k]], end - k, run, 0));
        runs.push([k, end, run]);
        k = end;
      }
      await Promise.all(reads);
      for (const [k, end, run] of runs) {
        for (let i = k; i < end; i++) {
          out.set(run.subarray((i - k) * width, (i - k + 1) * width), sorted[i] * width);
        }
      }
      return { data: out, shape: [indices.length, ...this.rowShape] };
    };
  }

  /** Batches of the chunk shuffle: windows read whole (chunk by chunk), one window ahead. */
  #chunkBatches(epoch: number): (b: number) => Promise<Tensor> {
    const { chunks, perWindow, starts } = this.#windows(epoch);
    const width = this.#width, cr = this.chunkRows, N = this.rows;
    const loaded = new Map<number, Promise<Window>>();
    const load = (w: number): Promise<Window> => {
      let p = loaded.get(w);
      if (!p) {
        const n = starts[w + 1] - starts[w];
        const data = new Float32Array(n * width);
        const reads: Promise<void>[] = [];
        for (let i = w * perWindow, at = 0; i < Math.min(chunks.length, (w + 1) * perWindow); i++) {
          const first = chunks[i] * cr, count = Math.min(cr, N - first);
          reads.push(this.#source.read(first, count, data, at * width));
          at += count;
        }
        p = Promise.all(reads).then(() => ({ data, perm: this.#windowPerm(epoch, w, n) }));
        p.catch(() => {});
        loaded.set(w, p);
      }
      return p;
    };
    const windowOf = (pos: number) => {
      let w = 0;
      while (starts[w + 1] <= pos) w++;
      return w;
    };
    return async (b) => {
      const [from, to] = this.#bounds(b);
      const first = windowOf(from), last = windowOf(to - 1);
      for (const w of loaded.keys()) if (w < first) loaded.delete(w);
      if (last + 2 < starts.length) void load(last + 1); // read ahead: the next window
      const out = new Float32Array((to - from) * width);
      for (let w = first; w <= last; w++) {
        const { data, perm } = await load(w);
        const lo = Math.max(from, starts[w]), hi = Math.min(to, starts[w + 1]);
        for (let p = lo; p < hi; p++) {
          const r = perm[p - starts[w]];
          out.set(data.subarray(r * width, (r + 1) * width), (p - from) * width);
        }
      }
      return { data: out, shape: [to - from, ...this.rowShape] };
    };
  }

  /** Iterates the next epoch (0, 1, 2, … on successive loops). */
  [Symbol.asyncIterator](): AsyncIterator<Tensor> {
    return this.batches(this.#epoch++);
  }

  /** Closes the files of a loader that streams them. */
  close(): Promise<void> {
    return this.#source.close();
  }
}

function isFileList(source: unknown): source is readonly DataFile[] {
  return Array.isArray(source) && source.length > 0 &&
    source.every((s) =>
      typeof s === "string" || (s !== null && typeof s === "object" && "path" in s)
    );
}

/**
 * Batches (and by default shuffles) a data set for `trainSae`: a tensor of rows, a `.npy`
 * file, an `.npz` or `.safetensors` member (`{ path, member }` or `"acts.npz#member"`; the
 * member may be left out when there is only one), or a list of such files read end to end
 * (shards). Files that fit `inMemoryBytes` are read whole, once; larger ones are streamed by
 * contiguous chunks and shuffled by chunks mixed in a buffer (see `BatchLoaderOptions`), the
 * next batches read while the current one trains.
 *
 * @param source A tensor [rows, ...], a file, or files.
 * @param options Batch size, shuffling, seed, dropLast, chunk and buffer sizes.
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
  source: DataSource,
  options: BatchLoaderOptions,
): Promise<BatchLoader> {
  checkOptions(options);
  const limit = options.inMemoryBytes ?? defaultInMemoryBytes();
  const isFile = typeof source === "string" || isFileList(source) ||
    (source !== null && typeof source === "object" && "path" in source);
  if (!isFile) {
    const t = toTensor(source as TensorLike, "source");
    if (t.shape.length < 1 || t.shape[0] < 1) {
      throw new RangeError(`source must have at least one row, got shape ${formatShape(t.shape)}`);
    }
    return new BatchLoader(memorySource(t, "source"), true, options);
  }
  const files = isFileList(source) ? source : [source as DataFile];
  const shards: RowSource[] = [];
  let rows: RowSource | undefined;
  try {
    for (const f of files) shards.push(await openRowSource(f));
    rows = concatSources(shards);
    const bytes = 4 * rows.rows * sizeOf(rows.rowShape);
    if (bytes <= limit) {
      const data = new Float32Array(bytes / 4);
      await rows.read(0, rows.rows, data, 0); // one large read per file
      await rows.close();
      rows = memorySource({ data, shape: [rows.rows, ...rows.rowShape] }, rows.name);
      return new BatchLoader(rows, true, options);
    }
    return new BatchLoader(rows, false, options);
  } catch (e) {
    await Promise.allSettled(shards.map((s) => s.close()));
    throw e;
  }
}
