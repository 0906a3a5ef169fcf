import { deepStrictEqual, ok as assert, rejects, throws } from "node:assert/strict";
import { createReferenceBackend, JumpSAE, type Loss, losses, type Tensor } from "../mod.ts";
import { loadSafetensors, saveSafetensors } from "../src/io/safetensors.ts";

const t = (data: number[], shape: number[]): Tensor => ({ data: new Float32Array(data), shape });
const approx = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6) => {
  assert(a.length === b.length, `length ${a.length} != ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    assert(Math.abs(a[i] - b[i]) <= tol, `[${i}] ${a[i]} != ${b[i]}`);
  }
};

/** Gradient all ones on the codes, no value: isolates the JumpReLU backward. */
const onesOnCodes: Loss = {
  name: "onesOnCodes",
  accumulate: (ctx) => ctx.backend.fill(ctx.dCodes, 1, ctx.rows * ctx.concepts),
};

Deno.test("JumpSAE: hand-computed JumpReLU forward and gradients (rectangle, bandwith 1, θ = 1)", async () => {
  // identity encoder: pre-codes are x itself; thresholds = log 1 = 0
  const sae = new JumpSAE(3, 3, {
    encoderModule: "identity",
    kernel: "rectangle",
    bandwith: 1,
    device: "reference",
  });
  try {
    const state = await sae.stateDict();
    await sae.loadStateDict({ ...state, thresholds: t([0, 0, 0], [3]) });
    const x = t([0.1, 0.6, 2.0, 1.4, 2.0, 3.0], [2, 3]);
    const { codes } = await sae.encode(x);
    approx(codes.data, [0, 0, 2, 1.4, 2, 3]);
    // dL/dx through the identity encoder: [[0,0,1],[1,1,1]]; threshold gradient [-1,-1,0]
    // (−(θ/ε)·1[|x − θ| ≤ ε/2]/ε summed over the batch, times dθ/dt = θ = 1)
    const { grads } = await sae.valueAndGrad(x, onesOnCodes);
    approx(grads.thresholds.data, [-1, -1, 0]);
  } finally {
    sae.dispose();
  }
});

Deno.test("reference backend: JumpReLU input gradient and Heaviside L0 by hand", async () => {
  const be = createReferenceBackend();
  const buf = (v: number[]) => {
    const b = be.alloc(v.length);
    be.upload(b, new Float32Array(v));
    return b;
  };
  const pre = buf([0.1, 0.6, 2.0, 1.4, 2.0, 3.0]), logT = buf([0, 0, 0]);
  const pg = { kernel: "rectangle", bandwidth: 1, mode: "overcomplete" } as const;
  const dPre = be.alloc(6), dT = be.alloc(3);
  be.jumpReluBackward(dPre, dT, buf([1, 1, 1, 1, 1, 1]), pre, logT, 2, 3, pg);
  approx(await be.download(dPre), [0, 0, 1, 1, 1, 1]);
  approx(await be.download(dT), [-1, -1, 0]);
  // L0: H(x − 1) counts 2.0, 1.4, 2.0, 3.0 → 4; with scale 0.5 → 2.
  // threshold gradient: −(1/ε)·rect(x − 1)·0.5 per entry: 0.6 and 1.4 fall inside → [-0.5, -0.5, 0]
  const loss = be.alloc(1), dT2 = be.alloc(3);
  be.heavisideL0(loss, dT2, pre, logT, 2, 3, 0.5, pg);
  approx(await be.download(loss), [2]);
  approx(await be.download(dT2), [-0.5, -0.5, 0]);
  be.dispose();
});

Deno.test("JumpSAE: the seed's defaults and state-dict layout", async () => {
  const sae = new JumpSAE(768, 10_000, { device: "reference", seed: 0 });
  assert(sae.kernel === "silverman" && sae.bandwith === 1e-3 && sae.training);
  const state = await sae.stateDict();
  deepStrictEqual(Object.entries(state).map(([k, v]) => [k, v.shape]), [
    ["thresholds", [10000]],
    ["encoder.final_block.0.weight", [10000, 768]],
    ["encoder.final_block.0.bias", [10000]],
    ["encoder.final_block.1.weight", [10000]],
    ["encoder.final_block.1.bias", [10000]],
    ["encoder.final_block.1.running_mean", [10000]],
    ["encoder.final_block.1.running_var", [10000]],
    ["encoder.final_block.1.num_batches_tracked", []],
    ["dictionary._weights", [10000, 768]],
    ["dictionary.multiplier", []],
  ]);
  assert(state.thresholds.data.every((v) => v === -3));
  const w = state["encoder.final_block.0.weight"].data, bound = 1 / Math.sqrt(768);
  assert(w.every((v) => Math.abs(v) <= bound) && Math.abs(w[0]) > 0, "Linear init U(±1/√in)");
  const d = state["dictionary._weights"].data, xavier = Math.sqrt(6 / 10768);
  assert(d.every((v) => Math.abs(v) <= xavier), "Xavier-uniform dictionary");
  sae.dispose();
});

Deno.test("JumpSAE: the same seed gives the same model, another seed another", async () => {
  const a = await new JumpSAE(6, 10, { seed: 42, device: "reference" }).stateDict();
  const b = await new JumpSAE(6, 10, { seed: 42, device: "reference" }).stateDict();
  const c = await new JumpSAE(6, 10, { seed: 43, device: "reference" }).stateDict();
  deepStrictEqual(a, b);
  assert(a["dictionary._weights"].data[0] !== c["dictionary._weights"].data[0]);
});

Deno.test("JumpSAE: encoder parameter names of every registered encoder", async () => {
  const keys = async (encoderModule: "identity" | "linear" | "mlp_ln_1" | "mlp_bn_3") =>
    Object.keys(await new JumpSAE(4, 4, { encoderModule, device: "reference" }).stateDict()).filter(
      (k) => k.startsWith("encoder."),
    );
  deepStrictEqual(await keys("identity"), []);
  deepStrictEqual(await keys("linear"), [
    "encoder.final_block.0.weight",
    "encoder.final_block.0.bias",
  ]);
  deepStrictEqual(await keys("mlp_ln_1"), [
    "encoder.final_block.0.weight",
    "encoder.final_block.0.bias",
    "encoder.final_block.1.weight",
    "encoder.final_block.1.bias",
  ]);
  const bn3 = await keys("mlp_bn_3");
  assert(
    bn3.length === 21 && bn3[0] === "encoder.mlp_blocks.0.0.weight" &&
      bn3[5] === "encoder.mlp_blocks.0.1.running_var",
  );
});

Deno.test("JumpSAE: tokens of [seq, dim] and [dim, h, w] inputs are encoded one by one", async () => {
  const seq = new JumpSAE([3, 4], 5, { encoderModule: "linear", seed: 1, device: "reference" });
  const flat = new JumpSAE(4, 5, { encoderModule: "linear", seed: 1, device: "reference" });
  const x = Array.from({ length: 24 }, (_, i) => Math.sin(i));
  const a = await seq.forward(t(x, [2, 3, 4]));
  const b = await flat.forward(t(x, [6, 4]));
  deepStrictEqual(a.codes.shape, [6, 5]);
  deepStrictEqual(a.xHat, b.xHat);
  // [B, C, H, W] = [1, 4, 1, 2]: token (h, w) = (0, 1) is x[0, :, 0, 1] = x[1], x[3], x[5], x[7]
  const img = new JumpSAE([4, 1, 2], 5, { encoderModule: "linear", seed: 1, device: "reference" });
  const c = await img.encode(t(x.slice(0, 8), [1, 4, 1, 2]));
  const d = await flat.encode(t([x[1], x[3], x[5], x[7]], [1, 4]));
  approx(c.preCodes.data.slice(5, 10), d.preCodes.data);
});

Deno.test("JumpSAE: eval() fuses the dictionary; BatchNorm uses running statistics", async () => {
  const sae = new JumpSAE(4, 6, { device: "reference", seed: 2 });
  const x = t(Array.from({ length: 20 }, (_, i) => Math.cos(i * 0.7)), [5, 4]);
  await sae.forward(x); // training forward: updates the running statistics
  const state = await sae.stateDict();
  assert(state["encoder.final_block.1.num_batches_tracked"].data[0] === 1);
  sae.eval();
  const dict = await sae.getDictionary();
  for (let c = 0; c < 6; c++) {
    let n = 0;
    for (let d = 0; d < 4; d++) n += dict.data[c * 4 + d] ** 2;
    assert(Math.abs(Math.sqrt(n) - 1) < 1e-6, "l2-projected atoms");
  }
  // one token is fine in eval mode, and gives the same codes as inside a batch
  const one = await sae.encode(t(Array.from(x.data.slice(0, 4)), [1, 4]));
  const all = await sae.encode(x);
  approx(one.codes.data, all.codes.data.slice(0, 6));
  assert((await sae.stateDict())["encoder.final_block.1.num_batches_tracked"].data[0] === 1);
  sae.dispose();
});

Deno.test("JumpSAE: stateDict → safetensors → loadStateDict round trip (I64 counter)", async () => {
  const a = new JumpSAE(5, 7, {
    device: "reference",
    seed: 3,
    dictionaryParams: { useMultiplier: true },
  });
  await a.forward(t(Array.from({ length: 15 }, (_, i) => i / 7), [3, 5]));
  const state = await a.stateDict();
  const bytes = saveSafetensors(state, undefined, {
    dtypes: { "encoder.final_block.1.num_batches_tracked": "I64" },
  });
  const b = new JumpSAE(5, 7, {
    device: "reference",
    seed: 9,
    dictionaryParams: { useMultiplier: true },
  });
  await b.loadStateDict(loadSafetensors(bytes));
  deepStrictEqual(await b.stateDict(), state);
  a.eval();
  b.eval();
  const x = t(Array.from({ length: 10 }, (_, i) => Math.sin(i)), [2, 5]);
  deepStrictEqual(await a.forward(x), await b.forward(x));
});

/** Asserts that `action` fails with `type` and a message matching `pattern`, and the model is unchanged. */
async function assertRefused(
  sae: JumpSAE,
  action: () => unknown,
  type: ErrorConstructor,
  pattern: RegExp,
) {
  const before = await sae.stateDict();
  await rejects(
    async () => await action(),
    (e: Error) => e instanceof type && pattern.test(e.message),
  );
  deepStrictEqual(await sae.stateDict(), before);
}

Deno.test("JumpSAE: constructor errors name the argument", () => {
  throws(() => new JumpSAE(0, 10), RangeError);
  throws(() => new JumpSAE([2, 3, 4, 5], 10), /inputShape/);
  throws(() => new JumpSAE(8, 0), /nbConcepts must be an integer >= 1, got 0/);
  throws(() => new JumpSAE(8, 2.5), RangeError);
  throws(() => new JumpSAE(8, 4, { kernel: "box" as never }), /kernel must be one of .*, got box/);
  throws(() => new JumpSAE(8, 4, { bandwith: 0 }), /bandwith must be a finite number > 0, got 0/);
  throws(() => new JumpSAE(8, 4, { bandwidth: -1 }), RangeError);
  throws(() => new JumpSAE(8, 4, { bandwith: 1, bandwidth: 2 }), /disagree/);
  throws(
    () => new JumpSAE(8, 4, { encoderModule: "mlp_xx" as never }),
    /encoderModule must be one of/,
  );
  throws(
    () => new JumpSAE(8, 4, { encoderModule: "identity" }),
    /identity encoder needs nbConcepts equal/,
  );
  throws(() => new JumpSAE(8, 4, { device: "tpu" as never }), /device must be one of/);
  throws(() => new JumpSAE(8, 4, { pseudoGradient: "x" as never }), /pseudoGradient/);
  throws(
    () => new JumpSAE(8, 4, { dictionaryParams: { normalization: "l3" as never } }),
    /normalization/,
  );
  throws(
    () => new JumpSAE(8, 4, { dictionaryParams: { initializer: t([1, 2], [1, 2]) } }),
    /initializer must have shape \[4, 8\]/,
  );
  throws(() => new JumpSAE(8, 4, { kernal: "gaussian" } as never), TypeError);
  throws(() => new JumpSAE(8, 4, { centerInput: true }), /centerInput needs decoderBias/);
});

Deno.test("JumpSAE: bad inputs are refused before any state changes", async () => {
  const sae = new JumpSAE(4, 6, { device: "reference", seed: 1 });
  const good = t(Array.from({ length: 8 }, (_, i) => i), [2, 4]);
  await assertRefused(
    sae,
    () => sae.forward(t([1, 2, 3], [1, 3])),
    RangeError,
    /x must have shape \[batch, 4\], got \[1, 3\]/,
  );
  await assertRefused(
    sae,
    () => sae.forward({ data: new Float32Array(7), shape: [2, 4] }),
    RangeError,
    /7 values/,
  );
  await assertRefused(
    sae,
    () => sae.encode(t([1, NaN, 3, 4, 1, 2, 3, 4], [2, 4])),
    RangeError,
    /finite, got NaN at index 1/,
  );
  await assertRefused(sae, () => sae.forward([[1, 2, 3, 4], [1, 2]]), RangeError, /ragged/);
  await assertRefused(
    sae,
    () => sae.forward(t([1, 2, 3, 4], [1, 4])),
    RangeError,
    /BatchNorm needs more than 1 token/,
  );
  await assertRefused(
    sae,
    () => sae.decode(t([1, 2], [1, 2])),
    RangeError,
    /z must have shape \[tokens, 6\]/,
  );
  await assertRefused(
    sae,
    () => sae.decode(t([Infinity, 0, 0, 0, 0, 0], [1, 6])),
    RangeError,
    /z must be finite/,
  );
  await assertRefused(
    sae,
    () => sae.valueAndGrad(good, {} as Loss),
    TypeError,
    /loss must be a Loss/,
  );
  await assertRefused(
    sae,
    () => sae.valueAndGrad(t([], [0, 4]), losses.mse()),
    RangeError,
    /at least one token/,
  );
  const state = await sae.stateDict();
  const { thresholds: _, ...missing } = state;
  await assertRefused(sae, () => sae.loadStateDict(missing), RangeError, /Missing key thresholds/);
  await assertRefused(
    sae,
    () => sae.loadStateDict({ ...state, extra: t([1], [1]) }),
    RangeError,
    /Unexpected key extra/,
  );
  await assertRefused(
    sae,
    () => sae.loadStateDict({ ...state, "dictionary._weights": t(new Array(24).fill(0), [4, 6]) }),
    RangeError,
    /dictionary._weights must have shape \[6, 4\], got \[4, 6\]/,
  );
  await assertRefused(
    sae,
    () =>
      sae.loadStateDict({ ...state, "encoder.final_block.0.bias": t([0, 0, NaN, 0, 0, 0], [6]) }),
    RangeError,
    /bias must be finite, got NaN/,
  );
  await sae.loadStateDict({ ...state, extra: t([1], [1]) }, { strict: false }); // ignored
  throws(() => losses.mseL0(-1), /penalty must be a finite number >= 0, got -1/);
  sae.dispose();
  await rejects(() => sae.forward(good), /disposed/);
});

Deno.test("JumpSAE: empty batches give empty outputs in eval mode", async () => {
  const sae = new JumpSAE(4, 6, { device: "reference" }).eval();
  const out = await sae.forward(t([], [0, 4]));
  deepStrictEqual([out.codes.shape, out.xHat.shape], [[0, 6], [0, 4]]);
  sae.dispose();
});

Deno.test("losses: mse, mseL1 and mseL0 values by hand", async () => {
  // identity encoder, identity dictionary (initializer = I), thresholds log(0.5)
  const eye = t([1, 0, 0, 1], [2, 2]);
  const sae = new JumpSAE(2, 2, {
    encoderModule: "identity",
    dictionaryParams: { initializer: eye, normalization: "identity" },
    kernel: "rectangle",
    bandwith: 1,
    device: "reference",
  });
  const state = await sae.stateDict();
  await sae.loadStateDict({ ...state, thresholds: t([Math.log(0.5), Math.log(0.5)], [2]) });
  const x = t([0.25, 1, -1, 2], [2, 2]); // codes [[0, 1], [0, 2]], x̂ = codes
  // mse = (0.25² + 0 + 1 + 0)/4 = 0.265625; Σ|codes| = 3 (the seed's mse_l1 sums over the batch);
  // L0 = mean over batch of count = 1
  approx([(await sae.valueAndGrad(x, losses.mse())).loss], [0.265625]);
  approx([(await sae.valueAndGrad(x, losses.mseL1(2))).loss], [0.265625 + 2 * 3]);
  approx([(await sae.valueAndGrad(x, losses.mseL0(3))).loss], [0.265625 + 3 * 1]);
  approx([(await sae.valueAndGrad(x, losses.sum(losses.mse(), losses.mse()))).loss], [
    2 * 0.265625,
  ]);
  sae.dispose();
});

Deno.test("JumpSAE: eval-mode batches larger than one block are split and gathered seamlessly", async () => {
  // 2^18 concepts: a block holds 2^25 / 2^18 = 128 tokens, so 130 tokens take 2 blocks
  const C = 2 ** 18;
  const same = (a: Float32Array, b: Float32Array, label: string) => {
    assert(a.length === b.length, `${label}: length ${a.length} != ${b.length}`);
    for (let i = 0; i < a.length; i++) assert(a[i] === b[i], `${label}[${i}]: ${a[i]} != ${b[i]}`);
  };
  const sae = new JumpSAE(2, C, { encoderModule: "linear", device: "reference", seed: 4 }).eval();
  try {
    const x = t(Array.from({ length: 260 }, (_, i) => Math.sin(i * 0.3)), [130, 2]);
    const all = await sae.forward(x);
    deepStrictEqual([all.codes.shape, all.xHat.shape], [[130, C], [130, 2]]);
    const tail = await sae.forward(t(Array.from(x.data.slice(250)), [5, 2])); // tokens 125..129
    same(all.xHat.data.slice(250), tail.xHat.data, "xHat");
    same(all.codes.data.slice(125 * C), tail.codes.data, "codes");
    same((await sae.decode(all.codes)).data, all.xHat.data, "decode");
  } finally {
    sae.dispose();
  }
});

Deno.test("JumpSAE: a normalization function and a custom encoder", async () => {
  const { LayerNorm, Linear, SequentialEncoder } = await import("../mod.ts");
  const encoder = new SequentialEncoder(3, [new Linear("0", 3, 4), new LayerNorm("1", 4)]);
  const sae = new JumpSAE(3, 4, {
    encoderModule: encoder,
    // rows scaled to l2 norm 2, as a user projection
    dictionaryParams: {
      normalization: ({ data }) => {
        const out = new Float32Array(data.length);
        for (let r = 0; r < 4; r++) {
          const row = data.subarray(r * 3, r * 3 + 3);
          const n = Math.hypot(...row);
          for (let c = 0; c < 3; c++) out[r * 3 + c] = (2 * row[c]) / n;
        }
        return out;
      },
    },
    device: "reference",
  });
  try {
    deepStrictEqual(Object.keys(await sae.stateDict()).slice(0, 5), [
      "thresholds",
      "encoder.0.weight",
      "encoder.0.bias",
      "encoder.1.weight",
      "encoder.1.bias",
    ]);
    const dict = await sae.getDictionary();
    for (let r = 0; r < 4; r++) {
      approx([Math.hypot(...dict.data.subarray(r * 3, r * 3 + 3))], [2], 1e-5);
    }
    const { grads } = await sae.valueAndGrad(t([1, 2, 3, -1, 0, 2], [2, 3]), losses.mse());
    assert(Object.keys(grads).includes("encoder.1.weight"));
    throws(
      () => new SequentialEncoder(3, [new Linear("0", 4, 4)]),
      /expects 4 input features, got 3/,
    );
    throws(
      () => new JumpSAE(3, 5, { encoderModule: encoder }),
      /must map 3 features to 5, got 3 to 4/,
    );
  } finally {
    sae.dispose();
  }
});

Deno.test("JumpSAE: a call runs in the mode the model had when it was made", async () => {
  const sae = new JumpSAE(4, 6, { device: "reference", seed: 2 });
  const x = t(Array.from({ length: 20 }, (_, i) => Math.cos(i * 0.7)), [5, 4]);
  const pending = sae.forward(x); // training mode: updates the running statistics
  sae.eval();
  const evalOut = sae.forward(x); // eval mode: running statistics, fused dictionary
  await pending;
  const counter = "encoder.final_block.1.num_batches_tracked";
  assert((await sae.stateDict())[counter].data[0] === 1);
  const again = await sae.forward(x);
  deepStrictEqual((await evalOut).xHat, again.xHat);
  sae.dispose();
});
