/**
 * Reading and writing numpy's `.npy` format (versions 1.0, 2.0 and 3.0), whole or streamed by
 * rows from a file.
 *
 * @module
 */

import { formatShape, sizeOf, type Tensor, type TensorLike, toTensor } from "../tensor.ts";
import { openForRead, openForWrite, type ReadableFile, type WritableFile } from "../platform/fs.ts";
import { decodeElements, type ElementType, encodeElements } from "./_dtypes.ts";
import { elementType, type NpyHeader, parseNpyHeader } from "./_npy_header.ts";
import { FormatError } from "../errors.ts";

/** Dtypes that `saveNpy` and `createNpyWriter` write (little-endian float32, float16, float64). */
export type NpyWriteDtype = "<f4" | "<f2" | "<f8";

/** Options of `saveNpy` and `createNpyWriter`. */
export interface SaveNpyOptions {
  /** Storage dtype, default `"<f4"`. */
  dtype?: NpyWriteDtype;
}

/** An open `.npy` file, read by chunks of rows (see `openNpy`). */
export interface NpyReader {
  /** The array's shape. */
  readonly shape: readonly number[];
  /** numpy's dtype string, e.g. `"<f4"`. */
  readonly dtype: string;
  /** Whether the data is stored column-major (such files cannot be streamed). */
  readonly fortranOrder: boolean;
  /** Number of rows (`shape[0]`). */
  readonly rows: number;
  /** Reads rows `start .. start + count - 1` as a float32 tensor of shape `[count, ...shape.slice(1)]`. */
  readRows(start: number, count: number): Promise<Tensor>;
  /** Closes the file. */
  close(): Promise<void>;
}

/** A `.npy` file being written by rows (see `createNpyWriter`). */
export interface NpyWriter {
  /** Rows written so far. */
  readonly rows: number;
  /** Appends rows: a tensor of shape `[n, ...rowShape]` (or `rowShape` for a single row). */
  append(rows: TensorLike): Promise<void>;
  /** Writes the final row count into the header and closes the file. */
  close(): Promise<void>;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ARRAY_ALIGN = 64;
/** numpy leaves this many digits of room for the growing axis, so a header can be patched in place. */
const GROWTH_AXIS_MAX_DIGITS = 21;
const WRITE_DTYPES: readonly NpyWriteDtype[] = ["<f4", "<f2", "<f8"];

/** Reorders column-major data into row-major. */
function fortranToC(data: Float32Array, shape: readonly number[]): Float32Array {
  const n = data.length;
  const nd = shape.length;
  if (nd < 2 || n === 0) return data;
  const out = new Float32Array(n);
  const strides = new Array<number>(nd);
  let s = 1;
  for (let k = 0; k < nd; k++) {
    strides[k] = s;
    s *= shape[k];
  }
  const index = new Array<number>(nd).fill(0);
  let source = 0;
  for (let i = 0; i < n; i++) {
    out[i] = data[source];
    for (let k = nd - 1; k >= 0; k--) {
      index[k]++;
      source += strides[k];
      if (index[k] < shape[k]) break;
      source -= strides[k] * shape[k];
      index[k] = 0;
    }
  }
  return out;
}

/**
 * Reads a `.npy` file into a float32 tensor.
 *
 * Dtypes `<f4 >f4 <f2 >f2 <f8 >f8`, integers (`<i4`, `<i8`, ... read exactly up to 2^53) and
 * booleans are converted to float32; Fortran-ordered arrays are transposed into row-major.
 * Versions 1.0, 2.0 and 3.0 are read. A truncated or malformed file (a header that is not a flat
 * dict of `descr`, `fortran_order` and `shape`, longer than 10000 bytes, or data of another size
 * than the header says) is refused with a `FormatError` that says what is wrong and where.
 *
 * @param bytes The whole file.
 * @returns The array as a row-major float32 tensor.
 *
 * @example Round trip
 * ```ts
 * import { loadNpy, saveNpy } from "./npy.ts";
 * const t = loadNpy(saveNpy({ data: [1, 2, 3, 4, 5, 6], shape: [2, 3] }));
 * console.log(t.shape, t.data); // [2, 3] Float32Array [1, 2, 3, 4, 5, 6]
 * ```
 */
export function loadNpy(bytes: Uint8Array): Tensor {
  const name = ".npy file";
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`${name} bytes must be a Uint8Array, got ${typeof bytes}`);
  }
  const header = parseNpyHeader(bytes, name);
  if (typeof header === "number") {
    throw new FormatError(
      `${name} is truncated: its header needs ${header} more bytes than the ${bytes.length} given`,
      { file: name, offset: bytes.length },
    );
  }
  const { type, dataOffset, dataBytes } = header;
  const available = bytes.length - dataOffset;
  if (available !== dataBytes) {
    throw new FormatError(
      `${name} has ${available} bytes of data, expected ${dataBytes} for shape ${
        formatShape(header.shape)
      } and dtype ${header.dtype}${available < dataBytes ? " (the file is truncated)" : ""}`,
      { file: name, offset: dataOffset },
    );
  }
  const count = dataBytes / type.size;
  const data = decodeElements(bytes, dataOffset, count, type, name);
  return {
    data: header.fortranOrder ? fortranToC(data, header.shape) : data,
    shape: header.shape,
  };
}

function formatPyShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

/**
 * The magic, version, length and header of a C-order .npy file, laid out byte for byte as numpy
 * writes it: room for a 21-digit first axis (so the header can be patched in place when rows are
 * appended), spaces and a newline up to a multiple of 64 bytes, version 1.0 unless too long.
 */
function encodeHeader(dtype: string, shape: readonly number[]): Uint8Array {
  let text = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${formatPyShape(shape)}, }`;
  if (shape.length > 0) {
    text += " ".repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  }
  const hlen = text.length + 1;
  let prefix = 10;
  let total = prefix + hlen + ARRAY_ALIGN - ((prefix + hlen) % ARRAY_ALIGN);
  if (total - prefix > 0xffff) {
    prefix = 12;
    total = prefix + hlen + ARRAY_ALIGN - ((prefix + hlen) % ARRAY_ALIGN);
  }
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  out[6] = prefix === 10 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (prefix === 10) view.setUint16(8, total - prefix, true);
  else view.setUint32(8, total - prefix, true);
  for (let k = 0; k < text.length; k++) out[prefix + k] = text.charCodeAt(k);
  out.fill(0x20, prefix + text.length, total - 1);
  out[total - 1] = 0x0a;
  return out;
}

function writeType(dtype: unknown, name: string): ElementType {
  if (!WRITE_DTYPES.includes(dtype as NpyWriteDtype)) {
    throw new RangeError(
      `${name} must be one of ${WRITE_DTYPES.join(", ")}, got ${JSON.stringify(dtype)}`,
    );
  }
  return elementType(dtype as string, name);
}

/**
 * Writes a tensor as a `.npy` file (C order, format 1.0, header laid out byte for byte as
 * numpy's `np.save`). Float16 overflow of a finite value is refused with a RangeError.
 *
 * @param tensor The tensor.
 * @param options Storage dtype (`"<f4"` by default, `"<f2"` or `"<f8"`).
 * @returns The file's bytes.
 *
 * @example Saving as float16
 * ```ts
 * import { saveNpy } from "./npy.ts";
 * const bytes = saveNpy([[1, 2], [3, 4]], { dtype: "<f2" });
 * console.log(bytes.length); // 128 bytes of header + 8 bytes of data
 * ```
 */
export function saveNpy(tensor: TensorLike, options: SaveNpyOptions = {}): Uint8Array {
  const dtype = options.dtype ?? "<f4";
  const type = writeType(dtype, "saveNpy options.dtype");
  const t = toTensor(tensor, "tensor");
  const header = encodeHeader(dtype, t.shape);
  const data = encodeElements(t.data, type, "tensor");
  const out = new Uint8Array(header.length + data.length);
  out.set(header, 0);
  out.set(data, header.length);
  return out;
}

/**
 * Reads the header of a `.npy` file from disk (the data is not read).
 *
 * @param path The file's path.
 * @returns The header.
 */
async function readHeader(file: ReadableFile, path: string): Promise<NpyHeader> {
  const name = `.npy file ${path}`;
  let head = await file.read(0, Math.min(file.size, 12));
  for (;;) {
    const header = parseNpyHeader(head, name);
    if (typeof header !== "number") return header;
    if (head.length + header > file.size) {
      throw new FormatError(
        `${name} is truncated: its header needs ${
          head.length + header
        } bytes, the file has ${file.size}`,
        { file: name, offset: file.size },
      );
    }
    head = await file.read(0, head.length + header);
  }
}

/**
 * Opens a `.npy` file for reading by chunks of rows, without loading the whole file.
 * Rows are the first axis; each chunk is converted to float32. Files in Fortran order (of two
 * or more dimensions) cannot be streamed: `readRows` refuses them with a RangeError.
 * Uses Deno's file API, or `node:fs/promises` under Node.
 *
 * @param path The file's path.
 * @returns A reader; close it when done.
 *
 * @example Reading activations 1024 rows at a time
 * ```ts ignore
 * import { openNpy } from "./npy.ts";
 * const reader = await openNpy("activations.npy");
 * for (let start = 0; start < reader.rows; start += 1024) {
 *   const batch = await reader.readRows(start, Math.min(1024, reader.rows - start));
 *   // ... batch.shape is [n, ...reader.shape.slice(1)]
 * }
 * await reader.close();
 * ```
 */
export async function openNpy(path: string): Promise<NpyReader> {
  const file = await openForRead(path);
  let header: NpyHeader;
  let type: ElementType;
  try {
    header = await readHeader(file, path);
    type = header.type;
    if (header.shape.length === 0) {
      throw new RangeError(
        `.npy file ${path} holds a scalar (shape []), expected at least one dimension to stream rows`,
      );
    }
    const needed = header.dataOffset + header.dataBytes;
    if (file.size !== needed) {
      throw new FormatError(
        `.npy file ${path} has ${file.size} bytes, expected ${needed} for shape ${
          formatShape(header.shape)
        } and dtype ${header.dtype}${file.size < needed ? " (the file is truncated)" : ""}`,
        { file: path, offset: header.dataOffset },
      );
    }
  } catch (error) {
    await file.close();
    throw error;
  }
  const shape = header.shape;
  const rowShape = shape.slice(1);
  const rowElements = sizeOf(rowShape);
  const rows = shape[0];
  const name = `.npy file ${path}`;
  return {
    shape,
    dtype: header.dtype,
    fortranOrder: header.fortranOrder,
    rows,
    async readRows(start: number, count: number): Promise<Tensor> {
      if (header.fortranOrder && shape.length > 1) {
        throw new RangeError(
          `${name} is in Fortran order, expected C order to stream rows (use loadNpy instead)`,
        );
      }
      if (!Number.isSafeInteger(start) || start < 0) {
        throw new RangeError(`readRows start must be a non-negative integer, got ${start}`);
      }
      if (!Number.isSafeInteger(count) || count < 0) {
        throw new RangeError(`readRows count must be a non-negative integer, got ${count}`);
      }
      if (start + count > rows) {
        throw new RangeError(
          `readRows asks for rows ${start} to ${start + count - 1}, expected rows below ${rows}`,
        );
      }
      const elements = count * rowElements;
      const bytes = await file.read(
        header.dataOffset + start * rowElements * type.size,
        elements * type.size,
      );
      return { data: decodeElements(bytes, 0, elements, type, name), shape: [count, ...rowShape] };
    },
    close: () => file.close(),
  };
}

/**
 * Creates a `.npy` file and returns a writer that appends rows to it. Header space is reserved
 * up front (as numpy does, room for a 21-digit row count) and the row count is patched in at
 * `close()`, so arrays larger than memory can be written. Until `close()` the file's header
 * says 0 rows.
 *
 * @param path The file's path (created or truncated).
 * @param cols Shape of one row: a number of columns, or an array of dimensions.
 * @param options Storage dtype (`"<f4"` by default, `"<f2"` or `"<f8"`).
 * @returns The writer.
 *
 * @example Writing codes batch by batch
 * ```ts ignore
 * import { createNpyWriter } from "./npy.ts";
 * const writer = await createNpyWriter("codes.npy", 3);
 * await writer.append([[1, 2, 3], [4, 5, 6]]);
 * await writer.append([[7, 8, 9]]);
 * await writer.close(); // codes.npy now holds a (3, 3) float32 array
 * ```
 */
export async function createNpyWriter(
  path: string,
  cols: number | readonly number[],
  options: SaveNpyOptions = {},
): Promise<NpyWriter> {
  const rowShape = typeof cols === "number" ? [cols] : Array.isArray(cols) ? [...cols] : undefined;
  if (!rowShape || !rowShape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new RangeError(
      `cols must be a non-negative integer or an array of them, got ${JSON.stringify(cols)}`,
    );
  }
  const dtype = options.dtype ?? "<f4";
  const type = writeType(dtype, "createNpyWriter options.dtype");
  const reserved = encodeHeader(dtype, [0, ...rowShape]);
  const file: WritableFile = await openForWrite(path);
  await file.write(reserved);
  let rows = 0;
  let closed = false;
  let failure: unknown;
  return {
    get rows() {
      return rows;
    },
    async append(value: TensorLike): Promise<void> {
      if (closed) {
        throw new TypeError(`the .npy writer of ${path} is closed, expected an open writer`);
      }
      const t = toTensor(value, "rows");
      let n: number;
      if (t.shape.length === rowShape.length && t.shape.every((d, k) => d === rowShape[k])) {
        n = 1;
      } else if (
        t.shape.length === rowShape.length + 1 &&
        t.shape.slice(1).every((d, k) => d === rowShape[k])
      ) {
        n = t.shape[0];
      } else {
        throw new RangeError(
          `rows must have shape [n, ${rowShape.join(", ")}] or [${rowShape.join(", ")}], got ${
            formatShape(t.shape)
          }`,
        );
      }
      const bytes = encodeElements(t.data, type, "rows");
      rows += n;
      try {
        await file.write(bytes);
      } catch (error) {
        failure ??= error;
        throw error;
      }
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const header = encodeHeader(dtype, [rows, ...rowShape]);
      if (header.length !== reserved.length) {
        throw new RangeError(
          `the .npy header for ${rows} rows needs ${header.length} bytes, expected the ${reserved.length} reserved`,
        );
      }
      try {
        if (failure === undefined) await file.write(header, 0);
      } finally {
        await file.close();
      }
      if (failure !== undefined) {
        throw new TypeError(`the .npy file ${path} is incomplete: an append failed (${failure})`);
      }
    },
  };
}
