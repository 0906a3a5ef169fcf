import { assertRejects } from "./_io_assert.ts";
import { assertClose, expected, fixturePath, withTempDir } from "./_pretrained_helpers.ts";
import { equal, ok } from "node:assert/strict";
import { JumpSAE } from "../src/jump_sae.ts";
import { FormatError } from "../src/errors.ts";
import {
  loadSafetensors,
  loadSafetensorsMetadata,
  saveSafetensors,
} from "../src/io/safetensors.ts";
import { loadNpz, saveNpz } from "../src/io/npz.ts";
import {
  exportGemmaScope,
  exportSAELens,
  loadModel,
  loadPretrained,
  NormalizedJumpSAE,
  saveModel,
} from "../src/pretrained/mod.ts";
import type { Tensor } from "../src/tensor.ts";

const device = "reference" as const;

async function checkForward(sae: JumpSAE, caseName: string, label: string) {
  const e = await expected(caseName);
  const out = await sae.forward(e.x);
  assertClose(out.preCodes, e.pre, `${label} pre`);
  assertClose(out.codes, e.acts, `${label} acts`);
  assertClose(out.xHat, e.recon, `${label} recon`);
  let active = 0;
  for (const v of e.acts.data) if (v > 0) active++;
  ok(active > 0 && active < e.acts.data.length, `${label}: the fixture gates some codes, not all`);
}

Deno.test("loadPretrained() reproduces Gemma Scope's forward from params.npz (directory path)", async () => {
  const sae = await loadPretrained(fixturePath("gemma_scope"), { device });
  equal(sae.training, false);
  equal(sae.centerInput, false);
  await checkForward(sae, "gemma_scope", "params.npz");
  sae.dispose();
});

Deno.test("loadPretrained() reads Gemma Scope params.safetensors with lowercase keys (file path and in memory)", async () => {
  const path = fixturePath("gemma_scope", "params.safetensors");
  equal(
    Object.keys(loadSafetensors(await Deno.readFile(path))).sort().join(),
    "b_dec,b_enc,threshold,w_dec,w_enc",
  );
  const a = await loadPretrained(path, { device });
  await checkForward(a, "gemma_scope", "params.safetensors path");
  const b = await loadPretrained({ files: { "params.safetensors": await Deno.readFile(path) } }, {
    device,
  });
  await checkForward(b, "gemma_scope", "params.safetensors memory");
  a.dispose();
  b.dispose();
});

Deno.test("loadPretrained() reproduces SAELens's forward: BF16 weights, apply_b_dec_to_input", async () => {
  const weights = await Deno.readFile(fixturePath("saelens", "sae_weights.safetensors"));
  ok(new TextDecoder().decode(weights.subarray(8, 200)).includes('"BF16"'));
  const sae = await loadPretrained(fixturePath("saelens"), { device });
  equal(sae.centerInput, true);
  equal(sae.nbConcepts, 24);
  await checkForward(sae, "saelens", "saelens");
  sae.dispose();
});

Deno.test("loadPretrained() reads a pre-6 SAELens cfg with constant_norm_rescale, F16 weights and log_threshold", async () => {
  const sae = await loadPretrained(fixturePath("saelens_norm"), { device });
  ok(sae instanceof NormalizedJumpSAE);
  equal((sae as NormalizedJumpSAE).inputNormalization, "constant_norm_rescale");
  equal(sae.centerInput, false);
  await checkForward(sae, "saelens_norm", "saelens_norm");
  sae.dispose();
});

Deno.test("exportSAELens() reloads to the same outputs, and its checkpoint too", async () => {
  for (const caseName of ["saelens", "saelens_norm", "gemma_scope"]) {
    const sae = await loadPretrained(fixturePath(caseName), { device });
    const files = await exportSAELens(sae);
    const cfg = JSON.parse(files["cfg.json"]);
    equal(cfg.architecture, "jumprelu");
    equal(cfg.apply_b_dec_to_input, caseName === "saelens");
    equal(cfg.meta.sae_lens_version, "6.0.0");
    const back = await loadPretrained({ files }, { device });
    await checkForward(back, caseName, `${caseName} exported`);
    const again = await loadPretrained({ files: { "model.safetensors": await saveModel(back) } }, {
      device,
    });
    await checkForward(again, caseName, `${caseName} checkpoint`);
    for (const m of [sae, back, again]) m.dispose();
  }
});

Deno.test("exportSAELens() writes BF16 when asked and refuses non-linear encoders", async () => {
  const sae = new JumpSAE(6, 10, {
    encoderModule: "linear",
    seed: 2,
    device,
    decoderBias: true,
    centerInput: true,
  });
  const files = await exportSAELens(sae, {
    dtype: "BF16",
    metadata: { model_name: "toy", hook_name: "h" },
  });
  const header = new TextDecoder().decode(files["sae_weights.safetensors"].subarray(8, 400));
  equal((header.match(/"BF16"/g) ?? []).length, 5);
  equal(JSON.parse(files["cfg.json"]).meta.hook_name, "h");
  equal(sae.training, true, "export leaves the mode as it was");
  const mlp = new JumpSAE(6, 10, { seed: 2, device });
  await assertRejects(
    () => exportSAELens(mlp),
    TypeError,
    "SAELens can only represent the linear encoder",
  );
  sae.dispose();
  mlp.dispose();
});

Deno.test("saveModel()/loadModel() round trip: every encoder, multiplier, decoder bias, layer_norm input", async () => {
  const x = { data: new Float32Array(5 * 6).map((_, i) => Math.sin(i * 1.7) * 2), shape: [5, 6] };
  const cases: [string, () => JumpSAE][] = [
    ["mlp_bn_3", () => new JumpSAE(6, 12, { encoderModule: "mlp_bn_3", seed: 1, device })],
    [
      "mlp_ln_1 multiplier",
      () =>
        new JumpSAE(6, 12, {
          encoderModule: "mlp_ln_1",
          seed: 1,
          device,
          dictionaryParams: { useMultiplier: true, normalization: "max_l1" },
        }),
    ],
    [
      "identity",
      () =>
        new JumpSAE(6, 6, {
          encoderModule: "identity",
          seed: 1,
          device,
          kernel: "cauchy",
          bandwith: 0.3,
        }),
    ],
    [
      "layer_norm",
      () =>
        new NormalizedJumpSAE(6, 12, {
          inputNormalization: "layer_norm",
          encoderModule: "linear",
          seed: 1,
          device,
          decoderBias: true,
          centerInput: true,
        }),
    ],
  ];
  for (const [label, make] of cases) {
    const sae = make();
    const p = sae.thresholds;
    p.initial = p.initial.map((_, i) => -1.5 + 0.1 * i);
    sae.eval();
    const before = await sae.forward(x);
    const bytes = await saveModel(sae);
    const meta = loadSafetensorsMetadata(bytes);
    equal(meta.format, "pt");
    const back = await loadModel(bytes, { device });
    equal(back.kernel, sae.kernel, label);
    equal(back.bandwith, sae.bandwith, label);
    equal(back.constructor, sae.constructor, label);
    const after = await back.forward(x);
    // eval() re-projects the stored rows once more: equal up to float32 rounding
    assertClose(after.codes, before.codes, `${label} codes`, 1e-6, 1e-6);
    assertClose(after.xHat, before.xHat, `${label} xHat`, 1e-6, 1e-6);
    const dict = await back.stateDict();
    const orig = await sae.stateDict();
    equal(Object.keys(dict).join(), Object.keys(orig).join(), label);
    sae.dispose();
    back.dispose();
  }
});

Deno.test("loadPretrained() reads a seed-library PyTorch state dict with constructor arguments", async () => {
  // the PyTorch fixture of the seed JumpSAE (default encoder, eval mode): its state_dict() as safetensors
  const bytes = await Deno.readFile(
    new URL("./fixtures/default_eval.safetensors", import.meta.url),
  );
  const all = loadSafetensors(bytes);
  const config = JSON.parse(loadSafetensorsMetadata(bytes).config);
  const state: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(all)) if (k.startsWith("state.")) state[k.slice(6)] = v;
  const file = saveSafetensors(state, { format: "pt" }, {
    dtypes: { "encoder.final_block.1.num_batches_tracked": "I64" },
  });
  const sae = await loadPretrained({ files: { "state_dict.safetensors": file } }, {
    device,
    config: {
      kernel: config.kernel,
      bandwith: config.bandwith,
      dictionaryParams: { normalization: config.normalization },
    },
  });
  equal(sae.nbConcepts, config.nb_concepts);
  const out = await sae.forward(all["input.x"]);
  assertClose(out.preCodes, all["out.pre_codes"], "pre", 1e-5, 1e-4);
  assertClose(out.codes, all["out.codes"], "codes", 1e-5, 1e-4);
  assertClose(out.xHat, all["out.x_hat"], "xHat", 1e-5, 1e-4);
  // without the normalization, rows of non-unit norm are refused rather than silently re-projected
  const raw = {
    ...state,
    "dictionary._weights": {
      data: state["dictionary._weights"].data.map((v) => v * 3),
      shape: state["dictionary._weights"].shape,
    },
  };
  await assertRejects(
    () => loadPretrained({ files: { "sd.safetensors": saveSafetensors(raw) } }, { device }),
    TypeError,
    "dictionary._weights row 0 has norm",
  );
  // a wrong constructor argument is named by the key that does not fit
  await assertRejects(
    () =>
      loadPretrained({ files: { "sd.safetensors": file } }, {
        device,
        config: { encoderModule: "mlp_ln_1", dictionaryParams: { normalization: "l2" } },
      }),
    RangeError,
    "Unexpected key encoder.final_block.1.num_batches_tracked",
  );
  sae.dispose();
});

Deno.test("loadPretrained() fetches a SAELens directory URL and a params.npz URL from a loopback server", async () => {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    requests.push(path);
    if (path.startsWith("/broken/")) return new Response("oops", { status: 500 });
    try {
      return new Response(await Deno.readFile(fixturePath(...path.split("/").filter(Boolean))));
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const a = await loadPretrained(`${base}/saelens`, { device });
    await checkForward(a, "saelens", "saelens URL");
    ok(
      requests.includes("/saelens/cfg.json") &&
        requests.includes("/saelens/sae_weights.safetensors"),
    );
    const b = await loadPretrained(new URL(`${base}/gemma_scope/params.npz`), { device });
    await checkForward(b, "gemma_scope", "npz URL");
    await assertRejects(
      () => loadPretrained(`${base}/nothing/`, { device }),
      TypeError,
      "has none of cfg.json",
    );
    await assertRejects(
      () => loadPretrained(`${base}/broken/`, { device }),
      TypeError,
      "gave HTTP 500",
    );
    a.dispose();
    b.dispose();
  } finally {
    await server.shutdown();
  }
});

Deno.test("loadPretrained() names the problem of corrupted, truncated and mismatched files", async () => {
  const dir = fixturePath("saelens");
  const cfg = await Deno.readTextFile(`${dir}/cfg.json`);
  const weights = await Deno.readFile(`${dir}/sae_weights.safetensors`);
  const npz = await Deno.readFile(fixturePath("gemma_scope", "params.npz"));
  const load = (files: Record<string, Uint8Array | string>, opts = {}) => () =>
    loadPretrained({ files }, { device, ...opts });
  const tensors = loadSafetensors(weights);
  const withTensors = (t: Record<string, Tensor>) => saveSafetensors(t);

  await assertRejects(
    load({ "cfg.json": cfg, "sae_weights.safetensors": weights.subarray(0, weights.length - 10) }),
    FormatError,
    "the file may be truncated",
  );
  await assertRejects(load({ "cfg.json": cfg }), TypeError, "is a SAELens cfg.json alone");
  // a path naming one of the SAELens files reads its directory
  const viaFile = await loadPretrained(`${dir}/sae_weights.safetensors`, { device });
  await checkForward(viaFile, "saelens", "path of sae_weights.safetensors");
  viaFile.dispose();
  await assertRejects(
    load({ "cfg.json": cfg, "README.md": "hi" }),
    TypeError,
    "has cfg.json but no sae_weights.safetensors",
  );
  await assertRejects(
    load({ "cfg.json": "{ not json", "sae_weights.safetensors": weights }),
    TypeError,
    "cfg.json must be JSON",
  );
  await assertRejects(
    load({
      "cfg.json": cfg.replace('"jumprelu"', '"standard"'),
      "sae_weights.safetensors": weights,
    }),
    RangeError,
    'architecture must be "jumprelu", got "standard"',
  );
  await assertRejects(
    load({
      "cfg.json": cfg.replace('"d_in": 12', '"d_in": 13'),
      "sae_weights.safetensors": weights,
    }),
    RangeError,
    "W_enc must have shape [13, 24], got [12, 24]",
  );
  await assertRejects(
    load({ "cfg.json": cfg.replace('"d_in": 12, ', ""), "sae_weights.safetensors": weights }),
    TypeError,
    "field d_in must be a positive integer",
  );
  await assertRejects(
    load({
      "cfg.json": cfg.replace('"none", "reshape', '"expected_average_only_in", "reshape'),
      "sae_weights.safetensors": weights,
    }),
    TypeError,
    "normScalingFactor",
  );
  const { threshold: _t, ...noThreshold } = tensors;
  await assertRejects(
    load({ "cfg.json": cfg, "sae_weights.safetensors": withTensors(noThreshold) }),
    RangeError,
    "has no tensor threshold (nor log_threshold)",
  );
  await assertRejects(
    load({
      "cfg.json": cfg,
      "sae_weights.safetensors": withTensors({
        ...tensors,
        W_dec: { data: new Float32Array(24 * 11), shape: [24, 11] },
      }),
    }),
    RangeError,
    "W_dec must have shape [24, 12], got [24, 11]",
  );
  await assertRejects(
    load({
      "cfg.json": cfg,
      "sae_weights.safetensors": withTensors({
        ...tensors,
        b_enc: { data: new Float32Array(24).fill(NaN), shape: [24] },
      }),
    }),
    RangeError,
    "b_enc must be finite",
  );
  // wrong header: 8 random bytes then garbage
  await assertRejects(
    load({ "model.safetensors": new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) }),
    TypeError,
    "neither safetensors",
  );
  // safetensors header length beyond the file
  const bad = weights.slice(0, 64);
  await assertRejects(
    load({ "model.safetensors": bad }),
    FormatError,
    "runs past the end of the file",
  );
  // npz: truncated and corrupted member (CRC)
  await assertRejects(
    load({ "params.npz": npz.subarray(0, npz.length - 30) }),
    FormatError,
    "the file may be truncated",
  );
  const flipped = npz.slice();
  flipped[200] ^= 0xff;
  await assertRejects(load({ "params.npz": flipped }), FormatError, "the data is corrupt");
  // npz with a mismatched shape and a missing key
  const g = await loadNpz(npz);
  await assertRejects(
    load({
      "params.npz": await saveNpz({ ...g, b_dec: { data: new Float32Array(3), shape: [3] } }),
    }),
    RangeError,
    "b_dec must have shape [8], got [3]",
  );
  const { threshold: _g, ...gNoThreshold } = g;
  await assertRejects(
    load({ "params.npz": await saveNpz(gNoThreshold) }),
    RangeError,
    "has no tensor threshold",
  );
  await assertRejects(
    load({ "params.npz": await saveNpz({ ...g, extra: [1] }) }),
    RangeError,
    "unexpected tensor extra",
  );
  // a jumpsae checkpoint with a broken config
  const ckpt = saveSafetensors({ thresholds: [0] }, { "jumpsae.config": '{"inputShape": 0}' });
  await assertRejects(
    load({ "model.safetensors": ckpt }),
    TypeError,
    "field inputShape must be a positive integer",
  );
  await assertRejects(
    load({ "w.safetensors": saveSafetensors({ foo: [1] }) }),
    TypeError,
    "holds tensors foo",
  );
  await assertRejects(
    load({ "params.npz": npz }, { format: "saelens" }),
    TypeError,
    "holds the gemma-scope format, expected saelens",
  );
  await withTempDir(async (tmp) => {
    await assertRejects(() => loadPretrained(tmp, { device }), TypeError, "has none of cfg.json");
    await assertRejects(
      () => loadPretrained(`${tmp}/missing.safetensors`, { device }),
      TypeError,
      "no such file",
    );
  });
});

Deno.test("loadSAELens() folds normScalingFactor and a finetuning scaling_factor as SAELens does", async () => {
  const dir = fixturePath("saelens");
  const cfg = await Deno.readTextFile(`${dir}/cfg.json`);
  const weights = await Deno.readFile(`${dir}/sae_weights.safetensors`);
  const e = await expected("saelens");
  const original = await loadPretrained(dir, { device });
  // expected_average_only_in: SAELens's model sees s·x and returns x̂/s; folded, it takes x
  const s = 2.5;
  const folded = await loadPretrained({
    files: {
      "cfg.json": cfg.replace('"none", "reshape', '"expected_average_only_in", "reshape'),
      "sae_weights.safetensors": weights,
    },
  }, { device, normScalingFactor: s });
  const scaled = { data: e.x.data.map((v) => v * s), shape: e.x.shape };
  const ref = await original.forward(scaled);
  const got = await folded.forward(e.x);
  assertClose(got.codes, ref.codes, "folded codes");
  assertClose(
    got.xHat,
    { data: ref.xHat.data.map((v) => v / s), shape: ref.xHat.shape },
    "folded xHat",
  );
  // scaling_factor: decode(acts · f) = acts·diag(f)·W_dec + b_dec
  const tensors = loadSafetensors(weights);
  const f = { data: new Float32Array(24).map((_, i) => 0.5 + 0.05 * i), shape: [24] };
  const withFactor = saveSafetensors({ ...tensors, scaling_factor: f });
  const flagged = cfg.replace(
    '"apply_b_dec_to_input": true',
    '"apply_b_dec_to_input": true, "finetuning_scaling_factor": true',
  );
  const m = await loadPretrained({
    files: { "cfg.json": flagged, "sae_weights.safetensors": withFactor },
  }, { device });
  const out = await m.forward(e.x);
  assertClose(out.codes, e.acts, "scaling_factor codes");
  const scaledCodes = { data: e.acts.data.map((v, i) => v * f.data[i % 24]), shape: e.acts.shape };
  assertClose(out.xHat, await original.decode(scaledCodes), "scaling_factor xHat");
  await assertRejects(
    () =>
      loadPretrained({ files: { "cfg.json": cfg, "sae_weights.safetensors": withFactor } }, {
        device,
      }),
    RangeError,
    "scaling_factor other than ones but cfg.json finetuning_scaling_factor is not true",
  );
  const ones = saveSafetensors({
    ...tensors,
    scaling_factor: { data: new Float32Array(24).fill(1), shape: [24] },
  });
  const same = await loadPretrained(
    { files: { "cfg.json": cfg, "sae_weights.safetensors": ones } },
    { device },
  );
  assertClose((await same.forward(e.x)).xHat, e.recon, "all-ones scaling_factor is ignored");
  for (const model of [original, folded, m, same]) model.dispose();
});

Deno.test("NormalizedJumpSAE layer_norm: (x − mean)/(std + 1e-5) in, x̂·std + mean out (std unbiased)", async () => {
  const D = 6, C = 10;
  const plain = new JumpSAE(D, C, {
    encoderModule: "linear",
    seed: 4,
    device,
    decoderBias: true,
    centerInput: true,
  });
  const norm = new NormalizedJumpSAE(D, C, {
    inputNormalization: "layer_norm",
    encoderModule: "linear",
    seed: 4,
    device,
    decoderBias: true,
    centerInput: true,
  });
  plain.thresholds.initial.fill(Math.log(0.1));
  norm.thresholds.initial.fill(Math.log(0.1));
  plain.eval();
  norm.eval();
  const rows = [[1, 2, 3, 4, 5, 6], [-2, 0.5, 7, 1, 1, -3]];
  const normalized: number[][] = [], stats: [number, number][] = [];
  for (const r of rows) {
    const mu = r.reduce((a, b) => a + b) / D;
    const std = Math.sqrt(r.reduce((a, b) => a + (b - mu) ** 2, 0) / (D - 1));
    normalized.push(r.map((v) => (v - mu) / (std + 1e-5)));
    stats.push([mu, std]);
  }
  const ref = await plain.forward(normalized);
  const got = await norm.forward(rows);
  assertClose(got.codes, ref.codes, "codes");
  const restored = ref.xHat.data.map((v, i) =>
    v * stats[Math.floor(i / D)][1] + stats[Math.floor(i / D)][0]
  );
  assertClose(got.xHat, { data: restored, shape: ref.xHat.shape }, "xHat");
  const rescale = new NormalizedJumpSAE(D, C, {
    inputNormalization: "constant_norm_rescale",
    device,
  });
  await assertRejects(
    () => rescale.forward([[1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]]),
    RangeError,
    "x token 1 has norm 0",
  );
  rescale.dispose();
  plain.dispose();
  norm.dispose();
});

Deno.test("exportGemmaScope() folds input centring into b_enc and reloads to the same outputs", async () => {
  const sae = await loadPretrained(fixturePath("saelens"), { device });
  equal(sae.centerInput, true);
  for (const container of ["npz", "safetensors"] as const) {
    const files = await exportGemmaScope(sae, { container });
    const name = container === "npz" ? "params.npz" : "params.safetensors";
    if (container === "safetensors") {
      equal(
        Object.keys(loadSafetensors(files[name]!)).sort().join(),
        "b_dec,b_enc,threshold,w_dec,w_enc",
      );
    }
    const back = await loadPretrained({ files: { [name]: files[name]! } }, { device });
    equal(back.centerInput, false);
    await checkForward(back, "saelens", `gemma ${container}`);
    back.dispose();
  }
  const norm = await loadPretrained(fixturePath("saelens_norm"), { device });
  await assertRejects(
    () => exportGemmaScope(norm),
    TypeError,
    "Gemma Scope has no input normalization, got a model with constant_norm_rescale",
  );
  const mlp = new JumpSAE(4, 8, { device });
  await assertRejects(
    () => exportGemmaScope(mlp),
    TypeError,
    "Gemma Scope can only represent the linear encoder",
  );
  for (const m of [sae, norm, mlp]) m.dispose();
});
