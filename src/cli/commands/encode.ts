/**
 * `jumpsae encode`: activations (.npy, or an .npz/.safetensors member, streamed by chunks of
 * rows) to sparse codes (.npz, streamed to disk): the top-k indices and values per token
 * (selected on the backend), or CSR in scipy's `save_npz` layout. A pipeline: chunk n + 1 is
 * read and chunk n − 1 written while chunk n is encoded; the two input buffers are reused.
 *
 * @module
 */

import type { JumpSAE } from "../../jump_sae.ts";
import { formatShape, sizeOf, type Tensor } from "../../tensor.ts";
import { openRowSource } from "../../train/_row_sources.ts";
import { type CommandSpec, formatBytes, UsageError } from "../args.ts";
import { createNpzStreamWriter } from "../npz_stream.ts";
import { Progress } from "../progress.ts";
import {
  chunkRowsFor,
  type CliContext,
  loadCliModel,
  MODEL_OPTIONS,
  residentMemory,
} from "../_common.ts";

/** The command's arguments. */
export const ENCODE: CommandSpec = {
  name: "encode",
  summary:
    "Encode activations (.npy, acts.npz#key, acts.safetensors#key) into sparse codes (.npz), streamed in chunks of rows",
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
      help:
        "Memory for the model and the chunks in flight; sets the rows per chunk. The process takes about 150MB more (Deno, the WASM module and its workers), whatever the file's size",
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
  let source: Awaited<ReturnType<typeof openRowSource>> | undefined;
  let writer: Awaited<ReturnType<typeof createNpzStreamWriter>> | undefined;
  try {
    source = await openRowSource(positionals.activations!);
    const shape = [source.rows, ...source.rowShape];
    checkActivations(shape, sae, positionals.activations!);
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
        4,
        outPerToken * tokensPerRow,
        false,
      );
      chunk = plan.rows;
      budget = ` within --max-memory ${formatBytes(options["max-memory"] as number)} (model ~${
        formatBytes(plan.modelBytes)
      }, ${formatBytes(plan.rowBytes)} per row)`;
    } else if (chunk < 1) throw new UsageError(`--chunk-rows must be >= 1, got ${chunk}`);
    const N = source.rows, tokens = N * tokensPerRow;
    chunk = Math.min(chunk, N);
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
      await writer.append("indptr", new BigInt64Array(1));
    }
    writer.addBytesMember("shape", "<i8", [2], shapeBytes);
    ctx.err(
      `encoding ${N} rows of ${
        formatShape(source.rowShape)
      } (${source.name}) in chunks of ${chunk} rows${budget}`,
    );
    const bar = new Progress("encode", N, "rows", {
      enabled: ctx.progress,
      write: ctx.progressWrite,
    });
    const w = writer, src = source, width = sizeOf(source.rowShape);
    // two input buffers: chunk n + 1 is read into one while chunk n, in the other, is encoded
    const inputs = [new Float32Array(chunk * width), new Float32Array(chunk * width)];
    const read = async (start: number, slot: number): Promise<Tensor> => {
      const n = Math.min(chunk!, N - start);
      await src.read(start, n, inputs[slot], 0);
      return { data: inputs[slot].subarray(0, n * width), shape: [n, ...source!.rowShape] };
    };
    let nnzTotal = 0, peak = residentMemory(), chunks = 0;
    const began = performance.now();
    let next: Promise<Tensor> | undefined = read(0, 0);
    let written: Promise<unknown> = Promise.resolve();
    for (let start = 0, slot = 0; start < N; start += chunk, slot ^= 1) {
      const x = await next!;
      next = start + chunk < N ? read(start + chunk, slot ^ 1) : undefined;
      next?.catch(() => {}); // surfaces when awaited
      let parts: [string, Float32Array | Int32Array | BigInt64Array][];
      if (csr) {
        const { codes } = await sae.encode(x);
        const { data, indices, indptr, nnz } = toCsr(codes.data, codes.shape[0], C, nnzTotal);
        nnzTotal += nnz;
        parts = [["data", data], ["indices", indices], ["indptr", indptr]];
      } else {
        const top = await sae.encodeTopK(x, k);
        for (const n of top.nnz.data) nnzTotal += n;
        parts = [["indices", Int32Array.from(top.indices.data)], ["values", top.values.data]];
      }
      await written; // chunk n − 1 is on disk before chunk n is queued
      written = Promise.all(parts.map(([name, values]) => w.append(name, values)));
      written.catch(() => {});
      chunks++;
      peak = Math.max(peak, residentMemory());
      bar.update(
        start + x.shape[0],
        `L0 ${(nnzTotal / Math.max(1, (start + x.shape[0]) * tokensPerRow)).toFixed(1)}`,
      );
    }
    await written;
    bar.done();
    await writer.close();
    writer = undefined;
    const seconds = (performance.now() - began) / 1000;
    const size = (await Deno.stat(output)).size;
    ctx.out(
      `wrote ${output} (${formatBytes(size)}): ${
        csr ? `CSR, ${nnzTotal} non-zeros` : `top-${k}`
      } for ${tokens} tokens × ${C} concepts; ` +
        `mean L0 ${(nnzTotal / Math.max(1, tokens)).toFixed(3)}; ${chunks} chunk${
          chunks === 1 ? "" : "s"
        } of ≤ ${chunk} rows; peak RSS ${formatBytes(peak)}; ${seconds.toFixed(2)} s, ${
          Math.round(N / seconds)
        } rows/s`,
    );
    return 0;
  } finally {
    await writer?.abort();
    await source?.close();
    sae.dispose();
  }
}

/** CSR of dense codes [T, C]: non-zeros in row-major order; indptr continues from `base`. */
export function toCsr(
  codes: Float32Array,
  T: number,
  C: number,
  base: number,
): { data: Float32Array; indices: Int32Array; indptr: BigInt64Array; nnz: number } {
  let nnz = 0;
  for (let i = 0; i < T * C; i++) if (codes[i] !== 0) nnz++;
  const data = new Float32Array(nnz), indices = new Int32Array(nnz);
  const indptr = new BigInt64Array(T);
  let j = 0;
  for (let t = 0; t < T; t++) {
    for (let c = 0, at = t * C; c < C; c++, at++) {
      if (codes[at] !== 0) {
        data[j] = codes[at];
        indices[j++] = c;
      }
    }
    indptr[t] = BigInt(base + j);
  }
  return { data, indices, indptr, nnz };
}
