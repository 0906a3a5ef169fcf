/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The demo page: trains a JumpSAE on synthetic activations in the browser (`device: "auto"`:
 * WebGPU when the browser has a real adapter, else WASM — with threads when the page is
 * cross-origin isolated, else one thread) and draws loss, R², L0, dead concepts, the
 * dictionary and the top-activating samples of a chosen concept as it trains.
 *
 * URL parameters: `steps` (default 3000), `device` (default `auto`), `batch` (default 128).
 * State for tests and the curious: `globalThis.jumpsaeDemo`.
 */
import { type Device, JumpSAE, type Tensor } from "../../mod.ts";
import { heatmap, lineChart } from "./charts.ts";
import { createSynthetic } from "./synthetic.ts";
import { createTrainer, type StepMetrics } from "./trainer.ts";

const params = new URL(location.href).searchParams;
const MAX_STEPS = Number(params.get("steps") ?? 3000);
const DEVICE = (params.get("device") ?? "auto") as Device;
const BATCH = Number(params.get("batch") ?? 128);
const D = 32, K = 48, C = 64, ACTIVE = 3, POOL = 512, TOP = 8;

/** What the page exposes on `globalThis.jumpsaeDemo`. */
export interface DemoState {
  backend: string;
  mode: string;
  step: number;
  done: boolean;
  stepsPerSecond: number;
  /** Ground-truth features matched by a concept at cosine ≥ 0.9. */
  recovered: number;
  /** Per step; `dead`: concepts that fire on none of the pool's samples (measured every 25 steps). */
  history: (StepMetrics & { dead: number })[];
  error: string | null;
}
const demo: DemoState = {
  backend: "",
  mode: "",
  step: 0,
  done: false,
  stepsPerSecond: 0,
  recovered: 0,
  history: [],
  error: null,
};
(globalThis as unknown as { jumpsaeDemo: DemoState }).jumpsaeDemo = demo;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $("status");
const fail = (error: unknown) => {
  demo.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  status.textContent = `error: ${demo.error}`;
};
globalThis.addEventListener("unhandledrejection", (e) => fail(e.reason));
globalThis.addEventListener("error", (e) => fail(e.error ?? e.message));

const data = createSynthetic({ dim: D, nbFeatures: K, active: ACTIVE, noise: 0.02, seed: 1 });
const pool = data.sample(POOL); // samples ranked by each concept's code
$("data-desc").textContent =
  `${K} hidden unit directions in ${D} dimensions, about ${ACTIVE} on per sample, plus noise`;
$("model-desc").textContent = `${C} concepts, Linear + BatchNorm encoder, silverman kernel`;

const model = (device: Device) => new JumpSAE(D, C, { seed: 0, device, bandwith: 5e-2 });
let sae = model(DEVICE);
globalThis.addEventListener("pagehide", () => sae.dispose());

/**
 * Starts the backend. A page that is not cross-origin isolated has no SharedArrayBuffer, which
 * the WASM backend needs even for one thread: if `auto` fails for that reason, the page falls
 * back to the TypeScript reference backend (one thread) and says so.
 */
async function startBackend(): Promise<string> {
  try {
    await sae.getBackend();
    return "";
  } catch (error) {
    if (DEVICE !== "auto" || self.crossOriginIsolated) throw error;
    sae.dispose();
    sae = model("reference");
    await sae.getBackend();
    return ` (fallback: ${error instanceof Error ? error.message : error})`;
  }
}

async function describeBackend(): Promise<string> {
  const note = await startBackend();
  return await backendLabel() + note;
}

async function backendLabel(): Promise<string> {
  const backend = await sae.getBackend() as { name: string; threads?: number };
  if (backend.name === "webgpu") return "WebGPU";
  if (backend.name === "wasm") {
    const threads = backend.threads ?? 1;
    return `WASM, ${threads} thread${threads === 1 ? "" : "s"}${
      self.crossOriginIsolated ? "" : " (page not cross-origin isolated)"
    }`;
  }
  return `${backend.name} (TypeScript, 1 thread)`;
}

// ---- drawing -------------------------------------------------------------------------------

let dictionary: Tensor | undefined;
let codesOfPool: Tensor | undefined;
let concept = 0;
let dead = NaN;
let drawQueued = false;

function drawCharts(): void {
  const h = demo.history;
  const xs = h.map((m) => m.step);
  lineChart($("chart-loss"), xs, h.map((m) => m.loss), {
    title: "loss (mse + L0 penalty)",
    color: "#d64545",
    log: true,
    digits: 4,
  });
  lineChart($("chart-r2"), xs, h.map((m) => m.r2), {
    title: "R²",
    color: "#2680c2",
    yMin: -0.5,
    yMax: 1,
    digits: 3,
  });
  lineChart($("chart-l0"), xs, h.map((m) => m.l0), {
    title: `L0 (true ≈ ${ACTIVE})`,
    color: "#3ebd93",
    yMin: 0,
    digits: 2,
  });
  lineChart($("chart-dead"), xs, h.map((m) => m.dead), {
    title: `dead concepts (of ${C}, firing on none of ${POOL} samples)`,
    color: "#9446ed",
    yMin: 0,
    digits: 0,
  });
}

/** Best-matching ground-truth feature of each concept: [feature, cosine]. */
function matches(dict: Tensor): [number, number][] {
  const out: [number, number][] = [];
  for (let c = 0; c < C; c++) {
    let best = -1, bestCos = -Infinity, norm = 0;
    for (let d = 0; d < D; d++) norm += dict.data[c * D + d] ** 2;
    for (let k = 0; k < K; k++) {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += dict.data[c * D + d] * data.features[k * D + d];
      const cos = dot / (Math.sqrt(norm) || 1);
      if (cos > bestCos) [best, bestCos] = [k, cos];
    }
    out.push([best, bestCos]);
  }
  return out;
}

function drawConcept(): void {
  $("concept-label").textContent = String(concept);
  const body = ($("samples") as HTMLTableElement).tBodies[0];
  body.replaceChildren();
  if (!dictionary || !codesOfPool) return;
  const [feature, cos] = matches(dictionary)[concept];
  $("concept-match").textContent = `≈ hidden feature ${feature} (cos ${cos.toFixed(2)})`;
  const order = [...Array(POOL).keys()]
    .map((i) => [i, codesOfPool!.data[i * C + concept]] as const)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP);
  if (order.length === 0) {
    body.insertRow().insertCell().textContent = "this concept fires on no sample of the pool";
    return;
  }
  for (const [i, value] of order) {
    const row = body.insertRow();
    row.insertCell().textContent = `#${i}`;
    row.insertCell().textContent = value.toFixed(3);
    const strip = document.createElement("canvas");
    strip.width = D;
    strip.height = 1;
    row.insertCell().append(strip);
    heatmap(strip, pool.x.data.subarray(i * D, (i + 1) * D), 1, D);
    const on = pool.on[i].map((k) => (k === feature ? `<b>${k}</b>` : String(k))).join(", ");
    row.insertCell().innerHTML = `hidden: ${on || "none"}`;
  }
}

function draw(): void {
  drawQueued = false;
  drawCharts();
  if (dictionary) heatmap($("dictionary"), dictionary.data, C, D, concept);
  const last = demo.history[demo.history.length - 1];
  status.textContent = demo.error
    ? `error: ${demo.error}`
    : `${demo.backend} · ${demo.mode} · step ${demo.step}/${MAX_STEPS} · ` +
      `${demo.stepsPerSecond.toFixed(1)} steps/s · recovered ${demo.recovered}/${K} features` +
      (last ? ` · loss ${last.loss.toFixed(4)}` : "") + (demo.done ? " · done" : "");
}

function queueDraw(): void {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(draw);
}

async function refreshConcepts(): Promise<void> {
  dictionary = await sae.getDictionary();
  demo.recovered = new Set(matches(dictionary).filter(([, c]) => c >= 0.9).map(([k]) => k)).size;
  codesOfPool = (await sae.encode(pool.x)).codes;
  const fired = new Uint8Array(C);
  codesOfPool.data.forEach((v, i) => v !== 0 && (fired[i % C] = 1));
  dead = C - fired.reduce((a, b) => a + b, 0);
  drawConcept();
}

const conceptInput = $("concept") as HTMLInputElement;
conceptInput.max = String(C - 1);
conceptInput.addEventListener("change", () => {
  concept = Math.max(0, Math.min(C - 1, Math.trunc(Number(conceptInput.value)) || 0));
  conceptInput.value = String(concept);
  drawConcept();
  queueDraw();
});
$("dictionary").addEventListener("click", (e) => {
  const target = e.currentTarget as HTMLCanvasElement;
  concept = Math.min(C - 1, Math.floor((e.offsetY / target.clientHeight) * C));
  conceptInput.value = String(concept);
  drawConcept();
  queueDraw();
});

// ---- training ------------------------------------------------------------------------------

let paused = false;
let resume: (() => void) | undefined;
const toggle = $("toggle") as HTMLButtonElement;
toggle.addEventListener("click", () => {
  paused = !paused;
  toggle.textContent = paused ? "Resume" : "Pause";
  if (!paused) resume?.();
});

// Yields to the event loop without the 4 ms clamp of nested timers.
const channel = new MessageChannel();
const yieldToUi = () =>
  new Promise<void>((resolve) => {
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(0);
  });

async function train(): Promise<void> {
  demo.backend = await describeBackend();
  const trainer = createTrainer(sae, { lr: 1e-2, l0Penalty: 5e-3 });
  demo.mode = trainer.mode;
  await refreshConcepts();
  let start = 0, startStep = 0;
  await trainer.run(MAX_STEPS, () => data.sample(BATCH).x, async (metrics) => {
    if (paused) {
      await new Promise<void>((r) => (resume = r));
      [start, startStep] = [performance.now(), demo.step];
    }
    demo.step = metrics.step;
    if (demo.step === 1) [start, startStep] = [performance.now(), 1]; // the first step compiles
    else demo.stepsPerSecond = (demo.step - startStep) / ((performance.now() - start) / 1000);
    if (demo.step % 25 === 0 || demo.step === MAX_STEPS) await refreshConcepts();
    demo.history.push({ ...metrics, dead });
    queueDraw();
    await yieldToUi();
  });
  demo.done = true;
  queueDraw();
}

train().catch(fail);
