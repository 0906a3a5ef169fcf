/**
 * Private helpers shared by the file formats: decoding stored numbers of several dtypes into
 * float32 and encoding float32 into a few dtypes, with float16 and bfloat16 conversions that
 * round to nearest even, as PyTorch and numpy do.
 */

import { FormatError } from "../errors.ts";

/** How one stored element looks: kind, size in bytes and byte order. */
export interface ElementType {
  /** `f` float, `bf` bfloat16, `i` signed integer, `u` unsigned integer, `b` boolean. */
  kind: "f" | "bf" | "i" | "u" | "b";
  /** Bytes per element. */
  size: number;
  /** Whether multi-byte elements are little-endian. */
  littleEndian: boolean;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

let halfTable: Float32Array | undefined;

/** The float32 value of every float16 bit pattern, built on first use. */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) table[h] = sign * mantissa * 2 ** -24;
    else if (exponent === 31) table[h] = mantissa ? NaN : sign * Infinity;
    else table[h] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  halfTable = table;
  return table;
}

/** Float32 value of a float16 bit pattern. */
export function halfToFloat(bits: number): number {
  return halfToFloatTable()[bits & 0xffff];
}

/** Float16 bit pattern nearest to `value` (round half to even; overflow gives ±Infinity). */
export function floatToHalf(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 | (mantissa >>> 13) : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++;
  return sign | half;
}

/** Float32 value of a bfloat16 bit pattern. */
export function bfloat16ToFloat(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0];
}

/** Bfloat16 bit pattern nearest to `value` (round half to even, as PyTorch). */
export function floatToBfloat16(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  if (Number.isNaN(scratchF32[0])) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * Decodes `count` elements of type `type` starting at `bytes[offset]` into float32.
 * 64-bit integers must stay within ±2^53 (exact in a float64) or a `FormatError` naming `name` is
 * thrown.
 */
export function decodeElements(
  bytes: Uint8Array,
  offset: number,
  count: number,
  type: ElementType,
  name: string,
): Float32Array {
  const byteLength = count * type.size;
  if (offset < 0 || offset + byteLength > bytes.length) {
    throw new FormatError(
      `${name} needs ${byteLength} bytes at offset ${offset}, got only ${
        Math.max(0, bytes.length - offset)
      }`,
      { file: name, offset },
    );
  }
  const out = new Float32Array(count);
  if (type.kind === "f" && type.size === 4 && type.littleEndian === HOST_LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + byteLength));
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, byteLength);
  const le = type.littleEndian;
  const key = `${type.kind}${type.size}`;
  switch (key) {
    case "f8":
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, le);
      break;
    case "f4":
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, le);
      break;
    case "f2": {
      const table = halfToFloatTable();
      for (let i = 0; i < count; i++) out[i] = table[view.getUint16(i * 2, le)];
      break;
    }
    case "bf2":
      for (let i = 0; i < count; i++) out[i] = bfloat16ToFloat(view.getUint16(i * 2, le));
      break;
    case "i8":
    case "u8": {
      const limit = BigInt(Number.MAX_SAFE_INTEGER) + 1n;
      for (let i = 0; i < count; i++) {
        const v = key === "i8" ? view.getBigInt64(i * 8, le) : view.getBigUint64(i * 8, le);
        if (v > limit || v < -limit) {
          throw new FormatError(
            `${name} holds the integer ${v} at index ${i}, expected a magnitude of at most 2^53`,
            { file: name, offset: offset + i * 8 },
          );
        }
        out[i] = Number(v);
      }
      break;
    }
    case "i4":
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, le);
      break;
    case "u4":
      for (let i = 0; i < count; i++) out[i] = view.getUint32(i * 4, le);
      break;
    case "i2":
      for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, le);
      break;
    case "u2":
      for (let i = 0; i < count; i++) out[i] = view.getUint16(i * 2, le);
      break;
    case "i1":
      for (let i = 0; i < count; i++) out[i] = view.getInt8(i);
      break;
    case "u1":
      for (let i = 0; i < count; i++) out[i] = view.getUint8(i);
      break;
    case "b1":
      for (let i = 0; i < count; i++) out[i] = view.getUint8(i) ? 1 : 0;
      break;
    default:
      throw new RangeError(`${name} has an unsupported element type ${key}`);
  }
  return out;
}

/**
 * Encodes float32 values as `type` (float 2/4/8 bytes, bfloat16, or int64).
 * Refuses, with a RangeError naming `name`, finite values that would become infinite in float16
 * or bfloat16 and, for int64, values that are not integers.
 */
export function encodeElements(data: Float32Array, type: ElementType, name: string): Uint8Array {
  const count = data.length;
  const out = new Uint8Array(count * type.size);
  if (type.kind === "f" && type.size === 4 && type.littleEndian === HOST_LITTLE_ENDIAN) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return out;
  }
  const view = new DataView(out.buffer);
  const le = type.littleEndian;
  const key = `${type.kind}${type.size}`;
  switch (key) {
    case "f4":
      for (let i = 0; i < count; i++) view.setFloat32(i * 4, data[i], le);
      break;
    case "f8":
      for (let i = 0; i < count; i++) view.setFloat64(i * 8, data[i], le);
      break;
    case "f2":
    case "bf2": {
      const convert = key === "f2" ? floatToHalf : floatToBfloat16;
      const infinityBits = key === "f2" ? 0x7c00 : 0x7f80;
      for (let i = 0; i < count; i++) {
        const bits = convert(data[i]);
        if ((bits & 0x7fff) === infinityBits && Number.isFinite(data[i])) {
          throw new RangeError(
            `${name} holds ${data[i]} at index ${i}, which overflows ${
              key === "f2" ? "float16" : "bfloat16"
            } (expected a value it can represent)`,
          );
        }
        view.setUint16(i * 2, bits, le);
      }
      break;
    }
    case "i8":
      for (let i = 0; i < count; i++) {
        if (!Number.isInteger(data[i]) || Math.abs(data[i]) >= 2 ** 63) {
          throw new RangeError(
            `${name} must hold integers within the int64 range to be stored as int64, got ${
              data[i]
            } at index ${i}`,
          );
        }
        view.setBigInt64(i * 8, BigInt(data[i]), le);
      }
      break;
    default:
      throw new RangeError(`${name} cannot be written as element type ${key}`);
  }
  return out;
}
