/**
 * A small training run for the kill test of `tests/fuzz_checkpoint_test.ts`: checkpoints after
 * every step into `<dir>/run.ckpt.safetensors`, prints `{"step": n}` before each save, and at
 * the end writes the parameters, optimizer state and logs to `<dir>/final.json`.
 *
 * Usage: deno run -A tests/_kill_child.ts DIR
 */
import { Adam, batchLoader, CosineScheduler, JumpSAE, losses, Random, trainSae } from "../mod.ts";

const dir = Deno.args[0];
const D = 6, C = 12;
const rng = new Random(1);
const x = { data: Float32Array.from({ length: 160 * D }, () => rng.normal()), shape: [160, D] };
const sae = new JumpSAE(D, C, { seed: 5, device: "reference", bandwith: 0.1 });
const optimizer = new Adam(sae, { lr: 1e-2 });
const scheduler = new CosineScheduler(optimizer, 1e-2, 1e-4, 60, 3, 1e-3);
const loader = await batchLoader(x, { batchSize: 8, seed: 3 });
const logs = await trainSae(sae, loader, losses.mseL0(1e-2), optimizer, {
  verbose: false,
  nbEpochs: 3,
  scheduler,
  checkpoint: { path: `${dir}/run.ckpt.safetensors`, everySteps: 1 },
  onStep: (s) => console.log(JSON.stringify({ step: s.step })),
});
const state = await sae.stateDict();
const opt = await optimizer.stateDict();
await Deno.writeTextFile(
  `${dir}/final.json`,
  JSON.stringify({
    params: Object.fromEntries(Object.entries(state).map(([k, v]) => [k, [...v.data]])),
    optimizer: {
      ...opt,
      buffers: Object.keys(opt.buffers).map((k) => [k, [...opt.buffers[k].data]]),
    },
    logs: { ...logs, timeEpoch: [] },
  }),
);
sae.dispose();
