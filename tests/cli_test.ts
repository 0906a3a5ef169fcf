import { deepEqual, equal, ok } from "node:assert/strict";
import { assertThrows } from "./_io_assert.ts";
import { assertClose, fixturePath, withTempDir } from "./_pretrained_helpers.ts";
import { main } from "../src/cli/main.ts";
import { formatHelp, parseArgs, parseBytes, UsageError } from "../src/cli/args.ts";
import { COMMANDS } from "../src/cli/main.ts";
import { chunkRowsFor } from "../src/cli/_common.ts";
import { loadNpy, saveNpy } from "../src/io/npy.ts";
import { loadNpz } from "../src/io/npz.ts";
import { JumpSAE } from "../src/jump_sae.ts";
import { r2Score } from "../src/metrics/reconstruction.ts";
import { loadPretrained, saveModel } from "../src/pretrained/mod.ts";
import type { Tensor } from "../src/tensor.ts";

const device = "reference";

/** Runs the CLI, capturing its output. */
async function run(...argv: string[]) {
  const out: string[] = [], err: string[] = [], bar: string[] = [];
  const status = await main(argv, {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    progress: true,
    progressWrite: (t) => bar.push(t),
  });
  return { status, out: out.join("\n"), err: err.join("\n"), bar: bar.join("") };
}

/**
 * Reads the members of a stored (uncompressed) ZIP64 .npz as written by the CLI: `|S` members
 * as text, the others with loadNpy.
 */
function readStoredNpz(bytes: Uint8Array): Record<string, Tensor | string> {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<string, Tensor | string> = {};
  let at = 0;
  while (v.getUint32(at, true) === 0x04034b50) {
    const nameLength = v.getUint16(at + 26, true), extraLength = v.getUint16(at + 28, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 30, at + 30 + nameLength));
    const size = Number(v.getBigUint64(at + 30 + nameLength + 4, true)); // ZIP64 extra: uncompressed size
    const start = at + 30 + nameLength + extraLength;
    const member = bytes.subarray(start, start + size);
    const header = new TextDecoder().decode(member.subarray(10, 80));
    out[name.replace(/\.npy$/, "")] = header.includes("'|S")
      ? new TextDecoder().decode(member.subarray(10 + v.getUint16(start + 8, true)))
      : loadNpy(member.slice());
    at = start + size;
  }
  return out;
}

/** A linear SAE with decoder bias and spread thresholds, and activations for it. */
async function setup(dir: string, rows = 300, D = 16, C = 40) {
  const sae = new JumpSAE(D, C, {
    encoderModule: "linear",
    decoderBias: true,
    centerInput: true,
    seed: 5,
    device,
  });
  sae.thresholds.initial = sae.thresholds.initial.map((_, i) => Math.log(0.2 + 0.1 * (i % 7)));
  sae.eval();
  const x = {
    data: new Float32Array(rows * D).map((_, i) => Math.sin(i * 0.37) * 1.5 + Math.cos(i * 0.011)),
    shape: [rows, D],
  };
  await Deno.writeFile(`${dir}/model.safetensors`, await saveModel(sae));
  await Deno.writeFile(`${dir}/acts.npy`, saveNpy(x));
  return { sae, x };
}

Deno.test("parseArgs() reads values, aliases, --flag, --no-flag, --x=y and refuses what it does not know", () => {
  const spec = COMMANDS.encode[0];
  const a = parseArgs(spec, [
    "m.safetensors",
    "-o",
    "out.npz",
    "--top-k=4",
    "--csr",
    "acts.npy",
    "--max-memory",
    "2MB",
  ]);
  deepEqual(a.positionals, { model: "m.safetensors", activations: "acts.npy" });
  equal(a.options.output, "out.npz");
  equal(a.options["top-k"], 4);
  equal(a.options.csr, true);
  equal(a.options["max-memory"], 2 * 1024 * 1024);
  equal(a.options.device, "auto");
  equal(parseArgs(spec, ["m", "a", "--no-csr"]).options.csr, false);
  equal(parseArgs(spec, ["--help"]).help, true);
  equal(parseBytes("1.5GiB", "x"), 1.5 * 1024 ** 3);
  assertThrows(
    () => parseArgs(spec, ["m", "a", "--bogus"]),
    UsageError,
    "Unknown option --bogus for encode",
  );
  assertThrows(
    () => parseArgs(spec, ["m", "a", "--top-k", "x"]),
    UsageError,
    '--top-k must be an integer, got "x"',
  );
  assertThrows(() => parseArgs(spec, ["m", "a", "--top-k"]), UsageError, "--top-k needs a value");
  assertThrows(() => parseArgs(spec, ["m"]), UsageError, "encode needs model activations, got m");
  assertThrows(() => parseArgs(spec, ["m", "a", "b"]), UsageError, "got extra b");
  assertThrows(
    () => parseArgs(spec, ["m", "a", "--device", "tpu"]),
    UsageError,
    "--device must be one of auto, cpu, webgpu, reference",
  );
  assertThrows(
    () => parseBytes("12 parsecs", "--max-memory"),
    UsageError,
    "--max-memory must be a size like 512MB",
  );
});

Deno.test("main() prints help for the tool and every command", async () => {
  const top = await run("--help");
  equal(top.status, 0);
  for (const name of ["train", "encode", "eval", "inspect", "convert"]) {
    ok(top.out.includes(name));
    const r = await run(name, "--help");
    equal(r.status, 0, name);
    equal(r.out, formatHelp(COMMANDS[name][0]));
    ok(r.out.includes(`Usage: jumpsae ${name}`) && r.out.includes("--device"), name);
  }
  const bad = await run("frobnicate");
  equal(bad.status, 2);
  ok(
    bad.err.includes(
      "unknown command frobnicate, expected one of train, encode, eval, inspect, convert",
    ),
  );
});

Deno.test("encode streams chunks sized by --max-memory and matches encode in memory (top-k and CSR)", async () => {
  await withTempDir(async (dir) => {
    const { sae, x } = await setup(dir);
    const C = sae.nbConcepts, N = x.shape[0], k = 8;
    // a budget that holds the model and ~50 rows: several chunks
    const { rowBytes, modelBytes } = chunkRowsFor(1 << 30, sae, 4, 8 * k, false);
    const budget = modelBytes + 50 * rowBytes + 10;
    const r = await run(
      "encode",
      `${dir}/model.safetensors`,
      `${dir}/acts.npy`,
      "-o",
      `${dir}/codes.npz`,
      "-k",
      String(k),
      "--max-memory",
      String(budget),
      "--device",
      device,
    );
    equal(r.status, 0, r.err);
    ok(r.err.includes("in chunks of 50 rows"), r.err);
    ok(r.out.includes("6 chunks of ≤ 50 rows"), r.out);
    ok(r.bar.includes("100%") && r.bar.includes(`${N}/${N} rows`), "progress bar reached the end");
    const { codes } = await sae.encode(x);
    const z = readStoredNpz(await Deno.readFile(`${dir}/codes.npz`));
    const indices = z.indices as Tensor, values = z.values as Tensor;
    deepEqual(indices.shape, [N, k]);
    deepEqual((z.shape as Tensor).data, new Float32Array([N, C]));
    let padded = 0;
    for (let t = 0; t < N; t++) {
      const row = [...codes.data.subarray(t * C, (t + 1) * C)].map((v, c) => [v, c]).filter(([v]) =>
        v !== 0
      );
      row.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
      for (let j = 0; j < k; j++) {
        const [v, c] = row[j] ?? [0, -1];
        if (c === -1) padded++;
        equal(indices.data[t * k + j], c, `token ${t} rank ${j}`);
        equal(values.data[t * k + j], v, `token ${t} rank ${j}`);
      }
    }
    ok(padded > 0 && padded < N * k, "some rows have fewer than k codes, most do not");

    const c = await run(
      "encode",
      `${dir}/model.safetensors`,
      `${dir}/acts.npy`,
      "-o",
      `${dir}/csr.npz`,
      "--csr",
      "--chunk-rows",
      "64",
      "--device",
      device,
    );
    equal(c.status, 0, c.err);
    const s = readStoredNpz(await Deno.readFile(`${dir}/csr.npz`));
    equal(s.format, "csr");
    const indptr = s.indptr as Tensor, idx = s.indices as Tensor, data = s.data as Tensor;
    equal(indptr.data.length, N + 1);
    const dense = new Float32Array(N * C);
    for (let t = 0; t < N; t++) {
      for (let p = indptr.data[t]; p < indptr.data[t + 1]; p++) {
        dense[t * C + idx.data[p]] = data.data[p];
      }
    }
    deepEqual(dense, codes.data);
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    deepEqual(
      names.sort(),
      ["acts.npy", "codes.npz", "csr.npz", "model.safetensors"],
      "no temporary files left",
    );
    sae.dispose();
  });
});

Deno.test("eval reports the seed's R², L0 and dead features of the whole file", async () => {
  await withTempDir(async (dir) => {
    const { sae, x } = await setup(dir, 120);
    const r = await run(
      "eval",
      `${dir}/model.safetensors`,
      `${dir}/acts.npy`,
      "--json",
      "--chunk-rows",
      "7",
      "--device",
      device,
    );
    equal(r.status, 0, r.err);
    const report = JSON.parse(r.out);
    const { codes, xHat } = await sae.forward(x);
    const C = sae.nbConcepts;
    let active = 0;
    const fired = new Set<number>();
    codes.data.forEach((v, i) => {
      if (v !== 0) {
        active++;
        fired.add(i % C);
      }
    });
    equal(report.tokens, 120);
    ok(
      Math.abs(report.r2 - r2Score(x, xHat)) < 1e-6 * Math.abs(report.r2),
      `${report.r2} vs ${r2Score(x, xHat)}`,
    );
    equal(report.l0, active / 120);
    equal(report.deadFeatures, C - fired.size);
    ok(report.deadFeatures > 0 && report.deadFeatures < C, "the test model has some dead features");
    sae.dispose();
  });
});

Deno.test("train writes a model that loads, evaluates and exports", async () => {
  await withTempDir(async (dir) => {
    const D = 8, N = 96;
    const x = {
      data: new Float32Array(N * D).map((_, i) => Math.sin(i * 0.71) + 0.3 * Math.cos(i * 0.13)),
      shape: [N, D],
    };
    await Deno.writeFile(`${dir}/train.npy`, saveNpy(x));
    const r = await run(
      "train",
      `${dir}/train.npy`,
      "-o",
      `${dir}/sae.safetensors`,
      "-c",
      "24",
      "--encoder",
      "linear",
      "--decoder-bias",
      "--center-input",
      "--epochs",
      "2",
      "--batch-size",
      "32",
      "--lr",
      "1e-2",
      "--bandwith",
      "0.05",
      "--device",
      device,
    );
    equal(r.status, 0, r.err);
    ok(
      r.out.includes("epoch 1/2") && r.out.includes("epoch 2/2") && r.out.includes("wrote"),
      r.out,
    );
    ok(r.bar.includes("6/6 batches"), "the progress bar counts batches over all epochs");
    const sae = await loadPretrained(`${dir}/sae.safetensors`, { device });
    equal(sae.nbConcepts, 24);
    equal(sae.centerInput, true);
    equal(sae.bandwith, 0.05);
    const e = await run(
      "eval",
      `${dir}/sae.safetensors`,
      `${dir}/train.npy`,
      "--json",
      "--device",
      device,
    );
    equal(e.status, 0, e.err);
    ok(Number.isFinite(JSON.parse(e.out).r2));
    const s = await run(
      "train",
      `${dir}/train.npy`,
      "-o",
      `${dir}/saelens`,
      "--to",
      "saelens",
      "--from",
      `${dir}/sae.safetensors`,
      "--epochs",
      "1",
      "--batch-size",
      "48",
      "--device",
      device,
    );
    equal(s.status, 0, s.err);
    ok(JSON.parse(await Deno.readTextFile(`${dir}/saelens/cfg.json`)).apply_b_dec_to_input);
    sae.dispose();
  });
});

Deno.test("convert and inspect: Gemma Scope → jumpsae → SAELens keep the outputs", async () => {
  await withTempDir(async (dir) => {
    const a = await run(
      "convert",
      fixturePath("gemma_scope", "params.npz"),
      "-o",
      `${dir}/gs.safetensors`,
      "--device",
      device,
    );
    equal(a.status, 0, a.err);
    const b = await run(
      "convert",
      `${dir}/gs.safetensors`,
      "--to",
      "saelens",
      "-o",
      `${dir}/sl`,
      "--device",
      device,
    );
    equal(b.status, 0, b.err);
    const original = await loadPretrained(fixturePath("gemma_scope"), { device });
    const converted = await loadPretrained(`${dir}/sl`, { device });
    const input = { data: new Float32Array(4 * 8).map((_, i) => Math.cos(i)), shape: [4, 8] };
    const o1 = await original.forward(input), o2 = await converted.forward(input);
    assertClose(o2.codes, o1.codes, "codes", 1e-6, 1e-6);
    assertClose(o2.xHat, o1.xHat, "xHat", 1e-6, 1e-6);
    const i = await run("inspect", `${dir}/sl`, "--json", "--device", device);
    equal(i.status, 0, i.err);
    const report = JSON.parse(i.out);
    equal(report.format, "saelens");
    equal(report.config.nbConcepts, 16);
    const theta =
      (await loadNpz(await Deno.readFile(fixturePath("gemma_scope", "params.npz")))).threshold.data;
    ok(Math.abs(report.thresholds.max - Math.max(...theta)) < 1e-6 * Math.max(...theta));
    ok(Math.abs(report.thresholds.min - Math.min(...theta)) < 1e-6);
    // Gemma Scope out (a centring SAELens model: folded into b_enc) and a seed state dict
    const g = await run(
      "convert",
      fixturePath("saelens"),
      "--to",
      "gemma-scope",
      "-o",
      `${dir}/gs_out`,
      "--device",
      device,
    );
    equal(g.status, 0, g.err);
    ok(g.out.includes(`${dir}/gs_out/params.npz`), g.out);
    const fromSaelens = await loadPretrained(fixturePath("saelens"), { device });
    const viaGemma = await loadPretrained(`${dir}/gs_out`, { device });
    const x12 = { data: new Float32Array(5 * 12).map((_, i) => 1.5 * Math.sin(i)), shape: [5, 12] };
    const [a12, b12] = [await viaGemma.forward(x12), await fromSaelens.forward(x12)];
    assertClose(a12.codes, b12.codes, "gemma out codes");
    assertClose(a12.xHat, b12.xHat, "gemma out xHat");
    const sd = await run(
      "convert",
      fixturePath("saelens"),
      "--to",
      "state-dict",
      "-o",
      `${dir}/sd.safetensors`,
      "--device",
      device,
    );
    equal(sd.status, 1);
    ok(sd.err.includes("The seed library's JumpSAE has no decoder bias"), sd.err);
    const seed = new JumpSAE(8, 16, { seed: 3, device });
    seed.eval();
    await Deno.writeFile(`${dir}/seed.safetensors`, await saveModel(seed));
    const sd2 = await run(
      "convert",
      `${dir}/seed.safetensors`,
      "--to",
      "state-dict",
      "-o",
      `${dir}/sd.safetensors`,
      "--device",
      device,
    );
    equal(sd2.status, 0, sd2.err);
    const reloaded = await loadPretrained(`${dir}/sd.safetensors`, { device });
    assertClose(
      (await reloaded.forward(input)).xHat,
      (await seed.forward(input)).xHat,
      "state dict",
      1e-6,
      1e-6,
    );
    for (const m of [fromSaelens, viaGemma, seed, reloaded]) m.dispose();
    const text = await run("inspect", fixturePath("saelens"), "--device", device);
    ok(
      text.out.includes("format        saelens") && text.out.includes("center input true"),
      text.out,
    );
    original.dispose();
    converted.dispose();
  });
});

Deno.test("the CLI names the problem: wrong shapes, budgets, missing options, bad files", async () => {
  await withTempDir(async (dir) => {
    const { sae } = await setup(dir, 20);
    await Deno.writeFile(
      `${dir}/wrong.npy`,
      saveNpy({ data: new Float32Array(20 * 5), shape: [20, 5] }),
    );
    const model = `${dir}/model.safetensors`;
    const wrong = await run(
      "encode",
      model,
      `${dir}/wrong.npy`,
      "-o",
      `${dir}/c.npz`,
      "--device",
      device,
    );
    equal(wrong.status, 1);
    ok(
      wrong.err.includes("wrong.npy has shape [20, 5], expected [rows, 16] for this model"),
      wrong.err,
    );
    const tiny = await run(
      "encode",
      model,
      `${dir}/acts.npy`,
      "-o",
      `${dir}/c.npz`,
      "--max-memory",
      "1KB",
      "--device",
      device,
    );
    equal(tiny.status, 2);
    ok(tiny.err.includes("--max-memory 1.0 KiB is too small"), tiny.err);
    const noOut = await run("encode", model, `${dir}/acts.npy`, "--device", device);
    equal(noOut.status, 2);
    ok(noOut.err.includes("encode needs --output PATH"), noOut.err);
    const bigK = await run(
      "encode",
      model,
      `${dir}/acts.npy`,
      "-o",
      `${dir}/c.npz`,
      "-k",
      "41",
      "--device",
      device,
    );
    ok(bigK.err.includes("--top-k must be between 1 and 40"), bigK.err);
    const bytes = await Deno.readFile(`${dir}/acts.npy`);
    await Deno.writeFile(`${dir}/cut.npy`, bytes.subarray(0, bytes.length - 7));
    const cut = await run("eval", model, `${dir}/cut.npy`, "--device", device);
    equal(cut.status, 1);
    ok(cut.err.includes("the file is truncated"), cut.err);
    await Deno.writeFile(`${dir}/junk.safetensors`, new Uint8Array([9, 9, 9]));
    const junk = await run("inspect", `${dir}/junk.safetensors`);
    equal(junk.status, 1);
    ok(junk.err.includes("junk.safetensors is neither safetensors"), junk.err);
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    ok(!names.includes("c.npz"), "a failed encode leaves no output");
    sae.dispose();
  });
});

Deno.test("train with no flag but -o: recipe jumpsae, 4×dim concepts, held-out L0 at √dim", async () => {
  await withTempDir(async (dir) => {
    const D = 16, rows = 3072;
    // sparse non-negative combinations of 48 random directions: data with a sparse structure
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const atoms = new Float32Array(48 * D).map(() => rand() - 0.5);
    const x = new Float32Array(rows * D);
    for (let r = 0; r < rows; r++) {
      for (let a = 0; a < 48; a++) {
        if (rand() < 3 / 48) {
          for (let d = 0; d < D; d++) x[r * D + d] += rand() * atoms[a * D + d];
        }
      }
    }
    const half = (a: number, b: number) => ({ data: x.slice(a * D, b * D), shape: [b - a, D] });
    await Deno.writeFile(`${dir}/train.npy`, saveNpy(half(0, 2048)));
    await Deno.writeFile(`${dir}/test.npy`, saveNpy(half(2048, rows)));
    const r = await run("train", `${dir}/train.npy`, "-o", `${dir}/sae.safetensors`, "-e", "40");
    equal(r.status, 0, r.err);
    ok(r.err.includes("recipe jumpsae, target L0 4"), r.err);
    ok(/L0 \d+\.\d\/4/.test(r.bar), "the progress shows L0 against the target");
    ok(r.out.includes("thresholds calibrated to L0 4"), r.out);
    const sae = await loadPretrained(`${dir}/sae.safetensors`, { device: "cpu" });
    equal(sae.nbConcepts, 64);
    sae.dispose();
    const e = await run("eval", `${dir}/sae.safetensors`, `${dir}/test.npy`, "--json");
    equal(e.status, 0, e.err);
    const report = JSON.parse(e.out);
    ok(Math.abs(report.l0 / 4 - 1) < 0.1, `held-out L0 ${report.l0}, target 4`);
    ok(report.r2 > 0.5, `held-out R² ${report.r2}`);
    const s = await run("train", `${dir}/train.npy`, "-o", `${dir}/lens`, "--to", "saelens");
    equal(s.status, 2, "refused before training");
    ok(s.err.includes("--encoder linear"), s.err);
  });
});

Deno.test("train refuses an output it cannot write before training", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(
      `${dir}/x.npy`,
      saveNpy({ data: new Float32Array(64 * 4), shape: [64, 4] }),
    );
    const r = await run("train", `${dir}/x.npy`, "-o", `${dir}/no/such/dir/sae.safetensors`);
    equal(r.status, 2, r.err);
    ok(r.err.includes("cannot be written") && r.err.includes("before training"), r.err);
    ok(!r.out.includes("epoch"), "no training ran");
  });
});

Deno.test("the README's command-line flow runs end to end: train → encode → eval → convert → load", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("### Command line"));
  const start = section.indexOf("```sh") + 5;
  const block = section.slice(start, section.indexOf("```", start));
  const commands = block.split("\n").map((l) => l.replace(/#.*$/, "").trim())
    .filter((l) => l.startsWith("jumpsae ")).map((l) => l.split(/\s+/).slice(1));
  deepEqual(commands.map((c) => c[0]), ["train", "encode", "eval", "convert"]);
  await withTempDir(async (dir) => {
    const D = 16;
    const rng = (i: number) => Math.sin(i * 12.9898) * 43758.5453 % 1;
    const rows = (n: number, o: number) => ({
      data: new Float32Array(n * D).map((_, i) => Math.max(0, rng(i + o))),
      shape: [n, D],
    });
    await Deno.writeFile(`${dir}/acts.npy`, saveNpy(rows(512, 0)));
    await Deno.writeFile(`${dir}/heldout.npy`, saveNpy(rows(256, 1e6)));
    const file = (a: string) => /\.(npy|npz|safetensors)$|\/$/.test(a) ? `${dir}/${a}` : a;
    for (const argv of commands) {
      // the same commands, with two epochs to keep the test short
      const args = argv.map(file).concat(argv[0] === "train" ? ["-e", "2"] : []);
      const r = await run(...args);
      equal(r.status, 0, `jumpsae ${args.join(" ")}: ${r.err}`);
    }
    const sae = await loadPretrained(`${dir}/sae_saelens/`, { device: "cpu" });
    equal(sae.nbConcepts, 4096);
    sae.dispose();
  });
});
