/**
 * JumpReLU forward and backward and the Heaviside L0 penalty, with the eight pseudo-gradient
 * kernels of `src/kernels.ts`. The kernel (its `kernelIndex`), the bandwith ε and the scale
 * s = pseudoGradientScale(kernel, fround(ε), mode) are uniforms: the switch on the kernel is
 * uniform across a dispatch, and one pipeline serves all eight (a software adapter JIT-compiles
 * each pipeline in seconds).
 */

import { KERNEL_NAMES, type KernelName } from "../../../kernels.ts";
import { bind, header, type KernelSource } from "./common.ts";
import { ACCURATE_MATH } from "./math.ts";
import { COLUMN_ENTRY, columnSumFn, ROW_LANES } from "./columns.ts";
import type { MapSpec } from "./elementwise.ts";

/**
 * WGSL `kernel_value(x, eps) -> f32`: the kernel `P.kernel` (`kernelIndex` order) with the
 * formulas of `kernelValue`, one `kernel_<name>` function each.
 */
export function kernelFn(): string {
  const body: Record<KernelName, string> = {
    rectangle: "return select(0.0, 1.0 / eps, x >= -h && x <= h);",
    gaussian: "let u = x / h;\n  return exp_acc(-0.5 * u * u) / (eps * 2.5066282746310002);",
    triangular: "let a = abs(x);\n  return select(0.0, (1.0 - a / h) / h, a <= h);",
    cosine:
      "return select(0.0, (1.0 + sin_cos_acc(x * (3.141592653589793 / eps)).y) / 2.0, abs(x) <= eps);",
    epanechnikov:
      "let u = x / h;\n  return select(0.0, (0.75 * (1.0 - u * u)) / h, abs(u) <= 1.0);",
    quartic:
      "let u = x / h;\n  let w = 1.0 - u * u;\n  return select(0.0, ((15.0 / 16.0) * w * w) / h, abs(u) <= 1.0);",
    silverman:
      // sin(u + π/4) = (sin u + cos u)/√2, without rounding u + π/4
      "let u = abs(x) / h / 1.4142135623730951;\n  let sc = sin_cos_acc(u);\n" +
      "  return (exp_acc(-u) * ((sc.x + sc.y) * 0.7071067811865476)) / h;",
    cauchy: "let u = x / h;\n  return 1.0 / (1.0 + u * u) / (3.141592653589793 * h);",
  };
  const fns = KERNEL_NAMES.map((name) =>
    `fn kernel_${name}(x: f32, eps: f32) -> f32 {\n  let h = eps / 2.0;\n  ${body[name]}\n}\n`
  );
  const cases = KERNEL_NAMES.map((name, i) =>
    `    ${
      i === KERNEL_NAMES.length - 1 ? "default" : `case ${i}u`
    }: { return kernel_${name}(x, eps); }`
  );
  return `${ACCURATE_MATH}\n${fns.join("")}
fn kernel_value(x: f32, eps: f32) -> f32 {
  switch (P.kernel) {
${cases.join("\n")}
  }
}
`;
}

/** codes = r if r ≥ θ else 0, r = max(pre, 0), θ = exp(t[c]). */
export const JUMP_RELU: MapSpec = {
  family: "jump_relu",
  outputs: ["codes"],
  inputs: ["pre"],
  columns: ["log_threshold"],
  functions: ACCURATE_MATH,
  body: `  let r = max(pre, vec4<f32>(0.0));
  let theta = vec4<f32>(exp_acc(log_threshold.x), exp_acc(log_threshold.y), exp_acc(log_threshold.z),
    exp_acc(log_threshold.w));
  codes = select(r, vec4<f32>(0.0), r < theta);`,
};

const PG_FIELDS = [
  ["rows", "u32"],
  ["cols", "u32"],
  ["kernel", "u32"],
  ["eps", "f32"],
  ["s", "f32"],
  ["scale", "f32"],
] as const;

/**
 * dPre = dCodes where r ≥ θ and pre > 0, else 0 (written);
 * dLogThreshold[c] += θ·Σ_r −s·θ·kernel(r − θ, ε)·dCodes (accumulated, column layout).
 */
export function jumpReluBackwardKernel(): KernelSource {
  const fields = PG_FIELDS;
  const bindings = [
    bind("dpre", { write: true, scalar: true }),
    bind("dt", { write: true, scalar: true }),
    bind("dcodes", { scalar: true }),
    bind("pre", { scalar: true }),
    bind("log_threshold", { scalar: true }),
  ];
  const code = () =>
    `${header({ fields, bindings })}
${kernelFn()}
${columnSumFn()}
${COLUMN_ENTRY}
  var acc = 0.0;
  var theta = 0.0;
  if (live) {
    theta = exp_acc(buf_log_threshold[c]);
    for (var r = ly; r < P.rows; r = r + ${ROW_LANES}u) {
      let i = r * P.cols + c;
      let p = buf_pre[i];
      let g = buf_dcodes[i];
      let v = max(p, 0.0);
      buf_dpre[i] = select(0.0, g, p > 0.0 && v >= theta);
      acc = acc + (-P.s * theta * kernel_value(v - theta, P.eps)) * g;
    }
  }
  let total = col_sum(acc, lx, ly);
  if (live && ly == 0u) { buf_dt[c] = buf_dt[c] + total * theta; }
}
`;
  return { key: "jump_relu_backward", fields, bindings, code };
}

/**
 * Heaviside L0: counts[c] = #{r : max(pre, 0) > θ} (written, summed by the caller's reduction)
 * and dLogThreshold[c] += θ·Σ_r −s·kernel(r − θ, ε)·scale (accumulated).
 */
export function heavisideL0Kernel(): KernelSource {
  const fields = PG_FIELDS;
  const bindings = [
    bind("counts", { write: true, scalar: true }),
    bind("dt", { write: true, scalar: true }),
    bind("pre", { scalar: true }),
    bind("log_threshold", { scalar: true }),
  ];
  const code = () =>
    `${header({ fields, bindings })}
${kernelFn()}
${columnSumFn("col")}
${columnSumFn("cnt")}
${COLUMN_ENTRY}
  var acc = 0.0;
  var count = 0.0;
  var theta = 0.0;
  if (live) {
    theta = exp_acc(buf_log_threshold[c]);
    for (var r = ly; r < P.rows; r = r + ${ROW_LANES}u) {
      let v = max(buf_pre[r * P.cols + c], 0.0);
      count = count + select(0.0, 1.0, v > theta);
      acc = acc + (-P.s * kernel_value(v - theta, P.eps)) * P.scale;
    }
  }
  let total = col_sum(acc, lx, ly);
  let n = cnt_sum(count, lx, ly);
  if (live && ly == 0u) {
    buf_dt[c] = buf_dt[c] + total * theta;
    buf_counts[c] = n;
  }
}
`;
  return { key: "heaviside_l0", fields, bindings, code };
}
