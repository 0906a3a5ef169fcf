import { assertEquals } from "./_io_assert.ts";
import { crc32, crc32Update } from "../src/io/_crc32.ts";

/** The bytes the zlib values below were computed over (Python: the same LCG, then zlib.crc32). */
function lcgBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    b[i] = (x >>> 16) & 0xff;
  }
  return b;
}

/** The one-byte-a-step CRC the library used before slicing-by-8, as an independent reference. */
function bytewise(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

Deno.test("crc32() equals zlib.crc32 at every length and alignment tried", () => {
  const bytes = lcgBytes(1 << 20);
  // [length, offset, zlib.crc32(bytes[offset:offset+length])]
  const zlib: [number, number, number][] = [
    [1, 0, 0x5d677172],
    [7, 3, 0x6c6fa771],
    [8, 0, 0x0f79dcfb],
    [9, 1, 0xd2ed9372],
    [63, 5, 0xa8be7a49],
    [1000, 2, 0x75ec5eab],
    [65536, 0, 0x0ab738c9],
    [(1 << 20) - 3, 3, 0x97ce0ec6],
    [1 << 20, 0, 0x1da381b3],
  ];
  for (const [length, offset, want] of zlib) {
    assertEquals(crc32(bytes.subarray(offset, offset + length)), want, `${length} at ${offset}`);
  }
});

Deno.test("crc32() equals the bytewise CRC for lengths 0..80 at offsets 0..7", () => {
  const bytes = lcgBytes(100);
  for (let offset = 0; offset < 8; offset++) {
    for (let length = 0; length <= 80; length++) {
      const part = bytes.subarray(offset, offset + length);
      assertEquals(crc32(part), bytewise(part), `${length} at ${offset}`);
    }
  }
});

Deno.test("crc32Update() over chunks of any size equals the CRC of the whole", () => {
  const bytes = lcgBytes(5000);
  const whole = crc32(bytes);
  for (const step of [1, 3, 8, 13, 4096]) {
    let crc = 0;
    for (let i = 0; i < bytes.length; i += step) {
      crc = crc32Update(crc, bytes.subarray(i, i + step));
    }
    assertEquals(crc, whole, `chunks of ${step}`);
  }
  assertEquals(crc32Update(0x12345678, new Uint8Array(0)), 0x12345678);
});
