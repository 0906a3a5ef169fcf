/**
 * Elementwise kernels over vec4<f32>: one invocation handles four consecutive elements; the last,
 * partial vec4 is masked (lanes at or past `n` keep their old value), so any `n` works on buffers
 * padded to a multiple of four floats. Per-column (`i % cols`) and per-row (`i / cols`) operands
 * are gathered from scalar arrays, and `[0]` scalars read from a buffer.
 *
 * A `MapSpec` names its operands; its `body` is WGSL statements that assign the outputs (local
 * `var`s named as the outputs, holding their old values) from the inputs (`let`s of the same
 * names) and `P.<field>` uniforms. When an output buffer is also passed as an input (in-place ops
 * like `relu(x, x)`), the `alias` variant reads the input from the output's old value instead of
 * binding the buffer twice, which WebGPU forbids for a writable binding.
 */

import { bind, type BindingSpec, header, type KernelSource, LANES } from "./common.ts";
import { ACCURATE_MATH } from "./math.ts";

/** Invocations per workgroup of elementwise kernels: each handles one vec4. */
export const MAP_WORKGROUP = 256;

/** Operands and body of an elementwise kernel. */
export interface MapSpec {
  /** Unique family name (the cache key). */
  family: string;
  /** vec4 read-write operands, assigned by the body. */
  outputs: readonly string[];
  /** vec4 read-only operands. */
  inputs?: readonly string[];
  /** Scalar arrays gathered per column i % cols, as vec4. */
  columns?: readonly string[];
  /** Scalar arrays gathered per row i / cols, as vec4. */
  rows?: readonly string[];
  /** Scalar arrays read at index 0, as f32. */
  scalars?: readonly string[];
  /** f32 uniforms, read as `P.<name>`. */
  fields?: readonly string[];
  /** WGSL statements. */
  body: string;
  /** WGSL helper functions used by the body. */
  functions?: string;
}

/**
 * Builds the kernel of `spec`. `aliased` lists inputs that are the same buffer as an output, as
 * pairs [input, output]: they are not bound and read the output's old value.
 */
export function mapKernel(
  spec: MapSpec,
  aliased: readonly (readonly [string, string])[] = [],
): KernelSource {
  const alias = new Map(aliased);
  const inputs = (spec.inputs ?? []).filter((name) => !alias.has(name));
  const gathered = [...(spec.columns ?? []), ...(spec.rows ?? []), ...(spec.scalars ?? [])];
  const bindings: BindingSpec[] = [
    ...spec.outputs.map((name) => bind(name, { write: true })),
    ...inputs.map((name) => bind(name)),
    ...gathered.map((name) => bind(name, { scalar: true })),
  ];
  const fields = [
    ["n", "u32"],
    ["nvec", "u32"],
    ["cols", "u32"],
    ...(spec.fields ?? []).map((name) => [name, "f32"] as const),
  ] as const;
  const key = `map:${spec.family}` +
    (aliased.length ? `:alias(${aliased.map(([i, o]) => `${i}=${o}`).join(",")})` : "");
  const code = () => {
    const lines: string[] = [];
    for (const o of spec.outputs) {
      lines.push(`  let old_${o} = buf_${o}[q];`, `  var ${o} = old_${o};`);
    }
    for (const name of spec.inputs ?? []) {
      lines.push(
        `  let ${name} = ${alias.has(name) ? `old_${alias.get(name)}` : `buf_${name}[q]`};`,
      );
    }
    if (spec.columns?.length) lines.push(`  let ci = idx % vec4<u32>(max(P.cols, 1u));`);
    if (spec.rows?.length) lines.push(`  let ri = idx / vec4<u32>(max(P.cols, 1u));`);
    const gather = (name: string, i: string) =>
      `  let ${name} = vec4<f32>(buf_${name}[${i}.x], buf_${name}[${i}.y], buf_${name}[${i}.z], buf_${name}[${i}.w]);`;
    for (const name of spec.columns ?? []) lines.push(gather(name, "ci"));
    for (const name of spec.rows ?? []) lines.push(gather(name, "ri"));
    for (const name of spec.scalars ?? []) lines.push(`  let ${name} = buf_${name}[0];`);
    return `${header({ fields, bindings })}
${spec.functions ?? ""}
@compute @workgroup_size(${MAP_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let q = (wid.x + P.base_x) * ${MAP_WORKGROUP}u + lid;
  if (q >= P.nvec) { return; }
  let idx = vec4<u32>(q * 4u) + ${LANES};
  let mask = idx < vec4<u32>(P.n);
${lines.join("\n")}
${spec.body}
${spec.outputs.map((o) => `  buf_${o}[q] = select(old_${o}, ${o}, mask);`).join("\n")}
}
`;
  };
  return { key, fields, bindings, code };
}

/** dst = src. */
export const COPY: MapSpec = {
  family: "copy",
  outputs: ["dst"],
  inputs: ["src"],
  body: "  dst = src;",
};
/** dst = value. */
export const FILL: MapSpec = {
  family: "fill",
  outputs: ["dst"],
  fields: ["value"],
  body: "  dst = vec4<f32>(P.value);",
};
/** out = alpha·x. */
export const SCALE: MapSpec = {
  family: "scale",
  outputs: ["out"],
  inputs: ["x"],
  fields: ["alpha"],
  body: "  out = P.alpha * x;",
};
/** out = max(x, 0). */
export const RELU: MapSpec = {
  family: "relu",
  outputs: ["out"],
  inputs: ["x"],
  body: "  out = select(vec4<f32>(0.0), x, x > vec4<f32>(0.0));",
};
/** dx = dy where x > 0, else 0. */
export const RELU_BACKWARD: MapSpec = {
  family: "relu_backward",
  outputs: ["dx"],
  inputs: ["dy", "x"],
  body: "  dx = select(vec4<f32>(0.0), dy, x > vec4<f32>(0.0));",
};
/** out[r, c] += bias[c]. */
export const ADD_BIAS: MapSpec = {
  family: "add_bias",
  outputs: ["out"],
  columns: ["bias"],
  body: "  out = out + bias;",
};
/** out = x·exp(logScale[0]). */
export const SCALE_BY_EXP: MapSpec = {
  family: "scale_by_exp",
  outputs: ["out"],
  inputs: ["x"],
  scalars: ["log_scale"],
  functions: ACCURATE_MATH,
  body: "  out = x * exp_acc(log_scale);",
};
/** BatchNorm1d in eval mode, per column statistics. */
export const BATCH_NORM_EVAL: MapSpec = {
  family: "batch_norm_eval",
  outputs: ["out"],
  inputs: ["x"],
  columns: ["rmean", "rvar", "weight", "bias"],
  fields: ["eps"],
  body: "  out = (x - rmean) * (vec4<f32>(1.0) / sqrt(rvar + vec4<f32>(P.eps))) * weight + bias;",
};
/** w = w / norm[row] (dictionary projection, second pass). */
export const DIVIDE_ROWS: MapSpec = {
  family: "divide_rows",
  outputs: ["w"],
  rows: ["norm"],
  body: "  w = w / norm;",
};
/** w = w / norm[0] (max-norm dictionary projection, second pass). */
export const DIVIDE_SCALAR: MapSpec = {
  family: "divide_scalar",
  outputs: ["w"],
  scalars: ["norm"],
  body: "  w = w / norm;",
};
