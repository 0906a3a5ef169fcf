/**
 * Accurate float32 transcendental functions in WGSL (see `ACCURATE_MATH`).
 */

/**
 * WGSL `exp_acc`, `sin_cos_acc`: exp, sin and cos to a few ulps on every GPU. WGSL lets `exp` be
 * off by 3 + 2|x| ulps (llvmpipe's is: 4e-6 relative at x = −79) and `sin`/`cos` by 2^-11 in
 * absolute terms (hardware fast paths use that freedom). The threshold gradient multiplies the
 * kernel by s·θ ≈ 1e3/ε and sums terms that cancel, so such errors showed as 1e-4 relative
 * differences from the reference. Cody–Waite range reduction and the Cephes single-precision
 * polynomials instead. Results below 2^-126 may flush to zero, as GPUs flush subnormals.
 */
export const ACCURATE_MATH = `
fn exp_acc(x0: f32) -> f32 {
  let x = clamp(x0, -103.0, 88.7);
  let k = round(x * 1.4426950408889634);
  let r = fma(k, 2.12194440e-4, fma(-k, 0.693359375, x));
  let z = r * r;
  let p = fma(fma(fma(fma(fma(fma(1.9875691500e-4, r, 1.3981999507e-3), r, 8.3334519073e-3), r,
    4.1665795894e-2), r, 1.6666665459e-1), r, 5.0000001201e-1), z, r + 1.0);
  return select(ldexp(p, i32(k)), 0.0, x0 < -103.0);
}
fn sin_cos_acc(x: f32) -> vec2<f32> {
  let q = round(x * 0.6366197723675814);
  let r = fma(-q, 7.54978995489188216e-8, fma(-q, 4.837512969970703125e-4, fma(-q, 1.5703125, x)));
  let z = r * r;
  let s = fma(fma(fma(-1.9515295891e-4, z, 8.3321608736e-3), z, -1.6666654611e-1), z * r, r);
  let c = fma(fma(fma(2.443315711809948e-5, z, -1.388731625493765e-3), z, 4.166664568298827e-2), z * z,
    fma(-0.5, z, 1.0));
  let quadrant = i32(q) & 3;
  if (quadrant == 0) { return vec2<f32>(s, c); }
  if (quadrant == 1) { return vec2<f32>(c, -s); }
  if (quadrant == 2) { return vec2<f32>(-s, -c); }
  return vec2<f32>(-c, s);
}
`;
