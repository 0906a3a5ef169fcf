/**
 * WebGPU benchmark: GEMM TFLOP/s, the JumpSAE forward and training step in samples/s, and the
 * same for PyTorch CUDA fp32 when `python3` imports a CUDA-enabled torch, in one run.
 *
 *     deno run -A bench/gpu.ts            # JumpSAE(2304, 16384) and (2304, 65536), batch 4096
 *     deno run -A bench/gpu.ts --small    # tiny sizes: a smoke test on a software adapter
 *     options: --reps N (timed repetitions, default 5), --sparse-density X (the backend's
 *     sparseDensity), --no-torch, --no-model, --json; PYTHON=/path/to/python3 picks the
 *     interpreter of the PyTorch rows
 *
 * Rows:
 * - `gemm`: the three products of a training step at these sizes (encoder NT, decoder NN, weight
 *   gradient TN), out = op(A)·op(B), 2·m·n·k flops, per register tile (4x4 and 8x8).
 * - `ops forward` / `ops train step`: the JumpSAE computation written directly on the backend
 *   ops (Linear + BatchNorm1d encoder, JumpReLU, dictionary decode; the training step adds
 *   the L2 re-projection of the dictionary, MSE + L0 loss, the full backward and Adam on every
 *   parameter). Nothing is read back but the loss; this is the GPU's own speed.
 * - `model forward` / `model train step`: the public `JumpSAE` with `device: "webgpu"`
 *   (`forward` in eval mode, which uploads x and reads back preCodes, codes and xHat;
 *   `lossAndGradients(x, losses.mseL0(1e-3))`, which reads back the loss only).
 * - `torch ...`: the same rows in PyTorch CUDA fp32 (TF32 off), when available.
 *
 * On a GPU machine (e.g. an H200) without Deno installed:
 *     curl -fsSL https://deno.land/install.sh | sh    # or: npx -y deno@2.9.6 …
 *     # Deno's WebGPU (wgpu) needs the Vulkan loader and the NVIDIA Vulkan ICD:
 *     apt-get install -y libvulkan1 && ls /usr/share/vulkan/icd.d/nvidia_icd.json
 *     deno run -A bench/gpu.ts
 * Check the first line it prints: the adapter must not be "fallback" (llvmpipe), else Vulkan
 * did not find the GPU (VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/nvidia_icd.json helps).
 */

import { createWebGpuBackend, type WebGpuBackend } from "../src/backends/webgpu/mod.ts";
import type { DeviceBuffer, MatmulParams, PseudoGradient } from "../src/backends/backend.ts";

const args = new Set(Deno.args);
const small = args.has("--small");
const json = args.has("--json");
const repsArg = Deno.args.indexOf("--reps");
const REPS = repsArg >= 0 ? Number(Deno.args[repsArg + 1]) : small ? 2 : 5;
const densityArg = Deno.args.indexOf("--sparse-density");
const SPARSE_DENSITY = densityArg >= 0 ? Number(Deno.args[densityArg + 1]) : undefined;
const PYTHON = Deno.env.get("PYTHON") ?? "python3";
const D = small ? 64 : 2304;
const CONCEPTS = small ? [256, 512] : [16384, 65536];
const B = small ? 128 : 4096;

interface Row {
  row: string;
  engine: string;
  size: string;
  ms: number;
  tflops?: number;
  samplesPerSecond?: number;
  note?: string;
}
const rows: Row[] = [];

function report(r: Row): void {
  rows.push(r);
  if (json) {
    console.log(JSON.stringify(r));
    return;
  }
  const rate = r.tflops !== undefined
    ? `${r.tflops.toPrecision(3)} TFLOP/s`
    : r.samplesPerSecond !== undefined
    ? `${Math.round(r.samplesPerSecond).toLocaleString("en")} samples/s`
    : "";
  console.log(
    `${r.engine.padEnd(7)} ${r.row.padEnd(22)} ${r.size.padEnd(26)} ${
      r.ms.toFixed(2).padStart(10)
    } ms  ${rate}${r.note ? `  (${r.note})` : ""}`,
  );
}

/** Best of `REPS` timings of `fn` (after one warm-up), in ms. */
async function best(fn: () => Promise<void>): Promise<number> {
  await fn();
  let min = Infinity;
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    await fn();
    min = Math.min(min, performance.now() - t0);
  }
  return min;
}

function random(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

async function adapterLine(): Promise<string> {
  const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) return "no WebGPU adapter";
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  return `${info.vendor} ${info.architecture} ${info.description}${
    info.isFallbackAdapter ? " [fallback]" : ""
  }, maxStorageBufferBindingSize ${adapter.limits.maxStorageBufferBindingSize}, maxBufferSize ${adapter.limits.maxBufferSize}`;
}

/**
 * Checks 16 sampled entries of out = op(A)·op(B) against float64 on the host: the largest
 * |got − want| / Σ|a·b| (about 1e-7 for a correct float32 product).
 */
async function sampledError(
  gpu: WebGpuBackend,
  out: DeviceBuffer,
  av: Float32Array,
  bv: Float32Array,
  p: MatmulParams,
): Promise<number> {
  const { m, n, k } = p;
  let worst = 0;
  for (let s = 0; s < 16; s++) {
    // rows spread evenly, the last entry in the last row and column (edge tiles)
    const i = s === 15 ? m - 1 : Math.floor(((s + 0.5) / 16) * m);
    const j = s === 15 ? n - 1 : (s * 7919 + 13) % n;
    let want = 0, mag = 0;
    for (let l = 0; l < k; l++) {
      const x = (p.transA ? av[l * m + i] : av[i * k + l]) *
        (p.transB ? bv[j * k + l] : bv[l * n + j]);
      want += x;
      mag += Math.abs(x);
    }
    const got = (await gpu.download(out, i * n + j, 1))[0];
    worst = Math.max(worst, Math.abs(got - want) / Math.max(mag, 1e-30));
  }
  return worst;
}

async function benchGemm(): Promise<void> {
  for (const tile of ["4x4", "8x8"] as const) {
    if (small && tile === "8x8") continue; // the software adapter compiles it for minutes
    const gpu = await createWebGpuBackend({
      allowFallback: true,
      gemmTile: tile,
      sparseDensity: SPARSE_DENSITY,
    });
    try {
      for (const C of CONCEPTS) {
        const shapes: [string, MatmulParams][] = [
          ["encoder x·Wᵀ (NT)", { m: B, n: C, k: D, transB: true }],
          ["decoder z·D (NN)", { m: B, n: D, k: C }],
          ["grad zᵀ·dx̂ (TN)", { m: C, n: D, k: B, transA: true }],
          // codes at 0.2 % density with the sparseA hint: the sparse kernel on hardware adapters
          ["decoder z·D sparse", { m: B, n: D, k: C, sparseA: true }],
          ["grad zᵀ·dx̂ sparse", { m: C, n: D, k: B, transA: true, sparseA: true }],
        ];
        for (const [name, p] of shapes) {
          let bufs: DeviceBuffer[] = [];
          try {
            const out = gpu.alloc(p.m * p.n), a = gpu.alloc(p.m * p.k), b = gpu.alloc(p.k * p.n);
            bufs = [out, a, b];
            const av = random(p.m * p.k, 1);
            if (p.sparseA) { for (let i = 0; i < av.length; i++) if (i % 500 !== 0) av[i] = 0; }
            gpu.upload(a, av);
            const bv = random(p.k * p.n, 2);
            gpu.upload(b, bv);
            const ms = await best(async () => {
              gpu.matmul(out, a, b, p);
              await gpu.sync();
            });
            const err = await sampledError(gpu, out, av, bv, p);
            report({
              row: `gemm ${name}`,
              engine: "webgpu",
              size: `${p.m}×${p.n}×${p.k} tile ${tile}`,
              ms,
              tflops: (2 * p.m * p.n * p.k) / ms / 1e9,
              note: `${p.sparseA ? "dense-equivalent flops, " : ""}sampled error ${
                err.toExponential(1)
              }${err > 1e-4 ? " WRONG" : ""}`,
            });
          } catch (e) {
            report({
              row: `gemm ${name}`,
              engine: "webgpu",
              size: `${p.m}×${p.n}×${p.k}`,
              ms: NaN,
              note: String(e),
            });
          } finally {
            for (const buf of bufs) gpu.free(buf);
          }
        }
      }
    } finally {
      gpu.dispose();
    }
  }
}

/**
 * Threshold of the ops rows: pre-codes are about N(0, 1) (in eval mode too), so about 0.5 % of
 * the codes are active, the L0 of a trained SAE (e.g. 80 of 16384).
 */
const THETA = 2.6;

/** The JumpSAE on raw backend ops: buffers and one forward / training step. */
class OpsSae {
  private readonly bufs = new Map<string, DeviceBuffer>();
  private step = 0;
  constructor(readonly gpu: WebGpuBackend, readonly C: number) {
    const size: Record<string, number> = {
      x: B * D, // (B, D)
      W: C * D, // (C, D) encoder weight
      b: C,
      bnW: C,
      bnB: C,
      rm: C,
      rv: C,
      mean: C,
      rstd: C,
      t: C, // log thresholds
      dict: C * D, // (C, D)
      lin: B * C, // (B, C)
      pre: B * C,
      codes: B * C,
      xHat: B * D,
      loss: 1,
      dXhat: B * D,
      dCodes: B * C,
      dPre: B * C,
      dLin: B * C,
      dW: C * D,
      db: C,
      dBnW: C,
      dBnB: C,
      dT: C,
      dDict: C * D,
    };
    for (const [name, n] of Object.entries(size)) this.bufs.set(name, gpu.alloc(n));
    const g = this.b.bind(this);
    this.host = {
      x: random(B * D, 3),
      W: random(C * D, 4, 3 / Math.sqrt(D)), // x·Wᵀ ~ N(0, 1)
      dict: random(C * D, 5, 1 / Math.sqrt(D)),
    };
    for (const [name, data] of Object.entries(this.host)) gpu.upload(g(name), data);
    gpu.fill(g("bnW"), 1, C);
    gpu.fill(g("rv"), 1, C);
    gpu.fill(g("t"), Math.log(THETA), C);
    for (const name of ["W", "b", "bnW", "bnB", "t", "dict"]) {
      for (const s of ["m", "v"]) this.bufs.set(`${s}:${name}`, gpu.alloc(size[name]));
    }
  }
  /** Host copies of the inputs, for `checkForward`. */
  private readonly host: Record<"x" | "W" | "dict", Float32Array>;

  /**
   * After `forward`: rows 0 and B − 1 of x̂ against float64 on the host (BatchNorm with its
   * initial running statistics, θ = THETA): the largest |got − want| / Σ|code·dict|.
   */
  async checkForward(): Promise<number> {
    const { C } = this, { x, W, dict } = this.host;
    let worst = 0;
    for (const r of [0, B - 1]) {
      const want = new Float64Array(D), mag = new Float64Array(D);
      for (let c = 0; c < C; c++) {
        let lin = 0;
        for (let d = 0; d < D; d++) lin += x[r * D + d] * W[c * D + d];
        const pre = lin / Math.sqrt(1 + 1e-5);
        if (!(pre >= THETA)) continue;
        for (let d = 0; d < D; d++) {
          want[d] += pre * dict[c * D + d];
          mag[d] += Math.abs(pre * dict[c * D + d]);
        }
      }
      const got = await this.gpu.download(this.b("xHat"), r * D, D);
      for (let d = 0; d < D; d++) {
        worst = Math.max(worst, Math.abs(got[d] - want[d]) / Math.max(mag[d], 1e-30));
      }
    }
    return worst;
  }

  private b(name: string): DeviceBuffer {
    return this.bufs.get(name)!;
  }
  forward(): void {
    const { gpu, C } = this, g = this.b.bind(this);
    gpu.matmul(g("lin"), g("x"), g("W"), { m: B, n: C, k: D, transB: true });
    gpu.addBias(g("lin"), g("b"), B, C);
    gpu.batchNormEval(g("pre"), g("lin"), g("rm"), g("rv"), g("bnW"), g("bnB"), B, C, 1e-5);
    gpu.jumpRelu(g("codes"), g("pre"), g("t"), B, C);
    gpu.matmul(g("xHat"), g("codes"), g("dict"), { m: B, n: D, k: C, sparseA: true });
  }
  trainStep(): void {
    const { gpu, C } = this, g = this.b.bind(this);
    const pg: PseudoGradient = { kernel: "silverman", bandwidth: 1e-3, mode: "overcomplete" };
    gpu.normalizeRows(g("dict"), C, D, "l2");
    gpu.matmul(g("lin"), g("x"), g("W"), { m: B, n: C, k: D, transB: true });
    gpu.addBias(g("lin"), g("b"), B, C);
    gpu.batchNormTrain(
      g("pre"),
      g("mean"),
      g("rstd"),
      g("rm"),
      g("rv"),
      g("lin"),
      g("bnW"),
      g("bnB"),
      B,
      C,
      0.1,
      1e-5,
    );
    gpu.jumpRelu(g("codes"), g("pre"), g("t"), B, C);
    gpu.matmul(g("xHat"), g("codes"), g("dict"), { m: B, n: D, k: C, sparseA: true });
    for (const name of ["loss", "dXhat", "db", "dBnW", "dBnB", "dT"]) {
      gpu.fill(g(name), 0, g(name).length);
    }
    gpu.squaredError(g("loss"), g("dXhat"), g("xHat"), g("x"), B * D, 1 / (B * D));
    gpu.heavisideL0(g("loss"), g("dT"), g("pre"), g("t"), B, C, 1e-3 / B, pg);
    gpu.matmul(g("dCodes"), g("dXhat"), g("dict"), { m: B, n: C, k: D, transB: true });
    gpu.matmul(g("dDict"), g("codes"), g("dXhat"), {
      m: C,
      n: D,
      k: B,
      transA: true,
      sparseA: true,
    });
    gpu.jumpReluBackward(g("dPre"), g("dT"), g("dCodes"), g("pre"), g("t"), B, C, pg);
    gpu.batchNormBackward(
      g("dLin"),
      g("dBnW"),
      g("dBnB"),
      g("dPre"),
      g("lin"),
      g("mean"),
      g("rstd"),
      g("bnW"),
      B,
      C,
    );
    gpu.matmul(g("dW"), g("dLin"), g("x"), { m: C, n: D, k: B, transA: true });
    gpu.sumRows(g("db"), g("dLin"), B, C);
    this.step++;
    const grads: Record<string, string> = {
      W: "dW",
      b: "db",
      bnW: "dBnW",
      bnB: "dBnB",
      t: "dT",
      dict: "dDict",
    };
    for (const [p, d] of Object.entries(grads)) {
      gpu.adam(g(p), g(d), g(`m:${p}`), g(`v:${p}`), g(p).length, {
        lr: 1e-4,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weightDecay: 0,
        decoupled: false,
        step: this.step,
      });
    }
  }
  async loss(): Promise<number> {
    return (await this.gpu.download(this.b("loss")))[0];
  }
  free(): void {
    for (const buf of this.bufs.values()) this.gpu.free(buf);
  }
}

async function benchOps(): Promise<void> {
  const gpu = await createWebGpuBackend({ allowFallback: true, sparseDensity: SPARSE_DENSITY });
  try {
    for (const C of CONCEPTS) {
      const size = `D=${D} C=${C} B=${B}`;
      let sae: OpsSae | null = null;
      try {
        sae = new OpsSae(gpu, C);
        const s = sae;
        const fwd = await best(async () => {
          s.forward();
          await gpu.sync();
        });
        const err = await s.checkForward();
        report({
          row: "ops forward",
          engine: "webgpu",
          size,
          ms: fwd,
          samplesPerSecond: (B / fwd) * 1e3,
          // a code within rounding of θ may flip, hence the looser bound than the GEMM's
          note: `sampled x̂ error ${err.toExponential(1)}${err > 1e-3 ? " WRONG" : ""}`,
        });
        const train = await best(async () => {
          s.trainStep();
          await s.loss();
        });
        const loss = await s.loss();
        report({
          row: "ops train step",
          engine: "webgpu",
          size,
          ms: train,
          samplesPerSecond: (B / train) * 1e3,
          note: `loss ${loss.toPrecision(4)}`,
        });
      } catch (e) {
        report({ row: "ops", engine: "webgpu", size, ms: NaN, note: String(e) });
      } finally {
        sae?.free();
      }
    }
  } finally {
    gpu.dispose();
  }
}

async function benchModel(): Promise<void> {
  const { JumpSAE, losses } = await import("../mod.ts");
  for (const C of CONCEPTS) {
    const size = `D=${D} C=${C} B=${B}`;
    const sae = new JumpSAE(D, C, { device: "webgpu", seed: 0 });
    try {
      const x = { data: random(B * D, 7), shape: [B, D] };
      sae.eval();
      const fwd = await best(async () => {
        await sae.forward(x);
      });
      report({
        row: "model forward",
        engine: "webgpu",
        size,
        ms: fwd,
        samplesPerSecond: (B / fwd) * 1e3,
        note: "reads back preCodes, codes, xHat",
      });
      sae.train();
      const loss = losses.mseL0(1e-3);
      const step = await best(async () => {
        await sae.lossAndGradients(x, loss);
      });
      report({
        row: "model train step",
        engine: "webgpu",
        size,
        ms: step,
        samplesPerSecond: (B / step) * 1e3,
      });
    } catch (e) {
      report({
        row: "model",
        engine: "webgpu",
        size,
        ms: NaN,
        note: String((e as Error).message ?? e),
      });
    } finally {
      sae.dispose();
    }
  }
}

/** PyTorch CUDA peer, printed as JSON lines by a script given on stdin. */
const TORCH = `
import json, sys, time, torch
D, B, REPS = ${D}, ${B}, ${REPS}
CONCEPTS = ${JSON.stringify(CONCEPTS)}
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = "cuda"
def best(fn):
    fn(); torch.cuda.synchronize()
    m = float("inf")
    for _ in range(REPS):
        t = time.perf_counter(); fn(); torch.cuda.synchronize(); m = min(m, (time.perf_counter() - t) * 1e3)
    return m
def out(**r): print(json.dumps(r), flush=True)
for C in CONCEPTS:
    for name, (m, n, k) in [("encoder x·Wᵀ (NT)", (B, C, D)), ("decoder z·D (NN)", (B, D, C)), ("grad zᵀ·dx̂ (TN)", (C, D, B))]:
        a, b = torch.randn(m, k, device=dev), torch.randn(k, n, device=dev)
        ms = best(lambda: a @ b)
        out(row="gemm " + name, size=f"{m}×{n}×{k}", ms=ms, tflops=2 * m * n * k / ms / 1e9)
        del a, b
class Jump(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, t, eps):
        theta = t.exp(); r = pre.relu(); ctx.save_for_backward(pre, theta); ctx.eps = eps
        return r * (r >= theta)
    @staticmethod
    def backward(ctx, g):
        pre, theta = ctx.saved_tensors; eps = ctx.eps; r = pre.relu(); h = eps / 2
        u = (r - theta).abs() / h / 2 ** 0.5
        k = torch.exp(-u) * torch.sin(u + torch.pi / 4) / h
        dpre = g * ((r >= theta) & (pre > 0))
        dt = (-(1 / eps) * theta * k * g).sum(0) * theta
        return dpre, dt, None
for C in CONCEPTS:
    torch.manual_seed(0)
    lin = torch.nn.Linear(D, C).to(dev); bn = torch.nn.BatchNorm1d(C).to(dev)
    t = torch.nn.Parameter(torch.full((C,), 0.6931, device=dev))
    dic = torch.nn.Parameter(torch.randn(C, D, device=dev) / D ** 0.5)
    x = torch.randn(B, D, device=dev)
    params = [*lin.parameters(), *bn.parameters(), t, dic]
    opt = torch.optim.Adam(params, lr=1e-4)
    size = f"D={D} C={C} B={B}"
    def fwd():
        with torch.no_grad():
            pre = bn(lin(x)); z = Jump.apply(pre, t, 1e-3); return z @ dic
    bn.eval(); ms = best(fwd)
    out(row="forward", size=size, ms=ms, samplesPerSecond=B / ms * 1e3)
    bn.train()
    def step():
        with torch.no_grad(): dic.data /= dic.data.norm(dim=1, keepdim=True) + 1e-8
        pre = bn(lin(x)); z = Jump.apply(pre, t, 1e-3); xh = z @ dic
        l0 = ((pre.relu() - t.exp()) > 0).float().sum(1).mean()
        loss = ((x - xh) ** 2).mean() + 1e-3 * l0
        opt.zero_grad(); loss.backward(); opt.step()
    ms = best(step)
    out(row="train step", size=size, ms=ms, samplesPerSecond=B / ms * 1e3, note="L0 term without its pseudo-gradient")
    del lin, bn, t, dic, opt, params
    torch.cuda.empty_cache()
`;

async function benchTorch(): Promise<void> {
  let probe;
  try {
    probe = await new Deno.Command(PYTHON, {
      args: ["-c", "import torch; print(torch.cuda.is_available())"],
      stdout: "piped",
      stderr: "null",
    }).output();
  } catch {
    return report({ row: "torch", engine: "torch", size: "", ms: NaN, note: "python3 not found" });
  }
  if (new TextDecoder().decode(probe.stdout).trim() !== "True") {
    return report({
      row: "torch",
      engine: "torch",
      size: "",
      ms: NaN,
      note: "no CUDA-enabled torch",
    });
  }
  const child = new Deno.Command(PYTHON, {
    args: ["-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(TORCH));
  await writer.close();
  const { stdout } = await child.output();
  for (const line of new TextDecoder().decode(stdout).split("\n")) {
    if (line.trim()) report({ engine: "torch", ...JSON.parse(line) });
  }
}

if (import.meta.main) {
  console.log(`# WebGPU adapter: ${await adapterLine()}`);
  console.log(
    `# sizes: D=${D}, concepts ${CONCEPTS.join(", ")}, batch ${B}; best of ${REPS} after a warm-up`,
  );
  await benchGemm();
  await benchOps();
  if (!args.has("--no-model")) await benchModel();
  if (!args.has("--no-torch")) await benchTorch();
}
