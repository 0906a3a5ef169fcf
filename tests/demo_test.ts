/**
 * A smaller version of the demo's recipe (`examples/_recipe.ts`): 16 features in 16 dimensions,
 * 20 concepts (the demo's ratio), the same model, losses, optimizer and schedule, 20 epochs. Deterministic on the reference
 * backend (seeded data, initialisation and shuffles).
 */
import { ok } from "node:assert/strict";
import { bestCosines, DEMO_CONFIG, makeSyntheticData, runRecipe } from "../examples/_recipe.ts";
import { histogram, lineChart, reportHtml } from "../examples/_report.ts";

Deno.test("demo recipe (small): recovers the true features", async () => {
  const config = {
    ...DEMO_CONFIG,
    dim: 16,
    nbFeatures: 16,
    nbConcepts: 32,
    nbEpochs: 20,
    device: "reference" as const,
  };
  const r = await runRecipe(config, { verbose: false });
  try {
    ok(r.recovered >= 12, `recovered ${r.recovered} of 16`); // 13 on the reference backend
    ok(r.r2 >= 0.95, `R² ${r.r2}`);
    ok(r.meanL0 > 1.5 && r.meanL0 < 3, `mean L0 ${r.meanL0} (true ${r.data.meanL0})`);
    ok(r.logs.avgLoss.length === 20 && r.logs.r2.at(-1)! > 0.9);
  } finally {
    r.sae.dispose();
  }
});

Deno.test("demo data: unit features, standardized samples; bestCosines()", () => {
  const config = { ...DEMO_CONFIG, dim: 8, nbFeatures: 12, samples: 500 };
  const { x, features, meanL0 } = makeSyntheticData(config);
  let ms = 0;
  for (const v of x.data) ms += v * v / x.data.length;
  ok(Math.abs(ms - 1) < 1e-4, `mean square ${ms}`);
  ok(Math.abs(meanL0 - config.meanActive) < 0.3, `mean L0 ${meanL0}`);
  const best = bestCosines(features, features);
  ok(best.every((c) => Math.abs(c - 1) < 1e-5));
  const flipped = { data: features.data.map((v) => -v), shape: features.shape };
  ok(bestCosines(features, flipped).every((c) => c < 0.999)); // signs matter: atoms are not flipped
});

Deno.test("demo report: self-contained HTML with the charts", () => {
  const html = reportHtml("t", [["R²", "0.95"]], [
    lineChart("loss", "step", [3, 2, 1, NaN, 0.5], 1),
    histogram("cos", [0.1, 0.95, 0.99], 0, 1, 10, 0.9),
  ], ["note <b>"]);
  ok(html.startsWith("<!doctype html>"));
  ok((html.match(/<svg /g) ?? []).length === 2);
  ok(html.includes("note &lt;b&gt;"));
  ok(!/<script|https?:/.test(html.replace('xmlns="http://www.w3.org/2000/svg"', "")));
});
