/** The seed's metrics on hand-computed values, and the Hungarian algorithm against brute force. */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  avgL2Loss,
  cosineHungarianLoss,
  cosineSimilarityMatrix,
  deadCodes,
  dictionaryCollinearity,
  energyOfCodes,
  hoyer,
  kappa4,
  l0,
  l0Eps,
  l1,
  l2,
  linearSumAssignment,
  r2Score,
  relativeAvgL2Loss,
} from "../src/metrics/mod.ts";
import { Random } from "../src/random.ts";

const close = (a: number, b: number, tol = 1e-6) =>
  ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

Deno.test("l0(), l0Eps(), l1(), l2(): hand values, over all and along an axis", () => {
  const x = [[0, 3, -4], [1e-8, 0, 2]];
  close(l0(x), 4 / 6);
  deepEqual([...l0(x, 0).data], [0.5, 0.5, 1]);
  deepEqual(l0(x, -1).shape, [2]);
  close(l0Eps(x), 3 / 6); // 1e-8 < 1e-6 does not count
  close(l0Eps(x, undefined, 2.5), 2 / 6);
  deepEqual([...l0Eps(x, 0).data], [0, 0.5, 1]);
  close(l1(x), 9 + 1e-8);
  deepEqual([...l1(x, 1).data], [7, Math.fround(2 + 1e-8)]);
  close(l2(x), Math.sqrt(9 + 16 + 4 + 1e-16));
  deepEqual([...l2(x, 1).data], [5, 2]);
  throws(() => l2(x, 2), /l2: dims must be an axis in \[-2, 1\], got 2/);
});

Deno.test("hoyer(), kappa4(): hand values per row", () => {
  // one-hot row: (√4 − 5/(5+1e-6)) / (√4 − 1) ≈ 1; constant row: (2 − 4/(2+1e-6)) / 1 ≈ 0
  const h = hoyer([[0, 0, 5, 0], [1, 1, 1, 1]]).data;
  close(h[0], 1, 1e-6);
  close(h[1], 0, 1e-6);
  // [1, 2]: Σx⁴ = 17, (Σx²)² = 25
  close(kappa4([[1, 2], [0, 0]]).data[0], 17 / (25 + 1e-6));
  equal(kappa4([[1, 2], [0, 0]]).data[1], 0);
  throws(() => hoyer([1, 2]), /x must be a 2-D tensor, got shape \[2\]/);
});

Deno.test("r2Score(), avgL2Loss(), relativeAvgL2Loss(): hand values", () => {
  const x = [[1, 2], [3, 4]], xHat = [[1, 2], [3, 2]];
  // ss_res = 4/4 = 1, mean = 2.5, ss_tot = (2.25+0.25+0.25+2.25)/4 = 1.25
  close(r2Score(x, xHat), 1 - 1 / (1.25 + 1e-6));
  close(avgL2Loss(x, xHat), (0 + 2) / 2);
  close(relativeAvgL2Loss(x, xHat), (0 + 2 / (5 + 1e-6)) / 2);
  throws(
    () => r2Score(x, [[1, 2]]),
    /x and xHat must have the same shape, got \[2, 2\] and \[1, 2\]/,
  );
});

Deno.test("deadCodes(): columns that never fire", () => {
  deepEqual([...deadCodes([[0, 1, 0, 0], [0, 0, 2, 0]]).data], [1, 0, 0, 1]);
});

Deno.test("dictionaryCollinearity(), cosineSimilarityMatrix(), energyOfCodes(): hand values", () => {
  const { maxCollinearity, cosineSimilarity } = dictionaryCollinearity([[1, 0], [0, 2], [-3, 3]]);
  close(maxCollinearity, Math.SQRT1_2, 1e-6);
  deepEqual(cosineSimilarity.shape, [3, 3]);
  close(cosineSimilarity.data[0], (1 / (1 + 1e-6)) ** 2, 1e-7); // rows divided by norm + 1e-6
  close(cosineSimilarityMatrix([[1, 0]], [[1, 1], [0, 2]]).data[0], Math.SQRT1_2);
  // mean codes [1, 0.5]; energies ‖1·[3, 4]‖ = 5, ‖0.5·[0, 2]‖ = 1
  deepEqual([...energyOfCodes([[2, 0], [0, 1]], [[3, 4], [0, 2]]).data], [5, 1]);
  throws(
    () => energyOfCodes([[1, 2]], [[1, 2]]),
    /dictionary must have 2 atoms \(one per code\), got 1/,
  );
});

Deno.test("cosineHungarianLoss(): 0 for a permutation, hand value otherwise", () => {
  close(cosineHungarianLoss([[1, 0], [0, 1]], [[0, 2], [3, 0]]), 0, 1e-7);
  // [[1,0],[0,1]] vs [[1,1],[1,-1]]: cosines .707, .707 / .707, −.707; best pairs 0↔1, 1↔0: 2(1 − .707)
  close(cosineHungarianLoss([[1, 0], [0, 1]], [[1, 1], [1, -1]]), 2 - Math.SQRT2, 1e-6);
});

function bruteForce(cost: number[], n: number, m: number): number {
  let best = Infinity;
  const used = new Array(m).fill(false);
  const go = (i: number, acc: number) => {
    if (i === n) return void (best = Math.min(best, acc));
    for (let j = 0; j < m; j++) {
      if (used[j]) continue;
      used[j] = true;
      go(i + 1, acc + cost[i * m + j]);
      used[j] = false;
    }
  };
  go(0, 0);
  return best;
}

Deno.test("linearSumAssignment(): optimal on random square and rectangular matrices", () => {
  const rng = new Random(3);
  for (const [n, m] of [[1, 1], [3, 3], [5, 5], [6, 6], [3, 6], [6, 4]]) {
    for (let trial = 0; trial < 5; trial++) {
      const cost = Array.from({ length: n * m }, () => Math.floor(rng.next() * 20) - 5);
      const { rowInd, colInd, total } = linearSumAssignment(cost, n, m);
      const expected = n <= m ? bruteForce(cost, n, m) : bruteForce(transpose(cost, n, m), m, n);
      close(total, expected, 1e-12);
      equal(rowInd.length, Math.min(n, m));
      equal(new Set(colInd).size, colInd.length);
      close(rowInd.reduce((s, r, k) => s + cost[r * m + colInd[k]], 0), total, 1e-12);
    }
  }
  deepEqual(linearSumAssignment([4, 1, 3, 2, 0, 5, 3, 2, 2], 3, 3), {
    rowInd: [0, 1, 2],
    colInd: [1, 0, 2],
    total: 5,
  });
  throws(() => linearSumAssignment([1, NaN], 1, 2), /cost must be finite, got NaN at index 1/);
});

function transpose(a: number[], n: number, m: number): number[] {
  const out = new Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[j * n + i] = a[i * m + j];
  return out;
}
