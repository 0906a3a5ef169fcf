/** Backend.topK (reference, WASM on 1 and 3 threads, WebGPU where present) and JumpSAE.encodeTopK. */
import { deepEqual, equal, rejects } from "node:assert/strict";
import type { Backend } from "../src/backends/backend.ts";
import { createReferenceBackend } from "../src/backends/reference.ts";
import { createWasmBackend, relaxedSimdSupported } from "../src/backends/wasm/mod.ts";
import { createWebGpuBackend } from "../src/backends/webgpu/mod.ts";
import { topKRows } from "../src/backends/_topk.ts";
import { JumpSAE } from "../mod.ts";

async function topK(be: Backend, codes: Float32Array, rows: number, cols: number, k: number) {
  const c = be.alloc(codes.length), v = be.alloc(rows * k), i = be.alloc(rows * k);
  const n = be.alloc(rows);
  try {
    be.upload(c, codes);
    be.topK(v, i, n, c, rows, cols, k);
    return {
      values: [...await be.download(v, 0, rows * k)],
      indices: [...await be.download(i, 0, rows * k)],
      nnz: [...await be.download(n, 0, rows)],
    };
  } finally {
    for (const b of [c, v, i, n]) be.free(b);
  }
}

/** Codes with many zeros and many ties (values on a coarse grid). */
function codes(rows: number, cols: number, seed: number): Float32Array {
  let s = seed;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  return Float32Array.from({ length: rows * cols }, () => {
    const u = next();
    return u < 0.7 ? 0 : Math.round(next() * 6) / 4 + (u > 0.97 ? 100 : 0);
  });
}

Deno.test("Backend.topK (reference): descending values, ties by lower index, −1 and 0 padding", async () => {
  const be = createReferenceBackend();
  const x = Float32Array.from([
    0,
    2,
    0,
    5,
    2,
    1,
    5, // ties: 5 at 3 before 6, 2 at 1 before 4
    0,
    0,
    0,
    0,
    0,
    0,
    0, // no non-zero
    0,
    0,
    3,
    0,
    0,
    0,
    0,
  ]);
  const got = await topK(be, x, 3, 7, 4);
  deepEqual(got.indices, [3, 6, 1, 4, -1, -1, -1, -1, 2, -1, -1, -1]);
  deepEqual(got.values, [5, 5, 2, 2, 0, 0, 0, 0, 3, 0, 0, 0]);
  deepEqual(got.nnz, [5, 0, 1]);
  be.dispose();
});

const backends: [string, () => Promise<Backend>, boolean][] = [
  ["wasm plain, 1 thread", () => createWasmBackend({ simd: "plain", threads: 1 }), false],
  [
    "wasm relaxed, 3 threads",
    () => createWasmBackend({ threads: 3, parallelMin: 0 }),
    !relaxedSimdSupported(),
  ],
  ["wasm without shared memory", () => createWasmBackend({ shared: false, threads: 1 }), false],
];
for (const [name, make, ignore] of backends) {
  Deno.test({
    name: `Backend.topK (${name}): the reference's selection at every k, rows and widths`,
    ignore,
    async fn() {
      const be = await make(), ref = createReferenceBackend();
      try {
        for (const [rows, cols] of [[1, 1], [5, 7], [33, 130], [64, 1024]]) {
          const x = codes(rows, cols, rows * 31 + cols);
          for (const k of new Set([1, 3, Math.min(32, cols), cols])) {
            deepEqual(
              await topK(be, x, rows, cols, k),
              await topK(ref, x, rows, cols, k),
              `${rows}×${cols} k=${k}`,
            );
          }
        }
      } finally {
        be.dispose();
        ref.dispose();
      }
    },
  });
}

const gpu = await createWebGpuBackend({ allowFallback: true }).catch(() => null);
Deno.test({
  name: "Backend.topK (webgpu): the reference's selection",
  ignore: gpu === null,
  async fn() {
    const ref = createReferenceBackend();
    try {
      for (const [rows, cols, k] of [[5, 7, 3], [70, 1024, 32], [3, 130, 130]]) {
        const x = codes(rows, cols, cols);
        deepEqual(await topK(gpu!, x, rows, cols, k), await topK(ref, x, rows, cols, k));
      }
    } finally {
      gpu!.dispose();
      ref.dispose();
    }
  },
});

Deno.test("JumpSAE.encodeTopK(): the top-k of encode()'s codes, without their download", async () => {
  for (const device of ["cpu", "reference"] as const) {
    const sae = new JumpSAE(8, 40, { seed: 3, device, threads: 2 });
    try {
      sae.eval();
      const x = {
        data: Float32Array.from({ length: 50 * 8 }, (_, i) => Math.sin(i * 1.7)),
        shape: [50, 8],
      };
      const { codes: z } = await sae.encode(x);
      const want = {
        v: new Float32Array(50 * 5),
        i: new Float32Array(50 * 5),
        n: new Float32Array(50),
      };
      topKRows(want.v, want.i, want.n, z.data, 50, 40, 5);
      const got = await sae.encodeTopK(x, 5);
      deepEqual(got.values, { data: want.v, shape: [50, 5] }, device);
      deepEqual(got.indices, { data: want.i, shape: [50, 5] }, device);
      deepEqual(got.nnz, { data: want.n, shape: [50, 1] }, device);
      equal(got.nnz.data.some((n) => n > 5), true, "some rows have more than k non-zeros");
      // bad input rejects the promise (no synchronous throw)
      const bad = [sae.encodeTopK(x, 0), sae.encodeTopK(x, 41)];
      await rejects(bad[0], /k must be an integer in \[1, 40\], got 0/);
      await rejects(bad[1], /k must be an integer in \[1, 40\], got 41/);
      await rejects(sae.encodeTopK({ data: new Float32Array(7), shape: [1, 7] }, 2));
    } finally {
      sae.dispose();
    }
  }
});
