/**
 * What the commands share: the I/O context, model loading options, memory budgets.
 *
 * @module
 */

import type { Device } from "../backends/select.ts";
import type { JumpSAE } from "../jump_sae.ts";
import { loadPretrained, type PretrainedFormat } from "../pretrained/load_pretrained.ts";
import type { PretrainedSource } from "../pretrained/sources.ts";
import { formatBytes, type OptionSpec, UsageError } from "./args.ts";

/** Where a command writes: results to `out`, progress and notes to `err`. */
export interface CliContext {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Force the progress bar on or off (default: when stderr is a terminal). */
  progress?: boolean;
  /** Where the progress bar draws (default: stderr). */
  progressWrite?: (text: string) => void;
}

/** Options every command that runs a model takes. */
export const MODEL_OPTIONS: Record<string, OptionSpec> = {
  device: {
    kind: "string",
    help: "Backend",
    choices: ["auto", "cpu", "webgpu", "reference"],
    default: "auto",
  },
  threads: { kind: "integer", help: "Worker threads of the cpu backend (default: the cores)" },
  format: {
    kind: "string",
    help: "Model format (default: detected)",
    choices: ["jumpsae", "saelens", "gemma-scope", "state-dict"],
  },
  "norm-scaling-factor": {
    kind: "number",
    help: "SAELens expected_average_only_in: the factor to fold in",
  },
};

/** Loads the model a command names, with the common options. */
export async function loadCliModel(
  source: PretrainedSource,
  options: Record<string, unknown>,
): Promise<JumpSAE> {
  const threads = options.threads as number | undefined;
  if (threads !== undefined && threads < 1) {
    throw new UsageError(`--threads must be >= 1, got ${threads}`);
  }
  return await loadPretrained(source, {
    device: options.device as Device,
    threads,
    format: options.format as PretrainedFormat | undefined,
    normScalingFactor: options["norm-scaling-factor"] as number | undefined,
  });
}

/** Bytes one element of a numpy dtype takes (`<f4` → 4). */
export function itemSize(dtype: string): number {
  return Number(/(\d+)$/.exec(dtype)?.[1] ?? 4);
}

/**
 * Rows per chunk so that a chunk's buffers fit in `maxMemory` next to the model: per row the
 * raw file bytes, the float32 input, the device input, pre-codes and codes, their host copies,
 * the reconstruction (`withReconstruction`) and `outputPerRow` bytes of results, three times
 * (backend staging copies and the previous chunk's garbage, as measured). The runtime itself
 * (about 60 MiB for Deno) is not counted.
 *
 * @returns Rows per chunk and the estimate used.
 */
export function chunkRowsFor(
  maxMemory: number,
  sae: JumpSAE,
  fileItemSize: number,
  outputPerRow: number,
  withReconstruction: boolean,
): { rows: number; modelBytes: number; rowBytes: number } {
  const D = sae.dim, C = sae.nbConcepts;
  let params = 0;
  for (const { parameter } of sae.parameters()) params += parameter.size;
  // host initial copies, device values and gradients, and the fused dictionary
  const modelBytes = 4 * (3 * params + C * D);
  // ×3, measured: the backend's staging copies, and the previous chunk's arrays that may still
  // await garbage collection when the next is read
  const rowBytes = 3 *
    (fileItemSize * D + 4 * (2 * D + 4 * C) + (withReconstruction ? 8 * D : 0) + outputPerRow);
  const rows = Math.floor((maxMemory - modelBytes) / rowBytes);
  if (rows < 1) {
    throw new UsageError(
      `--max-memory ${formatBytes(maxMemory)} is too small: the model takes about ${
        formatBytes(modelBytes)
      } ` +
        `and one row ${formatBytes(rowBytes)}, expected at least ${
          formatBytes(modelBytes + rowBytes)
        }`,
    );
  }
  return { rows, modelBytes, rowBytes };
}

/** Resident memory of this process in bytes (0 where unknown). */
export function residentMemory(): number {
  try {
    return Deno.memoryUsage().rss;
  } catch {
    return 0;
  }
}
