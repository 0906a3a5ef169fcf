/**
 * The training demo: `deno task demo` (or `npx -y deno@2.9.6 task demo`).
 *
 * Builds activations from known sparse features in superposition (128 unit directions in 64
 * dimensions, about 2 active per sample), trains a JumpSAE with the seed library's defaults and
 * the recipe of `examples/_recipe.ts`, and checks how many true features the dictionary has
 * recovered (an atom with cosine ≥ 0.9). Writes the model and an HTML report into `out/`.
 *
 * Options: `--device reference|cpu|webgpu|auto` (default auto), `--out DIR` (default out),
 * `--epochs N`.
 */
import { DEMO_CONFIG, runRecipe } from "./_recipe.ts";
import { histogram, lineChart, reportHtml } from "./_report.ts";
import { type Device, saveSafetensors } from "./_deps.ts";

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

const config = {
  ...DEMO_CONFIG,
  device: (arg("device") ?? DEMO_CONFIG.device) as Device,
  nbEpochs: Number(arg("epochs") ?? DEMO_CONFIG.nbEpochs),
};
const outDir = arg("out") ?? "out";
const TARGETS = { recovered: 0.9, r2: 0.9, dead: 0.05 };

console.log(
  `Synthetic activations: ${config.samples} samples of dim ${config.dim}, built from ${config.nbFeatures} ` +
    `known unit features in superposition (~${config.meanActive} active per sample).`,
);
console.log(
  `Training JumpSAE(${config.dim}, ${config.nbConcepts}) on device "${config.device}": ${config.nbEpochs} epochs of ` +
    `${
      Math.floor(config.samples / config.batchSize)
    } batches of ${config.batchSize}, Adam lr ${config.lr} with a cosine ` +
    `schedule, mse${
      config.auxK ? ` + top-k auxiliary loss ${config.auxK}` : ""
    } + L0 penalty ${config.penalty} ` +
    `warmed up over ${config.warmupSteps} steps (recipe: examples/_recipe.ts).`,
);
const t0 = performance.now();
const result = await runRecipe(config);
const seconds = (performance.now() - t0) / 1000;
const backend = (await result.sae.getBackend()).name;

const F = config.nbFeatures;
const recoveredFrac = result.recovered / F;
const ok = (pass: boolean) => (pass ? "✓" : "✗");
const passRecovered = recoveredFrac >= TARGETS.recovered;
const passR2 = result.r2 >= TARGETS.r2;
const passDead = result.deadFraction <= TARGETS.dead;
const summary: [string, string][] = [
  ["backend", backend],
  ["training time", `${seconds.toFixed(1)} s`],
  [
    "R² (whole data set, eval mode)",
    `${result.r2.toFixed(4)} ${ok(passR2)} (target ≥ ${TARGETS.r2})`,
  ],
  [
    "mean L0 per sample",
    `${result.meanL0.toFixed(2)} (true features per sample: ${result.data.meanL0.toFixed(2)})`,
  ],
  [
    "dead features",
    `${Math.round(result.deadFraction * config.nbConcepts)} of ${config.nbConcepts} (${
      (100 * result.deadFraction).toFixed(1)
    } %) ${ok(passDead)} (target ≤ ${100 * TARGETS.dead} %)`,
  ],
  [
    "true features recovered (cosine ≥ 0.9)",
    `${result.recovered} of ${F} (${(100 * recoveredFrac).toFixed(1)} %) ${
      ok(passRecovered)
    } (target ≥ ${100 * TARGETS.recovered} %)`,
  ],
  ["median best cosine", [...result.bestCos].sort((a, b) => a - b)[Math.floor(F / 2)].toFixed(4)],
];

await Deno.mkdir(outDir, { recursive: true });
const state = await result.sae.stateDict();
const modelPath = `${outDir}/demo_sae.safetensors`;
await Deno.writeFile(
  modelPath,
  saveSafetensors(state, { format: "pt", config: JSON.stringify(config) }, {
    dtypes: Object.fromEntries(
      Object.keys(state).filter((k) => k.endsWith("num_batches_tracked")).map((k) => [k, "I64"]),
    ),
  }),
);
const reportPath = `${outDir}/demo_report.html`;
const logs = result.logs;
await Deno.writeTextFile(
  reportPath,
  reportHtml(
    "jumpsae demo: recovering sparse features in superposition",
    summary,
    [
      lineChart("training loss (per step)", "step", logs.stepLoss),
      lineChart("R² (per epoch)", "epoch", logs.r2, TARGETS.r2),
      lineChart("mean L0 (per epoch)", "epoch", logs.zSparsity, result.data.meanL0),
      lineChart("dead features (fraction, per epoch)", "epoch", logs.deadFeatures, TARGETS.dead),
      histogram("best cosine of each true feature", result.bestCos, 0, 1, 40, 0.9),
    ],
    [
      `Data: ${config.samples} samples, dim ${config.dim}, ${F} true features, noise ${config.noise}; JumpSAE with ${config.nbConcepts} concepts.`,
      "Dashed red lines: targets (R², dead features), the true mean L0, and the recovery cosine 0.9.",
      "Per-epoch R², L0 and dead features are measured during training (training mode, batch statistics); the table's numbers on the whole data set in eval mode.",
    ],
  ),
);

console.log("\nSummary");
for (const [k, v] of summary) console.log(`  ${k.padEnd(40)} ${v}`);
console.log(`\nWrote ${modelPath} and ${reportPath}`);
console.log(passRecovered && passR2 && passDead ? "All targets met." : "Some targets were missed.");
result.sae.dispose();
