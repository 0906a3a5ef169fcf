/**
 * The WASM backend against the reference backend: the full conformance suite for both SIMD builds
 * on 1 and 2 threads, larger GEMMs (every transpose, blocked paths and edges), the sparse paths
 * at model-like sizes, memory growth and reuse, and the error cases.
 */

import { assertClose, backendConformance, Rng } from "./_backend_conformance.ts";
import { createReferenceBackend } from "../src/backends/reference.ts";
import { createWasmBackend, relaxedSimdSupported } from "../src/backends/wasm/mod.ts";
import type { Backend, MatmulParams } from "../src/backends/backend.ts";
import type { WasmBackend } from "../src/backends/wasm/backend.ts";

for (const simd of ["relaxed", "plain"] as const) {
  for (const threads of [1, 2]) {
    backendConformance(
      `wasm ${simd} ${threads} thread${threads > 1 ? "s" : ""}`,
      () => createWasmBackend({ simd, threads, parallelMin: 0 }),
      { ignore: simd === "relaxed" && !relaxedSimdSupported() },
    );
  }
}

backendConformance(
  "wasm without shared memory (1 thread, as a browser page without cross-origin isolation)",
  () => createWasmBackend({ shared: false, threads: 2 }),
);

/** out = op(A)·op(B) on both backends from the same inputs; returns [got, want]. */
async function matmulBoth(
  b: Backend,
  p: MatmulParams,
  a: Float32Array,
  bm: Float32Array,
  init: Float32Array,
): Promise<[Float32Array, Float32Array]> {
  const ref = createReferenceBackend();
  const run = async (k: Backend) => {
    const A = k.alloc(a.length), B = k.alloc(bm.length), O = k.alloc(init.length);
    k.upload(A, a);
    k.upload(B, bm);
    k.upload(O, init);
    k.matmul(O, A, B, p);
    const out = await k.download(O);
    k.free(A);
    k.free(B);
    k.free(O);
    return out;
  };
  return [await run(b), await run(ref)];
}

Deno.test("createWasmBackend(): GEMM 67×129·129×71, every transpose, 1 and 2 threads", async () => {
  const rng = new Rng(21);
  const [m, n, k] = [67, 71, 129];
  for (const threads of [1, 2]) {
    const b = await createWasmBackend({ threads });
    try {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const accumulate of [false, true]) {
            const p = { m, n, k, transA, transB, accumulate };
            const [got, want] = await matmulBoth(
              b,
              p,
              rng.uniform(m * k),
              rng.uniform(k * n),
              rng.uniform(m * n),
            );
            assertClose(got, want, 1e-5, `threads=${threads} ${JSON.stringify(p)}`);
          }
        }
      }
    } finally {
      b.dispose();
    }
  }
});

Deno.test("createWasmBackend(): GEMM spans several KC and NC blocks (300×1100·600), 2 threads", async () => {
  const rng = new Rng(22);
  const [m, n, k] = [300, 1100, 600];
  const b = await createWasmBackend({ threads: 2 });
  try {
    for (const [transA, transB] of [[false, true], [true, false]]) {
      const p = { m, n, k, transA, transB, accumulate: true };
      const [got, want] = await matmulBoth(
        b,
        p,
        rng.uniform(m * k),
        rng.uniform(k * n),
        rng.uniform(m * n),
      );
      assertClose(got, want, 1e-5, JSON.stringify(p));
    }
  } finally {
    b.dispose();
  }
});

Deno.test("createWasmBackend(): GEMM with m > n splits the rows between threads (500×40·300)", async () => {
  const rng = new Rng(25);
  const [m, n, k] = [500, 40, 300];
  const b = await createWasmBackend({ threads: 2 });
  try {
    for (const [transA, transB] of [[true, false], [false, false], [false, true]]) {
      const p = { m, n, k, transA, transB, accumulate: true };
      const [got, want] = await matmulBoth(
        b,
        p,
        rng.uniform(m * k),
        rng.uniform(k * n),
        rng.uniform(m * n),
      );
      assertClose(got, want, 1e-5, JSON.stringify(p));
    }
  } finally {
    b.dispose();
  }
});

Deno.test("createWasmBackend(): GEMM 256×768·768×1024 spot check against dot products", async () => {
  const rng = new Rng(23);
  const [m, n, k] = [256, 1024, 768];
  const a = rng.uniform(m * k), bt = rng.uniform(n * k); // B stored n×k (transB), as x·Wᵀ
  const b = await createWasmBackend({ threads: 2 });
  try {
    const A = b.alloc(m * k), B = b.alloc(n * k), O = b.alloc(m * n);
    b.upload(A, a);
    b.upload(B, bt);
    b.matmul(O, A, B, { m, n, k, transB: true });
    const out = await b.download(O);
    let worst = 0;
    for (let t = 0; t < 500; t++) {
      const i = Math.floor(rng.next() * m), j = Math.floor(rng.next() * n);
      let acc = 0, mag = 0;
      for (let l = 0; l < k; l++) {
        acc += a[i * k + l] * bt[j * k + l];
        mag += Math.abs(a[i * k + l] * bt[j * k + l]);
      }
      worst = Math.max(worst, Math.abs(out[i * n + j] - acc) / mag);
    }
    if (!(worst < 1e-6)) throw new Error(`expected relative error < 1e-6, got ${worst}`);
  } finally {
    b.dispose();
  }
});

Deno.test("createWasmBackend(): sparse decode and its backward at 2 % density (256×2048·2048×96)", async () => {
  const rng = new Rng(24);
  const [m, n, k] = [256, 96, 2048];
  const b = await createWasmBackend({ threads: 2 });
  try {
    const codes = rng.sparse(m * k, 0.98, 0, 3);
    // codes·D (NN) and codesᵀ·dX (TN, A stored m×k = B×C used transposed)
    const [got, want] = await matmulBoth(
      b,
      { m, n, k, sparseA: true },
      codes,
      rng.uniform(k * n),
      new Float32Array(m * n),
    );
    assertClose(got, want, 1e-5, "sparse NN");
    const p = { m: k, n, k: m, transA: true, sparseA: true, accumulate: true };
    const [g2, w2] = await matmulBoth(b, p, codes, rng.uniform(m * n), rng.uniform(k * n));
    assertClose(g2, w2, 1e-5, "sparse TN");
  } finally {
    b.dispose();
  }
});

Deno.test("createWasmBackend(): memory grows, freed blocks are reused zero-filled", async () => {
  const b = await createWasmBackend({ threads: 1 });
  try {
    const big = b.alloc(20_000_000); // 80 MB: the memory grows
    b.fill(big, 2, big.length);
    const tail = await b.download(big, big.length - 3);
    assertClose(tail, new Float32Array([2, 2, 2]), 0, "fill after growth");
    b.free(big);
    const again = b.alloc(1000);
    const z = await b.download(again);
    if (!z.every((v) => v === 0)) throw new Error("expected a zero-filled block after reuse");
  } finally {
    b.dispose();
  }
});

Deno.test("createWasmBackend(): errors", async () => {
  const expectThrow = async (f: () => unknown, cls: ErrorConstructor, pattern: RegExp) => {
    try {
      await f();
    } catch (e) {
      if (!(e instanceof cls) || !pattern.test((e as Error).message)) {
        throw new Error(`expected ${cls.name} matching ${pattern}, got ${e}`);
      }
      return;
    }
    throw new Error(`expected ${cls.name} matching ${pattern}, got no error`);
  };
  await expectThrow(() => createWasmBackend({ threads: 0 }), RangeError, /threads/);
  // deno-lint-ignore no-explicit-any
  await expectThrow(() => createWasmBackend({ simd: "avx" as any }), TypeError, /simd/);
  const b = await createWasmBackend({ threads: 2 });
  const other = createReferenceBackend();
  try {
    const x = b.alloc(10);
    await expectThrow(() => b.alloc(2 ** 31), RangeError, /GiB/);
    await expectThrow(() => b.alloc(-1), RangeError, /length/);
    await expectThrow(() => b.upload(x, new Float32Array(11)), RangeError, /dst/);
    await expectThrow(() => b.download(x, 5, 6), RangeError, /src/);
    await expectThrow(() => b.matmul(x, x, x, { m: 4, n: 4, k: 1 }), RangeError, /out/);
    await expectThrow(() => b.copy(x, other.alloc(10), 10), TypeError, /src/);
    b.free(x);
    await expectThrow(() => b.fill(x, 1, 10), TypeError, /freed/);
  } finally {
    b.dispose();
  }
  await expectThrow(() => b.alloc(4), TypeError, /disposed/);
});

Deno.test("createWasmBackend(): a kernel that traps in a worker throws instead of hanging", async () => {
  const b = (await createWasmBackend({ threads: 2 })) as WasmBackend;
  try {
    // thread 0 fills [dst, dst + 200000) inside the memory, thread 1 the next 200000 bytes past it
    const dst = b.heap.memory.buffer.byteLength - 300_000;
    let error: unknown = null;
    try {
      b.pool.run("fill", [dst, 1, 100_000], true);
    } catch (e) {
      error = e;
    }
    if (!(error instanceof Error) || !/fill failed in worker 1/.test(error.message)) {
      throw new Error(`expected an Error naming fill and worker 1, got ${error}`);
    }
    // the pool still works afterwards
    const x = b.alloc(100_000);
    b.fill(x, 3, 100_000);
    assertClose(await b.download(x, 99_998), new Float32Array([3, 3]), 0, "fill after a failure");
  } finally {
    b.dispose();
  }
});
