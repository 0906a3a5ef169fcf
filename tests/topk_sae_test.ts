/** TopKSAE / BatchTopKSAE: the tie rule, the contract's errors, keys and parameters. */
import { deepStrictEqual, equal, ok, rejects, throws } from "node:assert/strict";
import {
  Adam,
  BatchTopKSAE,
  JumpSAE,
  kthLargest,
  losses,
  topKRows,
  TopKSAE,
  trainSae,
} from "../mod.ts";

const x = (rows: number, dim: number) => ({
  data: Float32Array.from({ length: rows * dim }, (_, i) => Math.sin(1.7 * i + 0.3) * 2),
  shape: [rows, dim],
});

Deno.test("topKRows: larger first, ties to the lower index; kthLargest", () => {
  deepStrictEqual([...topKRows(Float32Array.of(0, 2, 0, 2, 1, 0), 2, 3, 2)], [1, 1, 0, 1, 1, 0]);
  deepStrictEqual([...topKRows(Float32Array.of(0, 0, 0, 5), 1, 4, 2)], [1, 0, 0, 1]);
  equal(kthLargest(Float32Array.of(3, -1, 2, 2), 3), 2);
  throws(() => topKRows(new Float32Array(4), 1, 4, 5), /k must be an integer in \[1, 4\], got 5/);
  throws(() => kthLargest(new Float32Array(2), 0), /k must be an integer in \[1, 2\], got 0/);
});

Deno.test("TopKSAE: at most topK codes per token, the seed's state-dict keys, no thresholds parameter", async () => {
  const sae = new TopKSAE(6, 20, { seed: 1, device: "reference" });
  equal(sae.topK, 2); // the seed's default max(20 // 10, 1)
  const { codes, preCodes } = await sae.forward(x(5, 6));
  for (let r = 0; r < 5; r++) {
    const row = codes.data.subarray(r * 20, r * 20 + 20);
    ok(row.filter((v) => v !== 0).length <= 2);
    for (let c = 0; c < 20; c++) ok(row[c] === 0 || row[c] === preCodes.data[r * 20 + c]);
  }
  const dict = await sae.stateDict();
  ok(
    !("thresholds" in dict) && "encoder.final_block.0.weight" in dict &&
      "dictionary._weights" in dict,
  );
  ok(sae.parameters().every((p) => p.name !== "thresholds"));
  throws(
    () => sae.loadStateDict({ ...dict, thresholds: { data: new Float32Array(20), shape: [20] } }),
    /Unexpected key thresholds in state dict: a TopKSAE has no thresholds/,
  );
  // a round trip through the state dict gives the same model
  const twin = new TopKSAE(6, 20, { seed: 9, device: "reference" });
  await twin.loadStateDict(dict);
  sae.eval();
  twin.eval();
  deepStrictEqual((await twin.forward(x(3, 6))).codes, (await sae.forward(x(3, 6))).codes);
  sae.dispose();
  twin.dispose();
});

Deno.test("TopKSAE / BatchTopKSAE: bad options are refused with the argument named", () => {
  throws(() => new TopKSAE(6, 20, { topK: 0 }), /topK must be an integer in \[1, 20\], got 0/);
  throws(() => new TopKSAE(6, 20, { topK: 21 }), /topK must be an integer in \[1, 20\], got 21/);
  throws(
    () => new TopKSAE(6, 20, { kernel: "gaussian" } as never),
    /Unknown option kernel of TopKSAE: expected one of encoderModule/,
  );
  throws(
    () => new BatchTopKSAE(6, 20, { thresholdMomentum: 1.5 }),
    /thresholdMomentum must be a number in \[0, 1\], got 1.5/,
  );
  throws(() => new BatchTopKSAE(6, 20, null as never), TypeError);
});

Deno.test("BatchTopKSAE: eval before any training forward is refused; the running threshold can be set", async () => {
  const sae = new BatchTopKSAE(6, 20, { topK: 12, seed: 2, device: "reference" }).eval();
  await rejects(() => sae.forward(x(4, 6)), /runningThreshold is not initialized/);
  throws(
    () => (sae.runningThreshold = NaN),
    /runningThreshold must be a finite number or null, got NaN/,
  );
  sae.runningThreshold = 0.25;
  const { codes } = await sae.forward(x(4, 6));
  ok(codes.data.every((v) => v === 0 || v >= 0.25));
  sae.train();
  await sae.forward(x(4, 6));
  const t = sae.runningThreshold!;
  ok(t !== 0.25 && Number.isFinite(t));
  sae.dispose();
  const big = new BatchTopKSAE(6, 20, { topK: 50, encoderModule: "linear", device: "reference" });
  const before = await big.stateDict();
  throws(
    () => big.forward(x(2, 6)),
    /topK \(50\) must be at most the number of codes in the batch, got 40/,
  );
  deepStrictEqual(await big.stateDict(), before);
  equal(big.runningThreshold, null);
  big.dispose();
});

Deno.test("TopKSAE trains with an optimizer: the loss goes down, the thresholds stay out", async () => {
  const sae = new TopKSAE(6, 24, { topK: 4, seed: 3, device: "reference" });
  const opt = new Adam(sae, { lr: 1e-2 });
  const batch = x(32, 6);
  const first = await sae.lossAndGradients(batch, losses.mse());
  let last = first;
  for (let i = 0; i < 30; i++) {
    last = await sae.lossAndGradients(batch, losses.mse());
    await opt.step();
  }
  ok(last < 0.8 * first, `loss ${first} → ${last}`);
  ok(!(sae instanceof TopKSAE) || sae instanceof JumpSAE); // shares JumpSAE's machinery
  sae.dispose();
});

Deno.test("trainSae trains a TopKSAE: logged L0 is at most topK, the loss goes down", async () => {
  const sae = new TopKSAE(6, 24, { topK: 3, seed: 4, device: "reference" });
  const batches = [x(16, 6), x(16, 6)];
  const logs = await trainSae(sae, batches, losses.mse(), new Adam(sae, { lr: 1e-2 }), {
    nbEpochs: 4,
    progress: false,
    verbose: false,
  });
  ok(logs.zSparsity.every((l0) => l0 <= 3), `L0 ${logs.zSparsity}`);
  ok(logs.avgLoss.at(-1)! < logs.avgLoss[0], `loss ${logs.avgLoss}`);
  sae.dispose();
});

Deno.test("TopKSAE.forward runs in the mode it was called in, even if eval() follows at once", async () => {
  const a = new TopKSAE(6, 20, { topK: 4, seed: 5, device: "reference" });
  const b = new TopKSAE(6, 20, { topK: 4, seed: 5, device: "reference" });
  const pending = a.forward(x(8, 6));
  a.eval();
  const got = await pending, want = await b.forward(x(8, 6)); // b stays in training mode
  deepStrictEqual(got, want); // (a's eval() then re-projects its dictionary, as the seed's does)
  a.dispose();
  b.dispose();
});
