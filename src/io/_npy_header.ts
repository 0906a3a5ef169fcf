/**
 * The header of numpy's `.npy` format, read with bounds by construction: at most
 * `MAX_HEADER_BYTES` of text, a flat Python dict literal with exactly the keys `descr`,
 * `fortran_order` and `shape` (a dict holding strings, booleans, integers and one level of
 * tuple), at most `MAX_NDIM` axes. Everything else is refused with a `FormatError`: what is
 * read is always what numpy's `ast.literal_eval` would read, or an error.
 */

import { FormatError } from "../errors.ts";
import type { ElementType } from "./_dtypes.ts";

/** numpy's `np.load` refuses headers above 10000 bytes (`max_header_size`); so do we. */
export const MAX_HEADER_BYTES = 10_000;
/** numpy 2's `NPY_MAXDIMS`. */
export const MAX_NDIM = 64;

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** The parsed header of a `.npy` file. */
export interface NpyHeader {
  /** numpy's dtype string, e.g. `"<f4"`. */
  dtype: string;
  /** The element type of `dtype`. */
  type: ElementType;
  /** The array's shape. */
  shape: number[];
  /** Whether the data is stored column-major. */
  fortranOrder: boolean;
  /** Byte offset of the data (length of magic, version, header length and header). */
  dataOffset: number;
  /** Bytes of data the header asks for (elements × element size), at most 2^53. */
  dataBytes: number;
}

/**
 * Element type of a numpy dtype string: floats (2, 4, 8 bytes), signed and unsigned integers
 * (1, 2, 4, 8 bytes) and booleans, either byte order.
 */
export function elementType(descr: string, name: string): ElementType {
  const match = /^([<>|=])([fiub])(\d)$/.exec(descr);
  const size = match ? Number(match[3]) : 0;
  const kind = match?.[2] as ElementType["kind"] | undefined;
  const ok = kind === "f"
    ? size === 2 || size === 4 || size === 8
    : kind === "b"
    ? size === 1
    : size === 1 || size === 2 || size === 4 || size === 8;
  if (!match || !ok) {
    throw new RangeError(
      `${name} has dtype ${
        JSON.stringify(descr)
      }, expected a float (f2, f4, f8), integer (i1..i8, u1..u8) or bool (b1) dtype`,
    );
  }
  const hostLittle = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  return {
    kind: kind!,
    size,
    littleEndian: match[1] === ">" ? false : match[1] === "=" ? hostLittle : true,
  };
}

/** A Python tuple (lists are kept apart: numpy wants `shape` to be a tuple). */
class PyTuple {
  constructor(readonly items: unknown[]) {}
}
class PyList {
  constructor(readonly items: unknown[]) {}
}

/** Python's whitespace between tokens (not JavaScript's `\s`, which has Unicode spaces). */
const SPACE = new Set([" ", "\t", "\n", "\r", "\f"]);
const WORD_CHAR = /[A-Za-z0-9_.]/;

/**
 * Parses the header text: `{ 'key': value, ... }` where a value is a string, an integer,
 * `True`/`False`/`None`, or a tuple or list of those. Nothing nests deeper, so the parser
 * never recurses more than twice.
 */
function parseDict(text: string, name: string, allowLong: boolean): Map<string, unknown> {
  let i = 0;
  const fail = (what: string): never => {
    throw new FormatError(
      `${name} has a malformed header: expected ${what} at character ${i} of ${
        JSON.stringify(text.length > 200 ? text.slice(0, 200) + "…" : text)
      }`,
      { file: name, offset: i },
    );
  };
  const skip = () => {
    while (i < text.length && SPACE.has(text[i])) i++;
  };
  const atom = (): unknown => {
    const c = text[i];
    if (c === "'" || c === '"') {
      let end = i + 1;
      while (end < text.length && text[end] !== c) {
        if (text[end] === "\\" || text[end] === "\n") return fail("a plain string literal");
        end++;
      }
      if (end >= text.length) return fail("a closing quote");
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    const word =
      (allowLong
        ? /^(True|False|None|-?(?:0+|[1-9]\d*)L?)/
        : /^(True|False|None|-?(?:0+|[1-9]\d*))/)
        .exec(text.slice(i, i + 40));
    if (!word || WORD_CHAR.test(text[i + word[0].length] ?? "")) return fail("a value");
    i += word[0].length;
    if (word[0] === "True") return true;
    if (word[0] === "False") return false;
    if (word[0] === "None") return null;
    return Number(word[0].replace("L", ""));
  };
  const value = (): unknown => {
    const c = text[i];
    if (c !== "(" && c !== "[") return atom();
    const close = c === "(" ? ")" : "]";
    i++;
    const items: unknown[] = [];
    let commas = 0;
    for (;;) {
      skip();
      if (text[i] === close) break;
      if (text[i] === "(" || text[i] === "[" || text[i] === "{") {
        fail("a flat value (nested containers, as in structured dtypes, are not supported)");
      }
      items.push(atom());
      skip();
      if (text[i] === ",") {
        i++;
        commas++;
      } else if (text[i] !== close) fail(`"," or "${close}"`);
    }
    i++;
    if (c === "[") return new PyList(items);
    // `(3)` is the number 3 in Python; a tuple needs a comma or no items at all.
    return items.length === 1 && commas === 0 ? items[0] : new PyTuple(items);
  };
  skip();
  if (text[i] !== "{") fail("a dict");
  i++;
  const dict = new Map<string, unknown>();
  for (;;) {
    skip();
    if (text[i] === "}") break;
    const key = atom();
    if (typeof key !== "string") fail("a string key");
    skip();
    if (text[i] !== ":") fail('":"');
    i++;
    skip();
    dict.set(key as string, value());
    skip();
    if (text[i] === ",") i++;
    else if (text[i] !== "}") fail('"," or "}"');
  }
  i++;
  skip();
  if (i !== text.length) fail("the end of the header");
  return dict;
}

/** Elements × `size` of `shape`, or Infinity above 2^53 (so it is never a wrong finite number). */
function byteCount(shape: readonly number[], size: number): number {
  let n = size;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return Infinity;
  }
  return shape.includes(0) ? 0 : n;
}

/**
 * Parses the header of a .npy file from its first bytes. Returns the number of bytes still needed
 * when `bytes` is too short to hold the whole header (never more than `MAX_HEADER_BYTES`).
 */
export function parseNpyHeader(bytes: Uint8Array, name: string): NpyHeader | number {
  if (bytes.length < 10) return 10 - bytes.length;
  for (let k = 0; k < MAGIC.length; k++) {
    if (bytes[k] !== MAGIC[k]) {
      throw new FormatError(
        `${name} is not a .npy file: expected the magic string \\x93NUMPY at its start`,
        { file: name, offset: k },
      );
    }
  }
  const major = bytes[6];
  const minor = bytes[7];
  if (![1, 2, 3].includes(major) || minor !== 0) {
    throw new FormatError(
      `${name} has .npy format version ${major}.${minor}, expected 1.0, 2.0 or 3.0`,
      { file: name, offset: 6 },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const prefix = major === 1 ? 10 : 12;
  if (bytes.length < prefix) return prefix - bytes.length;
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (headerLength > MAX_HEADER_BYTES) {
    throw new FormatError(
      `${name} has a header of ${headerLength} bytes, expected at most ${MAX_HEADER_BYTES} (numpy's limit)`,
      { file: name, offset: 8 },
    );
  }
  const dataOffset = prefix + headerLength;
  if (bytes.length < dataOffset) return dataOffset - bytes.length;
  let text: string;
  try {
    text = new TextDecoder(major === 3 ? "utf-8" : "latin1", { fatal: true }).decode(
      bytes.subarray(prefix, dataOffset),
    );
  } catch {
    throw new FormatError(
      `${name} has a header that is not valid ${major === 3 ? "UTF-8" : "latin-1"}`,
      { file: name, offset: prefix },
    );
  }
  const header = parseDict(text, name, major < 3);
  const keys = [...header.keys()].sort().join(", ");
  if (keys !== "descr, fortran_order, shape") {
    throw new FormatError(`${name} has header keys ${keys}, expected descr, fortran_order, shape`, {
      file: name,
      offset: prefix,
    });
  }
  const descr = header.get("descr");
  const fortranOrder = header.get("fortran_order");
  const shape = header.get("shape");
  const place = { file: name, offset: prefix };
  if (typeof descr !== "string") {
    throw new FormatError(
      `${name} has dtype ${
        descr instanceof PyList ? "a list" : JSON.stringify(descr)
      }, expected a simple dtype string (structured arrays are not supported)`,
      place,
    );
  }
  if (typeof fortranOrder !== "boolean") {
    throw new FormatError(
      `${name} has fortran_order ${JSON.stringify(fortranOrder)}, expected True or False`,
      place,
    );
  }
  if (
    !(shape instanceof PyTuple) ||
    !shape.items.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)
  ) {
    throw new FormatError(
      `${name} has shape ${
        shape instanceof PyTuple || shape instanceof PyList
          ? JSON.stringify(shape.items)
          : JSON.stringify(shape)
      }, expected a tuple of non-negative integers`,
      place,
    );
  }
  const dims = shape.items as number[];
  if (dims.length > MAX_NDIM) {
    throw new FormatError(
      `${name} has ${dims.length} dimensions, expected at most ${MAX_NDIM}`,
      place,
    );
  }
  let type: ElementType;
  try {
    type = elementType(descr, name);
  } catch (error) {
    throw new FormatError((error as Error).message, place);
  }
  const dataBytes = byteCount(dims, type.size);
  if (dataBytes === Infinity) {
    throw new FormatError(
      `${name} has shape (${dims.join(", ")}) of dtype ${descr}, more than 2^53 bytes`,
      place,
    );
  }
  return { dtype: descr, type, shape: dims, fortranOrder, dataOffset, dataBytes };
}
