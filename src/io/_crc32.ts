/** CRC-32 (IEEE 802.3, as in ZIP and PNG), for `.npz` archives. */

let crcTable: Uint32Array | undefined;

/** Continues a CRC-32 over `bytes` (start with 0), so large members can be checksummed in chunks. */
export function crc32Update(crc: number, bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32 of `bytes`, e.g. `crc32("123456789" as bytes) === 0xcbf43926`. */
export function crc32(bytes: Uint8Array): number {
  return crc32Update(0, bytes);
}
