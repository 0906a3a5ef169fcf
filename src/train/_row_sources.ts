/**
 * Arrays on disk read by large contiguous ranges of rows: a `.npy` file, a stored member of a
 * `.npz` archive, a tensor of a `.safetensors` file, or several of them end to end (shards).
 * Little-endian float32 data are read straight into the destination, without a copy.
 *
 * @module
 */

import { loadNpy, openNpy } from "../io/npy.ts";
import { elementType, parseNpyHeader } from "../io/_npy_header.ts";
import { decodeElements, type ElementType } from "../io/_dtypes.ts";
import { openForRead, type ReadableFile } from "../platform/fs.ts";
import { formatShape, sizeOf, type Tensor } from "../tensor.ts";

/** A file of activations: a path, or an `.npz`/`.safetensors` path and the member to read. */
export type DataFile = string | { path: string; member?: string };

/** Rows of an array, read by contiguous ranges. */
export interface RowSource {
  /** What errors call it (path and member). */
  readonly name: string;
  readonly rows: number;
  readonly rowShape: readonly number[];
  /** All rows, row-major, when the array is held in memory. */
  readonly data?: Float32Array;
  /** Reads rows start .. start + count − 1 into `target` from element `at` on (float32). */
  read(start: number, count: number, target: Float32Array, at: number): Promise<void>;
  close(): Promise<void>;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A source over an array held in memory. */
export function memorySource(t: Tensor, name: string): RowSource {
  if (t.shape.length < 1) {
    throw new RangeError(`${name} must have a rows axis, got shape ${formatShape(t.shape)}`);
  }
  const rowShape = t.shape.slice(1), width = sizeOf(rowShape);
  return {
    name,
    rows: t.shape[0],
    rowShape,
    data: t.data,
    read(start, count, target, at) {
      target.set(t.data.subarray(start * width, (start + count) * width), at);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
}

/** A source over `rows` rows of `rowShape` stored as `type` at byte `offset` of an open file. */
function storedSource(
  file: ReadableFile,
  name: string,
  offset: number,
  shape: readonly number[],
  type: ElementType,
): RowSource {
  if (shape.length < 1) {
    throw new RangeError(`${name} holds a scalar (shape []), expected at least one dimension`);
  }
  const rowShape = shape.slice(1), width = sizeOf(rowShape);
  const end = offset + sizeOf(shape) * type.size;
  if (end > file.size) {
    throw new RangeError(
      `${name} needs ${end} bytes for shape ${formatShape(shape)}, the file has ${file.size}`,
    );
  }
  const direct = type.kind === "f" && type.size === 4 && type.littleEndian === HOST_LITTLE_ENDIAN;
  return {
    name,
    rows: shape[0],
    rowShape,
    async read(start, count, target, at) {
      const n = count * width, from = offset + start * width * type.size;
      if (direct) {
        await file.readInto(from, new Uint8Array(target.buffer, target.byteOffset + 4 * at, 4 * n));
      } else {
        const bytes = await file.read(from, n * type.size);
        target.set(decodeElements(bytes, 0, n, type, name), at);
      }
    },
    close: () => file.close(),
  };
}

async function npySource(path: string): Promise<RowSource> {
  const name = `.npy file ${path}`;
  const reader = await openNpy(path); // checks the header and that the size matches it exactly
  const { shape, dtype, fortranOrder } = reader;
  await reader.close();
  const file = await openForRead(path);
  try {
    if (fortranOrder && shape.length > 1) {
      throw new RangeError(`${name} is in Fortran order, expected C order to read rows`);
    }
    const type = elementType(dtype, name);
    return storedSource(file, name, file.size - sizeOf(shape) * type.size, shape, type);
  } catch (e) {
    await file.close();
    throw e;
  }
}

const SAFETENSORS_TYPES: Record<string, ElementType> = {
  F64: { kind: "f", size: 8, littleEndian: true },
  F32: { kind: "f", size: 4, littleEndian: true },
  F16: { kind: "f", size: 2, littleEndian: true },
  BF16: { kind: "bf", size: 2, littleEndian: true },
  I32: { kind: "i", size: 4, littleEndian: true },
  I16: { kind: "i", size: 2, littleEndian: true },
  I8: { kind: "i", size: 1, littleEndian: true },
  U8: { kind: "u", size: 1, littleEndian: true },
};

function pickMember(names: string[], member: string | undefined, name: string): string {
  if (member === undefined && names.length === 1) return names[0];
  if (member !== undefined && names.includes(member)) return member;
  throw new RangeError(
    `${name} ${member === undefined ? "holds several arrays" : `has no member "${member}"`}, ` +
      `expected member to be one of ${names.map((n) => JSON.stringify(n)).join(", ")}`,
  );
}

async function safetensorsSource(file: ReadableFile, path: string, member?: string) {
  const name = `.safetensors file ${path}`;
  if (file.size < 8) throw new RangeError(`${name} has ${file.size} bytes, expected at least 8`);
  const n = Number(new DataView((await file.read(0, 8)).buffer).getBigUint64(0, true));
  if (n > 100_000_000 || 8 + n > file.size) {
    throw new RangeError(`${name} has a header of ${n} bytes, expected at most the file's size`);
  }
  let header: Record<string, { dtype?: string; shape?: number[]; data_offsets?: number[] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(await file.read(8, n)));
  } catch {
    throw new TypeError(`${name} has a header that is not JSON`);
  }
  const key = pickMember(Object.keys(header).filter((k) => k !== "__metadata__"), member, name);
  const { dtype, shape, data_offsets: offsets } = header[key];
  const what = `${name} member "${key}"`;
  const type = SAFETENSORS_TYPES[dtype as string];
  if (!type) {
    throw new RangeError(
      `${what} has dtype ${JSON.stringify(dtype)}, expected one of ${
        Object.keys(SAFETENSORS_TYPES).join(", ")
      }`,
    );
  }
  const okShape = Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0);
  if (!okShape || !Array.isArray(offsets) || offsets.length !== 2) {
    throw new TypeError(`${what} has no valid shape and data_offsets`);
  }
  if (offsets[1] - offsets[0] !== sizeOf(shape) * type.size) {
    throw new RangeError(
      `${what} has ${offsets[1] - offsets[0]} bytes, expected ${
        sizeOf(shape) * type.size
      } for shape ${formatShape(shape)} and dtype ${dtype}`,
    );
  }
  return storedSource(file, what, 8 + n + offsets[0], shape, type);
}

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** The central directory of a ZIP file (ZIP64 too), read from its tail. */
async function zipEntries(file: ReadableFile, name: string): Promise<ZipEntry[]> {
  const tailLength = Math.min(file.size, 22 + 0xffff + 20);
  const tail = await file.read(file.size - tailLength, tailLength);
  const view = new DataView(tail.buffer);
  let end = -1;
  for (let at = tailLength - 22; at >= 0 && end < 0; at--) {
    if (view.getUint32(at, true) === 0x06054b50) end = at;
  }
  if (end < 0) throw new RangeError(`${name} has no ZIP end record, expected a .npz archive`);
  let count = view.getUint16(end + 10, true);
  let cdSize = view.getUint32(end + 12, true);
  let cdOffset = view.getUint32(end + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    if (end < 20 || view.getUint32(end - 20, true) !== 0x07064b50) {
      throw new RangeError(`${name} needs a ZIP64 end record locator, found none`);
    }
    const record = new DataView(
      (await file.read(Number(view.getBigUint64(end - 12, true)), 56)).buffer,
    );
    count = Number(record.getBigUint64(32, true));
    cdSize = Number(record.getBigUint64(40, true));
    cdOffset = Number(record.getBigUint64(48, true));
  }
  const cd = await file.read(cdOffset, cdSize);
  const v = new DataView(cd.buffer);
  const entries: ZipEntry[] = [];
  for (let at = 0, k = 0; k < count; k++) {
    if (at + 46 > cd.length || v.getUint32(at, true) !== 0x02014b50) {
      throw new RangeError(`${name} has a damaged central directory at entry ${k}`);
    }
    const nameLength = v.getUint16(at + 28, true), extraLength = v.getUint16(at + 30, true);
    const e: ZipEntry = {
      name: new TextDecoder().decode(cd.subarray(at + 46, at + 46 + nameLength)),
      method: v.getUint16(at + 10, true),
      compressedSize: v.getUint32(at + 20, true),
      size: v.getUint32(at + 24, true),
      localOffset: v.getUint32(at + 42, true),
    };
    for (let x = at + 46 + nameLength; x + 4 <= at + 46 + nameLength + extraLength;) {
      const id = v.getUint16(x, true), length = v.getUint16(x + 2, true);
      let p = x + 4;
      const take = () => Number(v.getBigUint64((p += 8) - 8, true));
      if (id === 1) {
        if (e.size === 0xffffffff) e.size = take();
        if (e.compressedSize === 0xffffffff) e.compressedSize = take();
        if (e.localOffset === 0xffffffff) e.localOffset = take();
      }
      x += 4 + length;
    }
    entries.push(e);
    at += 46 + nameLength + extraLength + v.getUint16(at + 32, true);
  }
  return entries;
}

async function inflate(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function npzSource(file: ReadableFile, path: string, member?: string) {
  const name = `.npz file ${path}`;
  const entries = await zipEntries(file, name);
  const names = entries.map((e) => e.name.replace(/\.npy$/, ""));
  const key = pickMember(names, member, name);
  const entry = entries[names.indexOf(key)];
  const what = `${name} member "${key}"`;
  const local = new DataView((await file.read(entry.localOffset, 30)).buffer);
  if (local.getUint32(0, true) !== 0x04034b50) {
    throw new RangeError(`${what} has no local header at ${entry.localOffset}`);
  }
  const start = entry.localOffset + 30 + local.getUint16(26, true) + local.getUint16(28, true);
  if (entry.method === 8) {
    // deflated (np.savez_compressed): no random access, so the member is inflated once
    const t = loadNpy(await inflate(await file.read(start, entry.compressedSize)));
    await file.close();
    return memorySource(t, what);
  }
  if (entry.method !== 0) {
    throw new RangeError(`${what} has ZIP method ${entry.method}, expected 0 (stored) or 8`);
  }
  let head = await file.read(start, Math.min(12, entry.size));
  let header = parseNpyHeader(head, what);
  while (typeof header === "number") {
    if (head.length + header > entry.size) {
      throw new RangeError(`${what} is truncated: its .npy header runs past the member`);
    }
    head = await file.read(start, head.length + header);
    header = parseNpyHeader(head, what);
  }
  const type = header.type;
  if (header.dataOffset + sizeOf(header.shape) * type.size !== entry.size) {
    throw new RangeError(
      `${what} has ${entry.size} bytes, expected ${
        header.dataOffset + sizeOf(header.shape) * type.size
      } for shape ${formatShape(header.shape)} and dtype ${header.dtype}`,
    );
  }
  if (header.fortranOrder && header.shape.length > 1) {
    throw new RangeError(`${what} is in Fortran order, expected C order to read rows`);
  }
  return storedSource(file, what, start + header.dataOffset, header.shape, type);
}

/** `acts.npz#member` and `acts.safetensors#member` name a member in one string. */
function splitMember(spec: DataFile): { path: string; member?: string } {
  if (typeof spec !== "string") return spec;
  const m = /^(.*\.(?:npz|safetensors))#([^#]+)$/i.exec(spec);
  return m ? { path: m[1], member: m[2] } : { path: spec };
}

/** Opens one file of activations by its extension: `.npz`, `.safetensors`, else `.npy`. */
export async function openRowSource(spec: DataFile): Promise<RowSource> {
  const { path, member } = splitMember(spec);
  if (typeof path !== "string" || !path) {
    throw new TypeError(`source path must be a non-empty string, got ${JSON.stringify(path)}`);
  }
  if (member !== undefined && typeof member !== "string") {
    throw new TypeError(`source member must be a string, got ${typeof member}`);
  }
  const lower = path.toLowerCase();
  if (!lower.endsWith(".npz") && !lower.endsWith(".safetensors")) {
    if (member !== undefined) {
      throw new RangeError(`${path} is read as .npy, expected no member, got "${member}"`);
    }
    return npySource(path);
  }
  const file = await openForRead(path);
  try {
    return lower.endsWith(".npz")
      ? await npzSource(file, path, member)
      : await safetensorsSource(file, path, member);
  } catch (e) {
    await file.close();
    throw e;
  }
}

/** Shards end to end: row i of the result is row i − offset of the shard that holds it. */
export function concatSources(shards: RowSource[]): RowSource {
  if (shards.length === 1) return shards[0];
  const rowShape = shards[0].rowShape, width = sizeOf(rowShape);
  const starts = [0];
  for (const [i, s] of shards.entries()) {
    if (formatShape(s.rowShape) !== formatShape(rowShape)) {
      throw new RangeError(
        `shard ${i} (${s.name}) has rows of ${formatShape(s.rowShape)}, expected ${
          formatShape(rowShape)
        } as shard 0 (${shards[0].name})`,
      );
    }
    starts.push(starts[i] + s.rows);
  }
  return {
    name: shards.map((s) => s.name).join(" + "),
    rows: starts[shards.length],
    rowShape,
    async read(start, count, target, at) {
      const reads: Promise<void>[] = [];
      for (let i = 0; i < shards.length && count > 0; i++) {
        if (start >= starts[i + 1]) continue;
        const n = Math.min(count, starts[i + 1] - start);
        reads.push(shards[i].read(start - starts[i], n, target, at));
        start += n;
        count -= n;
        at += n * width;
      }
      await Promise.all(reads);
    },
    async close() {
      await Promise.all(shards.map((s) => s.close()));
    },
  };
}
