/**
 * The training step alone, on batches already in memory: bench/pipeline.ts's ceiling for
 * `jumpsae train`. The same model, loss and optimizer as the CLI's defaults (mlp_bn_1 encoder,
 * Adam lr 1e-3, clip 1, mse_l1 1e-3), one epoch over the file's rows pre-gathered into batches.
 *
 *   deno run -A bench/pipeline_step.ts ACTS.npy --concepts 1024 --batch-size 1024
 *
 * Prints one JSON line: rows, epoch seconds, rows/s.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Adam, batchLoader, JumpSAE, losses, type Tensor, trainSae } from "../mod.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    concepts: { type: "string", default: "1024" },
    "batch-size": { type: "string", default: "1024" },
    threads: { type: "string" },
  },
});
const loader = await batchLoader(positionals[0], { batchSize: Number(values["batch-size"]) });
const batches: Tensor[] = [];
for await (const b of loader.batches(0)) batches.push(b);
const dim = loader.rowShape[0];
const sae = new JumpSAE(dim, Number(values.concepts), {
  seed: 0,
  threads: values.threads ? Number(values.threads) : undefined,
});
const logs = await trainSae(sae, batches, losses.mseL1(1e-3), new Adam(sae, { lr: 1e-3 }), {
  nbEpochs: 1,
  verbose: false,
});
const epoch = logs.timeEpoch[0];
console.log(
  JSON.stringify({ rows: loader.rows, dim, epoch_s: epoch, rows_per_s: loader.rows / epoch }),
);
sae.dispose();
