/**
 * Optimizer updates, PyTorch semantics, f32x4 over each thread's part of the parameters.
 * The caller folds step-dependent scalars (bias corrections) into the arguments.
 */

import { partEnd, partStart } from "./simd";

/**
 * One Adam(W) step: g = grad + l2·p; p *= decay; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
 * p −= stepSize·m / (sqrt(v)/bc2Sqrt + eps).
 */
export function adam(
  param: usize,
  grad: usize,
  m: usize,
  v: usize,
  n: i32,
  beta1: f32,
  beta2: f32,
  l2: f32,
  decay: f32,
  stepSize: f32,
  bc2Sqrt: f32,
  eps: f32,
  tid: i32,
  nt: i32,
): void {
  const i0 = partStart(n, tid, nt, 16), i1 = partEnd(n, tid, nt, 16);
  const b1 = f32x4.splat(beta1), c1 = f32x4.splat(1 - beta1);
  const b2 = f32x4.splat(beta2), c2 = f32x4.splat(1 - beta2);
  const l2v = f32x4.splat(l2), dec = f32x4.splat(decay), ss = f32x4.splat(stepSize);
  const bc = f32x4.splat(bc2Sqrt), ep = f32x4.splat(eps);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize> i << 2;
    let p = v128.load(param + o);
    const g = f32x4.add(v128.load(grad + o), f32x4.mul(l2v, p));
    p = f32x4.mul(p, dec);
    const mv = f32x4.add(f32x4.mul(b1, v128.load(m + o)), f32x4.mul(c1, g));
    const vv = f32x4.add(f32x4.mul(b2, v128.load(v + o)), f32x4.mul(f32x4.mul(c2, g), g));
    v128.store(m + o, mv);
    v128.store(v + o, vv);
    const den = f32x4.add(f32x4.div(f32x4.sqrt(vv), bc), ep);
    v128.store(param + o, f32x4.sub(p, f32x4.div(f32x4.mul(ss, mv), den)));
  }
  for (; i < i1; i++) {
    const o = <usize> i << 2;
    let p = load<f32>(param + o);
    const g = load<f32>(grad + o) + l2 * p;
    p *= decay;
    const mv = beta1 * load<f32>(m + o) + (1 - beta1) * g;
    const vv = beta2 * load<f32>(v + o) + (1 - beta2) * g * g;
    store<f32>(m + o, mv);
    store<f32>(v + o, vv);
    store<f32>(param + o, p - (stepSize * mv) / (Mathf.sqrt(vv) / bc2Sqrt + eps));
  }
}

/**
 * One SGD step: g = grad + wd·p; with momentum, buf = first ? g : μ·buf + (1−dampening)·g and
 * g = nesterov ? g + μ·buf : buf; p −= lr·g.
 */
export function sgd(
  param: usize,
  grad: usize,
  buf: usize,
  n: i32,
  lr: f32,
  momentum: f32,
  dampening: f32,
  weightDecay: f32,
  nesterov: bool,
  firstStep: bool,
  tid: i32,
  nt: i32,
): void {
  const i0 = partStart(n, tid, nt, 4), i1 = partEnd(n, tid, nt, 4);
  const useMomentum = momentum != 0;
  for (let i = i0; i < i1; i++) {
    const o = <usize> i << 2;
    const p = load<f32>(param + o);
    let g = load<f32>(grad + o) + weightDecay * p;
    if (useMomentum) {
      const b: f32 = firstStep ? g : momentum * load<f32>(buf + o) + (1 - dampening) * g;
      store<f32>(buf + o, b);
      g = nesterov ? g + momentum * b : b;
    }
    store<f32>(param + o, p - lr * g);
  }
}
