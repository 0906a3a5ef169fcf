import {
  loadSafetensors,
  loadSafetensorsMetadata,
  type SafetensorsWriteDtype,
  saveSafetensors,
} from "../io/safetensors.ts";
import type { OptimizerState } from "../optim/optimizer.ts";
import type { Tensor } from "../tensor.ts";
import { exists, previousPath, readWhole, writeAtomic } from "./_files.ts";
import { crc32Update } from "../io/_crc32.ts";
import { FormatError } from "../errors.ts";

/** Identifies a jumpsae training checkpoint in the safetensors metadata. */
export const CHECKPOINT_FORMAT = "jumpsae-checkpoint";

/** Everything a training run needs to continue exactly where it stopped. */
export interface Checkpoint {
  /** The model's `stateDict()`. */
  model: Record<string, Tensor>;
  /** The optimizer's `stateDict()`. */
  optimizer: OptimizerState;
  /** JSON-serialisable position of the run: epoch, batch, scheduler, data order, logs… */
  progress: Record<string, unknown>;
  /** Extra tensors (e.g. the dead-code tracker). */
  extra?: Record<string, Tensor>;
}

// JSON cannot hold NaN or ±Infinity; the logs can.
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "number" && !Number.isFinite(value)) return { $float: String(value) };
  return value;
}
function reviver(_key: string, value: unknown): unknown {
  if (value && typeof value === "object" && "$float" in value && Object.keys(value).length === 1) {
    return Number((value as { $float: string }).$float);
  }
  return value;
}

/**
 * Serialises a checkpoint as safetensors: tensors `model.*`, `optimizer.*`, `extra.*`, and the
 * optimizer's hyper-parameters and the run's progress as JSON metadata.
 *
 * @example Round trip in memory
 * ```ts
 * import { decodeCheckpoint, encodeCheckpoint } from "./checkpoint.ts";
 * const bytes = encodeCheckpoint({
 *   model: { w: { data: new Float32Array([1, 2]), shape: [2] } },
 *   optimizer: { kind: "SGD", step: 0, hyper: { lr: 0.1 }, buffers: {} },
 *   progress: { epoch: 1 },
 * });
 * console.log(decodeCheckpoint(bytes).progress); // { epoch: 1 }
 * ```
 */
export function encodeCheckpoint(ckpt: Checkpoint): Uint8Array {
  const tensors: Record<string, Tensor> = {};
  const dtypes: Record<string, SafetensorsWriteDtype> = {};
  for (const [k, t] of Object.entries(ckpt.model)) {
    tensors[`model.${k}`] = t;
    if (k.endsWith("num_batches_tracked")) dtypes[`model.${k}`] = "I64";
  }
  for (const [k, t] of Object.entries(ckpt.optimizer.buffers)) tensors[`optimizer.${k}`] = t;
  for (const [k, t] of Object.entries(ckpt.extra ?? {})) tensors[`extra.${k}`] = t;
  const { buffers: _, ...optimizer } = ckpt.optimizer;
  const bytes = saveSafetensors(tensors, {
    format: CHECKPOINT_FORMAT,
    version: "2",
    checksum: `crc32:${UNSET}`,
    optimizer: JSON.stringify(optimizer, replacer),
    progress: JSON.stringify(ckpt.progress, replacer),
  }, { dtypes });
  const at = checksumOffset(bytes);
  new TextEncoder().encodeInto(
    fileCrc(bytes, at).toString(16).padStart(8, "0"),
    bytes.subarray(at),
  );
  return bytes;
}

/** The checksum's 8 hex digits are written over these, after the CRC is taken with them. */
const UNSET = "00000000";
const CHECKSUM_KEY = new TextEncoder().encode('"checksum":"crc32:');

/**
 * Offset of the checksum's hex digits in the header (a JSON string value cannot hold the
 * unescaped quotes of this pattern, so its first match is the key itself), or -1.
 */
function checksumOffset(bytes: Uint8Array): number {
  const length = new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true);
  const end = Math.min(bytes.length, 8 + Number(length));
  outer: for (let i = 8; i + CHECKSUM_KEY.length + 8 <= end; i++) {
    for (let k = 0; k < CHECKSUM_KEY.length; k++) {
      if (bytes[i + k] !== CHECKSUM_KEY[k]) continue outer;
    }
    return i + CHECKSUM_KEY.length;
  }
  return -1;
}

/** CRC-32 of the whole file with its checksum digits (at `at`) read as "00000000". */
function fileCrc(bytes: Uint8Array, at: number): number {
  let crc = crc32Update(0, bytes.subarray(0, at));
  crc = crc32Update(crc, new TextEncoder().encode(UNSET));
  return crc32Update(crc, bytes.subarray(at + 8));
}

/**
 * Parses the bytes of `encodeCheckpoint`. A file of another kind is refused with a TypeError; a
 * damaged one (its CRC-32 differs from the one it records, or its JSON is broken) with a
 * `FormatError`.
 */
export function decodeCheckpoint(bytes: Uint8Array, name = "checkpoint"): Checkpoint {
  const meta = loadSafetensorsMetadata(bytes);
  if (meta.checksum !== undefined) {
    const at = checksumOffset(bytes);
    const recorded = at < 0 ? "" : new TextDecoder().decode(bytes.subarray(at, at + 8));
    const actual = at < 0 ? "none" : fileCrc(bytes, at).toString(16).padStart(8, "0");
    if (recorded !== actual || meta.checksum !== `crc32:${recorded}`) {
      throw new FormatError(
        `${name} has CRC-32 ${actual}, expected the ${meta.checksum} it records (the file is corrupt)`,
        { file: name, offset: at },
      );
    }
  }
  if (meta.format !== CHECKPOINT_FORMAT) {
    throw new TypeError(
      `Expected a ${CHECKPOINT_FORMAT} safetensors file, got format ${JSON.stringify(meta.format)}`,
    );
  }
  const parse = (key: "optimizer" | "progress") => {
    try {
      return JSON.parse(meta[key], reviver);
    } catch (error) {
      throw new FormatError(`${name} has a broken ${key} record: ${(error as Error).message}`, {
        file: name,
        member: key,
      });
    }
  };
  const all = loadSafetensors(bytes);
  const pick = (prefix: string) =>
    Object.fromEntries(
      Object.entries(all).filter(([k]) => k.startsWith(prefix)).map((
        [k, v],
      ) => [k.slice(prefix.length), v]),
    );
  const optimizer = parse("optimizer");
  return {
    model: pick("model."),
    optimizer: { ...optimizer, buffers: pick("optimizer.") },
    progress: parse("progress"),
    extra: pick("extra."),
  };
}

/**
 * Writes a checkpoint file durably and atomically (a temporary file, flushed, renamed over
 * `path`, the folder flushed), keeping the one it replaces as `<path>.prev`, so that a run
 * killed while saving — or a checkpoint found damaged later — leaves a good one to resume from.
 * Temporary files left by a killed save are removed.
 *
 * @example
 * ```ts ignore
 * import { saveCheckpoint } from "./checkpoint.ts";
 * await saveCheckpoint("out/run.ckpt.safetensors", checkpoint);
 * ```
 */
export async function saveCheckpoint(path: string, ckpt: Checkpoint): Promise<void> {
  await writeAtomic(path, encodeCheckpoint(ckpt), { keepPrevious: true });
}

/**
 * Reads a checkpoint file written by `saveCheckpoint`. When it is damaged (a `FormatError`: its
 * bytes do not match its checksum, or it is truncated), the error is reported on the console and
 * the previous checkpoint `<path>.prev` is used if it is sound; otherwise the error is thrown.
 *
 * @example
 * ```ts ignore
 * import { loadCheckpoint } from "./checkpoint.ts";
 * const { model, optimizer, progress } = await loadCheckpoint("out/run.ckpt.safetensors");
 * ```
 */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  try {
    return decodeCheckpoint(await readWhole(path), `checkpoint ${path}`);
  } catch (error) {
    const previous = previousPath(path);
    if (!(error instanceof FormatError) || !await exists(previous)) throw error;
    let ckpt: Checkpoint;
    try {
      ckpt = decodeCheckpoint(await readWhole(previous), `checkpoint ${previous}`);
    } catch {
      throw error;
    }
    console.error(`${error.message}; resuming from the previous checkpoint ${previous}`);
    return ckpt;
  }
}
