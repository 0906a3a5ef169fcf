/** A dense row-major float32 array with its shape. */
export interface Tensor {
  /** The values, row-major. */
  data: Float32Array;
  /** The dimensions; their product is `data.length`. */
  shape: readonly number[];
}

/** What a tensor argument accepts: a `Tensor`, `{ data, shape }` with any numeric data, or nested arrays. */
export type TensorLike =
  | Tensor
  | { data: ArrayLike<number>; shape: readonly number[] }
  | number[]
  | NestedArray;

/** Nested JavaScript arrays of numbers, e.g. `[[1, 2], [3, 4]]`. */
export interface NestedArray extends Array<number | NestedArray> {}

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Formats a shape as `[2, 3]` for error messages. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/**
 * Converts a tensor-like value to a `Tensor`, checking that the shape is valid and the
 * data has exactly as many elements as the shape. Float32Array data is used as is (no copy).
 *
 * @param value The value to convert.
 * @param name The argument's name, used in error messages.
 * @returns The tensor.
 */
export function toTensor(value: TensorLike, name: string): Tensor {
  if (Array.isArray(value)) return fromNested(value, name);
  if (ArrayBuffer.isView(value)) {
    const n = (value as unknown as ArrayLike<number>).length;
    throw new TypeError(
      `${name} is a bare ${value.constructor.name} of ${n} values, expected a shape with it: ` +
        `{ data: ${name}, shape: [rows, dim] } (rows × dim = ${n}) or nested arrays`,
    );
  }
  if (value === null || typeof value !== "object" || !("data" in value) || !("shape" in value)) {
    throw new TypeError(
      `${name} must be a Tensor, { data, shape } or nested arrays, got ${typeof value}`,
    );
  }
  const shape = [...value.shape];
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new RangeError(
        `${name} has an invalid shape ${
          formatShape(shape)
        }: dimensions must be non-negative integers`,
      );
    }
  }
  const data = value.data instanceof Float32Array
    ? value.data
    : Float32Array.from(value.data as ArrayLike<number>);
  if (data.length !== sizeOf(shape)) {
    throw new RangeError(
      `${name} has ${data.length} values but its shape ${formatShape(shape)} needs ${
        sizeOf(shape)
      }`,
    );
  }
  return { data, shape };
}

function fromNested(value: NestedArray | number[], name: string): Tensor {
  const shape: number[] = [];
  let level: unknown = value;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  const data = new Float32Array(sizeOf(shape));
  let offset = 0;
  const walk = (node: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (typeof node !== "number") {
        throw new TypeError(`${name} must contain only numbers, got ${typeof node}`);
      }
      data[offset++] = node;
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw new RangeError(
        `${name} is a ragged array: expected length ${shape[depth]} at depth ${depth}`,
      );
    }
    for (const child of node) walk(child, depth + 1);
  };
  walk(value, 0);
  return { data, shape };
}

/** Throws a RangeError naming `name` if any value is NaN or infinite. */
export function assertFinite(data: Float32Array, name: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new RangeError(`${name} must be finite, got ${data[i]} at index ${i}`);
    }
  }
}
