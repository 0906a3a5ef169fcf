/**
 * `jumpsae inspect`: format, configuration, sizes and threshold statistics of a model.
 *
 * @module
 */

import { detectPretrained } from "../../pretrained/load_pretrained.ts";
import { modelConfigOf } from "../../pretrained/model_config.ts";
import { type CommandSpec, formatBytes } from "../args.ts";
import { type CliContext, loadCliModel, MODEL_OPTIONS } from "../_common.ts";

/** The command's arguments. */
export const INSPECT: CommandSpec = {
  name: "inspect",
  summary: "Show a model's format, configuration, sizes and threshold statistics",
  positionals: ["model"],
  options: {
    json: { kind: "boolean", help: "Print one JSON object" },
    ...MODEL_OPTIONS,
  },
  epilog: "Example:\n  jumpsae inspect gemma-scope/layer_20/width_16k/average_l0_71/",
};

function stats(values: ArrayLike<number>) {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  let sum = 0;
  for (const v of sorted) sum += v;
  const q = (p: number) => sorted[Math.min(n - 1, Math.floor(p * (n - 1) + 0.5))];
  return {
    min: sorted[0],
    p10: q(0.1),
    median: q(0.5),
    mean: sum / n,
    p90: q(0.9),
    max: sorted[n - 1],
  };
}

/** Runs `inspect`. */
export async function runInspect(
  positionals: Record<string, string | undefined>,
  options: Record<string, unknown>,
  ctx: CliContext,
): Promise<number> {
  const source = positionals.model!;
  // read the source once (a URL is fetched once), then build the model from those bytes
  const found = await detectPretrained(source, { format: options.format as never });
  const sae = await loadCliModel({ files: found.files }, { ...options, format: found.format });
  try {
    const state = await sae.stateDict();
    const config = modelConfigOf(sae, Object.keys(state));
    let params = 0;
    for (const t of Object.values(state)) params += t.data.length;
    const theta = Float64Array.from(state.thresholds.data, Math.exp);
    const dict = await sae.getDictionary();
    const D = sae.dim, C = sae.nbConcepts;
    const norms = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += dict.data[c * D + d] ** 2;
      norms[c] = Math.sqrt(s);
    }
    const report = {
      source,
      format: found.format,
      files: Object.fromEntries(Object.entries(found.files).map(([k, v]) => [k, v.length])),
      config,
      parameters: params,
      parameterBytes: params * 4,
      thresholds: stats(theta),
      zeroThresholds: theta.filter((t) => t === 0).length,
      dictionaryNorms: stats(norms),
      decoderBiasNorm: state.b_dec ? Math.hypot(...state.b_dec.data) : null,
    };
    if (options.json) {
      ctx.out(JSON.stringify(report, null, 2));
      return 0;
    }
    const f = (
      v: number,
    ) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)
      ? v.toExponential(3)
      : v.toFixed(4));
    const row = (s: ReturnType<typeof stats>) =>
      `min ${f(s.min)}  p10 ${f(s.p10)}  median ${f(s.median)}  mean ${f(s.mean)}  p90 ${
        f(s.p90)
      }  max ${f(s.max)}`;
    ctx.out([
      `source        ${source}`,
      `format        ${found.format} (${
        Object.entries(report.files).map(([k, v]) => `${k} ${formatBytes(v)}`).join(", ")
      })`,
      `input shape   ${
        JSON.stringify(config.inputShape)
      }   concepts ${C}   encoder ${config.encoderModule}`,
      `decoder bias  ${config.decoderBias}   center input ${config.centerInput}   input normalization ${config.inputNormalization}`,
      `dictionary    normalization ${config.dictionaryParams.normalization}   multiplier ${config.dictionaryParams.useMultiplier}`,
      `training      kernel ${config.kernel}   bandwith ${config.bandwith}   pseudo-gradient ${config.pseudoGradient}`,
      `parameters    ${params} (${formatBytes(params * 4)} as float32)`,
      `thresholds    ${row(report.thresholds)}${
        report.zeroThresholds ? `   (${report.zeroThresholds} zero)` : ""
      }`,
      `atom norms    ${row(report.dictionaryNorms)}`,
      ...(report.decoderBiasNorm !== null ? [`b_dec norm    ${f(report.decoderBiasNorm)}`] : []),
    ].join("\n"));
    return 0;
  } finally {
    sae.dispose();
  }
}
