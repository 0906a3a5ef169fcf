/** CRC-32 (IEEE 802.3, as in ZIP and PNG), for `.npz` archives. */

let tables: Uint32Array | undefined;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** 8 tables of 256: table k gives the CRC of a byte followed by k zero bytes (slicing-by-8). */
function crcTables(): Uint32Array {
  if (tables) return tables;
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) {
      t[k * 256 + n] = (t[(k - 1) * 256 + n] >>> 8) ^ t[t[(k - 1) * 256 + n] & 0xff];
    }
  }
  return tables = t;
}

/** Continues a CRC-32 over `bytes` (start with 0), so large members can be checksummed in chunks. */
export function crc32Update(crc: number, bytes: Uint8Array): number {
  const t = crcTables();
  let c = (crc ^ 0xffffffff) >>> 0;
  let i = 0;
  const n = bytes.length;
  // byte by byte up to a 4-byte boundary, then 8 bytes a step read as two little-endian words
  while (i < n && ((bytes.byteOffset + i) & 3) !== 0) c = t[(c ^ bytes[i++]) & 0xff] ^ (c >>> 8);
  if (LITTLE_ENDIAN && n - i >= 8) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset + i, ((n - i) >>> 3) << 1);
    for (let w = 0; w < words.length; w += 2) {
      const a = words[w] ^ c, b = words[w + 1];
      c = t[1792 + (a & 0xff)] ^ t[1536 + ((a >>> 8) & 0xff)] ^ t[1280 + ((a >>> 16) & 0xff)] ^
        t[1024 + (a >>> 24)] ^ t[768 + (b & 0xff)] ^ t[512 + ((b >>> 8) & 0xff)] ^
        t[256 + ((b >>> 16) & 0xff)] ^ t[b >>> 24];
    }
    i += words.length * 4;
  }
  for (; i < n; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32 of `bytes`, e.g. `crc32("123456789" as bytes) === 0xcbf43926`. */
export function crc32(bytes: Uint8Array): number {
  return crc32Update(0, bytes);
}
