/**
 * Shared pieces of the WGSL kernels: the description of a compiled kernel (`KernelSource`), the
 * uniform parameter struct every kernel starts with, and storage binding declarations.
 *
 * Every kernel binds its uniform parameters at binding 0 and its storage buffers from binding 1
 * on, in the order of `KernelSource.bindings`. The parameter struct always begins with
 * `base_x, base_y`: the workgroup offset of a dispatch, so that a grid larger than
 * `maxComputeWorkgroupsPerDimension` runs as several dispatches that cover it exactly.
 */

/** Type of one uniform parameter: every parameter is a 4-byte scalar. */
export type FieldType = "u32" | "f32";

/** A storage binding: its WGSL name (prefixed `buf_` in the code), element type and access. */
export interface BindingSpec {
  name: string;
  type: "f32" | "vec4<f32>" | "u32";
  write: boolean;
}

/** A kernel ready to compile: cache key (never a runtime shape), parameters, bindings, code. */
export interface KernelSource {
  /** Pipeline cache key: family and compile-time variant, never a size. */
  key: string;
  /** Uniform parameters after `base_x, base_y`, in struct order. */
  fields: readonly (readonly [string, FieldType])[];
  /** Storage bindings 1..n. */
  bindings: readonly BindingSpec[];
  /** Builds the WGSL source (called once per key). */
  code: () => string;
}

/** The parameter struct and all bindings of a kernel, as WGSL declarations. */
export function header(src: Pick<KernelSource, "fields" | "bindings">): string {
  const fields = [["base_x", "u32"], ["base_y", "u32"], ...src.fields]
    .map(([name, type]) => `  ${name}: ${type},`).join("\n");
  const bindings = src.bindings.map((b, i) =>
    `@group(0) @binding(${i + 1}) var<storage, ${
      b.write ? "read_write" : "read"
    }> buf_${b.name}: array<${b.type}>;`
  ).join("\n");
  return `struct Params {\n${fields}\n}\n@group(0) @binding(0) var<uniform> P: Params;\n${bindings}\n`;
}

/** A storage binding helper: `vec4` read-only by default. */
export function bind(name: string, opts: { write?: boolean; scalar?: boolean } = {}): BindingSpec {
  return { name, type: opts.scalar ? "f32" : "vec4<f32>", write: opts.write ?? false };
}

/**
 * WGSL of a deterministic workgroup sum over `size` invocations: every invocation calls
 * `reduce_sum(v, lid)` from uniform control flow and all receive the same total, summed in a
 * fixed tree order.
 */
export function reduceSumFn(size: number, name = "reduce_sum", op = "+"): string {
  const combine = op === "max"
    ? `red_${name}[lid] = max(red_${name}[lid], red_${name}[lid + s]);`
    : `red_${name}[lid] = red_${name}[lid] + red_${name}[lid + s];`;
  return `
var<workgroup> red_${name}: array<f32, ${size}>;
fn ${name}(v: f32, lid: u32) -> f32 {
  red_${name}[lid] = v;
  workgroupBarrier();
  for (var s = ${size / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { ${combine} }
    workgroupBarrier();
  }
  let total = red_${name}[0];
  workgroupBarrier();
  return total;
}
`;
}

/** Lane offsets of a vec4: the element indices of vec4 number q are 4q + LANES. */
export const LANES = "vec4<u32>(0u, 1u, 2u, 3u)";
