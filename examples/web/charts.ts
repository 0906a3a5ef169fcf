/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/** Canvas drawings of the demo page, without libraries: line charts, heat maps, strips. */

const INK = "#1f2933", GRID = "#d9e2ec", MUTED = "#829ab1";

/** Sizes the canvas backing store to its CSS size × devicePixelRatio; returns the 2-D context. */
function context(canvas: HTMLCanvasElement): { g: CanvasRenderingContext2D; w: number; h: number } {
  const ratio = globalThis.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  const g = canvas.getContext("2d")!;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { g, w, h };
}

/** Options of `lineChart`. */
export interface LineChartOptions {
  title: string;
  color: string;
  /** Logarithmic y axis (values must be > 0). */
  log?: boolean;
  /** Fixed y range; else the data's. */
  yMin?: number;
  yMax?: number;
  /** Digits of the current value shown in the title. */
  digits?: number;
}

function niceTicks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || 1;
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? 10 * mag;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) ticks.push(t);
  return ticks;
}

/** Draws `ys` against `xs` with axes, grid, title and the last value. */
export function lineChart(
  canvas: HTMLCanvasElement,
  xs: number[],
  ys: number[],
  options: LineChartOptions,
): void {
  const { g, w, h } = context(canvas);
  const pad = { l: 46, r: 10, t: 22, b: 22 };
  g.clearRect(0, 0, w, h);
  g.fillStyle = "#fff";
  g.fillRect(0, 0, w, h);
  g.font = "12px system-ui, sans-serif";
  g.fillStyle = INK;
  const last = ys.length ? ys[ys.length - 1] : NaN;
  g.fillText(
    `${options.title}${ys.length ? `: ${last.toFixed(options.digits ?? 3)}` : ""}`,
    pad.l,
    14,
  );
  if (xs.length < 2) return;
  const f = options.log ? (v: number) => Math.log10(Math.max(v, 1e-12)) : (v: number) => v;
  const fy = ys.map(f);
  let lo = options.yMin !== undefined ? f(options.yMin) : Math.min(...fy);
  let hi = options.yMax !== undefined ? f(options.yMax) : Math.max(...fy);
  if (hi - lo < 1e-9) [lo, hi] = [lo - 0.5, hi + 0.5];
  const x0 = xs[0], x1 = xs[xs.length - 1];
  const px = (x: number) => pad.l + ((x - x0) / (x1 - x0 || 1)) * (w - pad.l - pad.r);
  const py = (y: number) => pad.t + (1 - (y - lo) / (hi - lo)) * (h - pad.t - pad.b);
  g.strokeStyle = GRID;
  g.lineWidth = 1;
  g.fillStyle = MUTED;
  g.font = "10px system-ui, sans-serif";
  for (const t of niceTicks(lo, hi, 4)) {
    g.beginPath();
    g.moveTo(pad.l, py(t));
    g.lineTo(w - pad.r, py(t));
    g.stroke();
    const label = options.log
      ? String(+(10 ** t).toPrecision(2))
      : Math.abs(t) >= 100
      ? t.toFixed(0)
      : String(+t.toFixed(3));
    g.fillText(label, 2, py(t) + 3);
  }
  for (const t of niceTicks(x0, x1, 4)) {
    const label = String(t);
    g.fillText(label, Math.min(px(t) - 6, w - pad.r - g.measureText(label).width), h - 6);
  }
  g.strokeStyle = options.color;
  g.lineWidth = 1.5;
  g.beginPath();
  for (let i = 0; i < xs.length; i++) {
    const y = py(Math.min(hi, Math.max(lo, fy[i])));
    if (i === 0) g.moveTo(px(xs[i]), y);
    else g.lineTo(px(xs[i]), y);
  }
  g.stroke();
}

/** Diverging blue–white–red colour of v in [−1, 1]. */
function diverging(v: number): [number, number, number] {
  const t = Math.max(-1, Math.min(1, v));
  return t >= 0
    ? [255, Math.round(255 * (1 - t * 0.85)), Math.round(255 * (1 - t))]
    : [Math.round(255 * (1 + t)), Math.round(255 * (1 + t * 0.6)), 255];
}

/**
 * A `rows × cols` matrix as an image (symmetric colour scale at the largest |value|), with an
 * optional highlighted row.
 */
export function heatmap(
  canvas: HTMLCanvasElement,
  data: Float32Array,
  rows: number,
  cols: number,
  highlight = -1,
): void {
  const { g, w, h } = context(canvas);
  let scale = 0;
  for (const v of data) scale = Math.max(scale, Math.abs(v));
  const image = new ImageData(cols, rows);
  for (let i = 0; i < rows * cols; i++) {
    const [r, gg, b] = diverging(data[i] / (scale || 1));
    image.data.set([r, gg, b, 255], 4 * i);
  }
  const off = new OffscreenCanvas(cols, rows);
  off.getContext("2d")!.putImageData(image, 0, 0);
  g.imageSmoothingEnabled = false;
  g.clearRect(0, 0, w, h);
  g.drawImage(off, 0, 0, w, h);
  if (highlight >= 0) {
    g.strokeStyle = INK;
    g.lineWidth = 2;
    g.strokeRect(1, (highlight / rows) * h, w - 2, h / rows);
  }
}
