/**
 * The reference backend: every op written plainly in TypeScript, in the order PyTorch's formulas
 * read, with float64 accumulators. It is the oracle the fast backends are tested against, and
 * the fallback where neither WebAssembly threads nor WebGPU exist. Select it with
 * `device: "reference"`.
 */

import { kernelValue, pseudoGradientScale } from "../kernels.ts";
import { csrFromDense, type SparseCodes } from "../sparse_codes.ts";
import { topKIndices } from "../_loss_math.ts";
import type {
  AdamParams,
  Backend,
  DeviceBuffer,
  MatmulParams,
  NormalizationKind,
  PseudoGradient,
  SgdParams,
} from "./backend.ts";
import { topKRows } from "./_topk.ts";

/** A reference buffer is a plain Float32Array. */
class HostBuffer implements DeviceBuffer {
  constructor(readonly data: Float32Array) {}
  get length(): number {
    return this.data.length;
  }
}

const f = (b: DeviceBuffer): Float32Array => (b as HostBuffer).data;

/** Creates the pure-TypeScript reference backend. */
export function createReferenceBackend(): Backend {
  return new ReferenceBackend();
}

class ReferenceBackend implements Backend {
  readonly name = "reference";

  alloc(length: number): DeviceBuffer {
    return new HostBuffer(new Float32Array(length));
  }
  upload(dst: DeviceBuffer, data: Float32Array, offset = 0): void {
    f(dst).set(data, offset);
  }
  download(
    src: DeviceBuffer,
    offset = 0,
    length = src.length - offset,
    into?: Float32Array,
  ): Promise<Float32Array> {
    const part = f(src).subarray(offset, offset + length);
    if (!into) return Promise.resolve(part.slice());
    into.set(part);
    return Promise.resolve(into);
  }
  downloadSparseRows(src: DeviceBuffer, rows: number, cols: number): Promise<SparseCodes> {
    return Promise.resolve(csrFromDense(f(src), rows, cols));
  }
  free(_buffer: DeviceBuffer): void {}
  dispose(): void {}

  copy(dst: DeviceBuffer, src: DeviceBuffer, n: number): void {
    f(dst).set(f(src).subarray(0, n));
  }
  fill(dst: DeviceBuffer, value: number, n: number): void {
    f(dst).fill(value, 0, n);
  }
  scale(out: DeviceBuffer, x: DeviceBuffer, alpha: number, n: number): void {
    const o = f(out), a = f(x);
    for (let i = 0; i < n; i++) o[i] = alpha * a[i];
  }

  matmul(out: DeviceBuffer, a: DeviceBuffer, b: DeviceBuffer, p: MatmulParams): void {
    const { m, n, k } = p;
    const o = f(out), A = f(a), B = f(b);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let l = 0; l < k; l++) {
          const av = p.transA ? A[l * m + i] : A[i * k + l];
          const bv = p.transB ? B[j * k + l] : B[l * n + j];
          acc += av * bv;
        }
        o[i * n + j] = p.accumulate ? o[i * n + j] + acc : acc;
      }
    }
  }
  addBias(out: DeviceBuffer, bias: DeviceBuffer, rows: number, cols: number): void {
    const o = f(out), b = f(bias);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) o[r * cols + c] += b[c];
  }
  sumRows(out: DeviceBuffer, x: DeviceBuffer, rows: number, cols: number): void {
    const o = f(out), a = f(x);
    for (let c = 0; c < cols; c++) {
      let acc = 0;
      for (let r = 0; r < rows; r++) acc += a[r * cols + c];
      o[c] += acc;
    }
  }

  relu(out: DeviceBuffer, x: DeviceBuffer, n: number): void {
    const o = f(out), a = f(x);
    for (let i = 0; i < n; i++) o[i] = a[i] > 0 ? a[i] : 0;
  }
  reluBackward(dx: DeviceBuffer, dy: DeviceBuffer, x: DeviceBuffer, n: number): void {
    const o = f(dx), g = f(dy), a = f(x);
    for (let i = 0; i < n; i++) o[i] = a[i] > 0 ? g[i] : 0;
  }

  batchNormTrain(
    out: DeviceBuffer,
    mean: DeviceBuffer,
    rstd: DeviceBuffer,
    runningMean: DeviceBuffer,
    runningVar: DeviceBuffer,
    x: DeviceBuffer,
    weight: DeviceBuffer,
    bias: DeviceBuffer,
    rows: number,
    cols: number,
    momentum: number,
    eps: number,
  ): void {
    const o = f(out), X = f(x), w = f(weight), b = f(bias);
    const mu = f(mean), rs = f(rstd), rm = f(runningMean), rv = f(runningVar);
    for (let c = 0; c < cols; c++) {
      let sum = 0;
      for (let r = 0; r < rows; r++) sum += X[r * cols + c];
      const m = sum / rows;
      let sq = 0;
      for (let r = 0; r < rows; r++) {
        const d = X[r * cols + c] - m;
        sq += d * d;
      }
      const variance = sq / rows;
      const s = 1 / Math.sqrt(variance + eps);
      mu[c] = m;
      rs[c] = s;
      for (let r = 0; r < rows; r++) o[r * cols + c] = (X[r * cols + c] - m) * s * w[c] + b[c];
      rm[c] = (1 - momentum) * rm[c] + momentum * m;
      rv[c] = (1 - momentum) * rv[c] + momentum * (sq / (rows - 1));
    }
  }
  batchNormEval(
    out: DeviceBuffer,
    x: DeviceBuffer,
    runningMean: DeviceBuffer,
    runningVar: DeviceBuffer,
    weight: DeviceBuffer,
    bias: DeviceBuffer,
    rows: number,
    cols: number,
    eps: number,
  ): void {
    const o = f(out), X = f(x), w = f(weight), b = f(bias), rm = f(runningMean), rv = f(runningVar);
    for (let c = 0; c < cols; c++) {
      const s = 1 / Math.sqrt(rv[c] + eps);
      for (let r = 0; r < rows; r++) o[r * cols + c] = (X[r * cols + c] - rm[c]) * s * w[c] + b[c];
    }
  }
  batchNormBackward(
    dx: DeviceBuffer,
    dweight: DeviceBuffer,
    dbias: DeviceBuffer,
    dy: DeviceBuffer,
    x: DeviceBuffer,
    mean: DeviceBuffer,
    rstd: DeviceBuffer,
    weight: DeviceBuffer,
    rows: number,
    cols: number,
  ): void {
    const DX = f(dx), DW = f(dweight), DB = f(dbias), DY = f(dy), X = f(x);
    const mu = f(mean), rs = f(rstd), w = f(weight);
    for (let c = 0; c < cols; c++) {
      // dx = rstd·w·(dy − mean(dy) − x̂·mean(dy·x̂)), x̂ = (x − mean)·rstd
      let sumDy = 0, sumDyXhat = 0;
      for (let r = 0; r < rows; r++) {
        const g = DY[r * cols + c];
        sumDy += g;
        sumDyXhat += g * (X[r * cols + c] - mu[c]) * rs[c];
      }
      DB[c] += sumDy;
      DW[c] += sumDyXhat;
      const meanDy = sumDy / rows, meanDyXhat = sumDyXhat / rows;
      for (let r = 0; r < rows; r++) {
        const xhat = (X[r * cols + c] - mu[c]) * rs[c];
        DX[r * cols + c] = rs[c] * w[c] * (DY[r * cols + c] - meanDy - xhat * meanDyXhat);
      }
    }
  }
  layerNorm(
    out: DeviceBuffer,
    mean: DeviceBuffer,
    rstd: DeviceBuffer,
    x: DeviceBuffer,
    weight: DeviceBuffer,
    bias: DeviceBuffer,
    rows: number,
    cols: number,
    eps: number,
  ): void {
    const o = f(out), X = f(x), w = f(weight), b = f(bias), mu = f(mean), rs = f(rstd);
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      for (let c = 0; c < cols; c++) sum += X[r * cols + c];
      const m = sum / cols;
      let sq = 0;
      for (let c = 0; c < cols; c++) {
        const d = X[r * cols + c] - m;
        sq += d * d;
      }
      const s = 1 / Math.sqrt(sq / cols + eps);
      mu[r] = m;
      rs[r] = s;
      for (let c = 0; c < cols; c++) o[r * cols + c] = (X[r * cols + c] - m) * s * w[c] + b[c];
    }
  }
  layerNormBackward(
    dx: DeviceBuffer,
    dweight: DeviceBuffer,
    dbias: DeviceBuffer,
    dy: DeviceBuffer,
    x: DeviceBuffer,
    mean: DeviceBuffer,
    rstd: DeviceBuffer,
    weight: DeviceBuffer,
    rows: number,
    cols: number,
  ): void {
    const DX = f(dx), DW = f(dweight), DB = f(dbias), DY = f(dy), X = f(x);
    const mu = f(mean), rs = f(rstd), w = f(weight);
    for (let r = 0; r < rows; r++) {
      // dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·w
      let sumG = 0, sumGXhat = 0;
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const xhat = (X[i] - mu[r]) * rs[r];
        const g = DY[i] * w[c];
        sumG += g;
        sumGXhat += g * xhat;
        DW[c] += DY[i] * xhat;
        DB[c] += DY[i];
      }
      const meanG = sumG / cols, meanGXhat = sumGXhat / cols;
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const xhat = (X[i] - mu[r]) * rs[r];
        DX[i] = rs[r] * (DY[i] * w[c] - meanG - xhat * meanGXhat);
      }
    }
  }

  jumpRelu(
    codes: DeviceBuffer,
    preCodes: DeviceBuffer,
    logThreshold: DeviceBuffer,
    rows: number,
    cols: number,
  ): void {
    const z = f(codes), pre = f(preCodes), theta = thresholds(f(logThreshold), cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = pre[r * cols + c] > 0 ? pre[r * cols + c] : 0;
        z[r * cols + c] = v < theta[c] ? 0 : v;
      }
    }
  }
  jumpReluBackward(
    dPre: DeviceBuffer,
    dLogThreshold: DeviceBuffer,
    dCodes: DeviceBuffer,
    preCodes: DeviceBuffer,
    logThreshold: DeviceBuffer,
    rows: number,
    cols: number,
    pg: PseudoGradient,
  ): void {
    const dp = f(dPre), dt = f(dLogThreshold), g = f(dCodes), pre = f(preCodes);
    const theta = thresholds(f(logThreshold), cols);
    const eps = Math.fround(pg.bandwidth), s = pseudoGradientScale(pg.kernel, eps, pg.mode);
    for (let c = 0; c < cols; c++) {
      let acc = 0;
      for (let r = 0; r < rows; r++) {
        const i = r * cols + c;
        const v = pre[i] > 0 ? pre[i] : 0;
        dp[i] = pre[i] > 0 && v >= theta[c] ? g[i] : 0;
        acc += -s * theta[c] * kernelValue(pg.kernel, Math.fround(v - theta[c]), eps) * g[i];
      }
      dt[c] += acc * theta[c];
    }
  }
  maskedCodeGradient(
    dCodes: DeviceBuffer,
    dXHat: DeviceBuffer,
    dictionary: DeviceBuffer,
    preCodes: DeviceBuffer,
    logThreshold: DeviceBuffer,
    rows: number,
    cols: number,
    dim: number,
    pg: PseudoGradient,
  ): void {
    const o = f(dCodes), g = f(dXHat), W = f(dictionary), pre = f(preCodes);
    const theta = thresholds(f(logThreshold), cols);
    const eps = Math.fround(pg.bandwidth);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const v = pre[i] > 0 ? pre[i] : 0;
        const active = pre[i] > 0 && v >= theta[c];
        // jumpReluBackward weighs dCodes by this f64 kernel value: 0 means it is not read
        if (!active && kernelValue(pg.kernel, Math.fround(v - theta[c]), eps) === 0) continue;
        let acc = 0; // as matmul: one f64 sum, then added to the output
        for (let l = 0; l < dim; l++) acc += g[r * dim + l] * W[c * dim + l];
        o[i] = o[i] + acc;
      }
    }
  }
  heavisideL0(
    loss: DeviceBuffer,
    dLogThreshold: DeviceBuffer,
    preCodes: DeviceBuffer,
    logThreshold: DeviceBuffer,
    rows: number,
    cols: number,
    scale: number,
    pg: PseudoGradient,
  ): void {
    const dt = f(dLogThreshold), pre = f(preCodes), theta = thresholds(f(logThreshold), cols);
    const eps = Math.fround(pg.bandwidth), s = pseudoGradientScale(pg.kernel, eps, pg.mode);
    let count = 0;
    for (let c = 0; c < cols; c++) {
      let acc = 0;
      for (let r = 0; r < rows; r++) {
        const v = pre[r * cols + c] > 0 ? pre[r * cols + c] : 0;
        if (v > theta[c]) count++;
        acc += -s * kernelValue(pg.kernel, Math.fround(v - theta[c]), eps) * scale;
      }
      dt[c] += acc * theta[c];
    }
    f(loss)[0] += scale * count;
  }

  auxKSelect(
    aux: DeviceBuffer,
    selected: DeviceBuffer,
    preCodes: DeviceBuffer,
    codes: DeviceBuffer,
    rows: number,
    cols: number,
    k: number,
  ): void {
    const a = f(aux), sel = f(selected), pre = f(preCodes), z = f(codes);
    a.fill(0, 0, rows * cols);
    sel.fill(0, 0, rows * cols);
    const p = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        p[c] = Math.fround((pre[r * cols + c] > 0 ? pre[r * cols + c] : 0) - z[r * cols + c]);
      }
      let positive = 0, zeros = 0;
      for (let c = 0; c < cols; c++) p[c] > 0 ? positive++ : p[c] === 0 && zeros++;
      if (positive < k && zeros > 0) {
        // tied zeros share the slots left: the expectation over a random tie-break
        const w = Math.fround((Math.min(k, cols) - positive) / zeros);
        for (let c = 0; c < cols; c++) {
          if (p[c] > 0) {
            a[r * cols + c] = p[c];
            sel[r * cols + c] = 1;
          } else if (p[c] === 0) sel[r * cols + c] = w;
        }
        continue;
      }
      for (const c of topKIndices(p, k)) {
        a[r * cols + c] = p[c];
        sel[r * cols + c] = 1;
      }
    }
  }
  auxKBackward(
    dPreCodes: DeviceBuffer,
    dCodes: DeviceBuffer,
    dAux: DeviceBuffer,
    selected: DeviceBuffer,
    preCodes: DeviceBuffer,
    n: number,
  ): void {
    const dp = f(dPreCodes), dz = f(dCodes), g = f(dAux), sel = f(selected), pre = f(preCodes);
    for (let i = 0; i < n; i++) {
      if (sel[i] === 0) continue;
      const gi = Math.fround(sel[i] * g[i]);
      if (pre[i] > 0) dp[i] += gi;
      dz[i] -= gi;
    }
  }
  squaredError(
    loss: DeviceBuffer,
    grad: DeviceBuffer,
    a: DeviceBuffer,
    b: DeviceBuffer,
    n: number,
    scale: number,
  ): void {
    const g = f(grad), A = f(a), B = f(b);
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const d = A[i] - B[i];
      acc += d * d;
      g[i] += 2 * scale * d;
    }
    f(loss)[0] += scale * acc;
  }
  absSum(loss: DeviceBuffer, grad: DeviceBuffer, a: DeviceBuffer, n: number, scale: number): void {
    const g = f(grad), A = f(a);
    let acc = 0;
    for (let i = 0; i < n; i++) {
      acc += Math.abs(A[i]);
      g[i] += scale * Math.sign(A[i]);
    }
    f(loss)[0] += scale * acc;
  }
  sumSquares(out: DeviceBuffer, x: DeviceBuffer, n: number): void {
    const A = f(x);
    let acc = 0;
    for (let i = 0; i < n; i++) acc += A[i] * A[i];
    f(out)[0] += acc;
  }

  normalizeRows(weights: DeviceBuffer, rows: number, cols: number, kind: NormalizationKind): void {
    const W = f(weights);
    const norms = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      for (let c = 0; c < cols; c++) {
        const v = W[r * cols + c];
        acc += kind === "l2" || kind === "max_l2" ? v * v : Math.abs(v);
      }
      // torch.norm rounds the norm to float32 before the division
      norms[r] = Math.fround(kind === "l2" || kind === "max_l2" ? Math.sqrt(acc) : acc);
    }
    if (kind === "max_l2" || kind === "max_l1") {
      let max = 0;
      for (let r = 0; r < rows; r++) max = Math.max(max, norms[r]);
      norms.fill(max);
    } else {
      for (let r = 0; r < rows; r++) norms[r] = Math.fround(norms[r] + 1e-8);
    }
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) W[r * cols + c] = W[r * cols + c] / norms[r];
    }
  }
  scaleByExp(out: DeviceBuffer, x: DeviceBuffer, logScale: DeviceBuffer, n: number): void {
    const o = f(out), A = f(x), s = Math.fround(Math.exp(f(logScale)[0]));
    for (let i = 0; i < n; i++) o[i] = A[i] * s;
  }
  dotScaledByExp(
    out: DeviceBuffer,
    a: DeviceBuffer,
    b: DeviceBuffer,
    logScale: DeviceBuffer,
    n: number,
  ): void {
    const A = f(a), B = f(b), s = Math.fround(Math.exp(f(logScale)[0]));
    let acc = 0;
    for (let i = 0; i < n; i++) acc += A[i] * B[i];
    f(out)[0] += s * acc;
  }

  adam(
    param: DeviceBuffer,
    grad: DeviceBuffer,
    m: DeviceBuffer,
    v: DeviceBuffer,
    n: number,
    p: AdamParams,
  ): void {
    const P = f(param), G = f(grad), M = f(m), V = f(v);
    const bc1 = 1 - p.beta1 ** p.step, bc2 = 1 - p.beta2 ** p.step;
    const stepSize = p.lr / bc1, bc2Sqrt = Math.sqrt(bc2);
    for (let i = 0; i < n; i++) {
      let g = G[i];
      if (p.weightDecay !== 0) {
        if (p.decoupled) P[i] *= 1 - p.lr * p.weightDecay;
        else g += p.weightDecay * P[i];
      }
      M[i] = p.beta1 * M[i] + (1 - p.beta1) * g;
      V[i] = p.beta2 * V[i] + (1 - p.beta2) * g * g;
      P[i] -= stepSize * M[i] / (Math.sqrt(V[i]) / bc2Sqrt + p.eps);
    }
  }
  sgd(param: DeviceBuffer, grad: DeviceBuffer, buf: DeviceBuffer, n: number, p: SgdParams): void {
    const P = f(param), G = f(grad), B = f(buf);
    for (let i = 0; i < n; i++) {
      let g = G[i] + p.weightDecay * P[i];
      if (p.momentum !== 0) {
        B[i] = p.firstStep ? g : p.momentum * B[i] + (1 - p.dampening) * g;
        g = p.nesterov ? g + p.momentum * B[i] : B[i];
      }
      P[i] -= p.lr * g;
    }
  }

  topK(
    values: DeviceBuffer,
    indices: DeviceBuffer,
    nnz: DeviceBuffer,
    codes: DeviceBuffer,
    rows: number,
    cols: number,
    k: number,
  ): void {
    topKRows(f(values), f(indices), f(nnz), f(codes), rows, cols, k);
  }
}

/** θ = exp(t) rounded to float32, as torch.exp on a float32 tensor. */
function thresholds(logThreshold: Float32Array, cols: number): Float64Array {
  const theta = new Float64Array(cols);
  for (let c = 0; c < cols; c++) theta[c] = Math.fround(Math.exp(logThreshold[c]));
  return theta;
}
