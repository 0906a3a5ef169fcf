/**
 * LayerNorm over each row of a rows×cols matrix; threads split the rows. Row statistics in f64.
 */

import { partEnd, partStart } from "./simd";

/** out = (x − mean)·rstd·weight + bias per row; stores mean and rstd (biased variance). */
export function layerNorm(
  out: usize,
  mean: usize,
  rstd: usize,
  x: usize,
  weight: usize,
  bias: usize,
  rows: i32,
  cols: i32,
  eps: f64,
  tid: i32,
  nt: i32,
): void {
  const r0 = partStart(rows, tid, nt, 1), r1 = partEnd(rows, tid, nt, 1);
  for (let r = r0; r < r1; r++) {
    const xr = x + ((<usize> r * <usize> cols) << 2), or = out + ((<usize> r * <usize> cols) << 2);
    let sum: f64 = 0;
    for (let c = 0; c < cols; c++) sum += <f64> load<f32>(xr + (<usize> c << 2));
    const m = sum / <f64> cols;
    let sq: f64 = 0;
    for (let c = 0; c < cols; c++) {
      const d = <f64> load<f32>(xr + (<usize> c << 2)) - m;
      sq += d * d;
    }
    const s = 1 / Math.sqrt(sq / <f64> cols + eps);
    store<f32>(mean + (<usize> r << 2), <f32> m);
    store<f32>(rstd + (<usize> r << 2), <f32> s);
    for (let c = 0; c < cols; c++) {
      const p = <usize> c << 2;
      const v = (<f64> load<f32>(xr + p) - m) * s * <f64> load<f32>(weight + p) +
        <f64> load<f32>(bias + p);
      store<f32>(or + p, <f32> v);
    }
  }
}

/**
 * Backward of layerNorm: writes dx; dweight and dbias accumulate. Threads split the rows for dx
 * and keep their dweight/dbias sums in f64 in the workspace (2·cols f64); `layerNormReduce`
 * then adds them.
 */
export function layerNormBackward(
  dx: usize,
  dy: usize,
  x: usize,
  mean: usize,
  rstd: usize,
  weight: usize,
  rows: i32,
  cols: i32,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  const r0 = partStart(rows, tid, nt, 1), r1 = partEnd(rows, tid, nt, 1);
  const dw = ws + <usize> tid * wsStride, db = dw + (<usize> cols << 3);
  memory.fill(dw, 0, <usize> cols << 4);
  for (let r = r0; r < r1; r++) {
    const off = (<usize> r * <usize> cols) << 2;
    const xr = x + off, g = dy + off, o = dx + off;
    const mu = <f64> load<f32>(mean + (<usize> r << 2)),
      rs = <f64> load<f32>(rstd + (<usize> r << 2));
    let sumG: f64 = 0, sumGX: f64 = 0;
    for (let c = 0; c < cols; c++) {
      const p = <usize> c << 2, q = <usize> c << 3;
      const xh = (<f64> load<f32>(xr + p) - mu) * rs;
      const d = <f64> load<f32>(g + p);
      const gw = d * <f64> load<f32>(weight + p);
      sumG += gw;
      sumGX += gw * xh;
      store<f64>(dw + q, load<f64>(dw + q) + d * xh);
      store<f64>(db + q, load<f64>(db + q) + d);
    }
    const mG = sumG / <f64> cols, mGX = sumGX / <f64> cols;
    for (let c = 0; c < cols; c++) {
      const p = <usize> c << 2;
      const xh = (<f64> load<f32>(xr + p) - mu) * rs;
      store<f32>(
        o + p,
        <f32> (rs * (<f64> load<f32>(g + p) * <f64> load<f32>(weight + p) - mG - xh * mGX)),
      );
    }
  }
}

/** dweight[c] += Σ_t ws_t.dw[c], dbias[c] += Σ_t ws_t.db[c] over `parts` thread workspaces. */
export function layerNormReduce(
  dweight: usize,
  dbias: usize,
  cols: i32,
  parts: i32,
  ws: usize,
  wsStride: usize,
  tid: i32,
  nt: i32,
): void {
  const c0 = partStart(cols, tid, nt, 4), c1 = partEnd(cols, tid, nt, 4);
  for (let c = c0; c < c1; c++) {
    let w: f64 = 0, b: f64 = 0;
    for (let t = 0; t < parts; t++) {
      const base = ws + <usize> t * wsStride;
      w += load<f64>(base + (<usize> c << 3));
      b += load<f64>(base + ((<usize> (cols + c)) << 3));
    }
    const p = <usize> c << 2;
    store<f32>(dweight + p, <f32> (<f64> load<f32>(dweight + p) + w));
    store<f32>(dbias + p, <f32> (<f64> load<f32>(dbias + p) + b));
  }
}
