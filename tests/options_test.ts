/**
 * The one option checker (`src/_options.ts`) at every public function that takes options: an
 * unknown key is a TypeError naming the nearest valid one, the positional forms PyTorch users
 * write fail with a message that shows the right call, `bandwidth` is accepted where `bandwith`
 * is, and nothing changes before the error.
 */
import { deepEqual, equal, rejects, throws } from "node:assert/strict";
import {
  Adam,
  AdamW,
  batchLoader,
  exportSAELens,
  JumpSAE,
  loadPretrained,
  losses,
  saveSafetensors,
  SGD,
  trainSae,
} from "../mod.ts";
import { checkOptions, nearestKey } from "../src/_options.ts";

const L2 = { normalization: "l2" } as const;
const model = () => new JumpSAE(8, 16, { seed: 3, device: "reference", encoderModule: "linear" });
const data = {
  data: new Float32Array(32 * 8).map((_, i) => Math.sin(0.3 * i)),
  shape: [32, 8],
};

Deno.test("nearestKey(): camelCase of snake_case, case, containment, edit distance, none", () => {
  const train = ["scheduler", "nbEpochs", "clipGrad", "monitoring"];
  equal(nearestKey("nb_epochs", train), "nbEpochs");
  equal(nearestKey("epochs", train), "nbEpochs");
  equal(nearestKey("NBEPOCHS", train), "nbEpochs");
  equal(nearestKey("clip_grad_norm", train), "clipGrad");
  equal(nearestKey("shceduler", train), "scheduler");
  equal(nearestKey("lr", train), undefined);
  equal(nearestKey("weight_decay", ["lr", "weightDecay"]), "weightDecay");
});

Deno.test("checkOptions(): undefined passes; non-objects and unknown keys are TypeErrors", () => {
  checkOptions(undefined, ["a"], "f options");
  checkOptions({ a: 1 }, ["a"], "f options");
  throws(
    () => checkOptions(null, ["a"], "f options"),
    /^TypeError: f options must be an object, got null$/,
  );
  throws(() => checkOptions([1], ["a"], "f options"), /got an array of 1/);
  throws(
    () => checkOptions(5e-4, ["lr"], "f options", "lr"),
    /^TypeError: f options must be an object, got the number 0\.0005: write \{ lr: 0\.0005 \}$/,
  );
  throws(
    () => checkOptions({ zzz: 1 }, ["lr", "eps"], "f options"),
    /^TypeError: unknown option `zzz` of f options; expected one of lr, eps$/,
  );
});

Deno.test("optimizers: PyTorch's positional lr and parameters(), snake_case keys", () => {
  const sae = model();
  throws(() => new Adam(sae, 5e-4 as never), /new Adam\(model, options\).*write \{ lr: 0\.0005 \}/);
  throws(
    () => new Adam(sae, { weight_decay: 0.1 } as never),
    /^TypeError: unknown option `weight_decay` of .*Adam.*; did you mean `weightDecay`\?/,
  );
  throws(
    () => new Adam(sae.parameters() as never, { lr: 1e-3 }),
    /Adam takes the model, not its parameters.*new Adam\(sae, \{ lr \}\)/,
  );
  throws(() => new AdamW(sae, { betas1: 0.9 } as never), /AdamW.*did you mean `betas`\?/);
  throws(() => new SGD(sae, { momentun: 0.9 } as never), /did you mean `momentum`\?/);
  throws(() => new SGD(sae, 0.1 as never), /write \{ lr: 0\.1 \}/);
  // Valid calls still work.
  equal(new Adam(sae, { lr: 5e-4, weightDecay: 0.1 }).weightDecay, 0.1);
  sae.dispose();
});

Deno.test("new JumpSAE(): an unknown option names the nearest", () => {
  throws(
    () => new JumpSAE(8, 16, { band_width: 0.01 } as never),
    /unknown option `band_width` of new JumpSAE\(inputShape, nbConcepts, options\); did you mean `bandwidth`\?/,
  );
});

Deno.test("trainSae(): epochs and nb_epochs are refused before any step", async () => {
  const sae = model();
  const before = await sae.stateDict();
  const optimizer = new Adam(sae, { lr: 1e-2 });
  const loader = await batchLoader(data, { batchSize: 8 });
  for (const key of ["epochs", "nb_epochs"]) {
    await rejects(
      trainSae(sae, loader, losses.mse(), optimizer, { [key]: 2, verbose: false } as never),
      new RegExp(
        `^TypeError: unknown option \`${key}\` of trainSae options; did you mean \`nbEpochs\`\\?`,
      ),
    );
  }
  const after = await sae.stateDict();
  for (const k of Object.keys(before)) deepEqual(after[k].data, before[k].data, k);
  sae.dispose();
});

Deno.test("loadPretrained(): bandwidth or bandwith, at the top and in config; unknown keys", async () => {
  const source = model();
  const bytes = saveSafetensors(await source.stateDict());
  source.dispose();
  const files = { files: { "sae.safetensors": bytes } };
  const a = await loadPretrained(files, {
    device: "reference",
    config: { encoderModule: "linear", dictionaryParams: L2, bandwidth: 0.01 } as never,
  });
  equal(a.bandwith, 0.01);
  a.dispose();
  const b = await loadPretrained(files, {
    device: "reference",
    config: { encoderModule: "linear", dictionaryParams: L2, bandwith: 0.02 },
  });
  equal(b.bandwith, 0.02);
  b.dispose();
  await rejects(
    loadPretrained(files, { confg: {} } as never),
    /unknown option `confg` of loadPretrained options; did you mean `config`\?/,
  );
  await rejects(
    loadPretrained(files, { config: { nb_concepts: 16 } } as never),
    /unknown option `nb_concepts` of loadPretrained options\.config; did you mean `nbConcepts`\?/,
  );
  await rejects(
    loadPretrained(files, { bandwith: 0.01, bandwidth: 0.02 }),
    /^RangeError: loadPretrained options has bandwith 0\.01 and bandwidth 0\.02, expected one$/,
  );
});

Deno.test("exportSAELens(): an unknown option names the nearest", async () => {
  const sae = model();
  await rejects(
    exportSAELens(sae, { meta: { foo: 1 } } as never),
    /unknown option `meta` of exportSAELens options; did you mean `metadata`\?/,
  );
  sae.dispose();
});

Deno.test("a bare Float32Array input says which shape to give", async () => {
  const sae = model();
  await rejects(
    async () => await sae.forward(new Float32Array(64) as never),
    /is a bare Float32Array of 64 values, expected a shape with it: \{ data: .*, shape: \[rows, dim\] \}/,
  );
  sae.dispose();
});

Deno.test("loadPretrained(): a SAELens training cfg's jumprelu_bandwidth is carried over", async () => {
  const sae = model();
  const files = await exportSAELens(sae);
  sae.dispose();
  const cfg = { ...JSON.parse(files["cfg.json"]), jumprelu_bandwidth: 0.05 };
  const dir = {
    "cfg.json": new TextEncoder().encode(JSON.stringify(cfg)),
    "sae_weights.safetensors": files["sae_weights.safetensors"],
  };
  const carried = await loadPretrained({ files: dir }, { device: "reference" });
  equal(carried.bandwith, 0.05);
  carried.dispose();
  const chosen = await loadPretrained({ files: dir }, { device: "reference", bandwidth: 0.2 });
  equal(chosen.bandwith, 0.2);
  chosen.dispose();
});
