import { formatShape, type Tensor, type TensorLike, toTensor } from "../tensor.ts";

/** Converts and checks a tensor argument of a metric. */
export function input(x: TensorLike, name: string, rank?: number): Tensor {
  const t = toTensor(x, name);
  if (rank !== undefined && t.shape.length !== rank) {
    throw new RangeError(`${name} must be a ${rank}-D tensor, got shape ${formatShape(t.shape)}`);
  }
  return t;
}

/** Checks that two tensors have the same shape. */
export function sameShape(a: Tensor, b: Tensor, na: string, nb: string): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new RangeError(
      `${na} and ${nb} must have the same shape, got ${formatShape(a.shape)} and ${
        formatShape(b.shape)
      }`,
    );
  }
}

/**
 * Reduces `f(value)` over axis `dim` of `t` (negative counts from the end) with `combine`,
 * returning a float32 tensor of the other axes; with `dim` undefined, over everything.
 */
export function reduce(
  t: Tensor,
  dim: number | undefined,
  f: (v: number) => number,
  finish: (acc: number, n: number) => number,
  name: string,
): number | Tensor {
  if (dim === undefined) {
    let acc = 0;
    for (let i = 0; i < t.data.length; i++) acc += f(t.data[i]);
    return finish(acc, t.data.length);
  }
  const rank = t.shape.length;
  if (!Number.isInteger(dim) || dim < -rank || dim >= rank) {
    throw new RangeError(`${name}: dims must be an axis in [${-rank}, ${rank - 1}], got ${dim}`);
  }
  const axis = dim < 0 ? dim + rank : dim;
  const outer = t.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const n = t.shape[axis];
  const inner = t.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = 0;
      for (let k = 0; k < n; k++) acc += f(t.data[(o * n + k) * inner + i]);
      out[o * inner + i] = finish(acc, n);
    }
  }
  return { data: out, shape: [...t.shape.slice(0, axis), ...t.shape.slice(axis + 1)] };
}
