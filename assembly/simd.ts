/**
 * SIMD helpers shared by the kernels. The relaxed build (`--enable relaxed-simd`) turns `madd`
 * into one fused `f32x4.relaxed_madd`; the plain build into `f32x4.mul` + `f32x4.add`.
 */

/** a·b + c on four lanes (fused in the relaxed build). */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

/** Start of this thread's part of [0, n): parts are multiples of `align` elements. */
// @ts-ignore: decorator
@inline export function partStart(n: i32, tid: i32, nt: i32, align: i32): i32 {
  const per = ((n + nt * align - 1) / (nt * align)) * align;
  return min(tid * per, n);
}

/** End of this thread's part of [0, n), see `partStart`. */
// @ts-ignore: decorator
@inline export function partEnd(n: i32, tid: i32, nt: i32, align: i32): i32 {
  const per = ((n + nt * align - 1) / (nt * align)) * align;
  return min((tid + 1) * per, n);
}

/** Sum of the four lanes of an f32x4, in f64. */
// @ts-ignore: decorator
@inline export function hsum64(v: v128): f64 {
  return (
    <f64> f32x4.extract_lane(v, 0) + <f64> f32x4.extract_lane(v, 1) +
    (<f64> f32x4.extract_lane(v, 2) + <f64> f32x4.extract_lane(v, 3))
  );
}
