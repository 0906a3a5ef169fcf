import {
  loadSafetensors,
  loadSafetensorsMetadata,
  type SafetensorsWriteDtype,
  saveSafetensors,
} from "../io/safetensors.ts";
import type { OptimizerState } from "../optim/optimizer.ts";
import type { Tensor } from "../tensor.ts";
import { readWhole, writeAtomic } from "./_files.ts";

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
  return saveSafetensors(tensors, {
    format: CHECKPOINT_FORMAT,
    version: "1",
    optimizer: JSON.stringify(optimizer, replacer),
    progress: JSON.stringify(ckpt.progress, replacer),
  }, { dtypes });
}

/** Parses the bytes of `encodeCheckpoint`; anything else is refused with a TypeError. */
export function decodeCheckpoint(bytes: Uint8Array): Checkpoint {
  const meta = loadSafetensorsMetadata(bytes);
  if (meta.format !== CHECKPOINT_FORMAT) {
    throw new TypeError(
      `Expected a ${CHECKPOINT_FORMAT} safetensors file, got format ${JSON.stringify(meta.format)}`,
    );
  }
  const all = loadSafetensors(bytes);
  const pick = (prefix: string) =>
    Object.fromEntries(
      Object.entries(all).filter(([k]) => k.startsWith(prefix)).map((
        [k, v],
      ) => [k.slice(prefix.length), v]),
    );
  const optimizer = JSON.parse(meta.optimizer, reviver);
  return {
    model: pick("model."),
    optimizer: { ...optimizer, buffers: pick("optimizer.") },
    progress: JSON.parse(meta.progress, reviver),
    extra: pick("extra."),
  };
}

/**
 * Writes a checkpoint file atomically (a temporary file renamed over `path`), so that a run
 * killed while saving leaves the previous checkpoint intact.
 *
 * @example
 * ```ts ignore
 * import { saveCheckpoint } from "./checkpoint.ts";
 * await saveCheckpoint("out/run.ckpt.safetensors", checkpoint);
 * ```
 */
export async function saveCheckpoint(path: string, ckpt: Checkpoint): Promise<void> {
  await writeAtomic(path, encodeCheckpoint(ckpt));
}

/**
 * Reads a checkpoint file written by `saveCheckpoint`.
 *
 * @example
 * ```ts ignore
 * import { loadCheckpoint } from "./checkpoint.ts";
 * const { model, optimizer, progress } = await loadCheckpoint("out/run.ckpt.safetensors");
 * ```
 */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  return decodeCheckpoint(await readWhole(path));
}
