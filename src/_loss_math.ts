/**
 * The seed's loss formulas as plain functions of host arrays, with their exact gradients. Sizes:
 * B tokens, D input dim, C concepts; arrays are row-major. They run in float64 (the tests check
 * them against finite differences) and back the losses of `src/losses.ts` that have no backend op.
 */

/** Value and gradients of a loss term; absent gradients are zero. */
export interface TermResult {
  value: number;
  dXHat?: Float64Array;
  dCodes?: Float64Array;
  dPreCodes?: Float64Array;
  dDictionary?: Float64Array;
}

type Arr = ArrayLike<number>;

/** Mean over all elements of (x − x̂)², d/dx̂ = 2(x̂ − x)/n. */
export function mseTerm(x: Arr, xHat: Arr): TermResult {
  const n = x.length;
  const d = new Float64Array(n);
  let v = 0;
  for (let i = 0; i < n; i++) {
    const r = xHat[i] - x[i];
    v += r * r;
    d[i] = (2 * r) / n;
  }
  return { value: v / n, dXHat: d };
}

/** penalty · mean(|z|), d/dz = penalty·sign(z)/n (sign(0) = 0). */
export function l1Term(codes: Arr, penalty: number): TermResult {
  const n = codes.length;
  const d = new Float64Array(n);
  let v = 0;
  for (let i = 0; i < n; i++) {
    v += Math.abs(codes[i]);
    d[i] = (penalty * Math.sign(codes[i])) / n;
  }
  return { value: (penalty * v) / n, dCodes: d };
}

/**
 * penalty · mean over rows of hoyer(z_r) = (√C − ‖z_r‖₁ / (‖z_r‖₂ + 1e-6)) / (√C − 1).
 * For an all-zero row the gradient is taken as 0 (PyTorch's autograd gives NaN there: the
 * derivative of ‖z‖₂ at 0).
 */
export function hoyerTerm(codes: Arr, B: number, C: number, penalty: number): TermResult {
  const d = new Float64Array(B * C);
  const sq = Math.sqrt(C);
  let v = 0;
  for (let r = 0; r < B; r++) {
    let a = 0, s = 0;
    for (let c = 0; c < C; c++) {
      const z = codes[r * C + c];
      a += Math.abs(z);
      s += z * z;
    }
    const l2 = Math.sqrt(s), den = l2 + 1e-6;
    v += (sq - a / den) / (sq - 1);
    if (l2 === 0) continue;
    const k = -penalty / B / (sq - 1);
    for (let c = 0; c < C; c++) {
      const z = codes[r * C + c];
      d[r * C + c] = k * (Math.sign(z) / den - (a * z) / (l2 * den * den));
    }
  }
  return { value: (penalty * v) / B, dCodes: d };
}

/** penalty · mean over rows of kappa4(z_r) = Σ z⁴ / ((Σ z²)² + 1e-6). */
export function kappa4Term(codes: Arr, B: number, C: number, penalty: number): TermResult {
  const d = new Float64Array(B * C);
  let v = 0;
  for (let r = 0; r < B; r++) {
    let s2 = 0, s4 = 0;
    for (let c = 0; c < C; c++) {
      const z = codes[r * C + c];
      s2 += z * z;
      s4 += z ** 4;
    }
    const den = s2 * s2 + 1e-6;
    v += s4 / den;
    const k = penalty / B;
    for (let c = 0; c < C; c++) {
      const z = codes[r * C + c];
      d[r * C + c] = k * ((4 * z ** 3) / den - (s4 * 4 * s2 * z) / (den * den));
    }
  }
  return { value: (penalty * v) / B, dCodes: d };
}

/** α · mean(D²) (the dictionary part of the seed's `mse_elastic`). */
export function dictionaryL2Term(dictionary: Arr, alpha: number): TermResult {
  const n = dictionary.length;
  const d = new Float64Array(n);
  let v = 0;
  for (let i = 0; i < n; i++) {
    v += dictionary[i] ** 2;
    d[i] = (2 * alpha * dictionary[i]) / n;
  }
  return { value: (alpha * v) / n, dDictionary: d };
}

/**
 * Indices of the k largest values of a row, ties broken by the lower index (PyTorch leaves the
 * order of ties unspecified).
 */
export function topKIndices(row: Arr, k: number): number[] {
  const idx = Array.from({ length: row.length }, (_, i) => i);
  idx.sort((a, b) => (row[b] - row[a]) || (a - b));
  return idx.slice(0, k);
}

/**
 * The seed's `top_k_auxiliary_loss` without its mse: penalty · mean((x − x̂ − A·D)²), where A keeps,
 * per row, the C/2 largest values of relu(preCodes) − codes (the strongest codes that did not
 * fire) and zeroes the rest. A row with fewer than C/2 positive values fills its top-k with tied
 * zeros: each of its z zeros is selected with weight (slots left)/z, the expectation over a
 * uniformly random tie-break (see topKAuxiliaryLoss). Gradients flow to x̂, to the selected
 * pre-codes (through the ReLU), to the codes (with a minus sign) and to the dictionary.
 */
export function topKAuxTerm(
  x: Arr,
  xHat: Arr,
  preCodes: Arr,
  codes: Arr,
  dictionary: Arr,
  B: number,
  D: number,
  C: number,
  penalty: number,
): TermResult {
  const k = Math.floor(C / 2);
  const aux = new Float64Array(B * C);
  const selected = new Float64Array(B * C); // selection weight: 1, or (slots left)/z for the z zeros
  const p = new Float64Array(C);
  for (let r = 0; r < B; r++) {
    for (let c = 0; c < C; c++) p[c] = Math.max(preCodes[r * C + c], 0) - codes[r * C + c];
    let taken = 0;
    for (const c of topKIndices(p, k)) {
      if (p[c] === 0) break;
      aux[r * C + c] = p[c];
      selected[r * C + c] = 1;
      taken++;
    }
    if (taken < k) { // tied zeros fill the top-k: each of the z zeros by (k − taken)/z
      let zeros = 0;
      for (let c = 0; c < C; c++) if (p[c] === 0) zeros++;
      for (let c = 0; c < C; c++) if (p[c] === 0) selected[r * C + c] = (k - taken) / zeros;
    }
  }
  const n = B * D;
  const e = new Float64Array(n); // residual − residual_hat
  let v = 0;
  for (let r = 0; r < B; r++) {
    for (let j = 0; j < D; j++) {
      let rh = 0;
      for (let c = 0; c < C; c++) rh += aux[r * C + c] * dictionary[c * D + j];
      const q = x[r * D + j] - xHat[r * D + j] - rh;
      e[r * D + j] = q;
      v += q * q;
    }
  }
  const g = (-2 * penalty) / n; // d(value)/d(residual_hat) = g·e
  const dXHat = new Float64Array(n);
  for (let i = 0; i < n; i++) dXHat[i] = g * e[i];
  const dAux = new Float64Array(B * C);
  const dDictionary = new Float64Array(C * D);
  for (let r = 0; r < B; r++) {
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let j = 0; j < D; j++) s += e[r * D + j] * dictionary[c * D + j];
      dAux[r * C + c] = selected[r * C + c] * g * s;
      const a = aux[r * C + c];
      if (a !== 0) { for (let j = 0; j < D; j++) dDictionary[c * D + j] += g * a * e[r * D + j]; }
    }
  }
  const dPreCodes = new Float64Array(B * C), dCodes = new Float64Array(B * C);
  for (let i = 0; i < B * C; i++) {
    dPreCodes[i] = preCodes[i] > 0 ? dAux[i] : 0;
    dCodes[i] = -dAux[i];
  }
  return { value: (penalty * v) / n, dXHat, dCodes, dPreCodes, dDictionary };
}

/**
 * The seed's `reanimation_regularizer`: −penalty · Σ_{r,c} preCodes[r, c]·dead[c] / (Σ_c dead[c] + 1e-6),
 * where dead[c] = 1 when column c of the codes sums to 0 in the batch (no gradient through the mask).
 */
export function reanimationTerm(
  preCodes: Arr,
  codes: Arr,
  B: number,
  C: number,
  penalty: number,
): TermResult {
  const dead = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let r = 0; r < B; r++) s += codes[r * C + c];
    dead[c] = s === 0 ? 1 : 0;
  }
  const nDead = dead.reduce((a, b) => a + b, 0) + 1e-6;
  let v = 0;
  const d = new Float64Array(B * C);
  for (let r = 0; r < B; r++) {
    for (let c = 0; c < C; c++) {
      v += preCodes[r * C + c] * dead[c];
      d[r * C + c] = (-penalty * dead[c]) / nDead;
    }
  }
  return { value: (-penalty * v) / nDead, dPreCodes: d };
}

/** penalty·(l0/target − 1)² and its derivative with respect to l0 (dictionary_learning's JumpReLU loss). */
export function targetL0Outer(
  l0: number,
  target: number,
  penalty: number,
): { value: number; dL0: number } {
  const u = l0 / target - 1;
  return { value: penalty * u * u, dL0: (2 * penalty * u) / target };
}
