/**
 * Every seed loss against the seed's own values and autograd gradients
 * (`scripts/make_loss_fixtures.py`), on every backend. Two deliberate differences, checked here:
 * `mseHoyer` gives an all-zero code row a zero gradient where the seed's is NaN, and
 * `topKAuxiliaryLoss` weighs the tied zeros that torch.topk picks arbitrarily to fill its top-k
 * by the chance a uniformly random tie-break picks them.
 */
import { ok } from "node:assert/strict";
import { type Loss, type LossContext, losses } from "../mod.ts";
import type { Backend } from "../src/backends/backend.ts";
import { createBackend, type Device } from "../src/backends/select.ts";
import { loadSafetensors, loadSafetensorsMetadata } from "../src/io/safetensors.ts";
import type { Tensor } from "../src/tensor.ts";

const DIR = new URL("./fixtures/losses/", import.meta.url);

const LOSSES: Record<string, (kw: Record<string, number>) => Loss> = {
  mse_l1: (kw) => losses.mseL1(kw.penalty),
  mse_hoyer: (kw) => losses.mseHoyer(kw.penalty),
  mse_kappa_4: (kw) => losses.mseKappa4(kw.penalty),
  mse_elastic: (kw) => losses.mseElastic(kw.alpha),
  top_k_auxiliary_loss: (kw) => losses.topKAuxiliaryLoss(kw.penalty),
  reanimation_regularizer: (kw) => losses.reanimationRegularizer(kw.penalty),
};

function fixture(name: string) {
  const bytes = Deno.readFileSync(new URL(`${name}.safetensors`, DIR));
  const meta = loadSafetensorsMetadata(bytes);
  return { t: loadSafetensors(bytes), loss: LOSSES[meta.loss](JSON.parse(meta.kwargs)) };
}

/** Runs `loss` on `be` with the fixture's inputs; returns the value and every gradient buffer. */
async function run(be: Backend, t: Record<string, Tensor>, loss: Loss) {
  const [B, D] = t.x.shape, C = t.codes.shape[1];
  const buf = (a: Float32Array) => {
    const b = be.alloc(a.length);
    be.upload(b, a);
    return b;
  };
  const zeros = (n: number) => buf(new Float32Array(n));
  const ctx: LossContext = {
    backend: be,
    rows: B,
    dim: D,
    concepts: C,
    x: buf(t.x.data),
    xHat: buf(t.x_hat.data),
    preCodes: buf(t.pre_codes.data),
    codes: buf(t.codes.data),
    dictionary: buf(t.dictionary.data),
    logThreshold: zeros(C),
    pseudoGradient: { kernel: "rectangle", bandwidth: 0.5, mode: "overcomplete" },
    loss: zeros(1),
    dXHat: zeros(B * D),
    dCodes: zeros(B * C),
    dPreCodes: zeros(B * C),
    dDictionary: zeros(C * D),
    dLogThreshold: zeros(C),
  };
  await loss.accumulate(ctx);
  const read = (b: typeof ctx.loss, n: number) => be.download(b, 0, n);
  return {
    value: (await read(ctx.loss, 1))[0],
    x_hat: await read(ctx.dXHat, B * D),
    codes: await read(ctx.dCodes, B * C),
    pre_codes: loss.touchesPreCodes ? await read(ctx.dPreCodes, B * C) : new Float32Array(B * C),
    dictionary: await read(ctx.dDictionary, C * D),
  };
}

/** max|a − e| ≤ 1e-5·max|e| + 1e-7 over the entries where `use(i)`. */
function close(
  label: string,
  a: ArrayLike<number>,
  e: ArrayLike<number>,
  use = (_: number) => true,
) {
  let diff = 0, ref = 0;
  for (let i = 0; i < e.length; i++) {
    if (!use(i)) continue;
    ok(Number.isFinite(a[i]), `${label}[${i}] is ${a[i]}`);
    diff = Math.max(diff, Math.abs(a[i] - e[i]));
    ref = Math.max(ref, Math.abs(e[i]));
  }
  ok(diff <= 1e-5 * ref + 1e-7, `${label}: max diff ${diff} (max |seed| ${ref})`);
}

const devices: Device[] = ["reference", "cpu"];
try {
  (await createBackend("webgpu")).dispose();
  devices.push("webgpu");
} catch { /* no adapter: reference and cpu only */ }

const NAMES = [
  "mse_l1",
  "mse_hoyer",
  "mse_kappa_4",
  "mse_elastic",
  "top_k_auxiliary_loss",
  "reanimation_regularizer",
];

for (const device of devices) {
  Deno.test(`seed losses (${device}): value and every gradient equal the seed's`, async () => {
    const be = await createBackend(device);
    try {
      for (const name of NAMES) {
        const { t, loss } = fixture(name);
        const out = await run(be, t, loss);
        close(`${name} value`, [out.value], t.value.data);
        for (const k of ["x_hat", "pre_codes", "codes", "dictionary"] as const) {
          close(`${name} grad ${k}`, out[k], t[`grad.${k}`].data);
        }
      }
    } finally {
      be.dispose();
    }
  });

  Deno.test(`seed losses (${device}): mseHoyer keeps an all-zero code row finite (the seed's gradient is NaN there)`, async () => {
    const be = await createBackend(device);
    try {
      const { t, loss } = fixture("mse_hoyer_zero_row");
      const C = t.codes.shape[1];
      const seedGrad = t["grad.codes"].data;
      const row3 = (i: number) => Math.floor(i / C) === 3;
      ok(seedGrad.every((v, i) => row3(i) === Number.isNaN(v)), "the seed's NaNs are row 3's");
      const out = await run(be, t, loss);
      close("value", [out.value], t.value.data);
      close("grad codes (other rows)", out.codes, seedGrad, (i) => !row3(i));
      ok(out.codes.every((v, i) => !row3(i) || v === 0), "row 3's gradient is 0");
      close("grad x_hat", out.x_hat, t["grad.x_hat"].data);
    } finally {
      be.dispose();
    }
  });

  Deno.test(`seed losses (${device}): topKAuxiliaryLoss with tied zeros: the seed's value and positive entries, the expectation over tie-breaks at the zeros`, async () => {
    const be = await createBackend(device);
    try {
      const { t, loss } = fixture("top_k_auxiliary_loss_ties");
      const [B, C] = t.codes.shape, k = Math.floor(C / 2);
      const out = await run(be, t, loss);
      const p = t.pre_codes.data.map((v, i) => Math.max(v, 0) - t.codes.data[i]);
      close("value", [out.value], t.value.data);
      close("grad x_hat", out.x_hat, t["grad.x_hat"].data);
      close("grad dictionary", out.dictionary, t["grad.dictionary"].data);
      let tiedRows = 0;
      for (let r = 0; r < B; r++) {
        const row = (i: number) => Math.floor(i / C) === r;
        const positive = p.filter((v, i) => row(i) && v > 0).length;
        const zeros = C - positive, slots = k - positive;
        if (slots <= 0) continue;
        tiedRows++;
        // torch picked `slots` of the row's zeros, each with its full gradient (zero only at
        // an entry whose gradient vanishes); ours gives every zero slots/zeros of it
        const weight = slots / zeros;
        const seedCodes = t["grad.codes"].data;
        let picked = 0;
        for (let c = 0; c < C; c++) {
          const i = r * C + c;
          if (p[i] > 0) continue;
          if (seedCodes[i] !== 0) {
            picked++;
            ok(
              Math.abs(out.codes[i] - weight * seedCodes[i]) <=
                1e-5 * Math.abs(seedCodes[i]) + 1e-8,
              `row ${r} col ${c}: ${out.codes[i]} vs ${weight}·${seedCodes[i]}`,
            );
          }
        }
        ok(picked <= slots, `row ${r}: torch picked ${picked} zeros for ${slots} slots`);
      }
      ok(tiedRows > 0, "the fixture has rows with tied zeros");
      for (const k2 of ["pre_codes", "codes"] as const) {
        close(`grad ${k2} (positive entries)`, out[k2], t[`grad.${k2}`].data, (i) => p[i] > 0);
      }
    } finally {
      be.dispose();
    }
  });
}

Deno.test("topKAuxiliaryLoss: permuting the concepts permutes every gradient (the tie rule does not depend on the order)", async () => {
  const be = await createBackend("reference");
  try {
    const { t, loss } = fixture("top_k_auxiliary_loss_ties");
    const [B, C] = t.codes.shape, D = t.x.shape[1];
    const perm = Array.from({ length: C }, (_, c) => (c * 5 + 3) % C); // new column c = old perm[c]
    const cols = (a: Float32Array) =>
      Float32Array.from({ length: B * C }, (_, i) => a[Math.floor(i / C) * C + perm[i % C]]);
    const rows = (a: Float32Array) =>
      Float32Array.from({ length: C * D }, (_, i) => a[perm[Math.floor(i / D)] * D + (i % D)]);
    const permuted = {
      ...t,
      pre_codes: { data: cols(t.pre_codes.data), shape: [B, C] },
      codes: { data: cols(t.codes.data), shape: [B, C] },
      dictionary: { data: rows(t.dictionary.data), shape: [C, D] },
    };
    const a = await run(be, t, loss), b = await run(be, permuted, loss);
    close("value", [b.value], [a.value]);
    close("grad codes", b.codes, cols(a.codes));
    close("grad pre_codes", b.pre_codes, cols(a.pre_codes));
    close("grad dictionary", b.dictionary, rows(a.dictionary));
  } finally {
    be.dispose();
  }
});
