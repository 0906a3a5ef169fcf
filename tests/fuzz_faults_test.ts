/** Faults during training and use: skipped steps change nothing, a diverging step is undone. */
import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import {
  Adam,
  type Backend,
  JumpSAE,
  losses,
  Random,
  type Tensor,
  trainSae,
  Workspace,
} from "../mod.ts";
import { createWasmBackend, type WasmBackend } from "../src/backends/wasm/mod.ts";

const D = 6, C = 12;

function batch(seed: number, rows = 8): Tensor {
  const rng = new Random(seed);
  return { data: Float32Array.from({ length: rows * D }, () => rng.normal()), shape: [rows, D] };
}

function setup() {
  const sae = new JumpSAE(D, C, { seed: 4, device: "reference", bandwith: 0.1 });
  return { sae, optimizer: new Adam(sae, { lr: 1e-2 }) };
}

async function state(sae: JumpSAE, optimizer: Adam) {
  const dict = await sae.stateDict();
  const opt = await optimizer.stateDict();
  return {
    model: Object.fromEntries(Object.entries(dict).map(([k, v]) => [k, [...v.data]])),
    optimizer: { ...opt, buffers: Object.entries(opt.buffers).map(([k, v]) => [k, [...v.data]]) },
  };
}

Deno.test("trainSae(): a skipped step (NaN batch, non-finite loss) changes nothing and is counted", async () => {
  const nan = batch(3);
  nan.data[5] = NaN;
  const huge = batch(4);
  huge.data.fill(1e30); // finite, but the loss overflows to Infinity
  const run = async (batches: Tensor[]) => {
    const { sae, optimizer } = setup();
    try {
      const steps: boolean[] = [];
      const logs = await trainSae(sae, batches, losses.mse(), optimizer, {
        verbose: false,
        nbEpochs: 1,
        onStep: (s) => void steps.push(s.skipped),
      });
      return { logs, steps, state: await state(sae, optimizer) };
    } finally {
      sae.dispose();
    }
  };
  const clean = await run([batch(1), batch(2)]);
  const faulty = await run([batch(1), nan, huge, batch(2)]);
  deepEqual(faulty.steps, [false, true, true, false]);
  deepEqual(faulty.logs.skippedSteps, [2]);
  // parameters, BatchNorm running statistics, the dictionary, Adam's moments and step: identical
  deepEqual(faulty.state, clean.state);
  equal(faulty.state.optimizer.step, 2);
});

Deno.test("trainSae(): a step that makes the model non-finite is an error naming it, and is undone", async () => {
  const { sae } = setup();
  try {
    const before = await sae.stateDict();
    const optimizer = new Adam(sae, { lr: 1e30 });
    await rejects(
      () =>
        trainSae(sae, [batch(1), batch(2)], losses.mse(), optimizer, {
          verbose: false,
          nbEpochs: 1,
        }),
      (e: Error) =>
        e instanceof RangeError &&
        /^step 0 \(epoch 1, batch 0\) made .* non-finite with lr 1e\+30/.test(e.message),
    );
    const after = await sae.stateDict();
    for (const key of Object.keys(before)) deepEqual(after[key].data, before[key].data, key);
    ok(after["thresholds"].data.every(Number.isFinite));
  } finally {
    sae.dispose();
  }
});

Deno.test("Workspace.get(): a failed allocation (out of memory) keeps the buffer it had", () => {
  const live = new Set<number>();
  let next = 0;
  const backend = {
    alloc(length: number) {
      if (length > 100) throw new RangeError(`out of memory: asked ${length} floats`);
      live.add(next);
      return { id: next++, length };
    },
    free(buffer: { id: number }) {
      live.delete(buffer.id);
    },
  } as unknown as Backend;
  const ws = new Workspace();
  const small = ws.get(backend, 10);
  throws(() => ws.get(backend, 1000), RangeError);
  equal(ws.get(backend, 10), small);
  ok(live.has((small as unknown as { id: number }).id), "the buffer in use was freed");
});

Deno.test("JumpSAE on the WASM backend: usable again after an out-of-memory RangeError", async () => {
  const sae = new JumpSAE(D, 1000, {
    seed: 1,
    device: "cpu",
    threads: 1,
    encoderModule: "linear", // a pure training-mode forward: no running statistics,
    dictionaryParams: { normalization: "identity" }, // no re-projection
  });
  try {
    const x = batch(9, 16);
    const first = await sae.forward(x);
    // 2e6 tokens × 1000 concepts × 4 bytes = 8 GB of pre-codes: more than the WASM memory
    const rows = 2_000_000;
    const huge = { data: new Float32Array(rows * D), shape: [rows, D] };
    await rejects(
      () => sae.forward(huge),
      (e: Error) => e instanceof RangeError && /GiB/.test(e.message),
    );
    const again = await sae.forward(x);
    deepEqual(again.codes.data, first.codes.data);
    deepEqual(again.xHat.data, first.xHat.data);
  } finally {
    sae.dispose();
  }
});

Deno.test("WASM thread pool: a kernel failure is reported once, and the next call works", async () => {
  const be = await createWasmBackend({ threads: 2, parallelMin: 0 }) as WasmBackend;
  try {
    const n = 1 << 16;
    const buffer = be.alloc(n);
    const good = (buffer as unknown as { ptr: number }).ptr;
    // point the buffer past the end of the memory: every thread's share traps
    (buffer as unknown as { ptr: number }).ptr = be.heap.memory.buffer.byteLength + (1 << 20);
    throws(() => be.fill(buffer, 1, n));
    (buffer as unknown as { ptr: number }).ptr = good;
    be.fill(buffer, 2, n);
    const back = await be.download(buffer, 0, n);
    ok(back.every((v) => v === 2));
  } finally {
    be.dispose();
  }
});

Deno.test("JumpSAE: methods that return a Promise reject on bad input instead of throwing", async () => {
  const sae = new JumpSAE(D, C, { seed: 1, device: "reference" });
  try {
    const bad = { data: new Float32Array(5), shape: [1, 5] };
    const nan = { data: new Float32Array(2 * D).fill(NaN), shape: [2, D] };
    const calls: [string, () => Promise<unknown>][] = [
      ["encode", () => sae.encode(bad)],
      ["decode", () => sae.decode(bad)],
      ["forward", () => sae.forward(nan)],
      ["valueAndGrad", () => sae.valueAndGrad(bad, losses.mse())],
      // deno-lint-ignore no-explicit-any
      ["lossAndGradients", () => sae.lossAndGradients(batch(1), null as any)],
      ["loadStateDict", () => sae.loadStateDict({ thresholds: [1] })],
    ];
    for (const [name, call] of calls) {
      let promise: Promise<unknown> | undefined;
      try {
        promise = call();
      } catch (error) {
        throw new Error(`${name} threw synchronously: ${error}`);
      }
      ok(promise instanceof Promise, name);
      await rejects(promise, (e: Error) => e instanceof RangeError || e instanceof TypeError, name);
    }
    // and the model still works
    equal((await sae.encode(batch(1))).codes.shape[1], C);
  } finally {
    sae.dispose();
  }
});

Deno.test("new JumpSAE(): a non-finite dictionaryParams.initializer is refused", () => {
  for (const bad of [NaN, Infinity]) {
    throws(
      () =>
        new JumpSAE(2, 2, {
          device: "reference",
          dictionaryParams: { initializer: [[1, 0], [bad, 1]] },
        }),
      (e: Error) =>
        e instanceof RangeError &&
        e.message === `dictionaryParams.initializer must be finite, got ${bad} at index 2`,
    );
  }
});
