/**
 * Reading and writing numpy's `.npz` archives: ZIP files of `.npy` members, stored or
 * deflated, with ZIP64 extra fields as Python's `zipfile` writes them. Deflate uses the
 * platform's `CompressionStream` / `DecompressionStream("deflate-raw")` (Deno, Node 20+,
 * browsers).
 *
 * @module
 */

import type { Tensor, TensorLike } from "../tensor.ts";
import { loadNpy, saveNpy, type SaveNpyOptions } from "./npy.ts";
import { crc32 } from "./_crc32.ts";

/** Options of `saveNpz`. */
export interface SaveNpzOptions extends SaveNpyOptions {
  /** Deflate the members, as `np.savez_compressed` does (default `false`: stored, as `np.savez`). */
  compress?: boolean;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_END = 0x06054b50;
const SIG_ZIP64_END = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;

async function transform(
  bytes: Uint8Array,
  stream: { writable: WritableStream<BufferSource>; readable: ReadableStream<Uint8Array> },
): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  const written = writer.write(bytes as Uint8Array<ArrayBuffer>).then(() => writer.close());
  written.catch(() => {}); // a failure also surfaces through the reader
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = stream.readable.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.length;
  }
  await written;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

interface CentralEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function u64(view: DataView, at: number, what: string): number {
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`.npz ${what} is ${value}, expected at most 2^53`);
  }
  return Number(value);
}

function findEnd(view: DataView): number {
  const min = Math.max(0, view.byteLength - 22 - 0xffff);
  for (let at = view.byteLength - 22; at >= min; at--) {
    if (
      view.getUint32(at, true) === SIG_END &&
      at + 22 + view.getUint16(at + 20, true) === view.byteLength
    ) {
      return at;
    }
  }
  for (let at = view.byteLength - 22; at >= min; at--) {
    if (view.getUint32(at, true) === SIG_END) return at;
  }
  throw new RangeError(
    `.npz archive has no end of central directory record, expected a ZIP file (the file may be truncated)`,
  );
}

function readCentralDirectory(bytes: Uint8Array): CentralEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 22) {
    throw new RangeError(
      `.npz archive is truncated: expected at least 22 bytes, got ${bytes.length}`,
    );
  }
  const end = findEnd(view);
  let count = view.getUint16(end + 10, true);
  let cdSize = view.getUint32(end + 12, true);
  let cdOffset = view.getUint32(end + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locator = end - 20;
    if (locator < 0 || view.getUint32(locator, true) !== SIG_ZIP64_LOCATOR) {
      throw new RangeError(
        `.npz archive needs a ZIP64 end of central directory locator, found none`,
      );
    }
    const record = u64(view, locator + 8, "ZIP64 end record offset");
    if (record + 56 > bytes.length || view.getUint32(record, true) !== SIG_ZIP64_END) {
      throw new RangeError(
        `.npz archive has a ZIP64 end record offset ${record} that points to no record`,
      );
    }
    count = u64(view, record + 32, "entry count");
    cdSize = u64(view, record + 40, "central directory size");
    cdOffset = u64(view, record + 48, "central directory offset");
  }
  if (cdOffset + cdSize > end) {
    throw new RangeError(
      `.npz archive has its central directory at [${cdOffset}, ${
        cdOffset + cdSize
      }), past its end record at ${end} (the file is truncated or damaged)`,
    );
  }
  const entries: CentralEntry[] = [];
  let at = cdOffset;
  for (let k = 0; k < count; k++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== SIG_CENTRAL) {
      throw new RangeError(
        `.npz archive has a damaged central directory: entry ${k} of ${count} is missing`,
      );
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localOffset = view.getUint32(at + 42, true);
    const next = at + 46 + nameLength + extraLength + commentLength;
    if (next > bytes.length) {
      throw new RangeError(
        `.npz archive has a damaged central directory: entry ${k} runs past the end`,
      );
    }
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // ZIP64 extra field: 64-bit values for those of the three fields that are 0xffffffff.
    let e = at + 46 + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd) {
      const id = view.getUint16(e, true);
      const length = view.getUint16(e + 2, true);
      if (id === 0x0001) {
        let p = e + 4;
        const take = (what: string) => {
          if (p + 8 > e + 4 + length) {
            throw new RangeError(
              `.npz member "${name}" has a ZIP64 extra field without its ${what}`,
            );
          }
          const v = u64(view, p, what);
          p += 8;
          return v;
        };
        if (size === 0xffffffff) size = take("uncompressed size");
        if (compressedSize === 0xffffffff) compressedSize = take("compressed size");
        if (localOffset === 0xffffffff) localOffset = take("local header offset");
      }
      e += 4 + length;
    }
    entries.push({ name, method, flags, crc, compressedSize, size, localOffset });
    at = next;
  }
  return entries;
}

/**
 * Reads every array of a `.npz` archive (as written by `np.savez` or `np.savez_compressed`)
 * as float32 tensors, keyed by member name without its `.npy` suffix. Stored and deflated
 * members are read; CRCs are checked. A damaged archive gives a RangeError or TypeError.
 *
 * @param bytes The whole archive.
 * @returns The tensors by name.
 *
 * @example Round trip
 * ```ts
 * import { loadNpz, saveNpz } from "./npz.ts";
 * const bytes = await saveNpz({ w: [[1, 2], [3, 4]], b: [0.5] }, { compress: true });
 * const { w, b } = await loadNpz(bytes);
 * console.log(w.shape, b.data); // [2, 2] Float32Array [0.5]
 * ```
 */
export async function loadNpz(bytes: Uint8Array): Promise<Record<string, Tensor>> {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`.npz bytes must be a Uint8Array, got ${typeof bytes}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<string, Tensor> = {};
  for (const entry of readCentralDirectory(bytes)) {
    if (entry.name.endsWith("/")) continue;
    const label = `.npz member "${entry.name}"`;
    if (entry.flags & 1) throw new RangeError(`${label} is encrypted, expected a plain archive`);
    const at = entry.localOffset;
    if (at + 30 > bytes.length || view.getUint32(at, true) !== SIG_LOCAL) {
      throw new RangeError(`${label} has no local header at offset ${at}`);
    }
    const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
    const stop = start + entry.compressedSize;
    if (stop > bytes.length) {
      throw new RangeError(
        `${label} needs bytes up to ${stop}, the archive has ${bytes.length} (the file is truncated)`,
      );
    }
    const raw = bytes.subarray(start, stop);
    let content: Uint8Array;
    if (entry.method === 0) {
      content = raw;
    } else if (entry.method === 8) {
      try {
        content = await transform(raw, new DecompressionStream("deflate-raw"));
      } catch (error) {
        throw new RangeError(`${label} has corrupt deflate data: ${(error as Error).message}`);
      }
    } else {
      throw new RangeError(
        `${label} uses compression method ${entry.method}, expected 0 (stored) or 8 (deflate)`,
      );
    }
    if (content.length !== entry.size) {
      throw new RangeError(`${label} has ${content.length} bytes, expected ${entry.size}`);
    }
    const crc = crc32(content);
    if (crc !== entry.crc) {
      throw new RangeError(
        `${label} has CRC-32 ${crc.toString(16)}, expected ${
          entry.crc.toString(16)
        } (the data is corrupt)`,
      );
    }
    const key = entry.name.endsWith(".npy") ? entry.name.slice(0, -4) : entry.name;
    try {
      out[key] = loadNpy(content);
    } catch (error) {
      if (error instanceof RangeError) throw new RangeError(`${label}: ${error.message}`);
      if (error instanceof TypeError) throw new TypeError(`${label}: ${error.message}`);
      throw error;
    }
  }
  return out;
}

/**
 * Writes tensors as a `.npz` archive that `numpy.load` opens: one `<name>.npy` member per
 * tensor (in the order of `dict`), stored as `np.savez` does, or deflated as
 * `np.savez_compressed` does with `compress: true`.
 *
 * @param dict Tensors by name.
 * @param options `compress` and the storage `dtype` of every member (`"<f4"` by default).
 * @returns The archive's bytes.
 *
 * @example Saving two arrays
 * ```ts
 * import { saveNpz } from "./npz.ts";
 * const bytes = await saveNpz({ x: [[1, 2, 3]], y: [4] });
 * // numpy.load(...) gives arrays "x" (1, 3) and "y" (1,)
 * ```
 */
export async function saveNpz(
  dict: Record<string, TensorLike>,
  options: SaveNpzOptions = {},
): Promise<Uint8Array> {
  if (dict === null || typeof dict !== "object" || Array.isArray(dict)) {
    throw new TypeError(
      `saveNpz dict must be an object of tensors, got ${
        Array.isArray(dict) ? "an array" : typeof dict
      }`,
    );
  }
  const encoder = new TextEncoder();
  const members: {
    name: Uint8Array;
    crc: number;
    size: number;
    data: Uint8Array;
    method: number;
  }[] = [];
  for (const [key, value] of Object.entries(dict)) {
    if (key.length === 0) throw new TypeError(`saveNpz dict keys must be non-empty, got ""`);
    const npy = saveNpy(value, { dtype: options.dtype });
    const data = options.compress
      ? await transform(npy, new CompressionStream("deflate-raw"))
      : npy;
    members.push({
      name: encoder.encode(`${key}.npy`),
      crc: crc32(npy),
      size: npy.length,
      data,
      method: options.compress ? 8 : 0,
    });
  }
  let total = 22;
  for (const m of members) total += 30 + 46 + 2 * m.name.length + m.data.length;
  if (total > 0xffffffff || members.length > 0xffff) {
    throw new RangeError(
      `saveNpz archives are limited to 4 GiB and 65535 members, got ${total} bytes and ${members.length} members`,
    );
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  const DOS_DATE = (0 << 9) | (1 << 5) | 1; // 1980-01-01, 00:00:00: reproducible output
  const offsets: number[] = [];
  let at = 0;
  const header = (m: (typeof members)[number], central: boolean, localOffset = 0) => {
    view.setUint32(at, central ? SIG_CENTRAL : SIG_LOCAL, true);
    at += 4;
    if (central) {
      view.setUint16(at, 20, true); // made by: version 2.0, MS-DOS
      at += 2;
    }
    view.setUint16(at, 20, true); // version needed: 2.0
    view.setUint16(at + 2, 0x0800, true); // UTF-8 names
    view.setUint16(at + 4, m.method, true);
    view.setUint16(at + 6, 0, true); // time
    view.setUint16(at + 8, DOS_DATE, true);
    view.setUint32(at + 10, m.crc, true);
    view.setUint32(at + 14, m.data.length, true);
    view.setUint32(at + 18, m.size, true);
    view.setUint16(at + 22, m.name.length, true);
    view.setUint16(at + 24, 0, true); // extra length
    at += 26;
    if (central) {
      view.setUint16(at, 0, true); // comment length
      view.setUint16(at + 2, 0, true); // disk
      view.setUint16(at + 4, 0, true); // internal attributes
      view.setUint32(at + 6, (0o100644 << 16) >>> 0, true); // external: regular file, rw-r--r--
      view.setUint32(at + 10, localOffset, true);
      at += 14;
    }
    out.set(m.name, at);
    at += m.name.length;
  };
  for (const m of members) {
    offsets.push(at);
    header(m, false);
    out.set(m.data, at);
    at += m.data.length;
  }
  const cdOffset = at;
  members.forEach((m, k) => header(m, true, offsets[k]));
  view.setUint32(at, SIG_END, true);
  view.setUint16(at + 8, members.length, true);
  view.setUint16(at + 10, members.length, true);
  view.setUint32(at + 12, at - cdOffset, true);
  view.setUint32(at + 16, cdOffset, true);
  return out;
}
