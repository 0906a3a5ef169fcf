/**
 * Outputs without the copy tax: `forward(x, { out })` / `encode(x, { out })` write into the
 * caller's arrays (same bits as the default call), and `encodeSparse` returns the codes in CSR
 * (with `topK`), on the reference and the CPU backend; every bad argument is refused before
 * anything runs.
 */

import { deepStrictEqual, ok as assert, rejects } from "node:assert/strict";
import { JumpSAE, type Tensor } from "../mod.ts";

const B = 6, D = 8, C = 40;
const x: Tensor = {
  data: new Float32Array(B * D).map((_, i) => Math.sin(0.7 * i) * 2),
  shape: [B, D],
};
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** A model with thresholds low enough that about a third of the codes are on. */
async function model(device: "reference" | "cpu", train: boolean): Promise<JumpSAE> {
  const sae = new JumpSAE(D, C, { seed: 3, device, threads: 2 });
  const state = await sae.stateDict();
  state.thresholds = { data: new Float32Array(C).fill(Math.log(0.4)), shape: [C] };
  await sae.loadStateDict(state);
  return train ? sae : sae.eval();
}

for (const device of ["reference", "cpu"] as const) {
  for (const train of [false, true]) {
    const mode = train ? "train" : "eval";
    Deno.test(`JumpSAE.forward(x, { out }) ${device} ${mode}: writes the default's bits into the given arrays`, async () => {
      const a = await model(device, train), b = await model(device, train);
      try {
        const want = await a.forward(x);
        const out = {
          preCodes: new Float32Array(B * C).fill(7),
          codes: new Float32Array(B * C).fill(7),
          xHat: new Float32Array(B * D).fill(7),
        };
        const got = await b.forward(x, { out });
        assert(got.preCodes.data === out.preCodes && got.codes.data === out.codes);
        assert(got.xHat.data === out.xHat);
        deepStrictEqual(got.codes.shape, [B, C]);
        deepStrictEqual(bits(got.preCodes.data), bits(want.preCodes.data));
        deepStrictEqual(bits(got.codes.data), bits(want.codes.data));
        deepStrictEqual(bits(got.xHat.data), bits(want.xHat.data));
        // again, into the same arrays (only codes given this time for encode)
        const enc = await b.encode(x, { out: { codes: out.codes } });
        assert(enc.codes.data === out.codes && enc.preCodes.data !== out.preCodes);
        deepStrictEqual(bits(enc.codes.data), bits((await a.encode(x)).codes.data));
      } finally {
        a.dispose();
        b.dispose();
      }
    });

    Deno.test(`JumpSAE.encodeSparse() ${device} ${mode}: the CSR of encode's codes, and topK`, async () => {
      const a = await model(device, train), b = await model(device, train);
      try {
        const dense = (await a.encode(x)).codes.data;
        const sparse = await b.encodeSparse(x);
        deepStrictEqual(sparse.shape, [B, C]);
        const nz = dense.filter((v) => v !== 0).length;
        assert(nz > B && nz < B * C, `a useful density, got ${nz} of ${B * C}`);
        deepStrictEqual(sparse.indptr.length, B + 1);
        deepStrictEqual(sparse.indptr[B], nz);
        const back = new Float32Array(B * C);
        for (let r = 0; r < B; r++) {
          for (let j = sparse.indptr[r]; j < sparse.indptr[r + 1]; j++) {
            if (j > sparse.indptr[r]) assert(sparse.indices[j] > sparse.indices[j - 1]);
            back[r * C + sparse.indices[j]] = sparse.values[j];
          }
        }
        deepStrictEqual(bits(back), bits(dense));
        // top 3 per row: the 3 largest, in concept order
        const top = await b.encodeSparse(x, { topK: 3 });
        for (let r = 0; r < B; r++) {
          const row = Array.from(dense.subarray(r * C, (r + 1) * C));
          const want = row.map((v, c) => [v, c]).filter(([v]) => v !== 0)
            .sort((p, q) => q[0] - p[0] || p[1] - q[1]).slice(0, 3).map(([, c]) => c)
            .sort((p, q) => p - q);
          deepStrictEqual(Array.from(top.indices.subarray(top.indptr[r], top.indptr[r + 1])), want);
          deepStrictEqual(
            Array.from(top.values.subarray(top.indptr[r], top.indptr[r + 1])),
            want.map((c) => row[c]),
          );
        }
      } finally {
        a.dispose();
        b.dispose();
      }
    });
  }
}

Deno.test("JumpSAE.forward/encode/encodeSparse: bad options are rejected and change nothing", async () => {
  const sae = await model("reference", true);
  try {
    const before = await sae.stateDict();
    await rejects(
      () => sae.forward(x, { out: { codes: new Float32Array(5) } }),
      (e: Error) =>
        e instanceof RangeError && /out\.codes must hold 240 floats.*got 5/.test(e.message),
    );
    await rejects(
      () => sae.forward(x, { out: { xHat: [1, 2] as unknown as Float32Array } }),
      (e: Error) =>
        e instanceof TypeError && /out\.xHat must be a Float32Array, got Array/.test(e.message),
    );
    await rejects(
      () => sae.encode(x, { out: { xHat: new Float32Array(B * D) } }),
      (e: Error) => e instanceof TypeError && /Unknown output out\.xHat/.test(e.message),
    );
    await rejects(
      () => sae.forward(x, { out: null as unknown as undefined }),
      (e: Error) => e instanceof TypeError && /options\.out must be an object/.test(e.message),
    );
    for (const topK of [0, 1.5, -2]) {
      await rejects(
        () => sae.encodeSparse(x, { topK }),
        (e: Error) =>
          e instanceof RangeError && e.message === `topK must be an integer >= 1, got ${topK}`,
      );
    }
    // nothing ran: BatchNorm's running statistics are those of before
    const after = await sae.stateDict();
    for (const key of Object.keys(before)) {
      deepStrictEqual(bits(after[key].data), bits(before[key].data), key);
    }
  } finally {
    sae.dispose();
  }
});
