/**
 * The seed's public `jump_relu` and `heaviside` functions (overcomplete/sae/jump_sae.py) on host
 * tensors: the forward, and the backward that the seed's autograd functions define, for an input
 * x [N, C] and a threshold θ [C] (θ itself, not its log).
 *
 * @module
 */
import { isKernelName, KERNEL_NAMES, type KernelName, kernelValue } from "./kernels.ts";
import { formatShape, type Tensor, type TensorLike, toTensor } from "./tensor.ts";

function operands(x: TensorLike, threshold: TensorLike) {
  const t = toTensor(x, "x"), th = toTensor(threshold, "threshold");
  if (t.shape.length !== 2) {
    throw new RangeError(`x must have shape [N, C], got ${formatShape(t.shape)}`);
  }
  const [N, C] = t.shape;
  if (th.shape.length !== 1 || th.shape[0] !== C) {
    throw new RangeError(`threshold must have shape [${C}], got ${formatShape(th.shape)}`);
  }
  return { t, th, N, C };
}

function checkKernel(kernel: KernelName, bandwith: number): void {
  if (!isKernelName(kernel)) {
    throw new RangeError(`kernel must be one of ${KERNEL_NAMES.join(", ")}, got ${String(kernel)}`);
  }
  if (typeof bandwith !== "number" || !(bandwith > 0) || !Number.isFinite(bandwith)) {
    throw new RangeError(`bandwith must be a finite number > 0, got ${bandwith}`);
  }
}

/** Shared backward: gradInput where `pass`, and Σ_rows scale(θ)·kernel(x − θ, ε)·g per column. */
function backward(
  x: TensorLike,
  threshold: TensorLike,
  gradOutput: TensorLike,
  kernel: KernelName,
  bandwith: number,
  pass: ((v: number, theta: number) => boolean) | null,
  scale: (theta: number) => number,
): { x: Tensor; threshold: Tensor } {
  const { t, th, N, C } = operands(x, threshold);
  checkKernel(kernel, bandwith);
  const g = toTensor(gradOutput, "gradOutput");
  if (g.shape.length !== 2 || g.shape[0] !== N || g.shape[1] !== C) {
    throw new RangeError(`gradOutput must have shape [${N}, ${C}], got ${formatShape(g.shape)}`);
  }
  const eps = Math.fround(bandwith); // the seed's bandwidth is a float32 tensor
  const dx = new Float32Array(N * C), dt = new Float64Array(C);
  for (let r = 0; r < N; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c, v = t.data[i], theta = th.data[c];
      if (pass && pass(v, theta)) dx[i] = g.data[i];
      dt[c] += scale(theta) * kernelValue(kernel, Math.fround(v - theta), eps) * g.data[i];
    }
  }
  return { x: { data: dx, shape: [N, C] }, threshold: { data: Float32Array.from(dt), shape: [C] } };
}

/**
 * JumpReLU (the seed's `jump_relu` forward): x where x ≥ θ, else 0.
 *
 * @param x [N, C]
 * @param threshold θ, [C]
 *
 * @example
 * ```ts
 * import { jumpRelu } from "./jump_relu.ts";
 * jumpRelu([[0.2, 0.9]], [0.5, 0.5]).data; // [0, 0.9]
 * ```
 */
export function jumpRelu(x: TensorLike, threshold: TensorLike): Tensor {
  const { t, th, C } = operands(x, threshold);
  return { data: t.data.map((v, i) => (v < th.data[i % C] ? 0 : v)), shape: [...t.shape] };
}

/**
 * The seed's JumpReLU backward: the input gradient is `gradOutput` where x ≥ θ, and θ's
 * pseudo-gradient is Σ_rows −(θ/ε)·kernel(x − θ, ε)·gradOutput.
 *
 * @example
 * ```ts
 * import { jumpReluBackward } from "./jump_relu.ts";
 * jumpReluBackward([[0.5]], [0.5], [[1]], "rectangle", 1).threshold.data; // [-0.5]
 * ```
 */
export function jumpReluBackward(
  x: TensorLike,
  threshold: TensorLike,
  gradOutput: TensorLike,
  kernel: KernelName,
  bandwith: number,
): { x: Tensor; threshold: Tensor } {
  const eps = Math.fround(bandwith);
  return backward(
    x,
    threshold,
    gradOutput,
    kernel,
    bandwith,
    (v, th) => !(v < th),
    (th) => -th / eps,
  );
}

/**
 * Heaviside step (the seed's `heaviside` forward): 1 where x > θ, else 0.
 *
 * @example
 * ```ts
 * import { heaviside } from "./jump_relu.ts";
 * heaviside([[0.5, 0.9]], [0.5, 0.5]).data; // [0, 1]
 * ```
 */
export function heaviside(x: TensorLike, threshold: TensorLike): Tensor {
  const { t, th, C } = operands(x, threshold);
  return { data: t.data.map((v, i) => (v > th.data[i % C] ? 1 : 0)), shape: [...t.shape] };
}

/**
 * The seed's Heaviside backward: no input gradient (zeros), and θ's pseudo-gradient
 * Σ_rows −(1/ε)·kernel(x − θ, ε)·gradOutput.
 */
export function heavisideBackward(
  x: TensorLike,
  threshold: TensorLike,
  gradOutput: TensorLike,
  kernel: KernelName,
  bandwith: number,
): { x: Tensor; threshold: Tensor } {
  const eps = Math.fround(bandwith);
  return backward(x, threshold, gradOutput, kernel, bandwith, null, () => -1 / eps);
}
