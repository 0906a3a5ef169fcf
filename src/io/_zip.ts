/**
 * Reading ZIP archives (APPNOTE 6.3) with bounds by construction, for `.npz`: the central
 * directory is authoritative and must be consistent with everything else — one end record
 * (and its ZIP64 record whenever a ZIP64 locator is present), a directory that fills exactly
 * the bytes it declares with exactly the entries it declares, local headers whose names are
 * those of the directory, members that do not overlap, and sizes that inflating must meet
 * exactly (inflating stops one byte past the declared size). Anything else is a `FormatError`.
 */

import { FormatError } from "../errors.ts";

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_END = 0x06054b50;
const SIG_ZIP64_END = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
/** Deflate cannot expand more than about 1032:1 (a 258-byte match per 2 bits, plus headers). */
const MAX_DEFLATE_RATIO = 1032;

/** A member of the archive, checked against the central directory and its neighbours. */
export interface ZipMember {
  /** The member's name, as the central directory and the local header both spell it. */
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  /** CRC-32 of the uncompressed bytes. */
  crc: number;
  /** Uncompressed size. */
  size: number;
  /** The stored (compressed) bytes, a view of the archive. */
  raw: Uint8Array;
  /** Offset of the member's local header. */
  offset: number;
}

/** Reads the central directory and the local headers of an archive. */
export function readZip(bytes: Uint8Array, file: string): ZipMember[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (message: string, offset?: number, member?: string): never => {
    throw new FormatError(`${file} ${message}`, { file, member, offset });
  };
  if (bytes.length < 22) fail(`is truncated: expected at least 22 bytes, got ${bytes.length}`, 0);
  const end = findEnd(view);
  if (end < 0) {
    fail(
      "has no end of central directory record reaching the end of the file, expected a ZIP file (the file may be truncated)",
      bytes.length,
    );
  }
  if (view.getUint16(end + 4, true) !== 0 || view.getUint16(end + 6, true) !== 0) {
    fail("spans several disks, expected a single-file archive", end + 4);
  }
  let count = view.getUint16(end + 10, true);
  if (view.getUint16(end + 8, true) !== count) {
    fail(
      `has ${
        view.getUint16(end + 8, true)
      } entries on its disk and ${count} in all, expected the same`,
      end + 8,
    );
  }
  let cdSize = view.getUint32(end + 12, true);
  let cdOffset = view.getUint32(end + 16, true);
  let cdEnd = end; // where the central directory must stop
  const locator = end - 20;
  if (locator >= 0 && view.getUint32(locator, true) === SIG_ZIP64_LOCATOR) {
    // A ZIP64 end record is authoritative when present (as Python's zipfile reads it).
    const record = u64(view, locator + 8, "ZIP64 end record offset", file);
    if (record + 56 !== locator || view.getUint32(record, true) !== SIG_ZIP64_END) {
      fail(
        `has a ZIP64 end record offset ${record}, expected a record right before the locator at ${
          locator - 56
        }`,
        locator + 8,
      );
    }
    if (view.getUint32(record + 16, true) !== 0 || view.getUint32(record + 20, true) !== 0) {
      fail("spans several disks, expected a single-file archive", record + 16);
    }
    const count64 = u64(view, record + 32, "entry count", file);
    if (u64(view, record + 24, "entry count on this disk", file) !== count64) {
      fail("has a ZIP64 end record whose two entry counts differ", record + 24);
    }
    const size64 = u64(view, record + 40, "central directory size", file);
    const offset64 = u64(view, record + 48, "central directory offset", file);
    const agree = (small: number, big: number, max: number) => small === max || small === big;
    if (
      !agree(count, count64, 0xffff) || !agree(cdSize, size64, 0xffffffff) ||
      !agree(cdOffset, offset64, 0xffffffff)
    ) {
      fail(
        `has an end record (${count} entries, directory of ${cdSize} bytes at ${cdOffset}) that contradicts its ZIP64 record (${count64}, ${size64}, ${offset64})`,
        end,
      );
    }
    [count, cdSize, cdOffset, cdEnd] = [count64, size64, offset64, record];
  } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    fail("needs a ZIP64 end of central directory locator, found none", end);
  }
  if (cdOffset + cdSize !== cdEnd) {
    fail(
      `has its central directory at [${cdOffset}, ${
        cdOffset + cdSize
      }), expected it to end at ${cdEnd} where the end record starts (the file is truncated or damaged)`,
      cdOffset,
    );
  }
  if (count > cdSize / 46) {
    fail(`declares ${count} entries in a central directory of ${cdSize} bytes`, end + 10);
  }
  const members: ZipMember[] = [];
  const names = new Set<string>();
  let at = cdOffset;
  for (let k = 0; k < count; k++) {
    if (at + 46 > cdEnd || view.getUint32(at, true) !== SIG_CENTRAL) {
      fail(`has a damaged central directory: entry ${k} of ${count} is missing`, at);
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const disk = view.getUint16(at + 34, true);
    let offset = view.getUint32(at + 42, true);
    const next = at + 46 + nameLength + extraLength + commentLength;
    if (next > cdEnd) fail(`has a damaged central directory: entry ${k} runs past its end`, at);
    const nameBytes = bytes.subarray(at + 46, at + 46 + nameLength);
    const name = decodeName(nameBytes, flags, file, at + 46);
    const bad = (message: string, where = at): never => fail(message, where, name);
    if (names.has(name)) bad(`has two members named "${name}", expected unique names`);
    names.add(name);
    // ZIP64 extra field: 64-bit values for those of the three fields that are 0xffffffff.
    let e = at + 46 + nameLength;
    const extraEnd = e + extraLength;
    let zip64Found = false;
    while (e < extraEnd) {
      if (e + 4 > extraEnd) bad(`member "${name}" has a truncated extra field`, e);
      const id = view.getUint16(e, true);
      const length = view.getUint16(e + 2, true);
      if (e + 4 + length > extraEnd) bad(`member "${name}" has an extra field past its end`, e);
      if (id === 0x0001 && !zip64Found) {
        zip64Found = true;
        let p = e + 4;
        const take = (what: string) => {
          if (p + 8 > e + 4 + length) {
            bad(`member "${name}" has a ZIP64 extra field without its ${what}`, p);
          }
          const v = u64(view, p, `member "${name}" ${what}`, file);
          p += 8;
          return v;
        };
        if (size === 0xffffffff) size = take("uncompressed size");
        if (compressedSize === 0xffffffff) compressedSize = take("compressed size");
        if (offset === 0xffffffff) offset = take("local header offset");
      }
      e += 4 + length;
    }
    if (size === 0xffffffff || compressedSize === 0xffffffff || offset === 0xffffffff) {
      bad(`member "${name}" needs a ZIP64 extra field for its sizes or offset, found none`);
    }
    if (disk !== 0 && disk !== 0xffff) bad(`member "${name}" is on disk ${disk}, expected 0`);
    if (flags & 1) bad(`member "${name}" is encrypted, expected a plain archive`);
    if (method !== 0 && method !== 8) {
      bad(
        `member "${name}" uses compression method ${method}, expected 0 (stored) or 8 (deflate)`,
      );
    }
    if (method === 0 && size !== compressedSize) {
      bad(`member "${name}" is stored with ${compressedSize} bytes, expected its size ${size}`);
    }
    if (method === 8 && size > compressedSize * MAX_DEFLATE_RATIO + 64) {
      bad(
        `member "${name}" declares ${size} bytes inflated from ${compressedSize}, more than deflate can expand`,
      );
    }
    // The local header: same name, data inside the archive, before the central directory.
    if (offset + 30 > cdOffset || view.getUint32(offset, true) !== SIG_LOCAL) {
      bad(`member "${name}" has no local header at offset ${offset}`, offset);
    }
    const localNameLength = view.getUint16(offset + 26, true);
    const start = offset + 30 + localNameLength + view.getUint16(offset + 28, true);
    const localName = bytes.subarray(offset + 30, offset + 30 + localNameLength);
    if (
      localNameLength !== nameLength || offset + 30 + localNameLength > cdOffset ||
      !localName.every((b, i) => b === nameBytes[i])
    ) {
      bad(
        `member "${name}" has the name "${
          new TextDecoder().decode(localName)
        }" in its local header, expected the central directory's`,
        offset + 30,
      );
    }
    if (start + compressedSize > cdOffset) {
      bad(
        `member "${name}" needs bytes up to ${
          start + compressedSize
        }, expected them before the central directory at ${cdOffset} (the file is truncated or damaged)`,
        start,
      );
    }
    members.push({
      name,
      method,
      crc,
      size,
      raw: bytes.subarray(start, start + compressedSize),
      offset,
    });
    at = next;
  }
  if (at !== cdEnd) {
    fail(
      `has ${
        cdEnd - at
      } bytes of central directory after its ${count} declared entries, expected none`,
      at,
    );
  }
  // Members must not overlap: each one's local header and data are its own.
  const sorted = [...members].sort((a, b) => a.offset - b.offset);
  for (let k = 1; k < sorted.length; k++) {
    const previous = sorted[k - 1];
    const stop = previous.raw.byteOffset - bytes.byteOffset + previous.raw.length;
    if (sorted[k].offset < stop) {
      fail(
        `member "${sorted[k].name}" at offset ${
          sorted[k].offset
        } overlaps member "${previous.name}" (which ends at ${stop})`,
        sorted[k].offset,
        sorted[k].name,
      );
    }
  }
  return members;
}

/** The end record whose comment reaches exactly the end of the file, or -1. */
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
  return -1;
}

function u64(view: DataView, at: number, what: string, file: string): number {
  if (at + 8 > view.byteLength) {
    throw new FormatError(`${file} is truncated: its ${what} is missing`, { file, offset: at });
  }
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FormatError(`${file} has ${what} ${value}, expected at most 2^53`, {
      file,
      offset: at,
    });
  }
  return Number(value);
}

/** UTF-8 when flag bit 11 says so, else ASCII (other code pages are refused, not guessed). */
function decodeName(bytes: Uint8Array, flags: number, file: string, offset: number): string {
  if (flags & 0x800) {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new FormatError(`${file} has a member name that is not valid UTF-8`, { file, offset });
    }
  }
  if (bytes.some((b) => b > 0x7f)) {
    throw new FormatError(
      `${file} has a non-ASCII member name without the UTF-8 flag, expected UTF-8 names`,
      { file, offset },
    );
  }
  return new TextDecoder("latin1").decode(bytes);
}

/**
 * Inflates a raw deflate stream that must give exactly `size` bytes: the input is fed in
 * pieces, so no more than about one piece's worth past `size + 1` is ever produced.
 */
export async function inflateExact(raw: Uint8Array, size: number, file: string, member: string) {
  const fail = (message: string): never => {
    throw new FormatError(`${file} member "${member}" ${message}`, { file, member });
  };
  const stream = new DecompressionStream("deflate-raw");
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const piece = Math.max(1024, Math.min(65536, Math.ceil((size + 1) / MAX_DEFLATE_RATIO)));
  const feeding = (async () => {
    for (let at = 0; at < raw.length; at += piece) {
      await writer.ready;
      await writer.write(raw.slice(at, at + piece));
    }
    await writer.close();
  })();
  feeding.catch(() => {}); // a failure also surfaces through the reader
  const out = new Uint8Array(size);
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (total + value.length > size) {
        await reader.cancel().catch(() => {});
        fail(`inflates to more than the ${size} bytes its directory entry declares`);
      }
      out.set(value, total);
      total += value.length;
    }
    await feeding;
  } catch (error) {
    if (error instanceof FormatError) throw error;
    fail(`has corrupt deflate data: ${(error as Error).message}`);
  }
  if (total !== size) fail(`inflates to ${total} bytes, expected the ${size} its entry declares`);
  return out;
}
