/** batchLoader: exact row permutations, chunk shuffles, files read whole or streamed, shards, members, resume. */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import {
  Adam,
  batchLoader,
  type BatchLoaderOptions,
  JumpSAE,
  loadNpy,
  losses,
  saveNpy,
  saveNpz,
  saveSafetensors,
  type Tensor,
  trainSae,
} from "../mod.ts";

const D = 3;
const data = (rows: number, offset = 0): Tensor => ({
  data: Float32Array.from({ length: rows * D }, (_, i) => offset + i / D + (i % D) / 8),
  shape: [rows, D],
});
/** The row index of each row of a batch (the data's first column is the row index). */
const rowsOf = (batches: Tensor[]) =>
  batches.flatMap((b) => Array.from({ length: b.shape[0] }, (_, i) => b.data[D * i]));

async function collect(
  source: Parameters<typeof batchLoader>[0],
  options: BatchLoaderOptions,
  epoch = 0,
  start = 0,
): Promise<Tensor[]> {
  const loader = await batchLoader(source, options);
  try {
    const out: Tensor[] = [];
    for await (const b of loader.batches(epoch, start)) out.push(b);
    return out;
  } finally {
    await loader.close();
  }
}

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("batchLoader(): the exact row permutation is today's, from memory and streamed from disk", async () => {
  const x = data(10);
  const loader = await batchLoader(x, { batchSize: 4, seed: 7 });
  equal(loader.shuffleBy, "rows");
  // the orders of the earlier loader, kept bit for bit
  deepEqual([...loader.order(0)], [8, 1, 7, 0, 3, 6, 5, 9, 4, 2]);
  deepEqual([...loader.order(3)], [6, 3, 7, 9, 1, 4, 0, 5, 2, 8]);
  const epoch3 = await collect(x, { batchSize: 4, seed: 7 }, 3);
  deepEqual(rowsOf(epoch3), [6, 3, 7, 9, 1, 4, 0, 5, 2, 8]);
  deepEqual(epoch3.map((b) => b.shape), [[4, D], [4, D], [2, D]]);
  await withDir(async (dir) => {
    await Deno.writeFile(`${dir}/x.npy`, saveNpy(x));
    const whole = await batchLoader(`${dir}/x.npy`, { batchSize: 4, seed: 7 });
    ok(whole.inMemory);
    const streamed = { batchSize: 4, seed: 7, inMemoryBytes: 0, shuffleBy: "rows" as const };
    const file = await batchLoader(`${dir}/x.npy`, streamed);
    ok(!file.inMemory);
    await file.close();
    deepEqual(await collect(`${dir}/x.npy`, { batchSize: 4, seed: 7 }, 3), epoch3);
    deepEqual(await collect(`${dir}/x.npy`, streamed, 3), epoch3);
    deepEqual(await collect(`${dir}/x.npy`, streamed, 3, 1), epoch3.slice(1));
    // without shuffling: rows in order, streamed by chunks
    const plain = await collect(`${dir}/x.npy`, { ...streamed, shuffle: false, chunkRows: 3 });
    deepEqual(rowsOf(plain), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    deepEqual(plain[0].data, x.data.subarray(0, 4 * D));
  });
});

Deno.test("batchLoader(): the chunk shuffle mixes whole chunks in windows of bufferRows rows", async () => {
  const x = data(50);
  const options = {
    batchSize: 8,
    seed: 3,
    shuffleBy: "chunks" as const,
    chunkRows: 5,
    bufferRows: 15,
  };
  const loader = await batchLoader(x, options);
  const order = [...loader.order(0)];
  deepEqual([...order].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
  // windows of 15 rows are 3 whole chunks of 5 contiguous rows
  for (let w = 0; w < 50; w += 15) {
    const chunks = new Set(order.slice(w, w + 15).map((r) => Math.floor(r / 5)));
    equal(chunks.size, Math.min(15, 50 - w) / 5);
  }
  ok(order.some((r, i) => r !== i), "the rows are shuffled");
  ok(JSON.stringify(order) !== JSON.stringify([...loader.order(1)]), "epochs differ");
  const epoch0 = await collect(x, options);
  deepEqual(rowsOf(epoch0), order);
  deepEqual(epoch0.map((b) => b.shape[0]), [8, 8, 8, 8, 8, 8, 2]);
  deepEqual(epoch0[1].data.subarray(0, D), x.data.subarray(order[8] * D, order[8] * D + D));
  deepEqual(await collect(x, options, 0, 4), epoch0.slice(4));
  await withDir(async (dir) => {
    // streamed from disk: the same batches, whichever read-ahead
    await Deno.writeFile(`${dir}/x.npy`, saveNpy(x));
    const streamed = { ...options, shuffleBy: undefined, inMemoryBytes: 0 };
    const file = await batchLoader(`${dir}/x.npy`, streamed);
    equal(file.shuffleBy, "chunks");
    await file.close();
    deepEqual(await collect(`${dir}/x.npy`, streamed), epoch0);
    deepEqual(await collect(`${dir}/x.npy`, { ...streamed, readAhead: 0 }, 0, 5), epoch0.slice(5));
    deepEqual(await collect(`${dir}/x.npy`, { ...streamed, dropLast: true }), epoch0.slice(0, 6));
  });
});

Deno.test("batchLoader(): shards end to end, .npz and .safetensors members, dtypes", async () => {
  const x = data(12);
  const a = { data: x.data.subarray(0, 7 * D), shape: [7, D] };
  const b = { data: x.data.subarray(7 * D), shape: [5, D] };
  const opts = { batchSize: 5, seed: 1 };
  const chunked = { ...opts, inMemoryBytes: 0, chunkRows: 4, bufferRows: 8 };
  const reference = await collect(x, opts);
  const referenceChunks = await collect(x, { ...chunked, shuffleBy: "chunks" });
  await withDir(async (dir) => {
    await Deno.writeFile(`${dir}/a.npy`, saveNpy(a));
    await Deno.writeFile(`${dir}/b.npy`, saveNpy(b));
    await Deno.writeFile(`${dir}/x.npz`, await saveNpz({ acts: x, labels: [1, 2] }));
    await Deno.writeFile(`${dir}/z.npz`, await saveNpz({ acts: x }, { compress: true }));
    await Deno.writeFile(`${dir}/x.safetensors`, saveSafetensors({ acts: x, w: [[1]] }));
    await Deno.writeFile(`${dir}/h.npy`, saveNpy(x, { dtype: "<f2" }));
    await Deno.writeFile(
      `${dir}/h.safetensors`,
      saveSafetensors({ acts: x }, undefined, { dtypes: { acts: "F16" } }),
    );
    const shards = [`${dir}/a.npy`, `${dir}/b.npy`];
    deepEqual(await collect(shards, opts), reference);
    deepEqual(await collect(shards, chunked), referenceChunks);
    for (const f of [`${dir}/x.npz#acts`, { path: `${dir}/x.safetensors`, member: "acts" }]) {
      deepEqual(await collect(f, opts), reference);
      deepEqual(await collect(f, chunked), referenceChunks);
    }
    deepEqual(await collect(`${dir}/z.npz`, chunked), referenceChunks); // inflated once
    deepEqual(
      await collect([`${dir}/a.npy`, { path: `${dir}/x.npz`, member: "acts" }], opts)
        .then((batches) => batches.reduce((n, t) => n + t.shape[0], 0)),
      19,
    );
    // float16 files, streamed: the values of the same file read whole
    const half = await collect(`${dir}/h.npy`, { ...chunked, shuffle: false });
    deepEqual(await collect(`${dir}/h.safetensors`, { ...chunked, shuffle: false }), half);
    const h = loadNpy(await Deno.readFile(`${dir}/h.npy`));
    deepEqual(half[0].data, h.data.subarray(0, 5 * D));
    equal(half[0].data[1], 0.458251953125); // 1/3 + 1/8 rounded to float16
    await rejects(
      () => batchLoader(`${dir}/x.npz`, opts),
      /x\.npz holds several arrays, expected member to be one of "acts", "labels"/,
    );
    await rejects(
      () => batchLoader({ path: `${dir}/x.safetensors`, member: "b" }, opts),
      /has no member "b", expected member to be one of "acts", "w"/,
    );
    await Deno.writeFile(`${dir}/c.npy`, saveNpy([1, 2, 3, 4]));
    await rejects(
      () => batchLoader([`${dir}/a.npy`, `${dir}/c.npy`], opts),
      /shard 1 \(\.npy file .*c\.npy\) has rows of \[\], expected \[3\] as shard 0/,
    );
  });
});

Deno.test("batchLoader(): bad options are refused before any file is read", async () => {
  const missing = "/nonexistent/acts.npy";
  await rejects(
    () => batchLoader(missing, { batchSize: 0 }),
    /batchSize must be an integer >= 1, got 0/,
  );
  await rejects(
    () => batchLoader(missing, { batchSize: 2, shuffleBy: "tokens" as "rows" }),
    /shuffleBy must be "rows" or "chunks", got "tokens"/,
  );
  await rejects(
    () => batchLoader(missing, { batchSize: 2, chunkRows: 1.5 }),
    /chunkRows must be an integer >= 1, got 1.5/,
  );
  await rejects(
    () => batchLoader(missing, { batchSize: 2, bufferRows: 0 }),
    /bufferRows must be an integer >= 1/,
  );
  await rejects(
    () => batchLoader(missing, { batchSize: 2, readAhead: -1 }),
    /readAhead must be an integer >= 0/,
  );
  await rejects(
    () => batchLoader(missing, { batchSize: 2, inMemoryBytes: NaN }),
    /inMemoryBytes must be a number >= 0, got NaN/,
  );
  await rejects(() => batchLoader(missing, { batchSize: 2 }), (e: Error) => e.name === "NotFound");
  await rejects(
    () => batchLoader({ data: new Float32Array(0), shape: [0, 3] }, { batchSize: 2 }),
    /at least one row/,
  );
  await rejects(() => batchLoader("acts.bin#x", { batchSize: 2 }), /NotFound|No such file/);
});

Deno.test("trainSae(): a run streamed by chunks from a file, killed and resumed mid-epoch, is bit-identical", async () => {
  await withDir(async (dir) => {
    const x = {
      data: Float32Array.from({ length: 96 * 8 }, (_, i) => Math.sin(i * 0.37) + (i % 5) * 0.1),
      shape: [96, 8],
    };
    await Deno.writeFile(`${dir}/x.npy`, saveNpy(x));
    const options = { batchSize: 16, seed: 4, inMemoryBytes: 0, chunkRows: 8, bufferRows: 32 };
    const run = async (extra: Record<string, unknown>) => {
      const sae = new JumpSAE(8, 12, { seed: 2, device: "reference" });
      const optimizer = new Adam(sae, { lr: 1e-2 });
      const loader = await batchLoader(`${dir}/x.npy`, options);
      try {
        const logs = await trainSae(sae, loader, losses.mseL0(1e-3), optimizer, {
          nbEpochs: 2,
          verbose: false,
          ...extra,
        });
        return { logs: { ...logs, timeEpoch: [] }, state: await sae.stateDict() };
      } finally {
        await loader.close();
        sae.dispose();
      }
    };
    const full = await run({});
    const controller = new AbortController();
    const checkpoint = { path: `${dir}/run.ckpt.safetensors`, everySteps: 3 };
    await rejects(
      () =>
        run({
          checkpoint,
          signal: controller.signal,
          onStep: (s: { step: number }) => void (s.step === 4 && controller.abort()),
        }),
      (e: Error) => e.name === "AbortError",
    );
    const resumed = await run({ checkpoint: checkpoint.path });
    deepEqual(resumed.logs, full.logs);
    deepEqual(resumed.state, full.state);
  });
});

Deno.test("trainSae(): a file path trains as batchLoader(path, { batchSize: 1024 })", async () => {
  await withDir(async (dir) => {
    const x = {
      data: Float32Array.from({ length: 2100 * 4 }, (_, i) => Math.cos(i * 0.61) + (i % 3) * 0.2),
      shape: [2100, 4],
    };
    await Deno.writeFile(`${dir}/x.npy`, saveNpy(x));
    const run = async (data: string | "loader") => {
      const sae = new JumpSAE(4, 6, { seed: 1, device: "reference" });
      const loader = data === "loader"
        ? await batchLoader(`${dir}/x.npy`, { batchSize: 1024 })
        : `${dir}/x.npy`;
      try {
        const logs = await trainSae(sae, loader, losses.mse(), new Adam(sae), {
          nbEpochs: 2,
          verbose: false,
        });
        return logs.stepLoss;
      } finally {
        sae.dispose();
      }
    };
    const fromPath = await run(`${dir}/x.npy`);
    equal(fromPath.length, 6);
    deepEqual(fromPath, await run("loader"));
  });
});
