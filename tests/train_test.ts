/** trainSae, its data loading, checkpoints and resume, the dead-code tracker and the progress bar. */
import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { JumpSAE, type JumpSAEOptions, type Loss, losses, Random, type Tensor } from "../mod.ts";
import {
  Adam,
  type Batch,
  batchLoader,
  CosineScheduler,
  DeadCodeTracker,
  decodeCheckpoint,
  encodeCheckpoint,
  extractInput,
  ProgressBar,
  type TrainOptions,
  trainSae,
} from "../src/train/mod.ts";
import { saveNpy } from "../src/io/npy.ts";

const D = 6, C = 12;

function dataset(rows = 64, seed = 1): Tensor {
  const rng = new Random(seed);
  return { data: Float32Array.from({ length: rows * D }, () => rng.normal()), shape: [rows, D] };
}

function setup(seed = 2, options: JumpSAEOptions = {}) {
  const sae = new JumpSAE(D, C, {
    seed,
    device: "reference",
    bandwith: 0.1,
    pseudoGradient: "paper",
    ...options,
  });
  const optimizer = new Adam(sae, { lr: 1e-2 });
  return { sae, optimizer };
}

async function params(sae: JumpSAE): Promise<Record<string, Float32Array>> {
  const s = await sae.stateDict();
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.data]));
}

const quiet: TrainOptions = { verbose: false };

Deno.test("trainSae(): logs the seed's keys, and the loss goes down", async () => {
  const { sae, optimizer } = setup();
  try {
    const loader = await batchLoader(dataset(), { batchSize: 16, seed: 0 });
    const logs = await trainSae(sae, loader, losses.mseL0(1e-3), optimizer, {
      ...quiet,
      nbEpochs: 4,
    });
    deepEqual(Object.keys(logs).sort(), [
      "avgLoss",
      "deadFeatures",
      "lr",
      "r2",
      "skippedSteps",
      "stepLoss",
      "timeEpoch",
      "zSparsity",
    ]);
    for (const k of ["avgLoss", "r2", "zSparsity", "deadFeatures", "timeEpoch", "skippedSteps"]) {
      equal(logs[k].length, 4, k);
    }
    equal(logs.stepLoss.length, 16);
    deepEqual(logs.lr, new Array(16).fill(1e-2));
    ok(logs.avgLoss[3] < logs.avgLoss[0], `${logs.avgLoss}`);
    ok(logs.r2[3] > logs.r2[0], `${logs.r2}`);
    ok(logs.zSparsity.every((v) => v > 0 && v <= C));
    deepEqual(logs.skippedSteps, [0, 0, 0, 0]);
    // avgLoss is the mean of the epoch's step losses
    const mean = logs.stepLoss.slice(12).reduce((a, b) => a + b, 0) / 4;
    ok(Math.abs(logs.avgLoss[3] - mean) < 1e-12);
  } finally {
    sae.dispose();
  }
});

Deno.test("trainSae(): R² and L0 per step equal the metrics of a forward pass before the step", async () => {
  const { sae, optimizer } = setup();
  try {
    const x = dataset(16);
    const before = await sae.forward(x); // training mode: same batch statistics as the step
    const steps: { r2: number; l0: number }[] = [];
    await trainSae(sae, [x], losses.mse(), optimizer, {
      ...quiet,
      nbEpochs: 1,
      onStep: (s) => void steps.push(s),
    });
    let res = 0, tot = 0, mean = 0, active = 0;
    for (const v of x.data) mean += v / x.data.length;
    x.data.forEach((v, i) => {
      res += (v - before.xHat.data[i]) ** 2;
      tot += (v - mean) ** 2;
    });
    for (const z of before.codes.data) if (z !== 0) active++;
    const n = x.data.length;
    ok(Math.abs(steps[0].r2 - (1 - (res / n) / (tot / n + 1e-6))) < 1e-5, `${steps[0].r2}`);
    ok(Math.abs(steps[0].l0 - active / 16) < 1e-9, `${steps[0].l0} vs ${active / 16}`);
  } finally {
    sae.dispose();
  }
});

Deno.test("trainSae(): monitoring 2 adds norms; monitoring 0 logs only skipped steps", async () => {
  for (const monitoring of [0, 2] as const) {
    const { sae, optimizer } = setup();
    try {
      const logs = await trainSae(sae, [dataset(16)], losses.mse(), optimizer, {
        ...quiet,
        nbEpochs: 2,
        monitoring,
      });
      if (monitoring === 0) deepEqual(logs, { skippedSteps: [0, 0] });
      else {
        for (
          const k of [
            "zL2",
            "dictionarySparsity",
            "dictionaryNorms",
            "paramsNorm_thresholds",
            "paramsGradNorm_dictionary._weights",
          ]
        ) {
          equal(logs[k]?.length, 2, k);
        }
        ok(Math.abs(logs.dictionaryNorms[1] - 1) < 1e-5); // l2-normalised atoms
      }
    } finally {
      sae.dispose();
    }
  }
});

Deno.test("trainSae(): every kind of data loader gives the same run", async () => {
  const x = dataset(48);
  const batches = [0, 1, 2].map((b) => ({
    data: x.data.slice(b * 16 * D, (b + 1) * 16 * D),
    shape: [16, D],
  }));
  const npyPath = await Deno.makeTempFile({ suffix: ".npy" });
  await Deno.writeFile(npyPath, saveNpy(x));
  const loaders: [string, () => Promise<unknown>][] = [
    ["tensors", () => Promise.resolve(batches)],
    ["tuples", () => Promise.resolve(batches.map((b) => [b, "label"]))],
    ["dicts", () => Promise.resolve(batches.map((b) => ({ data: b })))],
    ["async function", () =>
      Promise.resolve(async function* () {
        for (const b of batches) yield b;
      })],
    ["batchLoader", () => batchLoader(x, { batchSize: 16, shuffle: false })],
    ["npy batchLoader", () => batchLoader(npyPath, { batchSize: 16, shuffle: false })],
  ];
  let reference: number[] | null = null;
  try {
    for (const [name, make] of loaders) {
      const { sae, optimizer } = setup();
      try {
        const logs = await trainSae(sae, await make() as never, losses.mse(), optimizer, {
          ...quiet,
          nbEpochs: 2,
        });
        reference ??= logs.stepLoss;
        deepEqual(logs.stepLoss, reference, name);
      } finally {
        sae.dispose();
      }
    }
  } finally {
    await Deno.remove(npyPath);
  }
  // a one-shot generator cannot give a second epoch
  const { sae, optimizer } = setup();
  try {
    const once = (function* () {
      yield batches[0];
    })();
    await rejects(
      () => trainSae(sae, once, losses.mse(), optimizer, { ...quiet, nbEpochs: 2 }),
      /yielded no batch in epoch 2/,
    );
  } finally {
    sae.dispose();
  }
});

Deno.test("trainSae(): a non-finite loss skips the step and leaves parameters and optimizer state unchanged", async () => {
  // no dictionary re-projection: in training mode every forward (skipped step or not) re-projects
  // the atoms in place, as the seed does
  const { sae, optimizer } = setup(2, { dictionaryParams: { normalization: "identity" } });
  try {
    let calls = 0;
    const sometimesNaN: Loss = losses.sum(
      losses.mse(),
      losses.hostLoss(() => ({ value: ++calls === 3 ? NaN : 0 }), { touchesPreCodes: false }),
    );
    const snapshots: { params: Record<string, Float32Array>; opt: unknown }[] = [];
    const logs = await trainSae(
      sae,
      [dataset(16, 1), dataset(16, 2), dataset(16, 3), dataset(16, 4)],
      sometimesNaN,
      optimizer,
      {
        ...quiet,
        nbEpochs: 1,
        onStep: async () => {
          const p = await params(sae);
          delete p["encoder.final_block.1.running_mean"]; // buffers follow every forward, as in PyTorch
          delete p["encoder.final_block.1.running_var"];
          delete p["encoder.final_block.1.num_batches_tracked"];
          snapshots.push({ params: p, opt: await optimizer.stateDict() });
        },
      },
    );
    deepEqual(logs.skippedSteps, [1]);
    ok(Number.isNaN(logs.stepLoss[2]));
    deepEqual(snapshots[2], snapshots[1]); // step 3 (index 2) changed nothing
    ok(JSON.stringify(snapshots[3].params) !== JSON.stringify(snapshots[2].params));
    equal(optimizer.stepCount, 3);
    // epoch means leave the skipped step out
    const finite = logs.stepLoss.filter(Number.isFinite);
    ok(Math.abs(logs.avgLoss[0] - finite.reduce((a, b) => a + b, 0) / 3) < 1e-12);
  } finally {
    sae.dispose();
  }
});

Deno.test("trainSae(): a non-finite gradient with a finite loss is skipped too", async () => {
  const { sae, optimizer } = setup();
  try {
    let calls = 0;
    const badGrad = losses.hostLoss(({ codes }) => ({
      value: 0,
      grads: { codes: new Float32Array(codes.data.length).fill(++calls === 2 ? Infinity : 0) },
    }), { touchesPreCodes: false });
    const logs = await trainSae(
      sae,
      [dataset(16, 1), dataset(16, 2), dataset(16, 3)],
      losses.sum(losses.mse(), badGrad),
      optimizer,
      {
        ...quiet,
        nbEpochs: 1,
      },
    );
    deepEqual(logs.skippedSteps, [1]);
    ok(logs.stepLoss.every(Number.isFinite));
    equal(optimizer.stepCount, 2);
  } finally {
    sae.dispose();
  }
});

Deno.test("trainSae(): killed and resumed from its checkpoint, a run gives the same logs and parameters", async () => {
  const dir = await Deno.makeTempDir();
  const x = dataset(80);
  const run = async (options: TrainOptions) => {
    const { sae, optimizer } = setup(5); // the same initialisation each time…
    const scheduler = new CosineScheduler(optimizer, 1e-2, 1e-4, 15, 3, 1e-3);
    const loader = await batchLoader(x, { batchSize: 16, seed: 3 });
    const loss = losses.sparsityWarmup(losses.mse(), losses.l0Penalty(1e-2), 6);
    try {
      const logs = await trainSae(sae, loader, loss, optimizer, {
        ...quiet,
        nbEpochs: 3,
        scheduler,
        ...options,
      });
      return { logs, params: await params(sae), opt: await optimizer.stateDict() };
    } finally {
      sae.dispose();
    }
  };
  try {
    const full = await run({});
    const path = `${dir}/run.ckpt.safetensors`;
    const controller = new AbortController();
    await rejects(
      () =>
        run({
          checkpoint: { path, everySteps: 4 },
          signal: controller.signal,
          onStep: (s) => void (s.step === 6 && controller.abort()),
        }),
      (e: Error) => e.name === "AbortError",
    );
    const { sae: other } = setup(99); // …but the resumed run starts from another one: the checkpoint wins
    other.dispose();
    const resumed = await run({ checkpoint: path });
    const strip = (l: Record<string, number[]>) => ({ ...l, timeEpoch: [] });
    deepEqual(strip(resumed.logs), strip(full.logs));
    deepEqual(resumed.params, full.params);
    deepEqual(resumed.opt, full.opt);
    // a finished run resumes to its end at once
    const again = await run({ checkpoint: path });
    deepEqual(strip(again.logs), strip(full.logs));
    // a checkpoint of other data is refused
    const { sae, optimizer } = setup();
    const otherData = await batchLoader(x, { batchSize: 8 });
    try {
      await rejects(
        () => trainSae(sae, otherData, losses.mse(), optimizer, { ...quiet, checkpoint: path }),
        /was written for data/,
      );
    } finally {
      sae.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("trainSae(): bad arguments are refused", async () => {
  const { sae, optimizer } = setup();
  try {
    await rejects(
      () => trainSae(sae, [], losses.mse(), optimizer, { nbEpochs: -1 }),
      /nbEpochs must be an integer >= 0, got -1/,
    );
    await rejects(
      () => trainSae(sae, [], losses.mse(), optimizer, { clipGrad: -1 }),
      /clipGrad must be a finite number >= 0/,
    );
    await rejects(
      () => trainSae(sae, [], losses.mse(), optimizer, { monitoring: 3 as 0 }),
      /monitoring must be 0, 1 or 2, got 3/,
    );
    await rejects(() => trainSae(sae, [], {} as Loss, optimizer), /criterion must be a Loss/);
  } finally {
    sae.dispose();
  }
});

Deno.test("extractInput(): tensors, tuples, dicts and nested arrays", () => {
  const t = { data: new Float32Array(4), shape: [2, 2] };
  equal(extractInput(t).data, t.data);
  equal(extractInput([t, 1] as Batch).data, t.data);
  equal(extractInput({ data: t }).data, t.data);
  deepEqual(extractInput([[1, 2], [3, 4]]).shape, [2, 2]);
  deepEqual(extractInput([[[1, 2]], 0] as unknown as Batch).shape, [1, 2]);
  throws(
    () => extractInput(5 as unknown as Batch),
    /A batch must be a tensor, \[tensor, ...\] or \{ data \}, got number/,
  );
});

Deno.test("batchLoader(): seeded permutations, resumable epochs, .npy streaming", async () => {
  const x = { data: Float32Array.from({ length: 10 * 2 }, (_, i) => i), shape: [10, 2] };
  const loader = await batchLoader(x, { batchSize: 4, seed: 7 });
  equal(loader.length, 3);
  const rowsOf = (batches: Tensor[]) =>
    batches.flatMap((b) => Array.from({ length: b.shape[0] }, (_, i) => b.data[2 * i] / 2));
  const epoch0: Tensor[] = [];
  for await (const b of loader.batches(0)) epoch0.push(b);
  deepEqual(rowsOf(epoch0).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  deepEqual(epoch0.map((b) => b.shape), [[4, 2], [4, 2], [2, 2]]);
  const tail: Tensor[] = [];
  for await (const b of loader.batches(0, 1)) tail.push(b);
  deepEqual(tail, epoch0.slice(1));
  ok(JSON.stringify(loader.order(1)) !== JSON.stringify(loader.order(0)));
  deepEqual(
    [...(await batchLoader(x, { batchSize: 4, shuffle: false, dropLast: true })).order(0)],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  equal((await batchLoader(x, { batchSize: 4, dropLast: true })).length, 2);
  const path = await Deno.makeTempFile({ suffix: ".npy" });
  try {
    await Deno.writeFile(path, saveNpy(x));
    const fromFile = await batchLoader(path, { batchSize: 4, seed: 7 });
    const got: Tensor[] = [];
    for await (const b of fromFile.batches(0)) got.push(b);
    deepEqual(got, epoch0);
    await fromFile.close();
  } finally {
    await Deno.remove(path);
  }
  await rejects(() => batchLoader(x, { batchSize: 0 }), /batchSize must be an integer >= 1, got 0/);
});

Deno.test("DeadCodeTracker: alive once fired, ratio, reset", () => {
  const t = new DeadCodeTracker(4);
  t.update([[0, 1, 0, 0], [0, 0, 0, 0]]);
  equal(t.deadRatio(), 0.75);
  t.updateFromColumnSums([0, 0, 3, 0]);
  equal(t.deadRatio(), 0.5);
  t.reset();
  equal(t.deadRatio(), 1);
  throws(() => t.update([[1, 2]]), /z must have shape \[tokens, 4\], got \[1, 2\]/);
});

Deno.test("ProgressBar: renders bar, counts, ETA and metrics; silent when disabled", () => {
  const lines: string[] = [];
  const bar = new ProgressBar("Epoch 2/5", 10, {
    enabled: true,
    write: (s) => void lines.push(s),
    width: 10,
  });
  const line = bar.render(5, { loss: 0.12345, r2: 0.9, tiny: 1e-5 });
  ok(
    /^Epoch 2\/5 \[====> {5}\] 5\/10 \d+:\d\d<\d+:\d\d loss 0\.1235 r2 0\.9000 tiny 1\.00e-5$/
      .test(line),
    line,
  );
  bar.update(10, {});
  bar.done();
  ok(lines[0].startsWith("\rEpoch 2/5 [=========>] 10/10"), lines[0]);
  equal(lines.at(-1), "\n");
  const off = new ProgressBar("x", 3, { enabled: false, write: () => lines.push("!") });
  off.update(3);
  off.done();
  ok(!lines.includes("!"));
});

Deno.test("encodeCheckpoint()/decodeCheckpoint(): round trip, NaN in logs, wrong files refused", () => {
  const bytes = encodeCheckpoint({
    model: {
      w: { data: Float32Array.of(1, 2), shape: [2] },
      "bn.num_batches_tracked": { data: Float32Array.of(7), shape: [] },
    },
    optimizer: {
      kind: "Adam",
      step: 3,
      hyper: { lr: 0.5 },
      buffers: { "w.exp_avg": { data: Float32Array.of(3, 4), shape: [2] } },
    },
    progress: { epoch: 1, logs: { stepLoss: [1, NaN, Infinity] } },
  });
  const back = decodeCheckpoint(bytes);
  deepEqual(back.model.w.data, Float32Array.of(1, 2));
  deepEqual(back.model["bn.num_batches_tracked"].data, Float32Array.of(7));
  deepEqual(back.optimizer.buffers["w.exp_avg"].data, Float32Array.of(3, 4));
  equal(back.optimizer.step, 3);
  deepEqual(back.progress, { epoch: 1, logs: { stepLoss: [1, NaN, Infinity] } });
  throws(() => decodeCheckpoint(new Uint8Array(16)), Error);
});
