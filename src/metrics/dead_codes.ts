import type { Tensor, TensorLike } from "../tensor.ts";
import { input } from "./_reduce.ts";

/**
 * Which codes never fire in a batch (the seed's `dead_codes`): 1 where the column sum is 0.
 *
 * @param z [batch, concepts]
 * @returns [concepts] of 0/1.
 *
 * @example
 * ```ts
 * import { deadCodes } from "./dead_codes.ts";
 * deadCodes([[0, 1, 0], [0, 2, 3]]).data; // [1, 0, 0]
 * ```
 */
export function deadCodes(z: TensorLike): Tensor {
  const t = input(z, "z", 2);
  const [B, C] = t.shape;
  const sums = new Float64Array(C);
  for (let r = 0; r < B; r++) for (let c = 0; c < C; c++) sums[c] += t.data[r * C + c];
  return { data: Float32Array.from(sums, (s) => (s === 0 ? 1 : 0)), shape: [C] };
}
