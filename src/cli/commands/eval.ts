/**
 * `jumpsae eval`: R², MSE, L0 and dead features of a model on a held-out `.npy`, streamed.
 *
 * @module
 */

import { sizeOf, type Tensor } from "../../tensor.ts";
import { openRowSource } from "../../train/_row_sources.ts";
import { type CommandSpec, formatBytes, UsageError } from "../args.ts";
import { Progress } from "../progress.ts";
import {
  chunkRowsFor,
  type CliContext,
  loadCliModel,
  MODEL_OPTIONS,
  residentMemory,
} from "../_common.ts";
import { checkActivations } from "./encode.ts";

/** The command's arguments. */
export const EVAL: CommandSpec = {
  name: "eval",
  summary:
    "Measure R², MSE, L0 and dead features of a model on held-out activations (.npy, acts.npz#key, acts.safetensors#key)",
  positionals: ["model", "activations"],
  options: {
    json: { kind: "boolean", help: "Print one JSON object" },
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
    "R² is the seed library's r2_score over the whole file: 1 − mean((x − x̂)²) / (mean((x − mean(x))²) + 1e-6),\n" +
    "with mean(x) the mean of all elements. Dead features never fire on the file.",
};

/** The metrics `eval` reports. */
export interface EvalReport {
  tokens: number;
  r2: number;
  mse: number;
  l0: number;
  deadFeatures: number;
  deadFraction: number;
  concepts: number;
}

/** Runs `eval`. */
export async function runEval(
  positionals: Record<string, string | undefined>,
  options: Record<string, unknown>,
  ctx: CliContext,
): Promise<number> {
  const sae = await loadCliModel(positionals.model!, options);
  let reader: Awaited<ReturnType<typeof openRowSource>> | undefined;
  try {
    reader = await openRowSource(positionals.activations!);
    checkActivations([reader.rows, ...reader.rowShape], sae, positionals.activations!);
    if (sae.inputShape.length === 3) {
      throw new UsageError(
        `eval needs a model of inputShape dim or [seq, dim], got [${sae.inputShape.join(", ")}]`,
      );
    }
    const C = sae.nbConcepts, D = sae.dim;
    let chunk = options["chunk-rows"] as number | undefined;
    if (chunk === undefined) {
      chunk = chunkRowsFor(options["max-memory"] as number, sae, 4, 0, true).rows;
    } else if (chunk < 1) throw new UsageError(`--chunk-rows must be >= 1, got ${chunk}`);
    const N = reader.rows;
    let res = 0, sx = 0, sxx = 0, n = 0, active = 0, tokens = 0, peak = residentMemory();
    const fired = new Uint8Array(C);
    const bar = new Progress("eval", N, "rows", {
      enabled: ctx.progress,
      write: ctx.progressWrite,
    });
    chunk = Math.min(chunk, N);
    // two input buffers: chunk n + 1 is read into one while chunk n, in the other, is evaluated
    const src = reader, width = sizeOf(reader.rowShape);
    const inputs = [new Float32Array(chunk * width), new Float32Array(chunk * width)];
    const read = async (start: number, slot: number): Promise<Tensor> => {
      const n = Math.min(chunk!, N - start);
      await src.read(start, n, inputs[slot], 0);
      return { data: inputs[slot].subarray(0, n * width), shape: [n, ...src.rowShape] };
    };
    let next: Promise<Tensor> | undefined = N > 0 ? read(0, 0) : undefined;
    for (let start = 0, slot = 0; start < N; start += chunk, slot ^= 1) {
      const x = await next!;
      const count = x.shape[0];
      next = start + chunk < N ? read(start + chunk, slot ^ 1) : undefined;
      next?.catch(() => {}); // surfaces when awaited
      const { codes, xHat } = await sae.forward(x);
      for (let i = 0; i < x.data.length; i++) {
        const v = x.data[i];
        res += (v - xHat.data[i]) ** 2;
        sx += v;
        sxx += v * v;
      }
      n += x.data.length;
      const T = codes.shape[0];
      tokens += T;
      for (let t = 0; t < T; t++) {
        for (let c = 0; c < C; c++) {
          if (codes.data[t * C + c] !== 0) {
            active++;
            fired[c] = 1;
          }
        }
      }
      peak = Math.max(peak, residentMemory());
      bar.update(start + count);
    }
    bar.done();
    if (n === 0) {
      throw new RangeError(`${positionals.activations} has no rows, expected at least one`);
    }
    const variance = Math.max(0, sxx - (sx * sx) / n) / n;
    const dead = C - fired.reduce((a, b) => a + b, 0);
    const report: EvalReport = {
      tokens,
      r2: 1 - (res / n) / (variance + 1e-6),
      mse: res / n,
      l0: active / tokens,
      deadFeatures: dead,
      deadFraction: dead / C,
      concepts: C,
    };
    if (options.json) ctx.out(JSON.stringify(report));
    else {
      ctx.out([
        `tokens         ${tokens} (dim ${D})`,
        `R²             ${report.r2.toFixed(6)}`,
        `MSE            ${report.mse.toExponential(4)}`,
        `L0             ${report.l0.toFixed(3)} active concepts per token (of ${C})`,
        `dead features  ${dead} (${(100 * report.deadFraction).toFixed(2)}%)`,
        `peak RSS       ${formatBytes(peak)}`,
      ].join("\n"));
    }
    return 0;
  } finally {
    await reader?.close();
    sae.dispose();
  }
}
