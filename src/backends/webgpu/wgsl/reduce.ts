/**
 * Deterministic scalar reductions (loss terms, gradient norms) without float atomics, in two
 * passes:
 * 1. `partialKernel`: G workgroups (G a fixed function of n, at most `MAX_PARTIALS`) each sum a
 *    grid-strided share of the vec4s in a fixed tree order into partials[g]; the body may also
 *    write elementwise side outputs (e.g. the gradient of a squared error).
 * 2. `finishKernel`: one workgroup sums the G partials, again in a fixed order, and adds
 *    scale·total into out[0] (scale a uniform, or exp(logScale[0]) read from a buffer).
 * The same inputs thus always give the same bits.
 */

import { bind, type BindingSpec, header, type KernelSource, LANES, reduceSumFn } from "./common.ts";
import { ACCURATE_MATH } from "./math.ts";

/** Invocations per workgroup of both passes. */
export const REDUCE_WORKGROUP = 256;
/** Most partial sums: the finishing workgroup adds one per invocation. */
export const MAX_PARTIALS = 256;

/** Number of partial sums for n elements: one workgroup per 4096 elements, at most 256. */
export function partialCount(n: number): number {
  return Math.max(1, Math.min(MAX_PARTIALS, Math.ceil(n / (REDUCE_WORKGROUP * 4 * 4))));
}

/** Operands of a partial-sum pass: `body` sets `v: vec4<f32>` (masked lanes are dropped). */
export interface PartialSpec {
  family: string;
  /** vec4 read-write side outputs, old values in `var`s of the same name. */
  outputs?: readonly string[];
  /** vec4 read-only operands. */
  inputs: readonly string[];
  fields?: readonly string[];
  body: string;
}

/** First pass: partials[g] = Σ over its share of `v`. */
export function partialKernel(spec: PartialSpec): KernelSource {
  const outputs = spec.outputs ?? [];
  const bindings: BindingSpec[] = [
    bind("partials", { write: true, scalar: true }),
    ...outputs.map((name) => bind(name, { write: true })),
    ...spec.inputs.map((name) => bind(name)),
  ];
  const fields = [
    ["n", "u32"],
    ["nvec", "u32"],
    ["groups", "u32"],
    ...(spec.fields ?? []).map((name) => [name, "f32"] as const),
  ] as const;
  const code = () =>
    `${header({ fields, bindings })}
${reduceSumFn(REDUCE_WORKGROUP)}
@compute @workgroup_size(${REDUCE_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + P.base_x;
  var acc = vec4<f32>(0.0);
  for (var q = g * ${REDUCE_WORKGROUP}u + lid; q < P.nvec; q = q + P.groups * ${REDUCE_WORKGROUP}u) {
    let idx = vec4<u32>(q * 4u) + ${LANES};
    let mask = idx < vec4<u32>(P.n);
${outputs.map((o) => `    let old_${o} = buf_${o}[q];\n    var ${o} = old_${o};`).join("\n")}
${spec.inputs.map((name) => `    let ${name} = buf_${name}[q];`).join("\n")}
    var v = vec4<f32>(0.0);
${spec.body}
    acc = acc + select(vec4<f32>(0.0), v, mask);
${outputs.map((o) => `    buf_${o}[q] = select(old_${o}, ${o}, mask);`).join("\n")}
  }
  let total = reduce_sum((acc.x + acc.y) + (acc.z + acc.w), lid);
  if (lid == 0u) { buf_partials[g] = total; }
}
`;
  return { key: `partial:${spec.family}`, fields, bindings, code };
}

/**
 * Second pass: out[0] += scale·Σ partials[0..groups). With `expScale`, scale is
 * exp(log_scale[0]) read from a buffer instead of the `scale` uniform.
 */
export function finishKernel(expScale: boolean): KernelSource {
  const bindings = [
    bind("out", { write: true, scalar: true }),
    bind("partials", { scalar: true }),
    ...(expScale ? [bind("log_scale", { scalar: true })] : []),
  ];
  const fields = [["groups", "u32"], ["scale", "f32"]] as const;
  const code = () =>
    `${header({ fields, bindings })}
${reduceSumFn(REDUCE_WORKGROUP)}
${expScale ? ACCURATE_MATH : ""}
@compute @workgroup_size(${REDUCE_WORKGROUP})
fn main(@builtin(local_invocation_index) lid: u32) {
  var v = 0.0;
  if (lid < P.groups) { v = buf_partials[lid]; }
  let total = reduce_sum(v, lid);
  if (lid == 0u) {
    let s = ${expScale ? "exp_acc(buf_log_scale[0])" : "P.scale"};
    buf_out[0] = buf_out[0] + s * total;
  }
}
`;
  return { key: `finish:${expScale ? "exp" : "uniform"}`, fields, bindings, code };
}

/** loss += scale·Σ (a − b)², grad += 2·scale·(a − b). */
export const SQUARED_ERROR: PartialSpec = {
  family: "squared_error",
  outputs: ["grad"],
  inputs: ["a", "b"],
  fields: ["scale"],
  body: "    let d = a - b;\n    v = d * d;\n    grad = grad + (2.0 * P.scale) * d;",
};
/** loss += scale·Σ |a|, grad += scale·sign(a). */
export const ABS_SUM: PartialSpec = {
  family: "abs_sum",
  outputs: ["grad"],
  inputs: ["a"],
  fields: ["scale"],
  body: "    v = abs(a);\n    grad = grad + P.scale * sign(a);",
};
/** out += Σ x². */
export const SUM_SQUARES: PartialSpec = {
  family: "sum_squares",
  inputs: ["x"],
  body: "    v = x * x;",
};
/** out += Σ x. */
export const SUM: PartialSpec = { family: "sum", inputs: ["x"], body: "    v = x;" };
/** out += Σ a·b (the scale exp(logScale) is applied by the finishing pass). */
export const DOT: PartialSpec = { family: "dot", inputs: ["a", "b"], body: "    v = a * b;" };
/** out += #{i : x[i] ≠ 0}. */
export const NONZERO: PartialSpec = {
  family: "nonzero",
  inputs: ["x"],
  body: "    v = select(vec4<f32>(0.0), vec4<f32>(1.0), x != vec4<f32>(0.0));",
};
