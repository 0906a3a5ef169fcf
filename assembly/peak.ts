/**
 * The measured SIMD peak: `iters` rounds of 12 independent register-resident f32x4 multiply-adds
 * (24·4·iters flops = 96·iters), the ceiling GEMM is compared against. Both splats come from
 * arguments: a constant splat would be folded by Binaryen into a v128.const inside the loop,
 * which V8 rebuilds every iteration (the trap of the issue, about 4× slower).
 */

import { madd } from "./simd";

/** Runs the FMA loop; returns a lane sum so that nothing is optimized away. */
export function peakFma(iters: i32, seed: f32, mul: f32): f32 {
  const a = f32x4.splat(seed), b = f32x4.splat(mul);
  let c0 = a, c1 = f32x4.add(a, a), c2 = f32x4.mul(a, a), c3 = f32x4.sub(a, b);
  let c4 = f32x4.add(c1, b), c5 = f32x4.add(c2, b), c6 = f32x4.add(c3, c1), c7 = f32x4.add(c0, c2);
  let c8 = f32x4.add(c4, c5),
    c9 = f32x4.add(c6, c7),
    c10 = f32x4.sub(c8, a),
    c11 = f32x4.sub(c9, a);
  for (let i = 0; i < iters; i++) {
    c0 = madd(c0, b, a);
    c1 = madd(c1, b, a);
    c2 = madd(c2, b, a);
    c3 = madd(c3, b, a);
    c4 = madd(c4, b, a);
    c5 = madd(c5, b, a);
    c6 = madd(c6, b, a);
    c7 = madd(c7, b, a);
    c8 = madd(c8, b, a);
    c9 = madd(c9, b, a);
    c10 = madd(c10, b, a);
    c11 = madd(c11, b, a);
  }
  const s = f32x4.add(
    f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)),
    f32x4.add(
      f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7)),
      f32x4.add(f32x4.add(c8, c9), f32x4.add(c10, c11)),
    ),
  );
  return f32x4.extract_lane(s, 0);
}
