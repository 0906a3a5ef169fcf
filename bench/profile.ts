/**
 * `deno task bench:profile`: where the time of one JumpSAE call goes, op by op. Every op of the
 * model's backend is wrapped with a timer (the CPU backend runs ops synchronously, so each time
 * is the op's own); GEMMs are told apart by their shape and flags, and downloads are counted.
 *
 *   deno task bench:profile [--threads 2] [--batch 1024] [--concepts 16384] [--dim 768]
 *                           [--density 0.02] [--reps 3]
 *
 * Prints, for the eval forward, the forward into reused arrays, encodeSparse and the training
 * step (mse + Adam), the median over `reps` calls of each op's total ms and its share.
 */

import { JumpSAE, losses } from "../mod.ts";
import { Adam } from "../src/optim/mod.ts";
import type { Backend, MatmulParams } from "../src/backends/backend.ts";

const opt = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
const threads = opt("threads", 2), B = opt("batch", 1024), C = opt("concepts", 16384);
const D = opt("dim", 768), density = opt("density", 0.02), reps = opt("reps", 3);

/** Per-op milliseconds of the calls made while `on`. */
const times = new Map<string, number>();
let on = false;

function label(name: string, args: unknown[]): string {
  if (name !== "matmul") return name;
  const p = args[3] as MatmulParams;
  const flags = `${p.transA ? "T" : "N"}${p.transB ? "T" : "N"}${p.sparseA ? " sparse A" : ""}`;
  return `matmul ${p.m}×${p.k}·${p.k}×${p.n} ${flags}`;
}

function instrument(be: Backend): void {
  const target = be as unknown as Record<string, unknown>;
  const proto = Object.getPrototypeOf(be);
  for (const name of Object.getOwnPropertyNames(proto)) {
    const fn = target[name];
    if (name === "constructor" || typeof fn !== "function") continue;
    target[name] = (...args: unknown[]) => {
      if (!on) return (fn as (...a: unknown[]) => unknown).apply(be, args);
      const key = label(name, args);
      const t = performance.now();
      const r = (fn as (...a: unknown[]) => unknown).apply(be, args);
      const add = () => times.set(key, (times.get(key) ?? 0) + performance.now() - t);
      if (r instanceof Promise) return r.finally(add);
      add();
      return r;
    };
  }
}

function normals(n: number): Float32Array {
  const out = new Float32Array(n);
  let s = 7;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const u = (s + 1) / 4294967297;
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos((2 * Math.PI * s) / 4294967296);
  }
  return out;
}

async function profile(title: string, sae: JumpSAE, call: () => Promise<unknown>) {
  await call();
  const runs: Map<string, number>[] = [];
  const totals: number[] = [];
  for (let r = 0; r < reps; r++) {
    times.clear();
    on = true;
    const t = performance.now();
    await call();
    totals.push(performance.now() - t);
    on = false;
    runs.push(new Map(times));
  }
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const total = med(totals);
  const keys = [...new Set(runs.flatMap((m) => [...m.keys()]))];
  const rows = keys.map((k) => [k, med(runs.map((m) => m.get(k) ?? 0))] as const)
    .sort((a, b) => b[1] - a[1]);
  let inOps = 0;
  console.log(
    `\n### ${title}: ${total.toFixed(1)} ms (${(B / total * 1000).toFixed(0)} samples/s)`,
  );
  console.log("| op | ms | % |\n|---|---|---|");
  for (const [k, ms] of rows) {
    inOps += ms;
    console.log(`| ${k} | ${ms.toFixed(1)} | ${(100 * ms / total).toFixed(1)} |`);
  }
  console.log(
    `| (outside backend ops) | ${(total - inOps).toFixed(1)} | ${
      (100 * (total - inOps) / total).toFixed(1)
    } |`,
  );
  void sae;
}

const x = { data: normals(B * D), shape: [B, D] };
const sae = new JumpSAE(D, C, { device: "cpu", threads, seed: 1 });
try {
  const be = await sae.getBackend();
  instrument(be);
  const setDensity = async () => {
    const { preCodes } = await sae.forward(x);
    const n = Math.min(preCodes.data.length, 2_000_000);
    const step = Math.max(1, Math.floor(preCodes.data.length / n));
    const sample = Float32Array.from({ length: n }, (_, i) => Math.max(0, preCodes.data[i * step]));
    sample.sort();
    const q = Math.max(1e-6, sample[Math.floor((1 - density) * n)]);
    be.upload(sae.thresholds.value!, new Float32Array(C).fill(Math.log(q)));
  };
  console.log(
    `JumpSAE(${D}, ${C}), batch ${B}, density ${100 * density} %, ${threads} threads, ` +
      `median of ${reps}`,
  );
  sae.eval();
  await setDensity();
  await profile("eval forward (dense outputs)", sae, () => sae.forward(x));
  const out = {
    preCodes: new Float32Array(B * C),
    codes: new Float32Array(B * C),
    xHat: new Float32Array(B * D),
  };
  await profile("eval forward into reused arrays", sae, () => sae.forward(x, { out }));
  await profile("eval encodeSparse", sae, () => sae.encodeSparse(x));
  sae.train();
  await setDensity();
  const adam = new Adam(sae, { lr: 1e-6 });
  const loss = losses.mse();
  await profile("training step (mse + Adam)", sae, async () => {
    await sae.lossAndGradients(x, loss);
    await adam.step();
  });
} finally {
  sae.dispose();
}
