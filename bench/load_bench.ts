/**
 * Load time and peak memory of released-size SAEs, next to numpy (not a test; timings are noisy
 * on a shared machine). Writes, with numpy, a Gemma Scope `params.npz` and a SAELens directory
 * (`cfg.json` + `sae_weights.safetensors`) of shape (dim, concepts), random unit-norm decoder
 * rows, to a temp dir; then, in interleaved rounds (A B C A B C …), each in a fresh process with
 * the files in the page cache:
 *
 * - numpy: `np.load` of params.npz, every array read (zipfile checks the CRC too);
 * - `loadPretrained(params.npz)` and `loadPretrained(SAELens dir)` on the cpu backend, then
 *   the first forward of 8 tokens.
 *
 * Prints the median load time, peak RSS (VmHWM) and first forward of each, and the ratios to
 * numpy.
 *
 *   deno run -A bench/load_bench.ts [--dim 2304] [--concepts 65536] [--rounds 3] [--threads 2]
 */

import { loadPretrained } from "../mod.ts";

const opt = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
const D = opt("dim", 2304), C = opt("concepts", 65536), rounds = opt("rounds", 3);
const threads = opt("threads", 2);

/** Peak resident memory of this process so far, in bytes. */
function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return m ? Number(m[1]) * 1024 : NaN;
}

interface Sample {
  load: number;
  rss: number;
  forward?: number;
}

if (Deno.args[0] === "--child") {
  const t0 = performance.now();
  const sae = await loadPretrained(Deno.args[1], { device: "cpu", threads });
  const load = (performance.now() - t0) / 1000;
  const rss = peakRss();
  const t1 = performance.now();
  const x = { data: new Float32Array(8 * D).map((_, i) => Math.sin(i)), shape: [8, D] };
  const { codes } = await sae.forward(x);
  const forward = (performance.now() - t1) / 1000;
  if (codes.data.some((v) => Number.isNaN(v))) throw new Error("NaN codes");
  sae.dispose();
  console.log(JSON.stringify({ load, rss, forward }));
  Deno.exit(0);
}

const PY_WRITE = `
import json, struct, sys, numpy as np
d, c, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
w_dec = rng.standard_normal((c, d), dtype=np.float32)
w_dec /= np.linalg.norm(w_dec, axis=1, keepdims=True)
t = {"W_enc": np.ascontiguousarray(w_dec.T), "b_enc": rng.standard_normal(c, dtype=np.float32) * 0.1,
     "W_dec": w_dec, "b_dec": rng.standard_normal(d, dtype=np.float32) * 0.1,
     "threshold": rng.uniform(0.01, 0.1, c).astype(np.float32)}
np.savez(out + "/params.npz", **t)
header, at = {"__metadata__": {"format": "pt"}}, 0
for k, v in t.items():
    header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [at, at + v.nbytes]}
    at += v.nbytes
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(out + "/saelens/sae_weights.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for v in t.values(): f.write(v.tobytes())
cfg = {"architecture": "jumprelu", "d_in": d, "d_sae": c, "dtype": "float32", "device": "cpu",
       "apply_b_dec_to_input": False, "normalize_activations": "none", "activation_fn_str": "relu"}
open(out + "/saelens/cfg.json", "w").write(json.dumps(cfg))
`;
const PY_LOAD = `
import json, resource, sys, time, numpy as np
t0 = time.perf_counter()
with np.load(sys.argv[1]) as z: arrays = {k: z[k] for k in z.files}
load = time.perf_counter() - t0
print(json.dumps({"load": load, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
`;

async function run(cmd: string, args: string[]): Promise<Sample> {
  const out = await new Deno.Command(cmd, { args, stderr: "inherit" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

const dir = await Deno.makeTempDir({ prefix: "jumpsae_load_bench_" });
try {
  await Deno.mkdir(`${dir}/saelens`);
  const w = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", PY_WRITE, String(D), String(C), dir],
    stderr: "inherit",
  }).output();
  if (!w.success) throw new Error("writing the files with numpy failed");
  const weights = 2 * D * C * 4 + (2 * C + D) * 4;
  const self = new URL(import.meta.url).pathname;
  const sides: [string, () => Promise<Sample>][] = [
    [
      "numpy np.load(params.npz)",
      () => run("/usr/bin/python3", ["-c", PY_LOAD, `${dir}/params.npz`]),
    ],
    [
      "loadPretrained(params.npz)",
      () => run(Deno.execPath(), ["run", "-A", self, "--child", `${dir}/params.npz`]),
    ],
    [
      "loadPretrained(SAELens dir)",
      () => run(Deno.execPath(), ["run", "-A", self, "--child", `${dir}/saelens`]),
    ],
  ];
  await sides[0][1](); // page cache warm
  const samples = sides.map(() => [] as Sample[]);
  for (let r = 0; r < rounds; r++) {
    for (let s = 0; s < sides.length; s++) samples[s].push(await sides[s][1]());
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const numpy = median(samples[0].map((s) => s.load));
  console.log(
    `(${D}, ${C}) float32, weights ${(weights / 1e9).toFixed(2)} GB, ${threads} threads, ` +
      `median of ${rounds} interleaved rounds (noisy shared machine)`,
  );
  console.log("| side | load s | × numpy | peak RSS GB | × weights | first forward s |");
  console.log("|---|---|---|---|---|---|");
  sides.forEach(([name], s) => {
    const load = median(samples[s].map((x) => x.load));
    const rss = median(samples[s].map((x) => x.rss));
    const fwd = samples[s][0].forward === undefined
      ? "—"
      : median(samples[s].map((x) => x.forward!)).toFixed(2);
    console.log(
      `| ${name} | ${load.toFixed(2)} | ${(load / numpy).toFixed(2)} | ${
        (rss / 1e9).toFixed(2)
      } | ${(rss / weights).toFixed(2)} | ${fwd} |`,
    );
  });
} finally {
  await Deno.remove(dir, { recursive: true });
}
