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

/** An axis, or a list of distinct axes (the seed's `dims` tuples); negative counts from the end. */
export type Dims = number | readonly number[];

/** The sorted, distinct, non-negative axes of `dims`, checked against `rank`. */
function axesOf(dims: Dims, rank: number, name: string): number[] {
  const list = typeof dims === "number" ? [dims] : Array.isArray(dims) ? [...dims] : null;
  const bad = () =>
    new RangeError(
      `${name}: dims must be an axis in [${-rank}, ${rank - 1}], got ${
        JSON.stringify(dims)
      } (or a non-empty list of distinct axes)`,
    );
  if (!list || list.length === 0) throw bad();
  const axes = list.map((d) => {
    if (!Number.isInteger(d) || d < -rank || d >= rank) throw bad();
    return d < 0 ? d + rank : d;
  });
  if (new Set(axes).size !== axes.length) throw bad();
  return axes.sort((a, b) => a - b);
}

/**
 * Reduces `f(value)` over the axes `dims` of `t` with `finish(sum, count)`, returning a float32
 * tensor of the other axes (in order); with `dims` undefined, over everything.
 */
export function reduce(
  t: Tensor,
  dims: Dims | undefined,
  f: (v: number) => number,
  finish: (acc: number, n: number) => number,
  name: string,
): number | Tensor {
  if (dims === undefined) {
    let acc = 0;
    for (let i = 0; i < t.data.length; i++) acc += f(t.data[i]);
    return finish(acc, t.data.length);
  }
  const rank = t.shape.length;
  const axes = axesOf(dims, rank, name);
  const kept = t.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const outShape = kept.map((i) => t.shape[i]);
  const outSize = outShape.reduce((a, b) => a * b, 1);
  const n = axes.reduce((a, i) => a * t.shape[i], 1);
  // output index of each input element: its kept coordinates, row-major
  const acc = new Float64Array(outSize);
  const coord = new Array(rank).fill(0);
  for (let i = 0; i < t.data.length; i++) {
    let o = 0;
    for (const k of kept) o = o * t.shape[k] + coord[k];
    acc[o] += f(t.data[i]);
    for (let d = rank - 1; d >= 0; d--) {
      if (++coord[d] < t.shape[d]) break;
      coord[d] = 0;
    }
  }
  return { data: Float32Array.from(acc, (a) => finish(a, n)), shape: outShape };
}
