/**
 * What a batch of a data loader may be, and how its input tensor is found (the seed's
 * `extract_input`): shared by the training loop and the recipes.
 *
 * @module
 */
import { type Tensor, type TensorLike, toTensor } from "../tensor.ts";

/** One element of a data loader: a tensor, a tuple whose first item is the tensor, or `{ data }`. */
export type Batch = TensorLike | readonly [TensorLike, ...unknown[]] | { data: TensorLike };

function isTensorObject(v: unknown): v is { data: ArrayLike<number>; shape: readonly number[] } {
  return !!v && typeof v === "object" && "data" in v && "shape" in v;
}

/** The input tensor of a batch (the seed's `extract_input`). */
export function extractInput(batch: Batch): Tensor {
  if (isTensorObject(batch)) return toTensor(batch as TensorLike, "batch");
  if (Array.isArray(batch)) {
    if (
      batch.length > 0 &&
      (isTensorObject(batch[0]) || (Array.isArray(batch[0]) && !isNumberArray(batch)))
    ) {
      return toTensor(batch[0] as TensorLike, "batch[0]");
    }
    return toTensor(batch as TensorLike, "batch");
  }
  if (batch && typeof batch === "object" && "data" in batch) {
    return toTensor((batch as { data: TensorLike }).data, "batch.data");
  }
  throw new TypeError(`A batch must be a tensor, [tensor, ...] or { data }, got ${typeof batch}`);
}

// nested arrays of numbers are a tensor; [tensor-like, labels] is a tuple
function isNumberArray(a: readonly unknown[]): boolean {
  let v: unknown = a;
  while (Array.isArray(v)) v = v[0];
  if (typeof v !== "number") return false;
  // a tuple whose first element is a nested array has a non-array second element
  return a.every((e) => Array.isArray(e) === Array.isArray(a[0]));
}
