/**
 * `deno task bench:table`: one table, measured in one run, on this machine.
 *
 * - WASM SIMD peak: a register-resident FMA loop (`assembly/peak.ts`), relaxed and plain builds,
 *   on 1 thread and on all threads (all measured here, not quoted).
 * - GEMM 1024×768·768×10000 (NN, the shape of the issue) GFLOP/s and % of the measured peak of the
 *   same build and threads: reference backend (a small shape, it is slow), this backend on 1 and
 *   all threads (both builds), and tfjs-backend-wasm 4.22 (XNNPACK) as the peer on the same
 *   threads, each in its own process (`bench/tfjs_peer.ts`).
 * - JumpSAE(768, 16384) forward (eval) and training step (forward, backward, Adam) samples/s at
 *   batch 1024 and 256 and code densities 0.5 %, 2 %, 10 %. The comparison with PyTorch is
 *   `deno task bench:torch` (`bench/torch_compare.ts`).
 *
 * Options: --threads N (default: all cores), --quick (fewer rows and repeats), --no-tfjs,
 * --no-model. Every figure is the best of several repeats after a warm-up.
 */

import { createReferenceBackend } from "../src/backends/reference.ts";
import type { Backend } from "../src/backends/backend.ts";
import { createWasmBackend, relaxedSimdSupported } from "../src/backends/wasm/mod.ts";
import type { WasmBackend } from "../src/backends/wasm/backend.ts";
import { hardwareConcurrency } from "../src/platform/workers.ts";

const flag = (name: string) => Deno.args.includes(`--${name}`);
const opt = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
const quick = flag("quick");
const threads = opt("threads", hardwareConcurrency());
const reps = quick ? 2 : 4;
const [M, K, N] = [1024, 768, 10000];

interface Row {
  what: string;
  threads: number | string;
  value: number;
  unit: string;
  pct?: number;
  peer?: number;
  note?: string;
}
const rows: Row[] = [];

function best(fn: () => void, n = reps): number {
  fn();
  let t = Infinity;
  for (let r = 0; r < n; r++) {
    const s = performance.now();
    fn();
    t = Math.min(t, performance.now() - s);
  }
  return t;
}
async function bestAsync(fn: () => Promise<unknown>, n = reps): Promise<number> {
  await fn();
  let t = Infinity;
  for (let r = 0; r < n; r++) {
    const s = performance.now();
    await fn();
    t = Math.min(t, performance.now() - s);
  }
  return t;
}

// ---- peak and GEMM of each build --------------------------------------------------------------
const builds = relaxedSimdSupported() ? (["relaxed", "plain"] as const) : (["plain"] as const);
const peak: Record<string, number> = {};
const gemm: Record<string, number> = {};

/** GFLOP/s of the FMA loop on the calling thread (t = 1) or on every thread of the pool. */
function measurePeak(b: WasmBackend, all: boolean): number {
  const iters = 3_000_000;
  const ms = best(() => b.pool.run("peakFma", [iters, 1e-3, 0.999999], all), 20);
  return (96 * iters * (all ? b.threads : 1)) / ms / 1e6;
}

function measureGemm(b: Backend, m: number, k: number, n: number, transB = false): number {
  const A = b.alloc(m * k), B = b.alloc(k * n), O = b.alloc(m * n);
  b.fill(A, 0.5, m * k);
  b.fill(B, 0.25, k * n);
  const ms = best(() => b.matmul(O, A, B, { m, n, k, transB }));
  b.free(A);
  b.free(B);
  b.free(O);
  return (2 * m * n * k) / ms / 1e6;
}

for (const simd of builds) {
  for (const t of [1, threads]) {
    if (t === 1 && threads === 1 && peak[`${simd}/1`]) continue;
    const b = (await createWasmBackend({ simd, threads: t })) as WasmBackend;
    try {
      peak[`${simd}/${t}`] = measurePeak(b, t > 1);
      gemm[`${simd}/${t}`] = measureGemm(b, M, K, N);
      if (simd === builds[0]) gemm[`${simd}/${t}/NT`] = measureGemm(b, M, K, N, true);
    } finally {
      b.dispose();
    }
  }
}
const refGflops = measureGemm(createReferenceBackend(), 16, K, 256);

// ---- tfjs-backend-wasm peer, one process per thread count ------------------------------------
const tfjs: Record<number, { gflops?: number; actualThreads?: number; error?: string }> = {};
if (!flag("no-tfjs")) {
  for (const t of new Set([1, threads])) {
    const cmd = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./tfjs_peer.ts", import.meta.url).pathname,
        "--threads",
        String(t),
        "--reps",
        String(reps),
      ],
      stdout: "piped",
      stderr: "null",
    });
    const out = new TextDecoder().decode((await cmd.output()).stdout).trim().split("\n").pop() ??
      "{}";
    try {
      tfjs[t] = JSON.parse(out);
    } catch {
      tfjs[t] = { error: out.slice(0, 200) };
    }
  }
}

for (const simd of builds) {
  for (const t of [...new Set([1, threads])]) {
    const key = `${simd}/${t}`;
    rows.push({
      what: `WASM SIMD peak, ${simd} (FMA loop)`,
      threads: t,
      value: peak[key],
      unit: "GFLOP/s",
      pct: 100,
    });
  }
}
rows.push({
  what: `GEMM reference backend (16×768·768×256, extrapolated)`,
  threads: 1,
  value: refGflops,
  unit: "GFLOP/s",
  pct: (100 * refGflops) / peak[`${builds[0]}/1`],
  peer: tfjs[1]?.gflops,
});
for (const simd of builds) {
  for (const t of [...new Set([1, threads])]) {
    const key = `${simd}/${t}`;
    const peer = tfjs[t]?.actualThreads === t ? tfjs[t]?.gflops : undefined;
    rows.push({
      what: `GEMM wasm ${simd} ${M}×${K}·${K}×${N} NN`,
      threads: t,
      value: gemm[key],
      unit: "GFLOP/s",
      pct: (100 * gemm[key]) / peak[key],
      peer,
      note: peer === undefined && tfjs[1]?.gflops
        ? `peer on 1 thread: ×${(gemm[key] / tfjs[1].gflops!).toFixed(2)}`
        : undefined,
    });
    if (gemm[`${key}/NT`]) {
      rows.push({
        what: `GEMM wasm ${simd} x·Wᵀ (NT, the encoder)`,
        threads: t,
        value: gemm[`${key}/NT`],
        unit: "GFLOP/s",
        pct: (100 * gemm[`${key}/NT`]) / peak[key],
      });
    }
  }
}
for (const t of [...new Set([1, threads])]) {
  const r = tfjs[t];
  if (!r) continue;
  if (r.gflops === undefined) {
    rows.push({
      what: "GEMM tfjs-backend-wasm 4.22 (peer)",
      threads: t,
      value: NaN,
      unit: "GFLOP/s",
      note: r.error,
    });
  } else if (r.actualThreads !== t) {
    rows.push({
      what: "GEMM tfjs-backend-wasm 4.22 (peer)",
      threads: t,
      value: NaN,
      unit: "GFLOP/s",
      note:
        `its threaded build does not start in Deno (tfjs disables threads where IS_NODE); ran on ${r.actualThreads}`,
    });
  } else {
    rows.push({
      what: "GEMM tfjs-backend-wasm 4.22 (peer)",
      threads: t,
      value: r.gflops,
      unit: "GFLOP/s",
      pct: (100 * r.gflops) / peak[`${builds[0]}/${t}`],
      peer: r.gflops,
    });
  }
}

// ---- JumpSAE(768, 16384) ----------------------------------------------------------------------
const batches = quick ? [256] : [1024, 256];
const densities = quick ? [0.02] : [0.005, 0.02, 0.1];
if (!flag("no-model")) {
  const { JumpSAE, losses } = await import("../mod.ts");
  const { Adam } = await import("../src/optim/mod.ts");
  const D = 768, C = 16384;
  for (const batch of batches) {
    const x = { data: new Float32Array(batch * D), shape: [batch, D] };
    let s = 1;
    for (let i = 0; i < x.data.length; i++) {
      // a Box-Muller normal from a small LCG: deterministic inputs
      s = (s * 1664525 + 1013904223) >>> 0;
      const u = (s + 1) / 4294967297;
      s = (s * 1664525 + 1013904223) >>> 0;
      x.data[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos((2 * Math.PI * s) / 4294967296);
    }
    for (const density of densities) {
      const sae = new JumpSAE(D, C, { device: "cpu", threads, seed: 1 });
      try {
        const setDensity = async () => {
          const { preCodes } = await sae.forward(x);
          const sample = Float32Array.from(
            { length: 200_000 },
            (_, i) => preCodes.data[(i * 7919) % preCodes.data.length],
          );
          sample.sort();
          const q = Math.max(1e-6, sample[Math.floor((1 - density) * sample.length)]);
          const state = await sae.stateDict();
          state.thresholds = { data: new Float32Array(C).fill(Math.log(q)), shape: [C] };
          await sae.loadStateDict(state);
          const { codes } = await sae.forward(x);
          let nz = 0;
          for (let i = 0; i < codes.data.length; i++) if (codes.data[i] !== 0) nz++;
          return nz / codes.data.length;
        };
        sae.eval();
        const actual = await setDensity();
        const fwdMs = await bestAsync(() => sae.forward(x));
        rows.push({
          what: `JumpSAE(768, 16384) forward (eval), batch ${batch}, density ${
            (100 * density).toFixed(1)
          } % (got ${(100 * actual).toFixed(2)} %)`,
          threads,
          value: (batch / fwdMs) * 1000,
          unit: "samples/s",
        });
        sae.train();
        await setDensity();
        const opt = new Adam(sae, { lr: 1e-6 });
        const loss = losses.mseL0(1e-3);
        const trainMs = await bestAsync(async () => {
          await sae.lossAndGradients(x, loss);
          await opt.step();
        });
        rows.push({
          what: `JumpSAE(768, 16384) training step (fwd+bwd+Adam), batch ${batch}, density ${
            (100 * density).toFixed(1)
          } %`,
          threads,
          value: (batch / trainMs) * 1000,
          unit: "samples/s",
        });
      } finally {
        sae.dispose();
      }
    }
  }
}

// ---- the table ---------------------------------------------------------------------------------
const fmt = (
  v: number | undefined,
  d = 1,
) => (v === undefined || Number.isNaN(v) ? "–" : v.toFixed(d));
const header = ["what", "threads", "value", "unit", "% of peak", "peer", "× peer", "note"];
const lines = rows.map((r) => [
  r.what,
  String(r.threads),
  fmt(r.value, r.unit === "samples/s" ? 0 : 1),
  r.unit,
  r.pct === undefined ? "–" : `${r.pct.toFixed(0)} %`,
  fmt(r.peer, r.unit === "samples/s" ? 0 : 1),
  r.peer ? `${(r.value / r.peer).toFixed(2)}` : "–",
  r.note ?? "",
]);
console.log(
  `\njumpsae bench — ${Deno.build.os}/${Deno.build.arch}, Deno ${Deno.version.deno}, ${hardwareConcurrency()} cores, ` +
    `threads ${threads}; peer: tfjs-backend-wasm 4.22 (GEMM); PyTorch: deno task bench:torch\n`,
);
console.log(`| ${header.join(" | ")} |`);
console.log(`|${header.map(() => "---").join("|")}|`);
for (const l of lines) console.log(`| ${l.join(" | ")} |`);
