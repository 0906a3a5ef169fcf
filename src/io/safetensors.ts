/**
 * Reading and writing the safetensors format of Hugging Face: an 8-byte little-endian header
 * length, a JSON header mapping each tensor name to `{ dtype, shape, data_offsets }` (plus an
 * optional `__metadata__` string map), then the raw little-endian tensor bytes.
 *
 * @module
 */

import { formatShape, sizeOf, type Tensor, type TensorLike, toTensor } from "../tensor.ts";
import { decodeElements, type ElementType, encodeElements } from "./_dtypes.ts";
import { FormatError } from "../errors.ts";

/** Dtypes that `saveSafetensors` can write. */
export type SafetensorsWriteDtype = "F32" | "F16" | "BF16" | "I64";

/** Options of `saveSafetensors`. */
export interface SaveSafetensorsOptions {
  /** Per-tensor storage dtype; tensors not named here are written as F32. */
  dtypes?: Record<string, SafetensorsWriteDtype>;
}

const READ_TYPES: Record<string, ElementType> = {
  F64: { kind: "f", size: 8, littleEndian: true },
  F32: { kind: "f", size: 4, littleEndian: true },
  F16: { kind: "f", size: 2, littleEndian: true },
  BF16: { kind: "bf", size: 2, littleEndian: true },
  I64: { kind: "i", size: 8, littleEndian: true },
  U64: { kind: "u", size: 8, littleEndian: true },
  I32: { kind: "i", size: 4, littleEndian: true },
  U32: { kind: "u", size: 4, littleEndian: true },
  I16: { kind: "i", size: 2, littleEndian: true },
  U16: { kind: "u", size: 2, littleEndian: true },
  I8: { kind: "i", size: 1, littleEndian: true },
  U8: { kind: "u", size: 1, littleEndian: true },
  BOOL: { kind: "b", size: 1, littleEndian: true },
};

const WRITE_DTYPES: readonly SafetensorsWriteDtype[] = ["F32", "F16", "BF16", "I64"];

/** The Hugging Face reader refuses headers above 100 MB; so do we. */
const MAX_HEADER_BYTES = 100_000_000;
/** The `file` of the `FormatError`s of this reader. */
const FILE = "safetensors file";

interface Entry {
  name: string;
  type: ElementType;
  shape: number[];
  begin: number;
  end: number;
}

interface Parsed {
  entries: Entry[];
  metadata: Record<string, string>;
  dataStart: number;
}

function parse(bytes: Uint8Array): Parsed {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`safetensors bytes must be a Uint8Array, got ${describe(bytes)}`);
  }
  if (bytes.length < 8) {
    throw new FormatError(
      `safetensors file is truncated: expected at least 8 bytes for the header length, got ${bytes.length}`,
      { file: FILE, offset: 0 },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw new FormatError(
      `safetensors header length must be at most ${MAX_HEADER_BYTES} bytes, got ${headerLength}`,
      { file: FILE, offset: 0 },
    );
  }
  const n = Number(headerLength);
  if (8 + n > bytes.length) {
    throw new FormatError(
      `safetensors header length ${n} runs past the end of the file (${
        bytes.length - 8
      } bytes after the length)`,
      { file: FILE, offset: 0 },
    );
  }
  let header: unknown;
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
    header = JSON.parse(text);
  } catch (error) {
    throw new FormatError(
      `safetensors header must be valid UTF-8 JSON, got a parse error: ${(error as Error).message}`,
      { file: FILE, offset: 8 },
    );
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new FormatError(
      `safetensors header must be a JSON object, got ${
        Array.isArray(header) ? "an array" : describe(header)
      }`,
      { file: FILE, offset: 8 },
    );
  }
  if (text[0] !== "{") {
    throw new FormatError(
      `safetensors header must start with "{" (as the Hugging Face reader requires), got ${
        JSON.stringify(text[0])
      }`,
      { file: FILE, offset: 8 },
    );
  }
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = Object.create(null);
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (info === null || typeof info !== "object" || Array.isArray(info)) {
        throw new FormatError(
          `safetensors __metadata__ must be an object of strings, got ${describe(info)}`,
          { file: FILE, member: "__metadata__", offset: 8 },
        );
      }
      for (const [key, value] of Object.entries(info as Record<string, unknown>)) {
        if (typeof value !== "string") {
          throw new FormatError(
            `safetensors __metadata__.${key} must be a string, got ${describe(value)}`,
            { file: FILE, member: "__metadata__", offset: 8 },
          );
        }
        metadata[key] = value;
      }
      continue;
    }
    entries.push(parseEntry(name, info, dataLength));
  }
  // Like the Hugging Face reader: sorted by offset, the tensors must tile the data exactly.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let position = 0;
  let previous: Entry | undefined;
  for (const entry of sorted) {
    if (entry.begin < position) {
      throw new FormatError(
        `safetensors tensor "${entry.name}" has data_offsets [${entry.begin}, ${entry.end}] overlapping "${previous?.name}" (which ends at ${position})`,
        { file: FILE, member: entry.name, offset: dataStart + entry.begin },
      );
    }
    if (entry.begin > position) {
      throw new FormatError(
        `safetensors tensor "${entry.name}" starts at ${entry.begin}, expected ${position} (data_offsets must be contiguous)`,
        { file: FILE, member: entry.name, offset: dataStart + entry.begin },
      );
    }
    position = entry.end;
    previous = entry;
  }
  if (position !== dataLength) {
    throw new FormatError(
      `safetensors tensors cover ${position} bytes of data, expected the whole data buffer of ${dataLength} bytes`,
      { file: FILE, offset: dataStart + position },
    );
  }
  return { entries, metadata, dataStart };
}

function parseEntry(name: string, info: unknown, dataLength: number): Entry {
  if (info === null || typeof info !== "object" || Array.isArray(info)) {
    throw new FormatError(
      `safetensors tensor "${name}" must be described by an object, got ${describe(info)}`,
      { file: FILE, member: name, offset: 8 },
    );
  }
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (typeof dtype !== "string" || !Object.hasOwn(READ_TYPES, dtype)) {
    throw new FormatError(
      `safetensors tensor "${name}" has dtype ${JSON.stringify(dtype)}, expected one of ${
        Object.keys(READ_TYPES).join(", ")
      }`,
      { file: FILE, member: name, offset: 8 },
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new FormatError(
      `safetensors tensor "${name}" must have a shape of non-negative integers, got ${
        JSON.stringify(shape)
      }`,
      { file: FILE, member: name, offset: 8 },
    );
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
  ) {
    throw new FormatError(
      `safetensors tensor "${name}" must have data_offsets [begin, end] of non-negative integers, got ${
        JSON.stringify(offsets)
      }`,
      { file: FILE, member: name, offset: 8 },
    );
  }
  const [begin, end] = offsets as number[];
  if (begin > end || end > dataLength) {
    throw new FormatError(
      `safetensors tensor "${name}" has data_offsets [${begin}, ${end}] out of range, expected 0 <= begin <= end <= ${dataLength}${
        end > dataLength ? " (the file may be truncated)" : ""
      }`,
      { file: FILE, member: name, offset: 8 },
    );
  }
  const type = READ_TYPES[dtype];
  const expected = sizeOf(shape) * type.size;
  if (end - begin !== expected) {
    throw new FormatError(
      `safetensors tensor "${name}" has ${end - begin} bytes, expected ${expected} for shape ${
        formatShape(shape)
      } and dtype ${dtype}`,
      { file: FILE, member: name, offset: 8 },
    );
  }
  return { name, type, shape: [...shape], begin, end };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? (value.constructor?.name ?? "object") : typeof value;
}

/**
 * Reads every tensor of a safetensors file as float32.
 *
 * F32, F16, BF16, F64, I64, I32 (and U64, U32, I16, U16, I8, U8, BOOL) are converted to float32;
 * 64-bit integers must stay within ±2^53. Scalars have shape `[]`. A truncated or malformed file
 * is refused with a RangeError or TypeError that says what is wrong.
 *
 * @param bytes The whole file.
 * @returns The tensors by name.
 *
 * @example Round trip
 * ```ts
 * import { loadSafetensors, saveSafetensors } from "./safetensors.ts";
 * const bytes = saveSafetensors({ w: { data: [1, 2, 3, 4], shape: [2, 2] } });
 * const { w } = loadSafetensors(bytes);
 * console.log(w.shape, w.data); // [2, 2] Float32Array [1, 2, 3, 4]
 * ```
 */
export function loadSafetensors(bytes: Uint8Array): Record<string, Tensor> {
  const { entries, dataStart } = parse(bytes);
  const out: Record<string, Tensor> = Object.create(null);
  for (const entry of entries) {
    const count = sizeOf(entry.shape);
    const data = decodeElements(
      bytes,
      dataStart + entry.begin,
      count,
      entry.type,
      `safetensors tensor "${entry.name}"`,
    );
    out[entry.name] = { data, shape: entry.shape };
  }
  return out;
}

/**
 * Reads the `__metadata__` string map of a safetensors file (`{}` when it has none).
 * The whole header is validated as in `loadSafetensors`; tensor data is not decoded.
 *
 * @param bytes The whole file.
 * @returns The metadata.
 *
 * @example Reading metadata
 * ```ts
 * import { loadSafetensorsMetadata, saveSafetensors } from "./safetensors.ts";
 * const bytes = saveSafetensors({ b: [0] }, { format: "pt" });
 * console.log(loadSafetensorsMetadata(bytes)); // { format: "pt" }
 * ```
 */
export function loadSafetensorsMetadata(bytes: Uint8Array): Record<string, string> {
  return parse(bytes).metadata;
}

/**
 * Writes tensors as a safetensors file, in the layout of the Hugging Face writer: keys sorted,
 * contiguous data offsets, JSON header padded with spaces to a multiple of 8 bytes, and
 * `__metadata__` only when `metadata` is given.
 *
 * Tensors are stored as F32 unless `options.dtypes` names another dtype (F16, BF16 or I64, e.g.
 * for a BatchNorm `num_batches_tracked`). Values that overflow F16/BF16 and non-integers for I64
 * are refused with a RangeError.
 *
 * @param dict Tensors by name.
 * @param metadata Optional string map stored under `__metadata__`.
 * @param options Storage dtypes.
 * @returns The file's bytes.
 *
 * @example Saving a state dict with an int64 counter
 * ```ts
 * import { saveSafetensors } from "./safetensors.ts";
 * const bytes = saveSafetensors(
 *   { "bn.num_batches_tracked": { data: [3], shape: [] }, "bn.weight": [1, 1] },
 *   { format: "pt" },
 *   { dtypes: { "bn.num_batches_tracked": "I64" } },
 * );
 * console.log(bytes.length % 8); // 0
 * ```
 */
export function saveSafetensors(
  dict: Record<string, TensorLike>,
  metadata?: Record<string, string>,
  options: SaveSafetensorsOptions = {},
): Uint8Array {
  if (dict === null || typeof dict !== "object" || Array.isArray(dict)) {
    throw new TypeError(`saveSafetensors dict must be an object of tensors, got ${describe(dict)}`);
  }
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
      throw new TypeError(
        `saveSafetensors metadata must be an object of strings, got ${describe(metadata)}`,
      );
    }
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== "string") {
        throw new TypeError(
          `saveSafetensors metadata.${key} must be a string, got ${describe(value)}`,
        );
      }
    }
  }
  const dtypes = options.dtypes ?? {};
  for (const [name, dtype] of Object.entries(dtypes)) {
    if (!Object.hasOwn(dict, name)) {
      throw new TypeError(
        `saveSafetensors options.dtypes names "${name}", which is not a key of dict`,
      );
    }
    if (!WRITE_DTYPES.includes(dtype)) {
      throw new RangeError(
        `saveSafetensors options.dtypes["${name}"] must be one of ${WRITE_DTYPES.join(", ")}, got ${
          JSON.stringify(dtype)
        }`,
      );
    }
  }
  const names = Object.keys(dict).sort();
  if (names.includes("__metadata__")) {
    throw new TypeError(`saveSafetensors dict cannot have a tensor named "__metadata__"`);
  }
  const header: Record<string, unknown> = Object.create(null);
  if (metadata !== undefined) header.__metadata__ = { ...metadata };
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const tensor = toTensor(dict[name], `tensor "${name}"`);
    const dtype = Object.hasOwn(dtypes, name) ? dtypes[name] : "F32";
    const blob = encodeElements(tensor.data, READ_TYPES[dtype], `tensor "${name}"`);
    header[name] = {
      dtype,
      shape: [...tensor.shape],
      data_offsets: [offset, offset + blob.length],
    };
    blobs.push(blob);
    offset += blob.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let position = 8 + padded;
  for (const blob of blobs) {
    out.set(blob, position);
    position += blob.length;
  }
  return out;
}
