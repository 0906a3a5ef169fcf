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
import { inflateExact, readZip } from "./_zip.ts";
import { FormatError } from "../errors.ts";

/** Options of `saveNpz`. */
export interface SaveNpzOptions extends SaveNpyOptions {
  /** Deflate the members, as `np.savez_compressed` does (default `false`: stored, as `np.savez`). */
  compress?: boolean;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_END = 0x06054b50;

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

/**
 * Reads every array of a `.npz` archive (as written by `np.savez` or `np.savez_compressed`)
 * as float32 tensors, keyed by member name without its `.npy` suffix. Stored and deflated
 * members are read; CRCs are checked. The central directory is authoritative: a damaged or
 * inconsistent archive (overlapping members, a local header that names another member, a
 * member that inflates past its declared size, a ZIP64 record that disagrees) is refused with
 * a `FormatError`. Names are keys of a null-prototype object (`__proto__` is an array name).
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
  const file = ".npz archive";
  const out: Record<string, Tensor> = Object.create(null);
  for (const member of readZip(bytes, file)) {
    const { name } = member;
    if (name.endsWith("/")) continue;
    const content = member.method === 0
      ? member.raw
      : await inflateExact(member.raw, member.size, file, name);
    const crc = crc32(content);
    if (crc !== member.crc) {
      throw new FormatError(
        `${file} member "${name}" has CRC-32 ${crc.toString(16)}, expected ${
          member.crc.toString(16)
        } (the data is corrupt)`,
        { file, member: name, offset: member.offset },
      );
    }
    const key = name.endsWith(".npy") ? name.slice(0, -4) : name;
    if (Object.hasOwn(out, key)) {
      throw new FormatError(`${file} has two members for the array "${key}", expected one`, {
        file,
        member: name,
        offset: member.offset,
      });
    }
    try {
      out[key] = loadNpy(content);
    } catch (error) {
      if (!(error instanceof FormatError)) throw error;
      throw new FormatError(`${file} member "${name}": ${error.message}`, {
        file,
        member: name,
        offset: error.offset,
      });
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
