/**
 * Threshold surgery of the training recipes: per-concept quantiles (initialisation) and the final
 * common calibration to the target L0.
 *
 * @module
 */
import type { JumpSAE } from "../jump_sae.ts";
import type { Tensor } from "../tensor.ts";

/** At most this many pre-code values are read back for one surgery. */
const MAX_VALUES = 2 ** 22;

function head(sample: Tensor, dim: number, concepts: number): Tensor {
  const rows = Math.max(1, Math.min(sample.shape[0], Math.floor(MAX_VALUES / concepts)));
  return { data: sample.data.subarray(0, rows * dim), shape: [rows, dim] };
}

/**
 * Sets every θ_c so that concept c fires on a fraction target/C of `sample` (the k-th largest of
 * its pre-codes, at least 1e-6): the L0 starts at the target, every concept firing. Pre-codes are
 * those of the model's current mode.
 */
export async function quantileThresholds(
  model: JumpSAE,
  sample: Tensor,
  target: number,
): Promise<void> {
  const x = head(sample, model.dim, model.nbConcepts);
  const rows = x.shape[0], C = model.nbConcepts;
  const { preCodes } = await model.encode(x);
  const k = Math.max(1, Math.round((rows * target) / C));
  const column = new Float32Array(rows);
  const state = await model.stateDict();
  for (let c = 0; c < C; c++) {
    for (let r = 0; r < rows; r++) column[r] = preCodes.data[r * C + c];
    column.sort();
    state.thresholds.data[c] = Math.log(Math.max(column[rows - k], 1e-6));
  }
  await model.loadStateDict(state);
}

/**
 * Multiplies every threshold by one factor e^δ so that the mean L0 of `sample` (eval mode) is
 * `target` (as close as the sample's ties allow). Returns δ.
 */
export async function calibrateThresholds(
  model: JumpSAE,
  sample: Tensor,
  target: number,
): Promise<number> {
  const C = model.nbConcepts;
  const x = head(sample, model.dim, C), rows = x.shape[0];
  const wasTraining = model.training;
  model.eval();
  try {
    const { preCodes } = await model.encode(x);
    const state = await model.stateDict();
    const logT = state.thresholds.data;
    // a code fires under shift δ when log(pre) − log θ_c ≥ δ: collect those margins, ascending
    const all = new Float64Array(rows * C);
    let n = 0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < C; c++) {
        const p = preCodes.data[r * C + c];
        if (p > 0) all[n++] = Math.log(p) - logT[c];
      }
    }
    const margins = all.subarray(0, n).sort();
    const k = Math.round(target * rows); // the k largest margins fire
    let shift = 0;
    if (k >= 1 && k < n) shift = (margins[n - k] + margins[n - k - 1]) / 2;
    else if (k >= n && n > 0) shift = margins[0] - 1e-6;
    if (!Number.isFinite(shift)) shift = 0;
    for (let c = 0; c < C; c++) logT[c] += shift;
    await model.loadStateDict(state);
    return shift;
  } finally {
    model.train(wasTraining);
  }
}
