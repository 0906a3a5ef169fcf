/**
 * A `.npz` writer for arrays larger than memory: each member's rows are appended to a
 * temporary file, and `close()` copies them into an uncompressed ZIP64 archive (as numpy's
 * `np.savez`, which also forces ZIP64), computing CRC-32 on the way. Members may be float32,
 * int32 or int64, and fixed byte strings (`|S`, for scipy's `format` key).
 *
 * @module
 */

import { crc32Update } from "../io/_crc32.ts";
import { openForRead, openForWrite, type WritableFile } from "../platform/fs.ts";

/** Dtypes of streamed members. */
export type StreamDtype = "<f4" | "<i4" | "<i8";

const ITEM_SIZE: Record<StreamDtype, number> = { "<f4": 4, "<i4": 4, "<i8": 8 };

/** A numpy `.npy` header (version 1.0) padded to 64 bytes. */
export function npyHeader(descr: string, shape: readonly number[]): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  let text = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  const total = 10 + text.length + 1;
  text += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const out = new Uint8Array(10 + text.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, text.length, true);
  for (let i = 0; i < text.length; i++) out[10 + i] = text.charCodeAt(i);
  return out;
}

interface Member {
  name: string;
  dtype: StreamDtype;
  rowShape: number[];
  rowElements: number;
  elements: number;
  path: string;
  file: WritableFile;
}

/** A `.npz` being written member by member, rows appended in any order of members. */
export interface NpzStreamWriter {
  /**
   * Appends rows to a member: values of whole rows, converted to its dtype (a Float32Array,
   * Int32Array or BigInt64Array of the member's dtype is written without a copy).
   */
  append(name: string, values: ArrayLike<number> | BigInt64Array): Promise<void>;
  /** Adds a small fixed member (e.g. scipy's `format`: `|S3` holding `csr`). */
  addBytesMember(name: string, descr: string, shape: readonly number[], data: Uint8Array): void;
  /** Writes the archive and removes the temporary files. */
  close(): Promise<void>;
  /** Removes the temporary files and the partial output. */
  abort(): Promise<void>;
}

/**
 * Creates a streaming `.npz` writer.
 *
 * @param path The archive to write.
 * @param members Each member's dtype and row shape (`[]` for a 1-D array).
 * @param tempDir A directory for the temporary member files (default: the system's).
 * @returns The writer.
 *
 * @example Two arrays written row by row
 * ```ts ignore
 * import { createNpzStreamWriter } from "./npz_stream.ts";
 * const w = await createNpzStreamWriter("codes.npz", { indices: { dtype: "<i4", rowShape: [2] }, values: { dtype: "<f4", rowShape: [2] } });
 * await w.append("indices", [3, 7]);
 * await w.append("values", [0.5, 0.25]);
 * await w.close();
 * ```
 */
export async function createNpzStreamWriter(
  path: string,
  members: Record<string, { dtype: StreamDtype; rowShape: number[] }>,
  tempDir?: string,
): Promise<NpzStreamWriter> {
  const dir = await Deno.makeTempDir({ dir: tempDir, prefix: "jumpsae_npz_" });
  const list: Member[] = [];
  const fixed: { name: string; header: Uint8Array; data: Uint8Array }[] = [];
  try {
    for (const [name, m] of Object.entries(members)) {
      const memberPath = `${dir}/${list.length}.bin`;
      list.push({
        name,
        dtype: m.dtype,
        rowShape: m.rowShape,
        rowElements: m.rowShape.reduce((a, b) => a * b, 1),
        elements: 0,
        path: memberPath,
        file: await openForWrite(memberPath),
      });
    }
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  const byName = new Map(list.map((m) => [m.name, m]));
  let closed = false;
  const cleanup = async () => {
    for (const m of list) await m.file.close().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return {
    async append(name, values) {
      const m = byName.get(name);
      if (!m) {
        throw new RangeError(
          `No member ${name} in this .npz writer, expected one of ${[...byName.keys()].join(", ")}`,
        );
      }
      if (values.length % m.rowElements !== 0) {
        throw new RangeError(
          `${name} rows have ${m.rowElements} values, got ${values.length} (not a whole number of rows)`,
        );
      }
      // typed arrays of the member's dtype are written as they are (no copy): keep them unchanged
      // until the returned promise settles
      const typed = m.dtype === "<f4"
        ? (values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>))
        : m.dtype === "<i4"
        ? (values instanceof Int32Array ? values : Int32Array.from(values as ArrayLike<number>))
        : (values instanceof BigInt64Array
          ? values
          : BigInt64Array.from(Array.from(values as ArrayLike<number>), (v) => BigInt(v)));
      const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
      m.elements += values.length;
      await m.file.write(bytes);
    },
    addBytesMember(name, descr, shape, data) {
      fixed.push({ name, header: npyHeader(descr, shape), data });
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        for (const m of list) await m.file.close();
        const out = await openForWrite(path);
        try {
          const zip = new ZipWriter(out);
          for (const f of fixed) await zip.addStored(`${f.name}.npy`, [f.header, f.data]);
          for (const m of list) {
            const header = npyHeader(m.dtype, [m.elements / m.rowElements, ...m.rowShape]);
            const dataBytes = m.elements * ITEM_SIZE[m.dtype];
            await zip.addStoredFromFile(`${m.name}.npy`, header, m.path, dataBytes);
          }
          await zip.finish();
        } finally {
          await out.close();
        }
      } finally {
        await cleanup();
      }
    },
    async abort() {
      closed = true;
      await cleanup();
      await Deno.remove(path).catch(() => {});
    },
  };
}

const COPY_CHUNK = 1 << 20;

/** Writes stored (uncompressed) ZIP64 entries one after the other. */
class ZipWriter {
  #pos = 0;
  #central: Uint8Array[] = [];
  #count = 0;
  constructor(readonly file: WritableFile) {}

  async #write(bytes: Uint8Array): Promise<void> {
    await this.file.write(bytes);
    this.#pos += bytes.length;
  }

  #localHeader(name: Uint8Array, size: number, crc: number): Uint8Array {
    const h = new Uint8Array(30 + name.length + 20);
    const v = new DataView(h.buffer);
    v.setUint32(0, 0x04034b50, true);
    v.setUint16(4, 45, true); // version needed: ZIP64
    v.setUint16(10, 0, true); // time 00:00
    v.setUint16(12, 0x21, true); // date 1980-01-01
    v.setUint32(14, crc, true);
    v.setUint32(18, 0xffffffff, true);
    v.setUint32(22, 0xffffffff, true);
    v.setUint16(26, name.length, true);
    v.setUint16(28, 20, true);
    h.set(name, 30);
    const e = 30 + name.length;
    v.setUint16(e, 0x0001, true);
    v.setUint16(e + 2, 16, true);
    v.setBigUint64(e + 4, BigInt(size), true);
    v.setBigUint64(e + 12, BigInt(size), true);
    return h;
  }

  #centralHeader(name: Uint8Array, size: number, crc: number, offset: number): Uint8Array {
    const h = new Uint8Array(46 + name.length + 28);
    const v = new DataView(h.buffer);
    v.setUint32(0, 0x02014b50, true);
    v.setUint16(4, 45, true);
    v.setUint16(6, 45, true);
    v.setUint16(14, 0x21, true);
    v.setUint32(16, crc, true);
    v.setUint32(20, 0xffffffff, true);
    v.setUint32(24, 0xffffffff, true);
    v.setUint16(28, name.length, true);
    v.setUint16(30, 28, true);
    v.setUint32(42, 0xffffffff, true);
    h.set(name, 46);
    const e = 46 + name.length;
    v.setUint16(e, 0x0001, true);
    v.setUint16(e + 2, 24, true);
    v.setBigUint64(e + 4, BigInt(size), true);
    v.setBigUint64(e + 12, BigInt(size), true);
    v.setBigUint64(e + 20, BigInt(offset), true);
    return h;
  }

  async addStored(name: string, parts: Uint8Array[]): Promise<void> {
    const nameBytes = new TextEncoder().encode(name);
    const size = parts.reduce((a, p) => a + p.length, 0);
    let crc = 0;
    for (const p of parts) crc = crc32Update(crc, p);
    const offset = this.#pos;
    await this.#write(this.#localHeader(nameBytes, size, crc));
    for (const p of parts) await this.#write(p);
    this.#central.push(this.#centralHeader(nameBytes, size, crc, offset));
    this.#count++;
  }

  async addStoredFromFile(
    name: string,
    header: Uint8Array,
    path: string,
    dataBytes: number,
  ): Promise<void> {
    const nameBytes = new TextEncoder().encode(name);
    const size = header.length + dataBytes;
    const offset = this.#pos;
    await this.#write(this.#localHeader(nameBytes, size, 0)); // CRC patched below
    let crc = crc32Update(0, header);
    await this.#write(header);
    const src = await openForRead(path);
    try {
      if (src.size !== dataBytes) {
        throw new RangeError(
          `Temporary member ${name} has ${src.size} bytes, expected ${dataBytes}`,
        );
      }
      // one buffer for the whole copy: memory stays flat whatever the member's size
      const buffer = new Uint8Array(Math.min(COPY_CHUNK, dataBytes));
      for (let at = 0; at < dataBytes; at += COPY_CHUNK) {
        const chunk = buffer.subarray(0, Math.min(COPY_CHUNK, dataBytes - at));
        await src.readInto(at, chunk);
        crc = crc32Update(crc, chunk);
        await this.#write(chunk);
      }
    } finally {
      await src.close();
    }
    const crcBytes = new Uint8Array(4);
    new DataView(crcBytes.buffer).setUint32(0, crc, true);
    await this.file.write(crcBytes, offset + 14);
    this.#central.push(this.#centralHeader(nameBytes, size, crc, offset));
    this.#count++;
  }

  async finish(): Promise<void> {
    const cdOffset = this.#pos;
    for (const c of this.#central) await this.#write(c);
    const cdSize = this.#pos - cdOffset;
    const zip64Offset = this.#pos;
    const tail = new Uint8Array(56 + 20 + 22);
    const v = new DataView(tail.buffer);
    v.setUint32(0, 0x06064b50, true); // ZIP64 end of central directory
    v.setBigUint64(4, 44n, true);
    v.setUint16(12, 45, true);
    v.setUint16(14, 45, true);
    v.setBigUint64(24, BigInt(this.#count), true);
    v.setBigUint64(32, BigInt(this.#count), true);
    v.setBigUint64(40, BigInt(cdSize), true);
    v.setBigUint64(48, BigInt(cdOffset), true);
    v.setUint32(56, 0x07064b50, true); // locator
    v.setBigUint64(64, BigInt(zip64Offset), true);
    v.setUint32(72, 1, true);
    v.setUint32(76, 0x06054b50, true); // end of central directory
    const small = (x: number, max: number) => (x >= max ? max : x);
    v.setUint16(84, small(this.#count, 0xffff), true);
    v.setUint16(86, small(this.#count, 0xffff), true);
    v.setUint32(88, small(cdSize, 0xffffffff), true);
    v.setUint32(92, small(cdOffset, 0xffffffff), true);
    await this.#write(tail);
  }
}
