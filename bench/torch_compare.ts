/**
 * `deno task bench:torch`: this library against PyTorch on the same CPU threads, in one run, the
 * sides interleaved (ours, lean peer, seed peer, ours, …) and the median of the rounds printed.
 *
 * Peers (`bench/torch_peer.py`, one Python process answering one timed call per request):
 * - lean: a JumpSAE as a PyTorch expert writes it (Linear + BatchNorm1d + ReLU, JumpReLU as an
 *   autograd Function, dense decoder, torch.optim.Adam);
 * - seed: the seed library's own `JumpSAE` and `train_sae`, imported from ../shared/seed.
 *
 * BLAS: Debian's torch links `libblas.so.3`; the reference BLAS it falls back to is ~15× slower
 * than OpenBLAS. The script points `LD_LIBRARY_PATH` at OpenBLAS's pthread build (the installed
 * one, else `apt-get download libopenblas0-pthread` + `dpkg -x` into a temporary folder, without
 * touching the system) and sets `OPENBLAS_CORETYPE` from the CPU's flags (SkylakeX with avx512f,
 * Haswell or Zen with avx2). It says what it did, and prints the peer's own GEMM GFLOP/s so that a
 * weak peer shows.
 *
 * Options: --threads N (default 2), --rounds R (default 5, at least 3), --quick (the 768 × 16384
 * rows only), --no-seed, --no-big (skip JumpSAE(2304, 65536)).
 */

import { JumpSAE, losses } from "../mod.ts";
import { Adam } from "../src/optim/mod.ts";
import type { Backend } from "../src/backends/backend.ts";
import { createWasmBackend } from "../src/backends/wasm/mod.ts";

const flag = (name: string) => Deno.args.includes(`--${name}`);
const opt = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
const threads = opt("threads", 2);
const rounds = Math.max(3, opt("rounds", 5));
const withSeed = !flag("no-seed");
const withBig = !flag("no-big") && !flag("quick");

// ---- BLAS set-up -------------------------------------------------------------------------------
const notes: string[] = [];

/** OPENBLAS_CORETYPE for this CPU, or undefined to let OpenBLAS detect it. */
function coreType(): string | undefined {
  let info = "";
  try {
    info = Deno.readTextFileSync("/proc/cpuinfo");
  } catch {
    return undefined;
  }
  const flags = new Set((info.match(/^flags\s*:(.*)$/m)?.[1] ?? "").trim().split(/\s+/));
  const amd = /AuthenticAMD/.test(info);
  if (flags.has("avx512f")) return "SkylakeX";
  if (flags.has("avx2")) return amd ? "Zen" : "Haswell";
  return undefined;
}

async function openblasDir(): Promise<string | undefined> {
  const installed = "/usr/lib/x86_64-linux-gnu/openblas-pthread";
  try {
    Deno.statSync(`${installed}/libopenblas.so.0`);
    notes.push(`OpenBLAS pthread: the installed ${installed}`);
    return installed;
  } catch {
    // not installed: fetch the package into a temporary folder
  }
  try {
    const tmp = Deno.makeTempDirSync({ prefix: "openblas-" });
    const dl = await new Deno.Command("apt-get", {
      args: ["download", "libopenblas0-pthread"],
      cwd: tmp,
      stdout: "null",
      stderr: "piped",
    }).output();
    const deb = [...Deno.readDirSync(tmp)].find((e) => e.name.endsWith(".deb"));
    if (!dl.success || !deb) throw new Error(new TextDecoder().decode(dl.stderr).trim());
    const x = await new Deno.Command("dpkg", { args: ["-x", `${tmp}/${deb.name}`, tmp] }).output();
    if (!x.success) throw new Error("dpkg -x failed");
    const dir = `${tmp}/usr/lib/x86_64-linux-gnu/openblas-pthread`;
    Deno.statSync(`${dir}/libopenblas.so.0`);
    notes.push(`OpenBLAS pthread: apt-get download libopenblas0-pthread + dpkg -x into ${dir}`);
    return dir;
  } catch (e) {
    notes.push(
      `OpenBLAS pthread: not available (${(e as Error).message.slice(0, 120)}); ` +
        "the peer runs on whatever BLAS torch finds, see its GEMM row",
    );
    return undefined;
  }
}

// ---- the peer process --------------------------------------------------------------------------
class Peer {
  #proc: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;

  constructor(env: Record<string, string>) {
    this.#proc = new Deno.Command("/usr/bin/python3", {
      args: [new URL("./torch_peer.py", import.meta.url).pathname],
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#proc.stdin.getWriter();
    this.#lines = this.#proc.stdout
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(splitLines())[Symbol.asyncIterator]();
  }

  async ask(request: Record<string, unknown>): Promise<Record<string, unknown>> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(request) + "\n"));
    const { value, done } = await this.#lines.next();
    if (done) throw new Error("the PyTorch peer exited");
    return JSON.parse(value);
  }

  async close(): Promise<void> {
    await this.#writer.close();
    await this.#proc.status;
  }
}

function splitLines(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, ctrl) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const p of parts) if (p.trim()) ctrl.enqueue(p);
    },
    flush(ctrl) {
      if (rest.trim()) ctrl.enqueue(rest);
    },
  });
}

// ---- timing --------------------------------------------------------------------------------------
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

interface Side {
  label: string;
  /** One timed call in ms, or an error message. */
  time: () => Promise<number>;
  /** Density actually reached, if a model. */
  actual?: number;
}

interface Row {
  what: string;
  unit: string;
  /** Work per call: samples, or FLOPs for GEMM. */
  work: number;
  values: Map<string, number | string>;
  actual: Map<string, number>;
}
const rows: Row[] = [];

/** Times every side `rounds` times, interleaved A B C A B C …, and records the medians. */
async function interleave(what: string, unit: string, work: number, sides: Side[]) {
  const times = new Map<string, number[]>(sides.map((s) => [s.label, []]));
  const values = new Map<string, number | string>();
  for (let r = 0; r < rounds; r++) {
    for (const s of sides) {
      if (typeof values.get(s.label) === "string") continue;
      try {
        times.get(s.label)!.push(await s.time());
      } catch (e) {
        values.set(s.label, (e as Error).message.slice(0, 100));
      }
    }
  }
  for (const s of sides) {
    if (typeof values.get(s.label) === "string") continue;
    const ms = median(times.get(s.label)!);
    values.set(s.label, unit === "GFLOP/s" ? work / ms / 1e6 : (work / ms) * 1000);
  }
  const actual = new Map<string, number>();
  for (const s of sides) if (s.actual !== undefined) actual.set(s.label, s.actual);
  rows.push({ what, unit, work, values, actual });
  printRow(rows[rows.length - 1]);
}

function peerSide(peer: Peer, label: string, name: string, actual?: number): Side {
  return {
    label,
    actual,
    time: async () => {
      const r = await peer.ask({ op: "time", name });
      if (r.error) throw new Error(String(r.error));
      return r.ms as number;
    },
  };
}

async function peerSetup(
  peer: Peer,
  label: string,
  request: Record<string, unknown>,
): Promise<Side> {
  const r = await peer.ask(request);
  if (r.error) {
    return {
      label,
      time: () => Promise.reject(new Error(String(r.error))),
    };
  }
  return peerSide(peer, label, String(request.name), r.actual as number | undefined);
}

// ---- our side ------------------------------------------------------------------------------------
function normals(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const u = (s + 1) / 4294967297;
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos((2 * Math.PI * s) / 4294967296);
  }
  return out;
}

/** Puts every threshold at the (1 − density) quantile of relu(pre-codes) in the model's mode. */
async function setDensity(sae: JumpSAE, x: { data: Float32Array; shape: number[] }, d: number) {
  const { preCodes } = await sae.forward(x);
  const n = Math.min(preCodes.data.length, 2_000_000);
  const step = Math.max(1, Math.floor(preCodes.data.length / n));
  const sample = new Float32Array(n);
  for (let i = 0; i < n; i++) sample[i] = Math.max(0, preCodes.data[i * step]);
  sample.sort();
  const q = Math.max(1e-6, sample[Math.min(n - 1, Math.floor((1 - d) * n))]);
  const be: Backend = await sae.getBackend();
  be.upload(sae.thresholds.value!, new Float32Array(sae.nbConcepts).fill(Math.log(q)));
  const { codes } = await sae.forward(x);
  let nz = 0;
  for (let i = 0; i < codes.data.length; i++) if (codes.data[i] !== 0) nz++;
  return nz / codes.data.length;
}

// ---- the table -----------------------------------------------------------------------------------
const labels = ["jumpsae", "lean", ...(withSeed ? ["seed"] : [])];
const fmt = (v: number | string | undefined, unit: string) =>
  v === undefined ? "–" : typeof v === "string" ? `(${v})` : v.toFixed(unit === "GFLOP/s" ? 1 : 0);

function printRow(r: Row) {
  const ours = r.values.get("jumpsae");
  const cells = labels.map((l) => fmt(r.values.get(l), r.unit));
  const ratios = labels.slice(1).map((l) => {
    const v = r.values.get(l);
    return typeof ours === "number" && typeof v === "number" ? `${(ours / v).toFixed(2)}×` : "–";
  });
  const dens = [...r.actual].map(([l, a]) => `${l} ${(100 * a).toFixed(2)} %`).join(", ");
  console.log(`| ${r.what} | ${r.unit} | ${cells.join(" | ")} | ${ratios.join(" | ")} | ${dens} |`);
}

// ---- main ------------------------------------------------------------------------------------------
const env: Record<string, string> = {
  OPENBLAS_NUM_THREADS: String(threads),
  OMP_NUM_THREADS: String(threads),
};
const core = coreType();
if (core) env.OPENBLAS_CORETYPE = core;
notes.push(
  core
    ? `OPENBLAS_CORETYPE=${core} (from /proc/cpuinfo)`
    : "OPENBLAS_CORETYPE unset (no avx2 found)",
);
const dir = await openblasDir();
if (dir) env.LD_LIBRARY_PATH = dir;

const peer = new Peer(env);
const hello = await peer.ask({ op: "hello", threads });
console.log(
  `\njumpsae against PyTorch ${hello.torch} — ${Deno.build.os}/${Deno.build.arch}, Deno ${Deno.version.deno}, ` +
    `${threads} threads on both sides (torch reports ${hello.threads}), median of ${rounds} interleaved rounds`,
);
for (const n of notes) console.log(`- ${n}`);
console.log(
  `\n| what | unit | ${labels.join(" | ")} | ${
    labels.slice(1).map((l) => `× ${l}`).join(" | ")
  } | density |`,
);
console.log(`|${["", "", ...labels, ...labels.slice(1), ""].map(() => "---").join("|")}|`);

try {
  // GEMM at the encoder's shape, x·Wᵀ
  {
    const [m, k, n] = [1024, 768, 16384];
    const be = await createWasmBackend({ threads });
    const A = be.alloc(m * k), W = be.alloc(n * k), O = be.alloc(m * n);
    be.upload(A, normals(m * k, 1));
    be.upload(W, normals(n * k, 2));
    const ours: Side = {
      label: "jumpsae",
      time: () => {
        const t = performance.now();
        be.matmul(O, A, W, { m, n, k, transB: true });
        return Promise.resolve(performance.now() - t);
      },
    };
    await ours.time();
    const lean = await peerSetup(peer, "lean", { op: "gemm", name: "gemm", m, k, n });
    await interleave(`GEMM x·Wᵀ ${m}×${k}·(${n}×${k})ᵀ`, "GFLOP/s", 2 * m * n * k, [ours, lean]);
    await peer.ask({ op: "drop", name: "gemm" });
    be.dispose();
  }

  const cases: { D: number; C: number; batch: number; density: number; train: boolean }[] = [
    { D: 768, C: 16384, batch: 1024, density: 0.02, train: false },
    { D: 768, C: 16384, batch: 1024, density: 0.02, train: true },
  ];
  if (withBig) {
    for (const batch of [1, 16]) {
      cases.push({ D: 2304, C: 65536, batch, density: 0.002, train: false });
    }
  }
  for (const c of cases) {
    const sae = new JumpSAE(c.D, c.C, { device: "cpu", threads, seed: 1 });
    try {
      const x = { data: normals(c.batch * c.D, 3), shape: [c.batch, c.D] };
      sae.train(c.train);
      const actual = await setDensity(sae, x, c.density);
      const mode = c.train ? "train" : "eval";
      const size = `JumpSAE(${c.D}, ${c.C})`;
      const timed = (fn: () => Promise<unknown>) => async () => {
        const t = performance.now();
        await fn();
        return performance.now() - t;
      };
      // our variants of the row, each timed against the same peers
      const ours: [string, () => Promise<number>][] = [];
      if (c.train) {
        const adam = new Adam(sae, { lr: 1e-6 });
        const loss = losses.mse();
        ours.push([
          `${size} training step (mse + Adam), batch ${c.batch}`,
          timed(async () => {
            await sae.lossAndGradients(x, loss);
            await adam.step();
          }),
        ]);
      } else {
        const out = {
          preCodes: new Float32Array(c.batch * c.C),
          codes: new Float32Array(c.batch * c.C),
          xHat: new Float32Array(c.batch * c.D),
        };
        ours.push(
          [`${size} eval forward, dense outputs, batch ${c.batch}`, timed(() => sae.forward(x))],
          [
            `${size} eval forward into reused arrays ({ out }), batch ${c.batch}`,
            timed(() => sae.forward(x, { out })),
          ],
          [
            `${size} encodeSparse (CSR codes) vs the peers' eval forward, batch ${c.batch}`,
            timed(() => sae.encodeSparse(x)),
          ],
        );
      }
      const peers: Side[] = [];
      for (const p of labels.slice(1)) {
        peers.push(
          await peerSetup(peer, p, {
            op: "sae",
            name: p,
            peer: p,
            dim: c.D,
            concepts: c.C,
            batch: c.batch,
            density: c.density,
            mode,
            seed: 0,
          }),
        );
      }
      for (const [what, time] of ours) {
        await time(); // warm-up
        await interleave(what, "samples/s", c.batch, [
          { label: "jumpsae", time, actual },
          ...peers,
        ]);
      }
      for (const p of labels.slice(1)) await peer.ask({ op: "drop", name: p });
    } finally {
      sae.dispose();
    }
  }
} finally {
  await peer.close();
}
