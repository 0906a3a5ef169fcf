/**
 * `jumpsae encode`: activations (.npy, streamed by chunks of rows with `openNpy`) to sparse
 * codes (.npz, streamed to disk): the top-k indices and values per token, or CSR in scipy's
 * `save_npz` layout.
 *
 * @module
 */

import { openNpy } from "../../io/npy.ts";
import type { JumpSAE } from "../../jump_sae.ts";
import { formatShape } from "../../tensor.ts";
import { type CommandSpec, formatBytes, UsageError } from "../args.ts";
import { createNpzStreamWriter } from "../npz_stream.ts";
import { Progress } from "../progress.ts";
import {
  chunkRowsFor,
  type CliContext,
  itemSize,
  loadCliModel,
  MODEL_OPTIONS,
  residentMemory,
} from "../_common.ts";

/** The command's arguments. */
export const ENCODE: CommandSpec = {
  name: "encode",
  summary: "Encode activations (.npy) into sparse codes (.npz), streamed in chunks of rows",
  positionals: ["model", "activations"],
  options: {
    output: { kind: "string", alias: "o", help: "Output .npz", meta: "PATH" },
    "top-k": {
      kind: "integer",
      alias: "k",
      help:
        "Keep the k largest codes per token (indices -1 and values 0 pad rows with fewer; default min(32, concepts))",
    },
    csr: {
      kind: "boolean",
      help:
        "Write every non-zero code as CSR (data, indices, indptr, shape, format: scipy.sparse.load_npz reads it)",
    },
    "max-memory": {
      kind: "bytes",
      help: "Memory for the model and one chunk; sets the rows per chunk",
      default: "512MB",
      meta: "SIZE",
    },
    "chunk-rows": { kind: "integer", help: "Rows per chunk (overrides --max-memory)" },
    ...MODEL_OPTIONS,
  },
  epilog:
    "Examples:\n  jumpsae encode model.safetensors acts.npy -o codes.npz --top-k 64 --max-memory 256MB\n" +
    "  jumpsae encode saelens_dir/ acts.npy -o codes.npz --csr\n\n" +
    "Top-k output: indices [tokens, k] int32, values [tokens, k] float32 (descending), shape [tokens, concepts] int64.",
};

/** Top-k of one row of codes: indices by descending value (ties: lower index first), −1 padded. */
export function topKRow(
  codes: Float32Array,
  offset: number,
  C: number,
  k: number,
  indices: Int32Array,
  values: Float32Array,
  at: number,
): number {
  const nz: number[] = [];
  for (let c = 0; c < C; c++) if (codes[offset + c] !== 0) nz.push(c);
  nz.sort((a, b) => codes[offset + b] - codes[offset + a] || a - b);
  const n = Math.min(k, nz.length);
  for (let j = 0; j < k; j++) {
    indices[at + j] = j < n ? nz[j] : -1;
    values[at + j] = j < n ? codes[offset + nz[j]] : 0;
  }
  return nz.length;
}

/** Checks that an activations file fits a model: [rows, ...inputShape]. */
export function checkActivations(shape: readonly number[], sae: JumpSAE, path: string): void {
  const ok = shape.length === sae.inputShape.length + 1 &&
    sae.inputShape.every((d, i) => shape[i + 1] === d);
  if (!ok) {
    throw new RangeError(
      `${path} has shape ${formatShape(shape)}, expected [rows, ${
        sae.inputShape.join(", ")
      }] for this model`,
    );
  }
}

/** Runs `encode`. */
export async function runEncode(
  positionals: Record<string, string | undefined>,
  options: Record<string, unknown>,
  ctx: CliContext,
): Promise<number> {
  const output = options.output as string | undefined;
  if (!output) throw new UsageError("encode needs --output PATH, got none");
  const csr = options.csr === true;
  const sae = await loadCliModel(positionals.model!, options);
  const reader = await openNpy(positionals.activations!);
  let writer: Awaited<ReturnType<typeof createNpzStreamWriter>> | undefined;
  try {
    checkActivations(reader.shape, sae, positionals.activations!);
    const C = sae.nbConcepts;
    const k = (options["top-k"] as number | undefined) ?? Math.min(32, C);
    if (!csr && (k < 1 || k > C)) {
      throw new UsageError(`--top-k must be between 1 and ${C} (the concepts), got ${k}`);
    }
    const tokensPerRow = sae.inputShape.length === 1
      ? 1
      : sae.inputShape.reduce((a, b) => a * b, 1) / sae.dim;
    const outPerToken = csr ? 8 * C : 8 * k;
    let chunk = options["chunk-rows"] as number | undefined;
    let budget = "";
    if (chunk === undefined) {
      const plan = chunkRowsFor(
        options["max-memory"] as number,
        sae,
        itemSize(reader.dtype),
        outPerToken * tokensPerRow,
        false,
      );
      chunk = plan.rows;
      budget = ` within --max-memory ${formatBytes(options["max-memory"] as number)} (model ~${
        formatBytes(plan.modelBytes)
      }, ${formatBytes(plan.rowBytes)} per row)`;
    } else if (chunk < 1) throw new UsageError(`--chunk-rows must be >= 1, got ${chunk}`);
    const N = reader.rows, tokens = N * tokensPerRow;
    writer = await createNpzStreamWriter(
      output,
      csr
        ? {
          data: { dtype: "<f4", rowShape: [] },
          indices: { dtype: "<i4", rowShape: [] },
          indptr: { dtype: "<i8", rowShape: [] },
        }
        : { indices: { dtype: "<i4", rowShape: [k] }, values: { dtype: "<f4", rowShape: [k] } },
      output.includes("/") ? output.slice(0, output.lastIndexOf("/")) || "/" : ".",
    );
    const shapeBytes = new Uint8Array(new BigInt64Array([BigInt(tokens), BigInt(C)]).buffer);
    if (csr) {
      writer.addBytesMember("format", "|S3", [], new TextEncoder().encode("csr"));
      await writer.append("indptr", [0]);
    }
    writer.addBytesMember("shape", "<i8", [2], shapeBytes);
    ctx.err(
      `encoding ${N} rows of ${
        formatShape(reader.shape.slice(1))
      } (${reader.dtype}) in chunks of ${chunk} rows${budget}`,
    );
    const bar = new Progress("encode", N, "rows", {
      enabled: ctx.progress,
      write: ctx.progressWrite,
    });
    let nnzTotal = 0, peak = residentMemory(), chunks = 0;
    for (let start = 0; start < N; start += chunk) {
      const n = Math.min(chunk, N - start);
      const x = await reader.readRows(start, n);
      const { codes } = await sae.encode(x);
      const T = codes.shape[0];
      if (csr) {
        const data: number[] = [], indices: number[] = [], indptr: number[] = [];
        for (let t = 0; t < T; t++) {
          for (let c = 0; c < C; c++) {
            const v = codes.data[t * C + c];
            if (v !== 0) {
              data.push(v);
              indices.push(c);
            }
          }
          indptr.push(nnzTotal + data.length);
        }
        nnzTotal += data.length;
        await writer.append("data", data);
        await writer.append("indices", indices);
        await writer.append("indptr", indptr);
      } else {
        const indices = new Int32Array(T * k), values = new Float32Array(T * k);
        for (let t = 0; t < T; t++) {
          nnzTotal += topKRow(codes.data, t * C, C, k, indices, values, t * k);
        }
        await writer.append("indices", indices);
        await writer.append("values", values);
      }
      chunks++;
      peak = Math.max(peak, residentMemory());
      bar.update(
        start + n,
        `L0 ${(nnzTotal / Math.max(1, (start + n) * tokensPerRow)).toFixed(1)}`,
      );
    }
    bar.done();
    await writer.close();
    writer = undefined;
    const size = (await Deno.stat(output)).size;
    ctx.out(
      `wrote ${output} (${formatBytes(size)}): ${
        csr ? `CSR, ${nnzTotal} non-zeros` : `top-${k}`
      } for ${tokens} tokens × ${C} concepts; ` +
        `mean L0 ${(nnzTotal / Math.max(1, tokens)).toFixed(3)}; ${chunks} chunk${
          chunks === 1 ? "" : "s"
        } of ≤ ${Math.min(chunk, N)} rows; peak RSS ${formatBytes(peak)}`,
    );
    return 0;
  } finally {
    await writer?.abort();
    await reader.close();
    sae.dispose();
  }
}
