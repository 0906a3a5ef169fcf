/**
 * The oracle of the fuzz suite: what our readers make of a case, what the reference makes of
 * it (numpy's results for .npy and .npz, the safetensors rules for safetensors, the file's own
 * tensors for a model checkpoint), and the verdict. A case passes when it is loaded and equal to
 * the reference, or refused with the library's `FormatError` (or a documented refusal); it fails
 * when anything else escapes, or when what was loaded differs from the reference.
 */

import { FormatError } from "../src/errors.ts";
import { loadNpy, openNpy } from "../src/io/npy.ts";
import { loadNpz } from "../src/io/npz.ts";
import { loadSafetensors } from "../src/io/safetensors.ts";
import { loadModel } from "../src/pretrained/checkpoint.ts";
import { digest, ENGINE_ERROR, fuzzCase, type FuzzFormat, loadBases, TEST_CASES } from "./_fuzz.ts";

/** Arrays by name: shape and digest of the float32 values. */
export type Arrays = Record<string, [number[], string]>;
/** numpy's (or the rules') reading of a case: arrays, or a refusal. */
export type Reference =
  | { ok: true; arrays: Arrays; bytes?: string }
  | { ok: false; error?: string; bytes?: string };

/** What our reader did. */
export type Outcome =
  | { kind: "loaded"; arrays: Arrays }
  | { kind: "refused"; message: string }
  | { kind: "escaped"; message: string };

/** The verdict of one case. */
export type Verdict =
  | "loaded-equal"
  | "refused"
  | "refused-but-reference-loads"
  | "escaped"
  | "loaded-but-reference-refuses"
  | "loaded-different";

/** Verdicts that fail the suite. */
export const FAILURES: readonly Verdict[] = [
  "escaped",
  "loaded-but-reference-refuses",
  "loaded-different",
];

async function arraysOf(dict: Record<string, { data: Float32Array; shape: readonly number[] }>) {
  const out: Arrays = {};
  for (const name of Object.keys(dict)) {
    out[name] = [[...dict[name].shape], await digest(dict[name].data)];
  }
  return out;
}

/** Runs our reader of `format` on `bytes` (`dir`: a scratch folder for streamed files). */
export async function ours(format: FuzzFormat, bytes: Uint8Array, dir: string): Promise<Outcome> {
  try {
    if (format === "npy") {
      const t = loadNpy(bytes);
      return { kind: "loaded", arrays: { "": [[...t.shape], await digest(t.data)] } };
    }
    if (format === "npy-stream") return await streamed(bytes, dir);
    if (format === "npz") return { kind: "loaded", arrays: await arraysOf(await loadNpz(bytes)) };
    if (format === "safetensors") {
      return { kind: "loaded", arrays: await arraysOf(loadSafetensors(bytes)) };
    }
    return await checkpoint(bytes);
  } catch (error) {
    return classify(format, error);
  }
}

function classify(format: FuzzFormat, error: unknown): Outcome {
  const message = String((error as Error)?.message ?? error);
  if (error instanceof FormatError) return { kind: "refused", message };
  // Documented refusals that are not about damage: streaming a scalar or a Fortran array,
  // and a checkpoint whose (well-formed) configuration or tensors do not make a model.
  const documented = format === "npy-stream"
    ? error instanceof RangeError && /scalar|C order/.test(message)
    : format === "checkpoint"
    ? (error instanceof TypeError || error instanceof RangeError) && !ENGINE_ERROR.test(message)
    : false;
  return documented ? { kind: "refused", message } : { kind: "escaped", message: `${error}` };
}

async function streamed(bytes: Uint8Array, dir: string): Promise<Outcome> {
  const path = `${dir}/case.npy`;
  await Deno.writeFile(path, bytes);
  const reader = await openNpy(path);
  try {
    const half = Math.floor(reader.rows / 2);
    const a = await reader.readRows(0, half);
    const b = await reader.readRows(half, reader.rows - half);
    const data = new Float32Array(a.data.length + b.data.length);
    data.set(a.data);
    data.set(b.data, a.data.length);
    return { kind: "loaded", arrays: { "": [[...reader.shape], await digest(data)] } };
  } finally {
    await reader.close();
  }
}

/**
 * A checkpoint that loads must hold exactly the tensors of its file (the dictionary's atoms are
 * re-projected on load, as in the seed: only their shape is compared) and encode a batch.
 */
async function checkpoint(bytes: Uint8Array): Promise<Outcome> {
  const sae = await loadModel(bytes, { device: "reference" });
  try {
    const state = await arraysOf(await sae.stateDict());
    const file = await arraysOf(loadSafetensors(bytes));
    const key = "dictionary._weights";
    if (state[key] && file[key]) state[key][1] = file[key][1];
    const dim = sae.inputShape.reduce((a, b) => a * b, 1);
    if (dim <= 1 << 20) {
      await sae.encode({ data: new Float32Array(2 * dim), shape: [2, ...sae.inputShape] });
    }
    const same = JSON.stringify(sortKeys(state)) === JSON.stringify(sortKeys(file));
    if (!same) return { kind: "loaded", arrays: { mismatch: [[], "state dict differs"] } };
    return { kind: "loaded", arrays: file };
  } finally {
    sae.dispose();
  }
}

function sortKeys(arrays: Arrays): [string, [number[], string]][] {
  return Object.entries(arrays).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The verdict of a case, given our outcome and the reference. */
export function verdict(outcome: Outcome, reference: Reference): Verdict {
  if (outcome.kind === "escaped") return "escaped";
  if (outcome.kind === "refused") return reference.ok ? "refused-but-reference-loads" : "refused";
  if (!reference.ok) return "loaded-but-reference-refuses";
  const same =
    JSON.stringify(sortKeys(outcome.arrays)) === JSON.stringify(sortKeys(reference.arrays));
  return same ? "loaded-equal" : "loaded-different";
}

// ---- the safetensors rules (Hugging Face's format description), written independently --------

const SIZES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  U64: 8,
  I32: 4,
  U32: 4,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

function element(view: DataView, at: number, dtype: string): number {
  switch (dtype) {
    case "F64":
      return view.getFloat64(at, true);
    case "F32":
      return view.getFloat32(at, true);
    case "F16": {
      const h = view.getUint16(at, true);
      const e = (h >> 10) & 31, m = h & 1023, s = h & 0x8000 ? -1 : 1;
      return e === 0
        ? s * m * 2 ** -24
        : e === 31
        ? (m ? NaN : s * Infinity)
        : s * (1 + m / 1024) * 2 ** (e - 15);
    }
    case "BF16":
      return new Float32Array(new Uint32Array([view.getUint16(at, true) << 16]).buffer)[0];
    case "I64":
      return Number(view.getBigInt64(at, true));
    case "U64":
      return Number(view.getBigUint64(at, true));
    case "I32":
      return view.getInt32(at, true);
    case "U32":
      return view.getUint32(at, true);
    case "I16":
      return view.getInt16(at, true);
    case "U16":
      return view.getUint16(at, true);
    case "I8":
      return view.getInt8(at);
    case "U8":
      return view.getUint8(at);
    default:
      return view.getUint8(at) ? 1 : 0;
  }
}

/**
 * The safetensors rules: an 8-byte length of at most 100 MB, a UTF-8 JSON object starting with
 * `{`, tensors of a known dtype, a shape of non-negative integers and `data_offsets` within the
 * data, whose length is dtype size × elements, tiling the data from 0 to its end without gap or
 * overlap; `__metadata__` a map of strings. Values are decoded independently of the reader.
 */
export async function safetensorsRules(bytes: Uint8Array): Promise<Reference> {
  const no = (error: string): Reference => ({ ok: false, error });
  if (bytes.length < 8) return no("short");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > 100_000_000n || 8n + n > BigInt(bytes.length)) return no("header length");
  const end = 8 + Number(n);
  let header: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, end));
    if (!text.startsWith("{")) return no("header start");
    header = JSON.parse(text);
  } catch {
    return no("json");
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) return no("not an object");
  const tensors: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] =
    [];
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (!info || typeof info !== "object" || Array.isArray(info)) return no("metadata");
      if (!Object.values(info).every((v) => typeof v === "string")) return no("metadata value");
      continue;
    }
    if (!info || typeof info !== "object" || Array.isArray(info)) return no("entry");
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof dtype !== "string" || !Object.hasOwn(SIZES, dtype)) return no("dtype");
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      return no("shape");
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
    ) return no("offsets");
    const count = shape.reduce((a: number, d: number) => a * d, 1);
    if (offsets[1] < offsets[0] || offsets[1] - offsets[0] !== count * SIZES[dtype]) {
      return no("size");
    }
    tensors.push({ name, dtype, shape, begin: offsets[0], end: offsets[1] });
  }
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const t of sorted) {
    if (t.begin !== at) return no("tiling");
    at = t.end;
  }
  if (at !== bytes.length - end) return no("data length");
  const arrays: Arrays = {};
  for (const t of tensors) {
    const size = SIZES[t.dtype];
    const values = new Float32Array((t.end - t.begin) / size);
    for (let i = 0; i < values.length; i++) {
      values[i] = element(view, end + t.begin + i * size, t.dtype);
    }
    arrays[t.name] = [t.shape, await digest(values)];
  }
  return { ok: true, arrays };
}

const NUMPY_REFERENCE = new URL("./fixtures/fuzz/numpy_reference.json", import.meta.url);

async function sha256(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return [...hash].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Runs the test suite's cases of `format`: the committed numpy reference for .npy and .npz
 * (each case's bytes must be those numpy read), the rules for safetensors, the file's own
 * tensors for checkpoints. Returns the count of each verdict and a line per failing case.
 */
export async function fuzzSuite(format: FuzzFormat, count = TEST_CASES) {
  const bases = await loadBases();
  const kind = format === "npy-stream" ? "npy" : format;
  const numpy = kind === "npy" || kind === "npz"
    ? JSON.parse(await Deno.readTextFile(NUMPY_REFERENCE))[kind] as Record<string, Reference>
    : {};
  const dir = await Deno.makeTempDir({ prefix: "jumpsae_fuzz_" });
  const counts: Partial<Record<Verdict, number>> = {};
  const failures: string[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const bytes = fuzzCase(bases, format, i);
      let reference: Reference;
      if (kind === "npy" || kind === "npz") {
        reference = numpy[String(i)];
        if (reference?.bytes !== await sha256(bytes)) {
          throw new Error(
            `case ${i} is not the file numpy read: run deno task fuzz --write-reference`,
          );
        }
      } else if (kind === "safetensors") reference = await safetensorsRules(bytes);
      else reference = { ok: true, arrays: {} };
      const outcome = await ours(format, bytes, dir);
      const v = kind === "checkpoint"
        ? (outcome.kind === "escaped"
          ? "escaped"
          : outcome.kind === "refused"
          ? "refused"
          : "mismatch" in outcome.arrays
          ? "loaded-different"
          : "loaded-equal")
        : verdict(outcome, reference);
      counts[v] = (counts[v] ?? 0) + 1;
      if (FAILURES.includes(v)) {
        failures.push(`case ${i}: ${v}${outcome.kind === "loaded" ? "" : ` ${outcome.message}`}`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return { counts, failures };
}
