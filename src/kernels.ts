/**
 * The eight pseudo-gradient kernels of the JumpReLU threshold, with the exact formulas of the
 * seed library (`overcomplete/sae/kernels.py`). Each takes the difference x − θ and the bandwith ε.
 * Most already divide by ε (or ε/2); `cosine` does not.
 */

/** Names of the pseudo-gradient kernels. */
export const KERNEL_NAMES = [
  "rectangle",
  "gaussian",
  "triangular",
  "cosine",
  "epanechnikov",
  "quartic",
  "silverman",
  "cauchy",
] as const;

/** A pseudo-gradient kernel name. */
export type KernelName = typeof KERNEL_NAMES[number];

/** How the threshold pseudo-gradient is scaled: the seed library's, or the paper's unit-mass one. */
export type PseudoGradientMode = "overcomplete" | "paper";

/** Index of each kernel, as passed to WASM and WGSL kernels. */
export function kernelIndex(name: KernelName): number {
  return KERNEL_NAMES.indexOf(name);
}

/** Whether `name` is a known kernel. */
export function isKernelName(name: unknown): name is KernelName {
  return typeof name === "string" && (KERNEL_NAMES as readonly string[]).includes(name);
}

/**
 * Evaluates kernel `name` at x (= z − θ) with bandwith `eps`, in float64.
 *
 * @example Rectangle kernel
 * ```ts
 * import { kernelValue } from "./kernels.ts";
 * kernelValue("rectangle", 0.2, 1); // 1
 * ```
 */
export function kernelValue(name: KernelName, x: number, eps: number): number {
  const h = eps / 2;
  switch (name) {
    case "rectangle":
      return x >= -h && x <= h ? 1 / eps : 0;
    case "gaussian": {
      const u = x / h;
      return Math.exp(-0.5 * u * u) / (eps * Math.sqrt(2 * Math.PI));
    }
    case "triangular": {
      const a = Math.abs(x);
      return a <= h ? (1 - a / h) / h : 0;
    }
    case "cosine":
      return Math.abs(x) <= eps ? (1 + Math.cos(x * (Math.PI / eps))) / 2 : 0;
    case "epanechnikov": {
      const u = x / h;
      return Math.abs(u) <= 1 ? (0.75 * (1 - u * u)) / h : 0;
    }
    case "quartic": {
      const u = x / h;
      const w = 1 - u * u;
      return Math.abs(u) <= 1 ? ((15 / 16) * w * w) / h : 0;
    }
    case "silverman": {
      const u = Math.abs(x) / h / Math.SQRT2;
      return (Math.exp(-u) * Math.sin(u + Math.PI / 4)) / h;
    }
    case "cauchy": {
      const u = x / h;
      return 1 / (1 + u * u) / (Math.PI * h);
    }
  }
}

/**
 * The integral of `kernelValue(name, ·, eps)` over the real line. The seed's kernels do not all
 * have unit mass (gaussian 1/2, silverman 2, cosine ε); the paper's pseudo-gradient divides by it.
 */
export function kernelMass(name: KernelName, eps: number): number {
  switch (name) {
    case "gaussian":
      return 0.5;
    case "silverman":
      return 2;
    case "cosine":
      return eps;
    default:
      return 1;
  }
}

/**
 * The factor s such that the threshold pseudo-gradient of JumpReLU is −s·θ·kernel(x − θ, ε)
 * (and of Heaviside −s·kernel(x − θ, ε)):
 * - `"overcomplete"`: s = 1/ε, exactly the seed library: −(θ/ε)·kernel(x − θ, ε).
 * - `"paper"`: Rajamanoharan et al. 2024, −(θ/ε)·K((x − θ)/ε) with K the same kernel shape
 *   rescaled to unit mass; since K(u) = ε·kernel(εu, ε)/mass, s = 1/mass.
 */
export function pseudoGradientScale(
  name: KernelName,
  eps: number,
  mode: PseudoGradientMode,
): number {
  return mode === "paper" ? 1 / kernelMass(name, eps) : 1 / eps;
}
