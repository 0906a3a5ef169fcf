/**
 * Optimizer steps as elementwise kernels (see `elementwise.ts`), PyTorch semantics. Step-dependent
 * constants (bias corrections) are computed once on the host in float64 and passed as uniforms.
 */

import type { MapSpec } from "./elementwise.ts";

/**
 * One Adam(W) step. Uniforms: lr, wd (weight decay), decoupled (1 for AdamW), beta1, beta2, eps,
 * step_size = lr / (1 − beta1^step), bc2_sqrt = sqrt(1 − beta2^step).
 */
export const ADAM: MapSpec = {
  family: "adam",
  outputs: ["param", "m", "v"],
  inputs: ["grad"],
  fields: ["lr", "wd", "decoupled", "beta1", "beta2", "eps", "step_size", "bc2_sqrt"],
  body: `
  var g = grad;
  if (P.wd != 0.0) {
    if (P.decoupled != 0.0) { param = param * (1.0 - P.lr * P.wd); } else { g = g + P.wd * param; }
  }
  m = P.beta1 * m + (1.0 - P.beta1) * g;
  v = P.beta2 * v + (1.0 - P.beta2) * g * g;
  param = param - P.step_size * m / (sqrt(v) / P.bc2_sqrt + vec4<f32>(P.eps));`,
};

/**
 * One SGD step. Uniforms: lr, momentum, dampening, wd, nesterov (0/1), first (1 on the first
 * step: the buffer takes the gradient).
 */
export const SGD: MapSpec = {
  family: "sgd",
  outputs: ["param", "buf"],
  inputs: ["grad"],
  fields: ["lr", "momentum", "dampening", "wd", "nesterov", "first"],
  body: `
  var g = grad + P.wd * param;
  if (P.momentum != 0.0) {
    if (P.first != 0.0) { buf = g; } else { buf = P.momentum * buf + (1.0 - P.dampening) * g; }
    if (P.nesterov != 0.0) { g = g + P.momentum * buf; } else { g = buf; }
  }
  param = param - P.lr * g;`,
};

/** SGD without momentum: no momentum buffer is bound. */
export const SGD_PLAIN: MapSpec = {
  family: "sgd_plain",
  outputs: ["param"],
  inputs: ["grad"],
  fields: ["lr", "momentum", "dampening", "wd", "nesterov", "first"],
  body: "  param = param - P.lr * (grad + P.wd * param);",
};
