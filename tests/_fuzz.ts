/**
 * A deterministic file fuzzer for the readers: case `i` of a format is always the same bytes
 * (a seeded PRNG picks a base file and one to three mutations: truncations, bit flips, length
 * fields at boundaries, rewritten headers, zip tricks, NaN/Inf payloads). Used by
 * `tests/fuzz_*_test.ts` (a few hundred cases per format, checked against committed numpy
 * results) and by `scripts/fuzz.ts` (thousands, numpy run on the spot).
 */

import { saveNpy } from "../src/io/npy.ts";
import { saveNpz } from "../src/io/npz.ts";
import { saveSafetensors } from "../src/io/safetensors.ts";
import { JumpSAE } from "../src/jump_sae.ts";
import { saveModel } from "../src/pretrained/checkpoint.ts";

/** The formats fuzzed. */
export const FORMATS = ["npy", "npy-stream", "npz", "safetensors", "checkpoint"] as const;
/** Cases per format in the test suite (checked against the committed numpy reference). */
export const TEST_CASES = 300;
/** A fuzzed format. */
export type FuzzFormat = typeof FORMATS[number];

const FIXTURES = new URL("./fixtures/io/", import.meta.url);

/** mulberry32: a small, fast, seedable PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)];

/** Values that length and offset fields are set to. */
function boundaries(length: number): number[] {
  return [0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0xffffffff]
    .concat([length - 1, length, length + 1, 10_000, 10_001, 100_000_001]);
}

function setLE(bytes: Uint8Array, at: number, width: number, value: number): void {
  for (let k = 0; k < width && at + k < bytes.length; k++) {
    bytes[at + k] = Math.floor(value / 256 ** k) & 0xff;
  }
}

// ---- generic mutations -------------------------------------------------------------------

function truncate(b: Uint8Array, rng: Rng): Uint8Array {
  return b.slice(0, int(rng, b.length));
}
function flipBits(b: Uint8Array, rng: Rng): Uint8Array {
  const c = b.slice();
  for (let n = 1 + int(rng, 4); n > 0 && c.length; n--) c[int(rng, c.length)] ^= 1 << int(rng, 8);
  return c;
}
function boundaryByte(b: Uint8Array, rng: Rng): Uint8Array {
  const c = b.slice();
  if (c.length) c[int(rng, c.length)] = pick(rng, [0, 1, 0x7f, 0x80, 0xff, 0x20, 0x28, 0x7b]);
  return c;
}
function boundaryField(b: Uint8Array, rng: Rng, at = int(rng, b.length)): Uint8Array {
  const c = b.slice();
  setLE(c, at, pick(rng, [2, 4, 8]), pick(rng, boundaries(b.length)));
  return c;
}
function insertBytes(b: Uint8Array, rng: Rng): Uint8Array {
  const at = int(rng, b.length + 1);
  const extra = Uint8Array.from({ length: 1 + int(rng, 16) }, () => int(rng, 256));
  return new Uint8Array([...b.subarray(0, at), ...extra, ...b.subarray(at)]);
}
function deleteBytes(b: Uint8Array, rng: Rng): Uint8Array {
  const at = int(rng, b.length);
  return new Uint8Array([...b.subarray(0, at), ...b.subarray(at + 1 + int(rng, 16))]);
}
function duplicateRange(b: Uint8Array, rng: Rng): Uint8Array {
  const a = int(rng, b.length);
  const e = Math.min(b.length, a + 1 + int(rng, 64));
  const to = int(rng, b.length + 1);
  return new Uint8Array([...b.subarray(0, to), ...b.subarray(a, e), ...b.subarray(to)]);
}
const GENERIC = [
  truncate,
  flipBits,
  boundaryByte,
  boundaryField,
  insertBytes,
  deleteBytes,
  duplicateRange,
];

// ---- .npy ---------------------------------------------------------------------------------

function npyFile(header: string, data: Uint8Array, version = 1): Uint8Array {
  const text = new TextEncoder().encode(header);
  const prefix = version === 1 ? 10 : 12;
  const out = new Uint8Array(prefix + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  setLE(out, 8, version === 1 ? 2 : 4, text.length);
  out.set(text, prefix);
  out.set(data, prefix + text.length);
  return out;
}
function npyParts(b: Uint8Array) {
  const v = b[6] === 1 ? 1 : 2;
  const prefix = v === 1 ? 10 : 12;
  const n = b.length >= prefix
    ? (v === 1 ? b[8] | (b[9] << 8) : new DataView(b.buffer).getUint32(8, true))
    : 0;
  const text = new TextDecoder("latin1").decode(b.subarray(prefix, Math.min(b.length, prefix + n)));
  return { version: b[6], text, data: b.slice(Math.min(b.length, prefix + n)) };
}

const HEADER_PIECES = [
  "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'descr': '<i4'}",
  "{'descr': '>f8', 'fortran_order': True, 'shape': (3, 2)}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (6)}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': [6]}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (6L,)}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (06,)}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (-6,)}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
  "{'descr': '<f4', 'fortran_order': 0, 'shape': (6,)}",
  "{'descr': 'f4', 'fortran_order': False, 'shape': (6,)}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), '__proto__': 1}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (True, 6)}",
  '{"descr": "<u2", "fortran_order": False, "shape": (12,)}',
  "{'descr': '|b1', 'fortran_order': False, 'shape': (24,)}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}\n",
  "  {'descr': '<f4', 'fortran_order': False, 'shape': (6,)}",
  "{'descr': '<f4' 'x', 'fortran_order': False, 'shape': (6,)}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (,)}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (6,,)}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': ()}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (1,) * 70}",
];

function npyHeaderRewrite(b: Uint8Array, rng: Rng): Uint8Array {
  const { data } = npyParts(b);
  let header = pick(rng, HEADER_PIECES);
  const r = int(rng, 6);
  if (r === 0) header = header.replace("(", "(".repeat(1 + int(rng, 5000)));
  if (r === 1) header = header.replace("(", `(${"1, ".repeat(int(rng, 80))}`);
  if (r === 2) header = header + " ".repeat(int(rng, 12_000));
  return npyFile(header, data, pick(rng, [1, 1, 2, 3]));
}
function npyLengthField(b: Uint8Array, rng: Rng): Uint8Array {
  const c = b.slice();
  setLE(c, 8, b[6] === 1 ? 2 : 4, pick(rng, boundaries(b.length - 10)));
  return c;
}
/** NaN, ±Inf, -0, subnormal bit patterns written into the data (a valid file). */
function specialPayload(b: Uint8Array, rng: Rng): Uint8Array {
  const c = b.slice();
  const start = b.length - npyParts(b).data.length;
  const patterns = [
    [0x00, 0x00, 0xc0, 0x7f],
    [0x01, 0x00, 0x80, 0x7f],
    [0x00, 0x00, 0x80, 0xff],
    [0x00, 0x00, 0x80, 0x7f],
    [0x00, 0x00, 0x00, 0x80],
    [0x01, 0x00, 0x00, 0x00],
    [0xff, 0xff, 0xff, 0xff],
    [0x00, 0x7c, 0x00, 0xfc],
    [0x01, 0x7e, 0xff, 0x7f],
  ];
  for (let n = 1 + int(rng, 6); n > 0 && c.length > start; n--) {
    const at = start + int(rng, c.length - start);
    c.set(pick(rng, patterns).slice(0, c.length - at), at);
  }
  return c.subarray(0, b.length);
}
const NPY_MUTATIONS = [
  ...GENERIC,
  npyHeaderRewrite,
  npyLengthField,
  specialPayload,
  specialPayload,
];

// ---- .npz ---------------------------------------------------------------------------------

/** Offsets of the structural fields of a small archive (classic end record, no comment). */
function zipFields(b: Uint8Array): number[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let end = -1;
  for (let at = b.length - 22; at >= 0; at--) {
    if (v.getUint32(at, true) === 0x06054b50) {
      end = at;
      break;
    }
  }
  if (end < 0) return [];
  const fields = [end + 8, end + 10, end + 12, end + 16, end + 20];
  let at = v.getUint32(end + 16, true);
  for (let k = 0; k < 8 && at + 46 <= b.length && v.getUint32(at, true) === 0x02014b50; k++) {
    fields.push(at + 8, at + 10, at + 16, at + 20, at + 24, at + 28, at + 30, at + 42);
    const local = v.getUint32(at + 42, true);
    if (local + 30 <= b.length) {
      fields.push(local + 6, local + 8, local + 18, local + 22, local + 26, local + 28);
    }
    at += 46 + v.getUint16(at + 28, true) + v.getUint16(at + 30, true) + v.getUint16(at + 32, true);
  }
  return fields;
}
function zipField(b: Uint8Array, rng: Rng): Uint8Array {
  const fields = zipFields(b);
  if (!fields.length) return boundaryField(b, rng);
  return boundaryField(b, rng, pick(rng, fields));
}
function zipCopyField(b: Uint8Array, rng: Rng): Uint8Array {
  // copy a central entry's offset or sizes from another entry: overlaps and aliasing
  const fields = zipFields(b);
  if (fields.length < 14) return flipBits(b, rng);
  const c = b.slice();
  const from = pick(rng, fields), to = pick(rng, fields);
  c.copyWithin(to, from, from + 4);
  return c;
}
function zipDuplicateEntry(b: Uint8Array, rng: Rng): Uint8Array {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const end = b.length - 22;
  if (end < 0 || v.getUint32(end, true) !== 0x06054b50) return zipField(b, rng);
  const cd = v.getUint32(end + 16, true);
  if (cd + 46 > end) return zipField(b, rng);
  const first = 46 + v.getUint16(cd + 28, true) + v.getUint16(cd + 30, true);
  const entry = b.slice(cd, cd + first);
  const c = new Uint8Array([...b.subarray(0, end), ...entry, ...b.subarray(end)]);
  const w = new DataView(c.buffer);
  const e = end + entry.length;
  if (rng() < 0.7) {
    w.setUint16(e + 8, w.getUint16(e + 8, true) + 1, true);
    w.setUint16(e + 10, w.getUint16(e + 10, true) + 1, true);
  }
  w.setUint32(e + 12, w.getUint32(e + 12, true) + entry.length, true);
  if (rng() < 0.5) c[end + 46] ^= 0x01; // another name for the same local header
  return c;
}
function zipLocator(b: Uint8Array, rng: Rng): Uint8Array {
  // a ZIP64 end record and locator in front of the end record, consistent or not
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const end = b.length - 22;
  if (end < 0 || v.getUint32(end, true) !== 0x06054b50) return zipField(b, rng);
  const rec = new Uint8Array(56 + 20);
  const w = new DataView(rec.buffer);
  const count = v.getUint16(end + 10, true);
  w.setUint32(0, 0x06064b50, true);
  w.setBigUint64(4, 44n, true);
  w.setUint16(12, 45, true);
  w.setUint16(14, 45, true);
  w.setBigUint64(24, BigInt(count + (rng() < 0.5 ? 0 : 1)), true);
  w.setBigUint64(32, BigInt(count + (rng() < 0.5 ? 0 : -1)), true);
  w.setBigUint64(40, BigInt(v.getUint32(end + 12, true)), true);
  w.setBigUint64(48, BigInt(v.getUint32(end + 16, true)), true);
  w.setUint32(56, 0x07064b50, true);
  w.setBigUint64(64, BigInt(end + (rng() < 0.8 ? 0 : 8)), true);
  w.setUint32(72, 1, true);
  return new Uint8Array([...b.subarray(0, end), ...rec, ...b.subarray(end)]);
}
const NPZ_MUTATIONS = [
  ...GENERIC,
  zipField,
  zipField,
  zipField,
  zipCopyField,
  zipDuplicateEntry,
  zipLocator,
];

// ---- safetensors ----------------------------------------------------------------------------

function stParts(b: Uint8Array) {
  const n = b.length >= 8 ? Number(new DataView(b.buffer).getBigUint64(0, true)) : 0;
  return {
    text: new TextDecoder().decode(b.subarray(8, Math.min(b.length, 8 + n))),
    data: b.slice(Math.min(b.length, 8 + n)),
  };
}
function stFile(text: string, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}
function stHeaderEdit(b: Uint8Array, rng: Rng): Uint8Array {
  const { text, data } = stParts(b);
  let header: Record<string, Record<string, unknown>>;
  try {
    header = JSON.parse(text);
  } catch {
    return flipBits(b, rng);
  }
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  if (!names.length) return flipBits(b, rng);
  const name = pick(rng, names);
  const t = header[name];
  const r = int(rng, 12);
  const values = [0, 1, -1, 2, 3, 1.5, 2 ** 53, 2 ** 53 + 2, 1e300, null, "1", [1]];
  if (r === 0) {
    t.dtype = pick(rng, [
      "F32",
      "F16",
      "BF16",
      "F64",
      "I64",
      "U8",
      "BOOL",
      "F8_E4M3",
      "toString",
      "__proto__",
      "constructor",
      3,
    ]);
  } else if (r === 1 && Array.isArray(t.shape)) {
    t.shape[int(rng, t.shape.length + 1)] = pick(rng, values);
  } else if (r === 2 && Array.isArray(t.data_offsets)) {
    t.data_offsets[int(rng, 2)] = pick(rng, values);
  } else if (r === 3) {
    header[pick(rng, ["__proto__", "constructor", "toString", "", "a"])] = { ...t };
  } else if (r === 4) {
    header.__metadata__ = pick(
      rng,
      [{ a: "b" }, { a: 1 }, [], null, { __proto__: "x" }] as never[],
    );
  } else if (r === 6) delete t[pick(rng, ["dtype", "shape", "data_offsets"])];
  else if (r === 7) t.shape = [];
  else if (r === 8) t.data_offsets = [0, 0];
  else if (r === 9) {
    const other = header[pick(rng, names)];
    t.data_offsets = other.data_offsets;
  } else if (r === 10) delete header[name];
  else t.extra = { nested: [[[[1]]]] };
  let json = JSON.stringify(header);
  if (r === 5) {
    const depth = 1 + int(rng, 50_000);
    json = `{"x": ${"[".repeat(depth)}${rng() < 0.5 ? "]".repeat(depth) : ""}, ${json.slice(1)}`;
  }
  return stFile(json + " ".repeat(int(rng, 8)), data);
}
function stLengthField(b: Uint8Array, rng: Rng): Uint8Array {
  const c = b.slice();
  setLE(c, 0, 8, pick(rng, boundaries(b.length - 8)));
  if (rng() < 0.3) c[7] = pick(rng, [0x01, 0x80, 0xff]);
  return c;
}
function stPayload(b: Uint8Array, rng: Rng): Uint8Array {
  const c = b.slice();
  const start = b.length - stParts(b).data.length;
  for (let n = 1 + int(rng, 6); n > 0 && c.length > start; n--) {
    const at = start + int(rng, c.length - start);
    c.set([0x00, 0x00, 0xc0, 0x7f].slice(0, c.length - at), at);
    if (rng() < 0.5 && at + 1 < c.length) c.set([0x80, 0x7f], at);
  }
  return c;
}
const ST_MUTATIONS = [
  ...GENERIC,
  stHeaderEdit,
  stHeaderEdit,
  stHeaderEdit,
  stLengthField,
  stPayload,
];

/** Edits the model configuration of a checkpoint: sizes the tensors cannot back, bad fields. */
function configEdit(b: Uint8Array, rng: Rng): Uint8Array {
  const { text, data } = stParts(b);
  let header: { __metadata__?: Record<string, string> };
  try {
    header = JSON.parse(text);
  } catch {
    return flipBits(b, rng);
  }
  const meta = header.__metadata__ ?? {};
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(meta["jumpsae.config"] ?? "{}");
  } catch {
    config = {};
  }
  const huge = [0, -1, 1.5, 7, 3, 1e5, 1e9, 2 ** 31, 2 ** 53, 1e308, "4", null];
  const r = int(rng, 6);
  if (r === 0) config.nbConcepts = pick(rng, huge);
  else if (r === 1) config.inputShape = pick(rng, [...huge, [1e5, 1e5], [4, 1e6, 1e6], [4], []]);
  else if (r === 2) {
    config.encoderModule = pick(rng, ["mlp_bn_3", "mlp_ln_1", "identity", "linear", "x", 1]);
  } else if (r === 3) config.bandwith = pick(rng, [0, -1, 1e-300, NaN, "x", 1e300]);
  else if (r === 4) config.decoderBias = pick(rng, [true, false, 1]);
  else config.dictionaryParams = pick(rng, [{ useMultiplier: true }, null, { normalization: "x" }]);
  meta["jumpsae.config"] = rng() < 0.1 ? "{" : JSON.stringify(config);
  header.__metadata__ = meta;
  const json = JSON.stringify(header);
  return stFile(json + " ".repeat((8 - (json.length % 8)) % 8), data);
}
const CHECKPOINT_MUTATIONS = [...ST_MUTATIONS, configEdit, configEdit, configEdit, configEdit];

// ---- bases -----------------------------------------------------------------------------------

/** The valid files each format's cases start from. */
export interface Bases {
  npy: Uint8Array[];
  npz: Uint8Array[];
  safetensors: Uint8Array[];
  checkpoint: Uint8Array[];
}

/** Reads the committed fixtures (bytes that never change) and builds a few files of ours. */
export async function loadBases(): Promise<Bases> {
  const read = (name: string) => Deno.readFile(new URL(name, FIXTURES));
  const npy: Uint8Array[] = await Promise.all(
    ["f4_le", "f2_be", "f8_fortran_3d", "i8_le", "f4_v2", "f4_v3", "f4_scalar", "i4_le"].map((n) =>
      read(`${n}.npy`)
    ),
  );
  npy.push(saveNpy({ data: Float32Array.from({ length: 24 }, (_, i) => i - 7.5), shape: [4, 6] }));
  const npz: Uint8Array[] = await Promise.all(
    ["savez.npz", "savez_compressed.npz", "zip64.npz", "savez_positional.npz"].map(read),
  );
  npz.push(await saveNpz({ x: [[1, 2, 3]], ["__proto__"]: [4, 5] }));
  // 4 MB of zeros deflated to a few KB: mutated sizes make decompression bombs
  const zeros = { data: new Float32Array(1 << 20), shape: [1 << 20] };
  npz.push(await saveNpz({ z: zeros, y: [1] }, { compress: true }));
  const safetensors: Uint8Array[] = [await read("hf_mixed.safetensors")];
  safetensors.push(
    saveSafetensors({ a: [[1, 2], [3, 4]], b: { data: [5], shape: [] }, c: [6, 7, 8] }, {
      format: "pt",
    }, { dtypes: { c: "F16" } }),
  );
  const checkpoint: Uint8Array[] = [];
  for (const encoderModule of ["mlp_bn_1", "linear"] as const) {
    const sae = new JumpSAE(4, 6, { encoderModule, device: "reference", seed: 1 });
    checkpoint.push(await saveModel(sae));
    sae.dispose();
  }
  return { npy, npz, safetensors, checkpoint };
}

/** The bytes of case `index` of `format`. */
export function fuzzCase(bases: Bases, format: FuzzFormat, index: number, seed = 12): Uint8Array {
  // .npy cases are the same bytes whole and streamed, so they share numpy's reference.
  const kind = format === "npy-stream" ? "npy" : format;
  const rng = prng((seed * 0x9e3779b1 + index * 0x85ebca6b + kind.length * 7919) >>> 0);
  const pool = bases[kind];
  const mutations = kind === "npy"
    ? NPY_MUTATIONS
    : kind === "npz"
    ? NPZ_MUTATIONS
    : kind === "checkpoint"
    ? CHECKPOINT_MUTATIONS
    : ST_MUTATIONS;
  let bytes = pick(rng, pool);
  for (let n = 1 + int(rng, 3); n > 0; n--) bytes = pick(rng, mutations)(bytes, rng);
  return bytes;
}

/**
 * SHA-256 (hex) of float32 values with every NaN made the quiet NaN 0x7fc00000, so that numpy's
 * and ours compare equal when they agree on which elements are NaN.
 */
export async function digest(data: Float32Array): Promise<string> {
  const copy = new Float32Array(data);
  const bits = new Uint32Array(copy.buffer);
  for (let i = 0; i < copy.length; i++) if (Number.isNaN(copy[i])) bits[i] = 0x7fc00000;
  const hash = await crypto.subtle.digest("SHA-256", copy);
  return [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Messages of engine errors, which must never escape a reader as if they were ours. */
export const ENGINE_ERROR =
  /call stack|Cannot read prop|is not a function|is not iterable|Invalid typed array|Array buffer allocation|out of memory|Invalid array length|is not defined|Cannot convert/i;
