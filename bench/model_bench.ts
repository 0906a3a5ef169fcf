/**
 * `deno task bench` (`deno bench -A bench/`): Deno.bench groups, one per operation, each side by
 * side on the backends that can run it at that size, with a baseline:
 * - the model's GEMM shapes (encoder x·Wᵀ = dense code gradient dX̂·Dᵀ, weight gradient TN) on
 *   WASM relaxed and plain, 1 thread and all threads, against tfjs-backend-wasm (XNNPACK, in
 *   this process, 1 thread: its threaded build does not start in Deno), the baseline;
 * - the encoder epilogue (bias, BatchNorm eval, JumpReLU) and JumpReLU forward/backward, with
 *   the reference backend as the baseline;
 * - JumpSAE(768, 16384) forward, forward into reused arrays, encodeSparse and the training step
 *   (mse + Adam) at batch 256, 2 % active, on the CPU backend with 1 and all threads;
 * - WebGPU rows where an adapter exists (`navigator.gpu`).
 * The PyTorch comparison is `deno task bench:torch`; the per-op profile `deno task bench:profile`.
 */

// deno-lint-ignore-file no-import-prefix
import * as tf from "npm:@tensorflow/tfjs-core@4.22.0";
import { setThreadsCount, setWasmPaths } from "npm:@tensorflow/tfjs-backend-wasm@4.22.0";
import { JumpSAE, losses } from "../mod.ts";
import { Adam } from "../src/optim/mod.ts";
import type { Backend, DeviceBuffer, PseudoGradient } from "../src/backends/backend.ts";
import { createReferenceBackend } from "../src/backends/reference.ts";
import { createWasmBackend, relaxedSimdSupported } from "../src/backends/wasm/mod.ts";
import { hardwareConcurrency } from "../src/platform/workers.ts";

const all = hardwareConcurrency();
const [B, D, C] = [256, 768, 16384];
const DENSITY = 0.02;

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

// ---- backends -----------------------------------------------------------------------------------
const cpu: { label: string; be: Backend }[] = [];
for (const simd of relaxedSimdSupported() ? ["relaxed", "plain"] as const : ["plain"] as const) {
  for (const threads of [...new Set([1, all])]) {
    cpu.push({ label: `wasm ${simd} ${threads}t`, be: await createWasmBackend({ simd, threads }) });
  }
}
let gpu: Backend | null = null;
{
  const { createWebGpuBackend, hasRealGpu } = await import("../src/backends/webgpu/mod.ts");
  if (await hasRealGpu().catch(() => false)) gpu = await createWebGpuBackend();
}
const reference = createReferenceBackend();

function buffers(be: Backend, sizes: Record<string, number>, seed = 1) {
  const out: Record<string, DeviceBuffer> = {};
  for (const [name, n] of Object.entries(sizes)) {
    out[name] = be.alloc(n);
    be.upload(out[name], normals(n, seed++));
  }
  return out;
}

// ---- GEMM shapes of the model ---------------------------------------------------------------------
const shapes = [
  // the encoder x·Wᵀ, and the dense code gradient dX̂·Dᵀ (same shape)
  { name: `x·Wᵀ ${B}×${D}·(${C}×${D})ᵀ`, m: B, n: C, k: D, transB: true },
  { name: `weight gradient dPreᵀ·x ${C}×${B}·${B}×${D}`, m: C, n: D, k: B, transA: true },
] as const;
let tfReady = false;
try {
  const dist = new URL("./", import.meta.resolve("npm:@tensorflow/tfjs-backend-wasm@4.22.0"));
  setWasmPaths(dist.pathname);
  setThreadsCount(1);
  tfReady = await tf.setBackend("wasm");
  await tf.ready();
} catch {
  tfReady = false;
}
for (const s of shapes) {
  const group = `GEMM ${s.name}`;
  if (tfReady) {
    const a = tf.randomNormal("transA" in s ? [s.k, s.m] : [s.m, s.k]);
    const b = tf.randomNormal("transB" in s ? [s.n, s.k] : [s.k, s.n]);
    Deno.bench({
      name: "tfjs-backend-wasm 1t",
      group,
      baseline: true,
      n: 5,
      warmup: 1,
      async fn() {
        const c = tf.matMul(a, b, "transA" in s, "transB" in s);
        await c.data();
        c.dispose();
      },
    });
  }
  for (const { label, be } of [...cpu, ...(gpu ? [{ label: "webgpu", be: gpu }] : [])]) {
    const t = buffers(be, { a: s.m * s.k, b: s.k * s.n, o: s.m * s.n });
    const p = { m: s.m, n: s.n, k: s.k, transA: "transA" in s, transB: "transB" in s };
    Deno.bench({
      name: label,
      group,
      baseline: !tfReady && label === cpu[0].label,
      n: 5,
      warmup: 1,
      async fn() {
        be.matmul(t.o, t.a, t.b, p);
        await be.download(t.o, 0, 1);
      },
    });
  }
}

// ---- encoder epilogue and JumpReLU ----------------------------------------------------------------
const pg: PseudoGradient = { kernel: "silverman", bandwidth: 1e-3, mode: "overcomplete" };
const EB = 64; // rows: the reference backend is the baseline and runs in plain TypeScript
for (const { label, be } of [{ label: "reference", be: reference }, ...cpu]) {
  const t = buffers(be, {
    pre: EB * C,
    codes: EB * C,
    dCodes: EB * C,
    dPre: EB * C,
    bias: C,
    mean: C,
    w: C,
    b: C,
    logT: C,
    dT: C,
  });
  be.fill(t.logT, Math.log(2.05), C); // N(0, 1) pre-codes: 2 % above θ
  const varBuf = be.alloc(C);
  be.fill(varBuf, 1, C);
  const base = label === "reference";
  Deno.bench({
    name: label,
    group: `encoder epilogue (bias, BatchNorm eval, JumpReLU) ${EB}×${C}`,
    baseline: base,
    n: 10,
    warmup: 1,
    async fn() {
      be.addBias(t.pre, t.bias, EB, C);
      be.batchNormEval(t.dPre, t.pre, t.mean, varBuf, t.w, t.b, EB, C, 1e-5);
      be.jumpRelu(t.codes, t.dPre, t.logT, EB, C);
      await be.download(t.codes, 0, 1);
    },
  });
  Deno.bench({
    name: label,
    group: `JumpReLU forward ${EB}×${C}`,
    baseline: base,
    n: 10,
    warmup: 1,
    async fn() {
      be.jumpRelu(t.codes, t.pre, t.logT, EB, C);
      await be.download(t.codes, 0, 1);
    },
  });
  Deno.bench({
    name: label,
    group: `JumpReLU backward (silverman) ${EB}×${C}`,
    baseline: base,
    n: 10,
    warmup: 1,
    async fn() {
      be.jumpReluBackward(t.dPre, t.dT, t.dCodes, t.pre, t.logT, EB, C, pg);
      await be.download(t.dPre, 0, 1);
    },
  });
}

// ---- the model ----------------------------------------------------------------------------------
const x = { data: normals(B * D, 3), shape: [B, D] };

async function model(threads: number, train: boolean): Promise<JumpSAE> {
  const sae = new JumpSAE(D, C, { device: "cpu", threads, seed: 1 });
  sae.train(train);
  const { preCodes } = await sae.forward(x);
  const sample = Float32Array.from(preCodes.data.subarray(0, 1 << 20), (v) => Math.max(v, 0));
  sample.sort();
  const q = Math.max(1e-6, sample[Math.floor((1 - DENSITY) * sample.length)]);
  const be = await sae.getBackend();
  be.upload(sae.thresholds.value!, new Float32Array(C).fill(Math.log(q)));
  return sae;
}

for (const threads of [...new Set([1, all])]) {
  const sae = await model(threads, false);
  const out = {
    preCodes: new Float32Array(B * C),
    codes: new Float32Array(B * C),
    xHat: new Float32Array(B * D),
  };
  const opts = { n: 5, warmup: 1 };
  const group = `JumpSAE(${D}, ${C}) eval, batch ${B}, ${threads}t`;
  Deno.bench({
    name: "forward (dense outputs)",
    group,
    baseline: true,
    ...opts,
    fn: async () => void await sae.forward(x),
  });
  Deno.bench({
    name: "forward into reused arrays",
    group,
    ...opts,
    fn: async () => void await sae.forward(x, { out }),
  });
  Deno.bench({
    name: "encodeSparse",
    group,
    ...opts,
    fn: async () => void await sae.encodeSparse(x),
  });
  const trained = await model(threads, true);
  const adam = new Adam(trained, { lr: 1e-6 });
  const loss = losses.mse();
  Deno.bench({
    name: `${threads}t`,
    group: `JumpSAE(${D}, ${C}) training step (mse + Adam), batch ${B}`,
    baseline: threads === 1,
    ...opts,
    async fn() {
      await trained.lossAndGradients(x, loss);
      await adam.step();
    },
  });
}
