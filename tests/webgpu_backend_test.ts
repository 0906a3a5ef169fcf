/**
 * The WebGPU backend against the reference backend: the shared conformance suite on the
 * adapter of this machine (a software fallback is accepted), twice (the second with grids split
 * under a forced limit of 2 workgroups per dimension and a submit every 3 dispatches), plus
 * WebGPU-specific checks: GEMMs with ragged tiles (scalar and vec4 variants), the 8×8 tile and
 * the sparse product (same bits as the dense one), deterministic reductions, ordering of uploads,
 * aliasing, limits and error reporting (lost device, uncaptured errors, dispose).
 *
 * Where `navigator.gpu` has no adapter every test is registered as ignored, with the reason in
 * its name; on a software adapter the 8×8 and sparse kernels, slow to JIT-compile there, run only
 * with JUMPSAE_SLOW_GPU_TESTS=1. Tests destroy their device (`dispose`).
 */

import { createWebGpuBackend, hasRealGpu } from "../src/backends/webgpu/mod.ts";
import { createReferenceBackend } from "../src/backends/reference.ts";
import type { Backend } from "../src/backends/backend.ts";
import { assertClose, backendConformance, Rng } from "./_backend_conformance.ts";

const adapter =
  await (globalThis.navigator as { gpu?: GPU }).gpu?.requestAdapter().catch(() => null) ?? null;
const noGpu = adapter === null;
const reason = noGpu ? " (no WebGPU adapter)" : "";

/** float32 on a GPU rounds differently (fma, exp, sqrt): a slightly looser tolerance. */
const TOL = 2e-5;

backendConformance(`webgpu${reason}`, () => createWebGpuBackend({ allowFallback: true }), {
  tolerance: TOL,
  ignore: noGpu,
});

backendConformance(
  `webgpu, at most 2 workgroups per dispatch (split grids), a submit every 3 dispatches${reason}`,
  () => createWebGpuBackend({ allowFallback: true, maxWorkgroupsPerDimension: 2, flushEvery: 3 }),
  { tolerance: TOL, ignore: noGpu },
);

/** A WebGPU test that receives a backend and its reference twin, disposed afterwards. */
function gpuTest(
  name: string,
  fn: (gpu: Backend, ref: Backend) => Promise<void> | void,
  maxWorkgroupsPerDimension?: number,
) {
  Deno.test({
    name: `webgpu: ${name}${reason}`,
    ignore: noGpu,
    fn: async () => {
      const gpu = await createWebGpuBackend({ allowFallback: true, maxWorkgroupsPerDimension });
      const ref = createReferenceBackend();
      try {
        await fn(gpu, ref);
      } finally {
        gpu.dispose();
        ref.dispose();
      }
    },
  });
}

function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

/** Runs the same ops on both backends from the same inputs and compares named outputs. */
async function same(
  gpu: Backend,
  ref: Backend,
  inputs: Record<string, Float32Array>,
  op: (b: Backend, x: Record<string, ReturnType<Backend["alloc"]>>) => void,
  what: string,
  tol = TOL,
) {
  const load = (b: Backend) =>
    Object.fromEntries(
      Object.entries(inputs).map(([k, v]) => {
        const buf = b.alloc(v.length);
        b.upload(buf, v);
        return [k, buf];
      }),
    );
  const g = load(gpu), r = load(ref);
  op(gpu, g);
  op(ref, r);
  for (const k of Object.keys(inputs)) {
    assertClose(await gpu.download(g[k]), await ref.download(r[k]), tol, `${what}: ${k}`);
    gpu.free(g[k]);
  }
}

gpuTest(
  "createWebGpuBackend names itself webgpu and hasRealGpu matches the adapter",
  async (gpu) => {
    assert(gpu.name === "webgpu", `expected name webgpu, got ${gpu.name}`);
    const info = (adapter as GPUAdapter & { info?: { isFallbackAdapter?: boolean } }).info;
    assert(
      (await hasRealGpu()) === !info?.isFallbackAdapter,
      "hasRealGpu disagrees with the adapter's fallback flag",
    );
  },
);

Deno.test("webgpu: without navigator.gpu, hasRealGpu() is false and createWebGpuBackend throws", async () => {
  const nav = globalThis.navigator as unknown as Record<string, unknown>;
  Object.defineProperty(nav, "gpu", { value: undefined, configurable: true });
  try {
    assert((await hasRealGpu()) === false, "expected hasRealGpu() to be false");
    let message = "";
    await createWebGpuBackend({ allowFallback: true }).catch((e) => (message = e.message));
    assert(
      /navigator\.gpu/.test(message),
      `expected an error naming navigator.gpu, got "${message}"`,
    );
  } finally {
    delete nav.gpu;
  }
  assert(
    !noGpu === !!(globalThis.navigator as { gpu?: GPU }).gpu,
    "navigator.gpu was not restored",
  );
});

Deno.test({
  name: `webgpu: a fallback adapter is refused without allowFallback${reason}`,
  ignore: noGpu || await hasRealGpu(),
  fn: async () => {
    let message = "";
    try {
      (await createWebGpuBackend()).dispose();
    } catch (e) {
      message = (e as Error).message;
    }
    assert(
      /fallback/.test(message),
      `expected an error naming the fallback adapter, got "${message}"`,
    );
  },
});

gpuTest(
  "matmul with 64-wide tiles, ragged edges, every layout, scalar and vec4",
  async (gpu, ref) => {
    const rng = new Rng(21);
    // the last two have m, n, k multiples of 4: the vec4 variant, with partial tiles
    for (const [m, n, k] of [[130, 67, 45], [70, 129, 17], [132, 68, 44], [4, 8, 36]]) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const accumulate = transA !== transB;
          await same(
            gpu,
            ref,
            { out: rng.uniform(m * n), a: rng.uniform(m * k), b: rng.uniform(k * n) },
            (b, x) => b.matmul(x.out, x.a, x.b, { m, n, k, transA, transB, accumulate }),
            `matmul ${m}×${n}×${k} ${transA} ${transB}`,
            1e-4,
          );
        }
      }
    }
  },
);

// The 128×128 tile (8×8 registers) that hardware adapters use for large products. A software
// adapter JIT-compiles it slowly (15–45 s on two cores), so there it runs only on request.
const slow = Deno.env.get("JUMPSAE_SLOW_GPU_TESTS") === "1";
const fallback = !noGpu && !(await hasRealGpu());
const skip8x8 = fallback && !slow
  ? " (software adapter: set JUMPSAE_SLOW_GPU_TESTS=1 to run it)"
  : "";
Deno.test({
  name: `webgpu: matmul with 128-wide tiles (gemmTile 8x8)${reason}${skip8x8}`,
  ignore: noGpu || skip8x8 !== "",
  fn: async () => {
    const gpu = await createWebGpuBackend({ allowFallback: true, gemmTile: "8x8" });
    const ref = createReferenceBackend();
    try {
      const rng = new Rng(24);
      for (const [m, n, k] of [[140, 131, 37], [136, 132, 40]]) { // scalar, then vec4
        for (
          const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]]
        ) {
          const accumulate = transA === transB;
          await same(
            gpu,
            ref,
            { out: rng.uniform(m * n), a: rng.uniform(m * k), b: rng.uniform(k * n) },
            (b, x) => b.matmul(x.out, x.a, x.b, { m, n, k, transA, transB, accumulate }),
            `matmul 8x8 ${m}×${n}×${k} ${transA} ${transB}`,
            1e-4,
          );
        }
      }
    } finally {
      gpu.dispose();
    }
  },
});

// The sparse product (the sparseA hint); a software adapter JIT-compiles it for about a minute,
// so there it runs only on request, like the 8×8 tile.
Deno.test({
  name: `webgpu: matmul with the sparseA hint gives the dense path's bits${reason}${skip8x8}`,
  ignore: noGpu || skip8x8 !== "",
  fn: async () => {
    const gpu = await createWebGpuBackend({ allowFallback: true, sparseDensity: 0.01 });
    const ref = createReferenceBackend();
    try {
      const rng = new Rng(25);
      // [m, n, k]: several row blocks, a partial 1024-column block, k over two 256-chunks
      for (const [m, n, k] of [[37, 1030, 300], [20, 64, 513]]) {
        for (const transA of [false, true]) {
          for (const density of [0.004, 0.3]) { // the sparse path, then the dense one
            const a = rng.sparse(m * k, 1 - density, -2, 2);
            const b = rng.uniform(k * n);
            const out0 = rng.uniform(m * n);
            const bufs = [a, b, out0, out0].map((v) => {
              const buf = gpu.alloc(v.length);
              gpu.upload(buf, v);
              return buf;
            });
            const [A, B, hinted, plain] = bufs;
            const p = { m, n, k, transA, accumulate: true };
            gpu.matmul(hinted, A, B, { ...p, sparseA: true });
            gpu.matmul(plain, A, B, p);
            const got = await gpu.download(hinted), want = await gpu.download(plain);
            const what = `m=${m} n=${n} k=${k} transA=${transA} density=${density}`;
            for (let i = 0; i < got.length; i++) {
              if (!Object.is(got[i], want[i])) {
                throw new Error(
                  `${what}: expected the dense bits ${want[i]} at ${i}, got ${got[i]}`,
                );
              }
            }
            for (const buf of bufs) gpu.free(buf);
            await same(
              gpu,
              ref,
              { out: out0, a, b },
              (be, x) => be.matmul(x.out, x.a, x.b, { ...p, sparseA: true }),
              what,
              1e-4,
            );
          }
        }
      }
    } finally {
      gpu.dispose();
    }
  },
});

gpuTest(
  "matmul and reductions split over many dispatches agree with the reference",
  async (gpu, ref) => {
    const rng = new Rng(22);
    const [m, n, k] = [200, 150, 40]; // 4×3 tiles of 64 → a 2×2-split grid
    await same(
      gpu,
      ref,
      { out: rng.uniform(m * n), a: rng.uniform(m * k), b: rng.uniform(k * n) },
      (b, x) => b.matmul(x.out, x.a, x.b, { m, n, k, transB: true }),
      "split matmul",
      1e-4,
    );
    const big = 70_000; // 69 elementwise workgroups, 5 partial sums: all split in pairs
    await same(gpu, ref, {
      loss: new Float32Array([2]),
      g: rng.uniform(big),
      a: rng.uniform(big),
      b: rng.uniform(big),
    }, (b, x) => {
      b.squaredError(x.loss, x.g, x.a, x.b, big, 0.5);
      b.relu(x.a, x.a, big);
    }, "split squaredError + relu");
    await same(
      gpu,
      ref,
      { x: rng.uniform(300 * 9), out: rng.uniform(9) },
      (b, x) => b.sumRows(x.out, x.x, 300, 9),
      "sumRows",
    );
    await same(
      gpu,
      ref,
      { w: rng.uniform(9 * 300) },
      (b, x) => b.normalizeRows(x.w, 9, 300, "max_l2"),
      "normalizeRows",
    );
  },
  2,
);

gpuTest("scalar reductions are deterministic (same bits on every run)", async (gpu) => {
  const n = 100_003;
  const x = new Rng(23).uniform(n, -1e3, 1e3);
  const xb = gpu.alloc(n), out = gpu.alloc(1);
  gpu.upload(xb, x);
  const results = new Set<number>();
  for (let i = 0; i < 4; i++) {
    gpu.fill(out, 0, 1);
    gpu.sumSquares(out, xb, n);
    results.add((await gpu.download(out))[0]);
  }
  assert(results.size === 1, `expected one value, got ${[...results]}`);
  let want = 0;
  for (const v of x) want += v * v;
  const got = [...results][0];
  assert(Math.abs(got - want) <= 1e-5 * want, `expected ${want}, got ${got}`);
});

gpuTest("ops batch until a download and keep their order with uploads", async (gpu) => {
  const a = gpu.alloc(6), b = gpu.alloc(6);
  gpu.upload(a, new Float32Array([1, 2, 3, 4, 5, 6]));
  gpu.scale(b, a, 2, 6); // recorded, not yet submitted
  gpu.upload(a, new Float32Array([10, 10, 10, 10, 10, 10])); // must not overtake scale
  gpu.scale(a, a, 0.5, 3);
  assertClose(await gpu.download(b), new Float32Array([2, 4, 6, 8, 10, 12]), 0, "b");
  assertClose(await gpu.download(a), new Float32Array([5, 5, 5, 10, 10, 10]), 0, "a");
  assertClose(await gpu.download(a, 2, 2), new Float32Array([5, 10]), 0, "a[2..4)");
});

gpuTest(
  "an output bound twice, a short buffer and a foreign buffer are refused",
  async (gpu, ref) => {
    const a = gpu.alloc(8), m = gpu.alloc(8);
    const throws = (f: () => void, kind: ErrorConstructor, pattern: RegExp) => {
      try {
        f();
      } catch (e) {
        assert(e instanceof kind && pattern.test((e as Error).message), `unexpected error ${e}`);
        return;
      }
      throw new Error(`expected a ${kind.name} matching ${pattern}`);
    };
    const adam = {
      lr: 1,
      beta1: 0.9,
      beta2: 0.9,
      eps: 1e-8,
      weightDecay: 0,
      decoupled: false,
      step: 1,
    };
    throws(() => gpu.adam(a, a, m, m, 8, adam), RangeError, /distinct/);
    throws(() => gpu.relu(a, m, 9), RangeError, /at least 9 values, got a buffer of 8/);
    throws(() => gpu.relu(a, ref.alloc(8), 8), TypeError, /buffer of this WebGPU backend/);
    throws(() => gpu.upload(a, new Float32Array(4), 5), RangeError, /offset/);
    const freed = gpu.alloc(8);
    gpu.free(freed);
    throws(() => gpu.relu(a, freed, 8), TypeError, /live buffer, got a freed one/);
    let rejected = "";
    await gpu.download(a, 4, 5).catch((e) => (rejected = e.message));
    assert(
      /offset \+ length/.test(rejected),
      `expected a RangeError from download, got "${rejected}"`,
    );
  },
);

gpuTest(
  "a buffer larger than maxStorageBufferBindingSize is a RangeError naming the limit",
  (gpu) => {
    const limit = adapter!.limits.maxStorageBufferBindingSize;
    let message = "";
    try {
      gpu.alloc(limit / 4 + 4);
    } catch (e) {
      assert(e instanceof RangeError, `expected a RangeError, got ${e}`);
      message = e.message;
    }
    assert(
      message.includes(String(limit)),
      `expected the limit ${limit} in the message, got "${message}"`,
    );
  },
);

gpuTest(
  "an uncaptured GPU error rejects the next download, and dispose rejects later calls",
  async (gpu) => {
    const ctx = (gpu as unknown as { ctx: { device: GPUDevice } }).ctx;
    const a = gpu.alloc(4);
    // A copy onto itself is a validation error reported as an uncaptured error.
    const enc = ctx.device.createCommandEncoder();
    enc.copyBufferToBuffer(
      (a as unknown as { gpu: GPUBuffer }).gpu,
      0,
      (a as unknown as { gpu: GPUBuffer }).gpu,
      0,
      16,
    );
    ctx.device.queue.submit([enc.finish()]);
    let message = "";
    await gpu.download(a).catch((e) => (message = e.message));
    assert(/WebGPU error/.test(message), `expected a WebGPU error, got "${message}"`);
    assertClose(await gpu.download(a), new Float32Array(4), 0, "a after the error");
    gpu.dispose();
    let after = "";
    try {
      gpu.fill(a, 1, 4);
    } catch (e) {
      after = (e as Error).message;
    }
    assert(/disposed/.test(after), `expected a disposed error, got "${after}"`);
  },
);

gpuTest("a lost device rejects pending and later downloads with its reason", async (gpu) => {
  const ctx = (gpu as unknown as { ctx: { device: GPUDevice } }).ctx;
  const a = gpu.alloc(4);
  const pending = gpu.download(a);
  ctx.device.destroy();
  const messages: string[] = [];
  await pending.then(() => messages.push("resolved"), (e) => messages.push(e.message));
  await new Promise((r) => setTimeout(r, 10));
  await gpu.download(a).then(() => messages.push("resolved"), (e) => messages.push(e.message));
  assert(/destroyed|lost/.test(messages[1]), `expected a lost-device error, got ${messages}`);
});
