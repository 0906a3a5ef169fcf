/**
 * The accurate WGSL exp, sin and cos (`src/backends/webgpu/wgsl/math.ts`) against float64
 * Math on a grid that covers what the pseudo-gradient kernels feed them, and the eight WGSL
 * kernels against `kernelValue` at the seed's default bandwith.
 */

import { createWebGpuBackend } from "../src/backends/webgpu/mod.ts";
import type { GpuBuffer } from "../src/backends/webgpu/context.ts";
import { mapKernel, type MapSpec } from "../src/backends/webgpu/wgsl/elementwise.ts";
import { ACCURATE_MATH } from "../src/backends/webgpu/wgsl/math.ts";
import { kernelFn } from "../src/backends/webgpu/wgsl/jump_relu.ts";
import { KERNEL_NAMES, kernelValue } from "../src/kernels.ts";

const adapter =
  await (globalThis.navigator as { gpu?: GPU }).gpu?.requestAdapter().catch(() => null) ?? null;
const reason = adapter ? "" : " (no WebGPU adapter)";

/** Evaluates `expr` (WGSL over the vec4 `x`, may use P.kernel and P.eps) on the GPU. */
async function evaluate(expr: string, x: Float32Array, values: Record<string, number> = {}) {
  const gpu = await createWebGpuBackend({ allowFallback: true });
  try {
    const spec: MapSpec = {
      family: `test:${expr}`,
      outputs: ["out"],
      inputs: ["x"],
      fields: ["kernel_f", "eps"],
      functions: ACCURATE_MATH,
      body: `  out = ${expr};`,
    };
    const src = mapKernel(spec);
    const out = gpu.alloc(x.length) as GpuBuffer, xb = gpu.alloc(x.length) as GpuBuffer;
    gpu.upload(xb, x);
    const nvec = Math.ceil(x.length / 4);
    gpu.ctx.run(
      src,
      [out, xb],
      { kernel_f: 0, eps: 1, ...values, n: x.length, nvec, cols: 0 },
      Math.ceil(nvec / 256),
    );
    return await gpu.download(out);
  } finally {
    gpu.dispose();
  }
}

function grid(lo: number, hi: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + ((hi - lo) * i) / (n - 1);
  return out;
}

/** Largest error in units of `scale(want)`. */
function worst(
  got: Float32Array,
  x: Float32Array,
  f: (v: number) => number,
  scale: (w: number) => number,
) {
  let max = 0, at = 0;
  for (let i = 0; i < x.length; i++) {
    const want = f(x[i]);
    const err = Math.abs(got[i] - want) / scale(want);
    if (err > max) [max, at] = [err, x[i]];
  }
  return { max, at };
}

Deno.test({
  name:
    `webgpu math: exp_acc within 2.5e-7 relative on [-87, 80] (no subnormals: GPUs may flush them)${reason}`,
  ignore: !adapter,
  fn: async () => {
    const x = grid(-87, 80, 4001);
    const got = await evaluate(
      "vec4<f32>(exp_acc(x.x), exp_acc(x.y), exp_acc(x.z), exp_acc(x.w))",
      x,
    );
    const { max, at } = worst(got, x, Math.exp, (w) => Math.max(Math.abs(w), 1e-37));
    if (!(max < 2.5e-7)) {
      throw new Error(`expected relative error < 2.5e-7, got ${max} at x = ${at}`);
    }
  },
});

Deno.test({
  name: `webgpu math: sin_cos_acc within 2e-7 absolute on [-40, 40]${reason}`,
  ignore: !adapter,
  fn: async () => {
    const x = grid(-40, 40, 4001);
    const sin = await evaluate(
      "vec4<f32>(sin_cos_acc(x.x).x, sin_cos_acc(x.y).x, sin_cos_acc(x.z).x, sin_cos_acc(x.w).x)",
      x,
    );
    const cos = await evaluate(
      "vec4<f32>(sin_cos_acc(x.x).y, sin_cos_acc(x.y).y, sin_cos_acc(x.z).y, sin_cos_acc(x.w).y)",
      x,
    );
    for (const [got, f, name] of [[sin, Math.sin, "sin"], [cos, Math.cos, "cos"]] as const) {
      const { max, at } = worst(got, x, f, () => 1);
      if (!(max < 2e-7)) throw new Error(`expected ${name} error < 2e-7, got ${max} at x = ${at}`);
    }
  },
});

Deno.test({
  name: `webgpu math: the 8 WGSL kernels match kernelValue at ε = 1e-3${reason}`,
  ignore: !adapter,
  fn: async () => {
    const eps = Math.fround(1e-3);
    const x = grid(-3e-3, 3e-3, 1201);
    for (const [i, name] of KERNEL_NAMES.entries()) {
      const got = await evaluateKernel(i, x, eps);
      const peak = Math.max(...Array.from(x, (v) => Math.abs(kernelValue(name, v, eps))));
      const { max, at } = worst(got, x, (v) => kernelValue(name, v, eps), () => peak);
      if (!(max < 1e-6)) {
        throw new Error(`${name}: expected error < 1e-6 of the peak, got ${max} at x = ${at}`);
      }
    }
  },
});

/** Runs `kernel_value` of `jump_relu.ts` for kernel index `k` over x. */
async function evaluateKernel(k: number, x: Float32Array, eps: number): Promise<Float32Array> {
  const gpu = await createWebGpuBackend({ allowFallback: true });
  try {
    const src = mapKernel({
      family: "test:kernel_value",
      outputs: ["out"],
      inputs: ["x"],
      fields: ["eps", "kernel_f"],
      functions: kernelFn().replace("switch (P.kernel)", "switch (u32(P.kernel_f))").replace(
        ACCURATE_MATH,
        ACCURATE_MATH + "\n",
      ),
      body: "  out = vec4<f32>(kernel_value(x.x, P.eps), kernel_value(x.y, P.eps), " +
        "kernel_value(x.z, P.eps), kernel_value(x.w, P.eps));",
    });
    const out = gpu.alloc(x.length) as GpuBuffer, xb = gpu.alloc(x.length) as GpuBuffer;
    gpu.upload(xb, x);
    const nvec = Math.ceil(x.length / 4);
    gpu.ctx.run(
      src,
      [out, xb],
      { eps, kernel_f: k, n: x.length, nvec, cols: 0 },
      Math.ceil(nvec / 256),
    );
    return await gpu.download(out);
  } finally {
    gpu.dispose();
  }
}
