/**
 * Training quality at a target sparsity (a benchmark, not a test): jumpsae's recipes against the
 * seed library's TopKSAE / BatchTopKSAE (k = target, same batches and steps), PCA and
 * scikit-learn's MiniBatchDictionaryLearning + OMP, on real data (8×8 patches of natural photos,
 * `examples/data/patches.npz`) and on the demo's synthetic ground truth.
 *
 *     deno run -A bench/training_quality.ts [--data patches,synthetic] [--targets 8,16]
 *       [--synthetic-targets 2] [--recipes jumpsae,gemma-scope,anthropic-2025,overcomplete]
 *       [--peers topk,topk_bn,batchtopk,pca,omp] (default without batchtopk) [--linear yes|no] [--out out/training_quality]
 *     deno run -A bench/training_quality.ts --from a.json,b.json [--out …]   # table + plot of saved rows
 *
 * The presets other than `jumpsae` run at the first target only. Every method trains on batches of 256 for the same number of steps (20 epochs, or more to make
 * the default recipe's 3000 steps); jumpsae uses the model's default encoder (Linear +
 * BatchNorm) with a decoder bias, as `jumpsae train`, and with `--linear yes` also a Linear-only
 * encoder under the default recipe.
 *
 * Prints one row per method and target: held-out R² (the seed's r2_score), mean held-out L0,
 * dead features (never fire on the held-out rows), training µs per row, and on the synthetic data
 * the true features recovered (best cosine ≥ 0.9). Writes `<out>.json` and `<out>.svg` (R² vs
 * L0). The Python peers run with `PYTHON` (default /usr/bin/python3: Debian's python3-torch,
 * python3-numpy, python3-sklearn); without torch they are skipped and said so.
 */
import {
  JumpSAE,
  r2Score,
  RECIPE_NAMES,
  type RecipeName,
  saveNpz,
  type Tensor,
  trainSae,
} from "../mod.ts";
import { loadPatches } from "../examples/_patches.ts";
import { bestCosines, DEMO_CONFIG, makeSyntheticData } from "../examples/_recipe.ts";

interface Row {
  data: string;
  method: string;
  target: number;
  r2: number;
  l0: number;
  dead: number;
  usPerRow: number;
  recovered: number | null;
  note?: string;
}

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : fallback;
}
const list = (s: string) => s.split(",").filter(Boolean);
const datasets = list(arg("data", "patches,synthetic"));
const targets = list(arg("targets", "8,16")).map(Number);
const syntheticTargets = list(arg("synthetic-targets", "2")).map(Number);
const recipes = list(arg("recipes", RECIPE_NAMES.join(","))) as RecipeName[];
const peers = arg("peers", "topk,topk_bn,pca,omp");
const withLinear = arg("linear", "yes") !== "no";
const out = arg("out", "out/training_quality");
const python = Deno.env.get("PYTHON") ?? "/usr/bin/python3";

interface Dataset {
  name: string;
  train: Tensor;
  test: Tensor;
  concepts: number;
  targets: number[];
  features: Tensor | null;
}

async function load(name: string): Promise<Dataset> {
  if (name === "patches") {
    const p = await loadPatches();
    return { name, train: p.train, test: p.test, concepts: 256, targets, features: null };
  }
  if (name === "synthetic") {
    // the demo's ground truth: 128 features in 64 dims, ~2 active; 1024 more rows held out
    const n = DEMO_CONFIG.samples, D = DEMO_CONFIG.dim;
    const data = makeSyntheticData({ ...DEMO_CONFIG, samples: n + 1024 });
    const rows = (a: number, b: number) => ({
      data: data.x.data.slice(a * D, b * D),
      shape: [b - a, D],
    });
    return {
      name,
      train: rows(0, n),
      test: rows(n, n + 1024),
      concepts: DEMO_CONFIG.nbConcepts,
      targets: syntheticTargets,
      features: data.features,
    };
  }
  throw new RangeError(`--data must name patches or synthetic, got ${name}`);
}

/** Batches of 256 and as many epochs as the default recipe takes: every method, the same steps. */
function epochsOf(d: Dataset): number {
  return Math.max(20, Math.ceil(3000 / Math.floor(d.train.shape[0] / BATCH)));
}
const BATCH = 256;

async function jumpsae(
  d: Dataset,
  recipe: RecipeName,
  target: number,
  encoder: "mlp_bn_1" | "linear",
): Promise<Row> {
  // the model's defaults (Linear + BatchNorm encoder) with a decoder bias, as `jumpsae train`
  const sae = new JumpSAE(d.train.shape[1], d.concepts, {
    seed: 0,
    encoderModule: encoder,
    decoderBias: true,
  });
  const t0 = performance.now();
  const controlled = recipe !== "overcomplete";
  const logs = await trainSae(sae, d.train, {
    recipe,
    ...(controlled ? { targetL0: target } : {}),
    batchSize: BATCH,
    nbEpochs: epochsOf(d),
    verbose: false,
  });
  const seconds = (performance.now() - t0) / 1000;
  const rowsSeen = logs.stepLoss.length * BATCH;
  sae.eval();
  const { codes, xHat } = await sae.forward(d.test);
  const name = `jumpsae ${recipe}${encoder === "linear" ? " (linear encoder)" : ""}`;
  const row = score(d, name, target, codes, xHat, seconds, rowsSeen);
  if (d.features) row.recovered = recoveredFraction(d.features, await sae.getDictionary());
  sae.dispose();
  return row;
}

function score(
  d: Dataset,
  method: string,
  target: number,
  codes: Tensor,
  xHat: Tensor,
  seconds: number,
  rowsSeen: number,
): Row {
  const C = codes.shape[1], N = codes.shape[0];
  const fired = new Uint8Array(C);
  let active = 0;
  for (let i = 0; i < codes.data.length; i++) {
    if (codes.data[i] !== 0) {
      active++;
      fired[i % C] = 1;
    }
  }
  return {
    data: d.name,
    method,
    target,
    r2: r2Score(d.test, xHat),
    l0: active / N,
    dead: 1 - fired.reduce((a, b) => a + b, 0) / C,
    usPerRow: (1e6 * seconds) / rowsSeen,
    recovered: null,
  };
}

function recoveredFraction(features: Tensor, dictionary: Tensor): number {
  const best = bestCosines(features, dictionary);
  return best.filter((c) => c >= 0.9).length / best.length;
}

/** The Python peers on the same rows, batches and number of steps as the jumpsae recipe. */
async function pythonPeers(d: Dataset): Promise<Row[]> {
  if (!peers) return [];
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/data.npz`;
    await Deno.writeFile(file, await saveNpz({ train: d.train, test: d.test }));
    const args = [
      "bench/training_peers.py",
      file,
      "--k",
      ...d.targets.map(String),
      "--concepts",
      String(d.concepts),
      "--batch-size",
      String(BATCH),
      "--epochs",
      String(epochsOf(d)),
      "--methods",
      peers,
    ];
    if (d.features) {
      await Deno.writeFile(`${dir}/features.npz`, await saveNpz({ f: d.features }));
      args.push("--features", `${dir}/features.npz`);
    }
    const r = await new Deno.Command(python, { args, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder().decode(r.stdout);
    if (!r.success) {
      console.error(`peers skipped (${python} failed): ${new TextDecoder().decode(r.stderr)}`);
      return [];
    }
    return text.trim().split("\n").filter(Boolean).map((line) => {
      const j = JSON.parse(line);
      return {
        data: d.name,
        method: j.method,
        target: j.k,
        r2: j.r2 ?? NaN,
        l0: j.l0 ?? NaN,
        dead: j.dead ?? NaN,
        usPerRow: j.usPerRow ?? NaN,
        recovered: j.recovered ?? null,
        note: j.skipped,
      };
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function table(rows: Row[]): string {
  const f = (v: number, p = 3) => (Number.isFinite(v) ? v.toFixed(p) : "—");
  const lines = [
    "| data | target L0 | method | held-out R² | L0 | dead | µs/row | recovered |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.data} | ${r.target} | ${r.method} | ${f(r.r2)} | ${f(r.l0, 2)} | ${
        f(100 * r.dead, 1)
      } % | ${f(r.usPerRow, 1)} | ${r.recovered === null ? "" : f(100 * r.recovered, 1) + " %"}${
        r.note ? ` (${r.note})` : ""
      } |`,
    );
  }
  return lines.join("\n");
}

/** R² against L0, one colour per method, one panel per data set. */
function plot(rows: Row[]): string {
  const W = 640, H = 300, M = { l: 50, r: 230, t: 24, b: 36 };
  const colours = [
    "#2563eb",
    "#dc2626",
    "#059669",
    "#d97706",
    "#7c3aed",
    "#0891b2",
    "#db2777",
    "#4b5563",
    "#65a30d",
    "#92400e",
  ];
  const methods = [...new Set(rows.map((r) => r.method))];
  const panels = [...new Set(rows.map((r) => r.data))].map((data, p) => {
    const rs = rows.filter((r) => r.data === data && Number.isFinite(r.r2) && r.r2 > 0);
    const x1 = Math.max(...rs.map((r) => r.l0)) * 1.1, y0 = Math.min(...rs.map((r) => r.r2)) - 0.02;
    const sx = (v: number) => M.l + ((W - M.l - M.r) * v) / x1;
    const sy = (v: number) => M.t + ((H - M.t - M.b) * (1 - v)) / (1 - y0);
    const marks = methods.map((m, i) => {
      const pts = rs.filter((r) => r.method === m).sort((a, b) => a.l0 - b.l0);
      const c = colours[i % colours.length];
      return `<polyline fill="none" stroke="${c}" points="${
        pts.map((r) => `${sx(r.l0).toFixed(1)},${sy(r.r2).toFixed(1)}`).join(" ")
      }"/>` + pts.map((r) => `<circle cx="${sx(r.l0)}" cy="${sy(r.r2)}" r="3" fill="${c}"/>`).join(
        "",
      );
    }).join("");
    const legend = methods.map((m, i) =>
      `<text x="${W - M.r + 8}" y="${M.t + 14 + 13 * i}" font-size="10" fill="${
        colours[i % colours.length]
      }">${m}</text>`
    ).join("");
    return `<g transform="translate(${p * W},0)"><text x="${
      W / 2
    }" y="14" text-anchor="middle" font-size="12">${data}: held-out R² vs L0</text>
<rect x="${M.l}" y="${M.t}" width="${W - M.l - M.r}" height="${
      H - M.t - M.b
    }" fill="none" stroke="#9ca3af"/>
<text x="${M.l}" y="${H - 20}" font-size="10">0</text><text x="${W - M.r - 20}" y="${
      H - 20
    }" font-size="10">${x1.toFixed(0)}</text>
<text x="4" y="${M.t + 8}" font-size="10">1.00</text><text x="4" y="${H - M.b}" font-size="10">${
      y0.toFixed(2)
    }</text><text x="${W / 2}" y="${H - 6}" text-anchor="middle" font-size="10">mean L0</text>
${marks}${legend}</g>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${
    W * panels.length
  }" height="${H}" font-family="sans-serif">${panels.join("\n")}</svg>`;
}

const rows: Row[] = [];
// --from a.json,b.json: no training, the table and plot of saved rows (e.g. two runs merged)
const saved = list(arg("from", ""));
for (const file of saved) rows.push(...JSON.parse(await Deno.readTextFile(file)) as Row[]);
for (const name of saved.length ? [] : datasets) {
  const d = await load(name);
  console.error(`${name}: train ${d.train.shape}, test ${d.test.shape}, ${d.concepts} concepts`);
  for (const target of d.targets) {
    const runs: [RecipeName, "mlp_bn_1" | "linear"][] = recipes.map((r) => [r, "mlp_bn_1"]);
    if (withLinear) runs.splice(1, 0, ["jumpsae", "linear"]);
    for (const [recipe, encoder] of runs) {
      // the presets at the first target only (overcomplete has no target: one run)
      if (recipe !== "jumpsae" && target !== d.targets[0]) continue;
      const row = await jumpsae(d, recipe, target, encoder);
      console.error(JSON.stringify(row));
      rows.push(row);
    }
  }
  rows.push(...await pythonPeers(d));
}
rows.sort((a, b) => a.data.localeCompare(b.data) || a.target - b.target);
console.log(table(rows));
await Deno.mkdir(out.split("/").slice(0, -1).join("/") || ".", { recursive: true });
await Deno.writeTextFile(`${out}.json`, JSON.stringify(rows, null, 2));
await Deno.writeTextFile(`${out}.svg`, plot(rows));
console.error(`wrote ${out}.json and ${out}.svg`);
