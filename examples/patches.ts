/**
 * Real data: `deno task demo:patches` (or `npx -y deno@2.9.6 task demo:patches`).
 *
 * Trains JumpSAE(64, 256) with the library's default recipe on 40,000 8×8 patches of natural
 * photographs (`examples/data/patches.npz`, see `examples/_patches.ts`) at target L0 8 and 16,
 * scores the held-out patches (right halves of the photos) against PCA with as many components,
 * and writes `out/patches_report.html`: the dictionary as images, R² against L0 for jumpsae and
 * PCA (and TopK / OMP when `bench/training_quality.ts` has left `out/training_quality.json`),
 * and the top-activating patches of a few features.
 *
 * Options: `--targets 8,16`, `--device auto|cpu|reference|webgpu`, `--out DIR` (default out).
 */
import { type Device, JumpSAE, r2Score, type Tensor, trainSae } from "./_deps.ts";
import { loadPatches } from "./_patches.ts";
import { pca, pcaReconstruct } from "./_pca.ts";
import { reportHtml } from "./_report.ts";

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : fallback;
}
const targets = arg("targets", "8,16").split(",").map(Number);
const device = arg("device", "auto") as Device;
const outDir = arg("out", "out");
const C = 256;

const { train, test, side } = await loadPatches();
console.log(
  `Real data: ${train.shape[0]} training and ${
    test.shape[0]
  } held-out 8×8 patches of natural photos.`,
);
const basis = pca(train);

interface Point {
  method: string;
  l0: number;
  r2: number;
}
const points: Point[] = [];
for (let k = 1; k <= 32; k *= 2) {
  points.push({ method: "PCA", l0: k, r2: r2Score(test, pcaReconstruct(test, basis, k)) });
}
let shown: { sae: JumpSAE; codes: Tensor; target: number } | null = null;
for (const target of targets) {
  const sae = new JumpSAE(64, C, { seed: 0, device, encoderModule: "linear", decoderBias: true });
  const t0 = performance.now();
  const logs = await trainSae(sae, train, { targetL0: target, verbose: false });
  sae.eval();
  const { codes, xHat } = await sae.forward(test);
  let active = 0;
  const fired = new Uint8Array(C);
  for (let i = 0; i < codes.data.length; i++) {
    if (codes.data[i] !== 0) {
      active++;
      fired[i % C] = 1;
    }
  }
  const l0 = active / test.shape[0], r2 = r2Score(test, xHat);
  const dead = 1 - fired.reduce((a, b) => a + b, 0) / C;
  const pcaR2 = r2Score(test, pcaReconstruct(test, basis, Math.round(target)));
  console.log(
    `target L0 ${target}: held-out R² ${r2.toFixed(4)} at L0 ${l0.toFixed(2)}, dead ${
      (100 * dead).toFixed(1)
    } %, ${logs.stepLoss.length} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s ` +
      `(PCA with ${target} components: R² ${pcaR2.toFixed(4)})`,
  );
  points.push({ method: "jumpsae", l0, r2 });
  if (shown) shown.sae.dispose();
  shown = { sae, codes, target };
}

// peers measured by bench/training_quality.ts, when present
try {
  const rows = JSON.parse(await Deno.readTextFile(`${outDir}/training_quality.json`));
  for (const r of rows) {
    if (r.data === "patches" && !String(r.method).startsWith("jumpsae") && r.method !== "PCA") {
      points.push({ method: r.method, l0: r.l0, r2: r.r2 });
    }
  }
} catch { /* no benchmark results */ }

/** An 8×8 patch (or atom) as a grey SVG image, scaled to its own largest magnitude. */
function tile(values: ArrayLike<number>, x: number, y: number, px: number): string {
  let m = 1e-12;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  let s = "";
  for (let i = 0; i < side * side; i++) {
    const g = Math.round(127.5 + 127.5 * (values[i] / m));
    s += `<rect x="${x + (i % side) * px}" y="${
      y + Math.floor(i / side) * px
    }" width="${px}" height="${px}" fill="rgb(${g},${g},${g})"/>`;
  }
  return s;
}

const { sae, codes, target } = shown!;
const dictionary = await sae.getDictionary();
const atoms: string[] = [];
for (let c = 0; c < C; c++) {
  atoms.push(
    tile(dictionary.data.subarray(c * 64, (c + 1) * 64), (c % 32) * 27, Math.floor(c / 32) * 27, 3),
  );
}
const dictionarySvg = `<svg xmlns="http://www.w3.org/2000/svg" width="${32 * 27}" height="${
  8 * 27
}"><title>dictionary</title>${atoms.join("")}</svg>`;

// R² vs L0 chart
const W = 560, H = 320, M = 48;
const x1 = Math.max(...points.map((p) => p.l0)) * 1.05;
const y0 = Math.min(...points.map((p) => p.r2)) - 0.02;
const sx = (v: number) => M + ((W - 2 * M) * v) / x1;
const sy = (v: number) => 20 + ((H - 20 - M) * (1 - v)) / (1 - y0);
const methods = [...new Set(points.map((p) => p.method))];
const colours = ["#2563eb", "#6b7280", "#dc2626", "#d97706", "#059669", "#7c3aed"];
const chart =
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">
<text x="${W / 2}" y="14" text-anchor="middle">held-out R² against mean L0</text>
<rect x="${M}" y="20" width="${W - 2 * M}" height="${H - 20 - M}" fill="none" stroke="#9ca3af"/>
<text x="${M}" y="${H - M + 14}">0</text><text x="${W - M - 16}" y="${H - M + 14}">${
    x1.toFixed(0)
  }</text><text x="${W / 2}" y="${H - 8}" text-anchor="middle">L0 (active concepts per patch)</text>
<text x="4" y="28">1.00</text><text x="4" y="${H - M}">${y0.toFixed(2)}</text>
${
    methods.map((m, i) => {
      const ps = points.filter((p) => p.method === m).sort((a, b) => a.l0 - b.l0);
      const c = colours[i % colours.length];
      return `<polyline fill="none" stroke="${c}" points="${
        ps.map((p) => `${sx(p.l0).toFixed(1)},${sy(p.r2).toFixed(1)}`).join(" ")
      }"/>${
        ps.map((p) => `<circle cx="${sx(p.l0)}" cy="${sy(p.r2)}" r="3.5" fill="${c}"/>`).join("")
      }
<text x="${W - M - 200}" y="${H - M - 12 - 14 * i}" fill="${c}">${m}</text>`;
    }).join("\n")
  }</svg>`;

// top-activating held-out patches of the six most used features
const N = codes.shape[0];
const usage = new Float64Array(C);
for (let i = 0; i < codes.data.length; i++) usage[i % C] += codes.data[i] !== 0 ? 1 : 0;
const features = [...usage.keys()].sort((a, b) => usage[b] - usage[a]).slice(0, 6);
const topRows = features.map((c) => {
  const rows = [...Array(N).keys()].sort((a, b) => codes.data[b * C + c] - codes.data[a * C + c])
    .slice(0, 8);
  const cells = [tile(dictionary.data.subarray(c * 64, (c + 1) * 64), 0, 0, 5)]
    .concat(rows.map((r, j) => tile(test.data.subarray(r * 64, (r + 1) * 64), 60 + j * 45, 0, 5)));
  return `<p>feature ${c} (fires on ${
    (100 * usage[c] / N).toFixed(1)
  } % of patches): atom, then its 8 strongest patches<br>` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${60 + 8 * 45}" height="40">${
      cells.join("")
    }</svg></p>`;
}).join("\n");

await Deno.mkdir(outDir, { recursive: true });
const summary: [string, string][] = points.filter((p) => p.method === "jumpsae").map((
  p,
) => [`jumpsae at L0 ${p.l0.toFixed(2)}`, `held-out R² ${p.r2.toFixed(4)}`]);
const html = reportHtml(
  "JumpSAE on natural-image patches",
  summary,
  [chart],
  [
    `JumpSAE(64, ${C}), linear encoder with decoder bias, default recipe ("jumpsae"), trained on ` +
    `${train.shape[0]} patches and scored on ${test.shape[0]} patches from unseen image halves.`,
  ],
).replace(
  "</body>",
  `<h2>Dictionary (target L0 ${target})</h2>${dictionarySvg}<h2>Top-activating patches</h2>${topRows}</body>`,
);
await Deno.writeTextFile(`${outDir}/patches_report.html`, html);
console.log(`wrote ${outDir}/patches_report.html`);
sae.dispose();
