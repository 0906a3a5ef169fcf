/**
 * Every metric of the seed against the seed's own values (`scripts/make_metrics_fixtures.py`),
 * `dims` tuples included. Metrics run on host arrays, the same on every backend.
 */
import { ok } from "node:assert/strict";
import {
  avgL1Loss,
  avgL2Loss,
  codesCorrelationMatrix,
  cosineHungarianLoss,
  deadCodes,
  dictionaryCollinearity,
  energyOfCodes,
  frechetDistance,
  hoyer,
  hungarianLoss,
  kappa4,
  l0,
  l0Eps,
  l1,
  l1L2Ratio,
  l2,
  lp,
  r2Score,
  relativeAvgL1Loss,
  relativeAvgL2Loss,
  type Tensor,
  wasserstein1d,
} from "../mod.ts";
import { loadSafetensors, loadSafetensorsMetadata } from "../src/io/safetensors.ts";

const bytes = Deno.readFileSync(new URL("./fixtures/metrics/metrics.safetensors", import.meta.url));
const T = loadSafetensors(bytes);
const CASES: Record<string, { fn: string; args: string[]; kwargs: Record<string, unknown> }> = JSON
  .parse(loadSafetensorsMetadata(bytes).cases);

type Kw = Record<string, unknown>;
type Result = number | Tensor | { max: number; matrix: Tensor };
const dims = (kw: Kw) => kw.dims as number | number[] | undefined;
const FNS: Record<string, (a: Tensor[], kw: Kw) => Result> = {
  l2: ([v], kw) => dims(kw) === undefined ? l2(v) : l2(v, dims(kw)!),
  l1: ([v], kw) => dims(kw) === undefined ? l1(v) : l1(v, dims(kw)!),
  lp: ([v], kw) =>
    dims(kw) === undefined ? lp(v, kw.p as number | undefined) : lp(v, kw.p as number, dims(kw)!),
  l0: ([v], kw) => dims(kw) === undefined ? l0(v) : l0(v, dims(kw)!),
  l0_eps: ([v], kw) => l0Eps(v, dims(kw)!, kw.threshold as number),
  l1_l2_ratio: ([v], kw) =>
    "dims" in kw ? (kw.dims === null ? l1L2Ratio(v, null) : l1L2Ratio(v, dims(kw))) : l1L2Ratio(v),
  hoyer: ([v]) => hoyer(v),
  kappa_4: ([v]) => kappa4(v),
  r2_score: ([a, b]) => r2Score(a, b),
  avg_l2_loss: ([a, b]) => avgL2Loss(a, b),
  avg_l1_loss: ([a, b]) => avgL1Loss(a, b),
  relative_avg_l2_loss: ([a, b]) => relativeAvgL2Loss(a, b),
  relative_avg_l1_loss: ([a, b]) => relativeAvgL1Loss(a, b),
  dead_codes: ([z]) => deadCodes(z),
  hungarian_loss: ([a, b], kw) => hungarianLoss(a, b, kw.p_norm as number | undefined),
  cosine_hungarian_loss: ([a, b]) => cosineHungarianLoss(a, b),
  dictionary_collinearity: ([d]) => {
    const r = dictionaryCollinearity(d);
    return { max: r.maxCollinearity, matrix: r.cosineSimilarity };
  },
  wasserstein_1d: ([a, b]) => wasserstein1d(a, b),
  frechet_distance: ([a, b]) => frechetDistance(a, b),
  codes_correlation_matrix: ([z]) => {
    const r = codesCorrelationMatrix(z);
    return { max: r.maxCorr, matrix: r.corrs };
  },
  energy_of_codes: ([z, d]) => energyOfCodes(z, d),
};

function close(label: string, got: number | Tensor, want: Tensor, rel = 2e-6) {
  const g = typeof got === "number" ? { data: [got], shape: [] as number[] } : got;
  ok(
    JSON.stringify(g.shape) === JSON.stringify(want.shape),
    `${label}: shape ${g.shape} vs ${want.shape}`,
  );
  const ref = Math.max(...Array.from(want.data, Math.abs), 1e-6);
  for (let i = 0; i < want.data.length; i++) {
    ok(
      Math.abs(g.data[i] - want.data[i]) <= rel * ref,
      `${label}[${i}]: ${g.data[i]} vs the seed's ${want.data[i]}`,
    );
  }
}

Deno.test("every seed metric equals the seed's value", () => {
  ok(Object.keys(CASES).length >= 28);
  for (const [name, { fn, args, kwargs }] of Object.entries(CASES)) {
    const impl = FNS[fn];
    ok(impl, `no counterpart for the seed's ${fn}`);
    const got = impl(args.map((a) => T[`in.${a}`]), kwargs);
    // the Fréchet distance goes through the seed's float32 general eigen-solver: 1e-4
    const rel = fn === "frechet_distance" ? 1e-4 : 2e-6;
    if (typeof got === "object" && "max" in got) {
      close(`${name} max`, got.max, T[`out.${name}.max`], rel);
      close(`${name} matrix`, got.matrix, T[`out.${name}.matrix`], rel);
    } else {
      close(name, got, T[`out.${name}`], rel);
    }
  }
});

Deno.test("metrics: dims tuples and bad arguments", () => {
  const cube = T["in.cube"];
  ok(l2(cube, [0, 2]).shape.join() === "4");
  ok(l1(cube, [-1, 0]).shape.join() === "4");
  for (const bad of [[], [0, 0], [3], 1.5]) {
    let message = "";
    try {
      l2(cube, bad as number[]);
    } catch (e) {
      message = (e as Error).message;
    }
    ok(message.startsWith("l2: dims must be an axis in [-3, 2], got "), message);
  }
  let message = "";
  try {
    lp(cube, 0);
  } catch (e) {
    message = (e as Error).message;
  }
  ok(message === "p must be a finite number > 0, got 0", message);
});
