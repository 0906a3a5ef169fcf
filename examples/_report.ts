/** A self-contained HTML report of a training run: inline SVG charts, no scripts, no network. */

const W = 420, H = 220, M = { l: 52, r: 12, t: 28, b: 36 };

function esc(s: string): string {
  return s.replace(
    /[&<>"]/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!,
  );
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-2 ? v.toExponential(1) : Number(v.toPrecision(3)).toString();
}

function frame(
  title: string,
  xLabel: string,
  x0: number,
  x1: number,
  y0: number,
  y1: number,
  body: string,
): string {
  const ticks: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const y = M.t + ((H - M.t - M.b) * i) / 4, v = y1 - ((y1 - y0) * i) / 4;
    ticks.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${y}" y2="${y}" stroke="#e5e7eb"/>`);
    ticks.push(`<text x="${M.l - 6}" y="${y + 4}" text-anchor="end">${fmt(v)}</text>`);
    const x = M.l + ((W - M.l - M.r) * i) / 4, u = x0 + ((x1 - x0) * i) / 4;
    ticks.push(`<text x="${x}" y="${H - M.b + 16}" text-anchor="middle">${fmt(u)}</text>`);
  }
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">
<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${
    esc(title)
  }</text>
${ticks.join("\n")}
<text x="${W / 2}" y="${H - 4}" text-anchor="middle">${esc(xLabel)}</text>
<rect x="${M.l}" y="${M.t}" width="${W - M.l - M.r}" height="${
    H - M.t - M.b
  }" fill="none" stroke="#9ca3af"/>
${body}
</svg>`;
}

/** A line chart of `values` (x = 1..n), with an optional dashed target line. */
export function lineChart(
  title: string,
  xLabel: string,
  values: number[],
  target?: number,
): string {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return "";
  let y0 = Math.min(...finite, target ?? Infinity), y1 = Math.max(...finite, target ?? -Infinity);
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const n = values.length;
  const sx = (i: number) => M.l + ((W - M.l - M.r) * (n === 1 ? 0.5 : i / (n - 1)));
  const sy = (v: number) => M.t + ((H - M.t - M.b) * (y1 - v)) / (y1 - y0);
  const pts = values.map((
    v,
    i,
  ) => (Number.isFinite(v) ? `${sx(i).toFixed(1)},${sy(v).toFixed(1)}` : "")).filter(Boolean);
  let body = `<polyline fill="none" stroke="#2563eb" stroke-width="1.5" points="${
    pts.join(" ")
  }"/>`;
  if (n <= 60) {
    body += values.map((v, i) => `<circle cx="${sx(i)}" cy="${sy(v)}" r="2" fill="#2563eb"/>`).join(
      "",
    );
  }
  if (target !== undefined) {
    body += `<line x1="${M.l}" x2="${W - M.r}" y1="${sy(target)}" y2="${
      sy(target)
    }" stroke="#dc2626" stroke-dasharray="4 3"/>`;
  }
  return frame(title, xLabel, 1, n, y0, y1, body);
}

/** A histogram of `values` in [lo, hi] with `bins` bins and a dashed marker at `marker`. */
export function histogram(
  title: string,
  values: ArrayLike<number>,
  lo: number,
  hi: number,
  bins: number,
  marker?: number,
): string {
  const counts = new Array(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(((values[i] - lo) / (hi - lo)) * bins)));
    counts[b]++;
  }
  const max = Math.max(...counts, 1);
  const bw = (W - M.l - M.r) / bins;
  const sy = (v: number) => M.t + ((H - M.t - M.b) * (max - v)) / max;
  let body = counts.map((c, i) =>
    `<rect x="${(M.l + i * bw + 0.5).toFixed(1)}" y="${sy(c).toFixed(1)}" width="${
      (bw - 1).toFixed(1)
    }" height="${(H - M.b - sy(c)).toFixed(1)}" fill="#10b981"/>`
  ).join("");
  if (marker !== undefined) {
    const x = M.l + ((W - M.l - M.r) * (marker - lo)) / (hi - lo);
    body += `<line x1="${x}" x2="${x}" y1="${M.t}" y2="${
      H - M.b
    }" stroke="#dc2626" stroke-dasharray="4 3"/>`;
  }
  return frame(title, "best cosine with an atom", lo, hi, 0, max, body);
}

/** The whole page. */
export function reportHtml(
  title: string,
  summary: [string, string][],
  charts: string[],
  notes: string[],
): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#111}table{border-collapse:collapse}
td{padding:2px 12px 2px 0}.charts{display:flex;flex-wrap:wrap;gap:12px}.pass{color:#059669}.fail{color:#dc2626}</style>
</head><body>
<h1>${esc(title)}</h1>
<table>${
    summary.map(([k, v]) => `<tr><td>${esc(k)}</td><td><b>${v}</b></td></tr>`).join("")
  }</table>
<div class="charts">${charts.join("\n")}</div>
${notes.map((n) => `<p>${esc(n)}</p>`).join("\n")}
</body></html>
`;
}
