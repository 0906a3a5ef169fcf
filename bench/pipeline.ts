/**
 * The data pipeline against its ceiling and its peers, in one run (not a test): for each dim it
 * generates a float32 `.npy` of activations (sparse features in superposition), then prints
 * rows/s, interleaved A B C A B C over `--rounds` rounds (medians), and ratios:
 *
 *   train:  `jumpsae train` 1 epoch (file read whole; and streamed by chunks, `--in-memory 1`)
 *           vs the same model's step on batches already in memory (bench/pipeline_step.ts)
 *           vs the seed's `train_sae` over a memmap (bench/pipeline_seed.py)
 *   encode: `jumpsae encode --top-k 32` and `--csr` vs a PyTorch streaming script with
 *           `torch.topk` on the same checkpoint (bench/pipeline_torch_encode.py)
 *   memory: peak RSS of `jumpsae encode --top-k 32 --max-memory 256MB` on the file and on its
 *           first tenth (/usr/bin/time)
 *
 *   deno run -A bench/pipeline.ts [--dims 128,768] [--rows 600000,100000] [--concepts 1024]
 *                                 [--rounds 3] [--threads 2]
 *
 * Training loss mse_l1 (1e-3) on both sides (the seed has no mse_l0), Adam lr 1e-3, clip 1,
 * batches of 1024, default encoder (Linear + BatchNorm1d). The CPU is shared: read the ratios
 * of one run, not the absolute numbers across runs.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createNpyWriter } from "../src/io/npy.ts";
import { Random } from "../src/random.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    dims: { type: "string", default: "128,768" },
    rows: { type: "string", default: "600000,100000" },
    concepts: { type: "string", default: "1024" },
    rounds: { type: "string", default: "3" },
    threads: { type: "string", default: "2" },
  },
});
const dims = values.dims.split(",").map(Number);
const rowsPerDim = values.rows.split(",").map(Number);
const C = values.concepts, rounds = Number(values.rounds), threads = values.threads;
const here = new URL(".", import.meta.url).pathname;
const root = new URL("..", import.meta.url).pathname;
const dir = await Deno.makeTempDir({ prefix: "jumpsae_pipeline_" });

/** Rows of 8 active features (of 4·D random unit directions) with exponential magnitudes. */
async function generate(path: string, N: number, D: number): Promise<void> {
  const rng = new Random(D);
  const F = 4 * D;
  const dirs = new Float32Array(F * D);
  for (let f = 0; f < F; f++) {
    let norm = 0;
    for (let d = 0; d < D; d++) norm += (dirs[f * D + d] = rng.next() - 0.5) ** 2;
    for (let d = 0; d < D; d++) dirs[f * D + d] /= Math.sqrt(norm);
  }
  const writer = await createNpyWriter(path, D);
  const block = 8192;
  for (let s = 0; s < N; s += block) {
    const n = Math.min(block, N - s), x = new Float32Array(n * D);
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < 8; j++) {
        const f = Math.floor(rng.next() * F), m = -Math.log(1 - rng.next());
        for (let d = 0; d < D; d++) x[r * D + d] += m * dirs[f * D + d];
      }
      for (let d = 0; d < D; d++) x[r * D + d] += 0.05 * (rng.next() - 0.5);
    }
    await writer.append({ data: x, shape: [n, D] });
  }
  await writer.close();
}

async function exec(cmd: string, args: string[]): Promise<{ out: string; err: string }> {
  const env = { OPENBLAS_CORETYPE: "SkylakeX" };
  const r = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const out = new TextDecoder().decode(r.stdout), err = new TextDecoder().decode(r.stderr);
  if (!r.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${err}\n${out}`);
  return { out, err };
}

const deno = Deno.execPath();
const cli = (...args: string[]) => exec(deno, ["run", "-A", `${root}cli.ts`, ...args]);
const trainArgs = (acts: string, out: string) => [
  "train",
  acts,
  "-o",
  out,
  "-c",
  C,
  "-e",
  "1",
  "-b",
  "1024",
  "--loss",
  "mse_l1",
  "--threads",
  threads,
];

/** rows/s of each side; one line per round so a long run shows progress. */
type Side = () => Promise<number>;
async function interleaved(sides: Record<string, Side>): Promise<Record<string, number>> {
  const got: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (const [name, side] of Object.entries(sides)) (got[name] ??= []).push(await side());
    console.error(
      `  round ${r + 1}: ${
        Object.entries(got).map(([n, v]) => `${n} ${Math.round(v[r])}`).join(", ")
      }`,
    );
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  return Object.fromEntries(Object.entries(got).map(([n, v]) => [n, median(v)]));
}

const epochRate = (out: string, N: number) =>
  N / Number(/epoch 1\/1 .* ([\d.]+)s\s*$/m.exec(out)![1]);
const encodeRate = (out: string) => Number(/ ([\d.]+) rows\/s/.exec(out)![1]);
const json = (out: string) => JSON.parse(out.trim().split("\n").at(-1)!);
const fmt = (v: number) => Math.round(v).toLocaleString("en-US");

try {
  for (const [i, D] of dims.entries()) {
    const N = rowsPerDim[i] ?? rowsPerDim[0];
    const acts = `${dir}/acts_${D}.npy`, small = `${dir}/acts_${D}_tenth.npy`;
    console.error(`dim ${D}: generating ${N} rows`);
    await generate(acts, N, D);
    await generate(small, Math.round(N / 10), D);
    const model = `${dir}/model_${D}.safetensors`;
    await cli(...trainArgs(acts, model)); // the checkpoint the encoders share (and a warm-up)
    console.error(`dim ${D}: train`);
    const train = await interleaved({
      "jumpsae train (read whole)": async () =>
        epochRate((await cli(...trainArgs(acts, `${dir}/t.safetensors`))).out, N),
      "jumpsae train (streamed, chunks)": async () =>
        epochRate(
          (await cli(...trainArgs(acts, `${dir}/t.safetensors`), "--in-memory", "1")).out,
          N,
        ),
      "step on batches in memory": async () =>
        json(
          (await exec(deno, [
            "run",
            "-A",
            `${here}pipeline_step.ts`,
            acts,
            "--concepts",
            C,
            "--threads",
            threads,
          ])).out,
        ).rows_per_s,
      "seed train_sae over a memmap": async () =>
        json(
          (await exec("/usr/bin/python3", [
            `${here}pipeline_seed.py`,
            acts,
            "--concepts",
            C,
            "--threads",
            threads,
          ])).out,
        ).rows_per_s,
    });
    console.error(`dim ${D}: encode`);
    const encode = await interleaved({
      "jumpsae encode --top-k 32": async () =>
        encodeRate(
          (await cli(
            "encode",
            model,
            acts,
            "-o",
            `${dir}/codes.npz`,
            "-k",
            "32",
            "--threads",
            threads,
          )).out,
        ),
      "torch.topk streaming script": async () =>
        json(
          (await exec("/usr/bin/python3", [
            `${here}pipeline_torch_encode.py`,
            model,
            acts,
            dir,
            "--top-k",
            "32",
            "--threads",
            threads,
          ])).out,
        ).rows_per_s,
      "jumpsae encode --csr": async () =>
        encodeRate(
          (await cli("encode", model, acts, "-o", `${dir}/csr.npz`, "--csr", "--threads", threads))
            .out,
        ),
    });
    const rss = async (file: string) => {
      const { err } = await exec("/usr/bin/time", [
        "-f",
        "%M",
        deno,
        "run",
        "-A",
        `${root}cli.ts`,
        "encode",
        model,
        file,
        "-o",
        `${dir}/codes.npz`,
        "-k",
        "32",
        "--max-memory",
        "256MB",
        "--threads",
        threads,
      ]);
      return Number(err.trim().split("\n").at(-1)) * 1024;
    };
    const rssSmall = await rss(small), rssLarge = await rss(acts);
    const step = train["step on batches in memory"], seed = train["seed train_sae over a memmap"];
    const torch = encode["torch.topk streaming script"];
    console.log(
      `\n## dim ${D}, ${N} rows, ${C} concepts, ${threads} threads (medians of ${rounds} rounds)\n`,
    );
    console.log("| | rows/s | vs step | vs seed / torch |\n|---|---:|---:|---:|");
    for (const [name, v] of Object.entries(train)) {
      console.log(
        `| ${name} | ${fmt(v)} | ${(v / step).toFixed(2)}× | ${(v / seed).toFixed(2)}× |`,
      );
    }
    for (const [name, v] of Object.entries(encode)) {
      console.log(`| ${name} | ${fmt(v)} | | ${(v / torch).toFixed(2)}× |`);
    }
    console.log(
      `\npeak RSS of encode --top-k 32 --max-memory 256MB: ${
        (rssSmall / 2 ** 20).toFixed(0)
      } MiB at ${Math.round(N / 10)} rows, ${(rssLarge / 2 ** 20).toFixed(0)} MiB at ${N} rows (${
        (rssLarge / rssSmall).toFixed(2)
      }×)`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
