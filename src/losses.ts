import type { Backend, DeviceBuffer, PseudoGradient } from "./backends/backend.ts";
import {
  hoyerTerm,
  kappa4Term,
  targetL0Outer,
  type TermResult,
  topKAuxTerm,
} from "./_loss_math.ts";
import { BatchL0Term } from "./_batch_l0.ts";
import { Workspace } from "./layers/layer.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Everything a loss sees during `valueAndGrad`, as device buffers of the model's backend.
 * Sizes: B tokens, D input dim, C concepts. A loss adds its value into `loss[0]` and its
 * gradients into the `d*` buffers (all zeroed before the loss runs); the model then
 * back-propagates them.
 */
export interface LossContext {
  /** The model's backend, which holds every buffer. */
  backend: Backend;
  /** B, the tokens of the batch. */
  rows: number;
  /** D, the input dimension. */
  dim: number;
  /** C, the number of concepts. */
  concepts: number;
  /** (B, D) the input tokens. */
  x: DeviceBuffer;
  /** (B, D) the reconstruction x̂. */
  xHat: DeviceBuffer;
  /** (B, C) the pre-codes. */
  preCodes: DeviceBuffer;
  /** (B, C) the codes. */
  codes: DeviceBuffer;
  /** (C, D) the dictionary. */
  dictionary: DeviceBuffer;
  /** (C,) the `thresholds` parameter (log of θ). */
  logThreshold: DeviceBuffer;
  /** The model's kernel, bandwith and mode. */
  pseudoGradient: PseudoGradient;
  /** (1,) the loss, added into. */
  loss: DeviceBuffer;
  /** (B, D) gradient with respect to x̂. */
  dXHat: DeviceBuffer;
  /** (B, C) gradient with respect to the codes. */
  dCodes: DeviceBuffer;
  /** (B, C) gradient with respect to the pre-codes, only read back if `touchesPreCodes`. */
  dPreCodes: DeviceBuffer;
  /** (C, D) gradient with respect to the dictionary. */
  dDictionary: DeviceBuffer;
  /** (C,) gradient of the `thresholds` parameter. */
  dLogThreshold: DeviceBuffer;
}

/**
 * A training objective. Built-in ones run on the backend; write your own with the same ops,
 * or use `hostLoss` to compute on plain arrays.
 *
 * @example Composing two losses
 * ```ts
 * import { losses } from "../mod.ts";
 * const l = losses.sum(losses.mse(), losses.mseL1(1e-3));
 * ```
 */
export interface Loss {
  /** Name, for logs and messages. */
  readonly name: string;
  /** Set when the loss writes `dPreCodes` (a gradient that bypasses the JumpReLU). */
  readonly touchesPreCodes?: boolean;
  /** Adds the value into `ctx.loss` and the gradients into `ctx.d*`. */
  accumulate(ctx: LossContext): void | Promise<void>;
  /**
   * Tells a step-dependent loss (e.g. `sparsityWarmup`) the index of the training step about to
   * run. `trainSae` calls it before every step; without it such a loss counts its own calls.
   */
  setStep?(step: number): void;
  /** State of a loss that adapts during training (e.g. `l0Controller`), saved in checkpoints. */
  stateDict?(): unknown;
  /** Restores a state returned by `stateDict()`. */
  loadStateDict?(state: unknown): void;
}

/** Mean over all elements of (x − x̂)². */
export function mse(): Loss {
  return {
    name: "mse",
    accumulate(ctx) {
      const n = ctx.rows * ctx.dim;
      ctx.backend.squaredError(ctx.loss, ctx.dXHat, ctx.xHat, ctx.x, n, 1 / n);
    },
  };
}

/**
 * The seed's `mse_l1`: mse + penalty · Σ|codes| over the whole batch (the seed's
 * `mean(l1(codes)) · penalty`, where `l1` already sums every entry to one number).
 */
export function mseL1(penalty = 1.0): Loss {
  checkPenalty(penalty);
  return {
    name: "mseL1",
    accumulate(ctx) {
      mse().accumulate(ctx);
      ctx.backend.absSum(ctx.loss, ctx.dCodes, ctx.codes, ctx.rows * ctx.concepts, penalty);
    },
  };
}

/**
 * mse + penalty · mean over the batch of Σ_c H(relu(preCodes) − exp(thresholds)). The Heaviside
 * gives no gradient to its input; the thresholds get the pseudo-gradient −(1/ε)·kernel(x − θ, ε)
 * (or the paper's, per the model's `pseudoGradient`), chained through exp.
 */
export function mseL0(penalty = 1.0): Loss {
  checkPenalty(penalty);
  return {
    name: "mseL0",
    accumulate(ctx) {
      mse().accumulate(ctx);
      ctx.backend.heavisideL0(
        ctx.loss,
        ctx.dLogThreshold,
        ctx.preCodes,
        ctx.logThreshold,
        ctx.rows,
        ctx.concepts,
        penalty / ctx.rows,
        ctx.pseudoGradient,
      );
    },
  };
}

/**
 * The L0 penalty alone: penalty · mean over the batch of Σ_c H(relu(preCodes) − exp(thresholds)),
 * with the threshold pseudo-gradient of `mseL0` (which is `sum(mse(), l0Penalty(penalty))`).
 *
 * @example A warmed-up L0 penalty
 * ```ts
 * import { losses } from "../mod.ts";
 * const l = losses.sparsityWarmup(losses.mse(), losses.l0Penalty(1e-2), 1000);
 * ```
 */
export function l0Penalty(penalty = 1.0): Loss {
  checkPenalty(penalty);
  return {
    name: "l0",
    accumulate(ctx) {
      ctx.backend.heavisideL0(
        ctx.loss,
        ctx.dLogThreshold,
        ctx.preCodes,
        ctx.logThreshold,
        ctx.rows,
        ctx.concepts,
        penalty / ctx.rows,
        ctx.pseudoGradient,
      );
    },
  };
}

/** Scratch copies of a context's outputs, to run a loss and add a multiple of its result. */
class ScaledRunner {
  #ws = Array.from({ length: 6 }, () => new Workspace());

  async run(ctx: LossContext, loss: Loss, factor: number): Promise<void> {
    if (factor === 0) return;
    if (factor === 1) return void await loss.accumulate(ctx);
    const be = ctx.backend, B = ctx.rows, D = ctx.dim, C = ctx.concepts;
    const sizes = [1, B * D, B * C, B * C, C * D, C];
    const [l, dx, dc, dp, dd, dt] = this.#ws.map((w, i) => w.get(be, sizes[i]));
    sizes.forEach((n, i) => be.fill([l, dx, dc, dp, dd, dt][i], 0, n));
    await loss.accumulate({
      ...ctx,
      loss: l,
      dXHat: dx,
      dCodes: dc,
      dPreCodes: dp,
      dDictionary: dd,
      dLogThreshold: dt,
    });
    const pairs: [DeviceBuffer, DeviceBuffer, number][] = [
      [ctx.loss, l, 1],
      [ctx.dXHat, dx, B * D],
      [ctx.dCodes, dc, B * C],
      [ctx.dDictionary, dd, C * D],
      [ctx.dLogThreshold, dt, C],
    ];
    if (loss.touchesPreCodes) pairs.push([ctx.dPreCodes, dp, B * C]);
    for (const [dst, src, n] of pairs) {
      be.scale(src, src, factor, n);
      be.addBias(dst, src, 1, n);
    }
  }
}

/**
 * `loss` multiplied by `factor(step)`: value and every gradient. The step is the one `trainSae`
 * passes to `setStep` (or, without it, the number of earlier calls).
 *
 * @param loss The loss to scale.
 * @param factor The multiplier of training step `step` (0-based).
 *
 * @example Halve a penalty after 1000 steps
 * ```ts
 * import { losses } from "../mod.ts";
 * const l = losses.scheduled(losses.l0Penalty(1e-2), (step) => (step < 1000 ? 1 : 0.5));
 * ```
 */
export function scheduled(loss: Loss, factor: (step: number) => number): Loss {
  if (!loss || typeof loss.accumulate !== "function") {
    throw new TypeError(`loss must be a Loss, got ${typeof loss}`);
  }
  if (typeof factor !== "function") {
    throw new TypeError(`factor must be a function of the step, got ${typeof factor}`);
  }
  const runner = new ScaledRunner();
  let step = 0;
  return {
    name: `scheduled(${loss.name})`,
    touchesPreCodes: loss.touchesPreCodes,
    async accumulate(ctx) {
      const f = factor(step++);
      if (!Number.isFinite(f)) {
        throw new RangeError(`factor(${step - 1}) must be a finite number, got ${f}`);
      }
      await runner.run(ctx, loss, f);
    },
    setStep(s) {
      step = s;
      loss.setStep?.(s);
    },
  };
}

/**
 * A linear sparsity warm-up (as dictionary_learning's JumpReLU trainer): the reconstruction loss
 * in full plus the penalty scaled by min(step / warmupSteps, 1), so the penalty starts at 0.
 *
 * @param reconstruction e.g. `mse()`.
 * @param penalty e.g. `l0Penalty(1e-2)` or `targetL0(20, 1)`.
 * @param warmupSteps Steps to reach the full penalty (0: no warm-up).
 *
 * @example mse + L0 penalty reaching 1e-2 after 1000 steps
 * ```ts
 * import { losses } from "../mod.ts";
 * const l = losses.sparsityWarmup(losses.mse(), losses.l0Penalty(1e-2), 1000);
 * ```
 */
export function sparsityWarmup(reconstruction: Loss, penalty: Loss, warmupSteps: number): Loss {
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) {
    throw new RangeError(`warmupSteps must be an integer >= 0, got ${warmupSteps}`);
  }
  const warm = scheduled(
    penalty,
    (step) => (warmupSteps === 0 ? 1 : Math.min(step / warmupSteps, 1)),
  );
  const l = sum(reconstruction, warm);
  return { ...l, name: `${reconstruction.name}+warmup(${penalty.name})` };
}

/** What a `hostLoss` function receives: the step's tensors, downloaded from the backend. */
export interface HostLossInput {
  /** [B, D] the input tokens. */
  x: Tensor;
  /** [B, D] the reconstruction x̂. */
  xHat: Tensor;
  /** [B, C] the pre-codes. */
  preCodes: Tensor;
  /** [B, C] the codes. */
  codes: Tensor;
  /** [C, D] the dictionary. */
  dictionary: Tensor;
  /** The thresholds θ = exp(thresholds), [C]. */
  thresholds: Tensor;
}

/** What a `hostLoss` function returns: its value and the gradients it has (others are zero). */
export interface HostLossOutput {
  /** The loss value. */
  value: number;
  /** Gradients with respect to x̂, codes, preCodes and the dictionary (missing ones: zero). */
  grads?: {
    xHat?: ArrayLike<number>;
    codes?: ArrayLike<number>;
    preCodes?: ArrayLike<number>;
    dictionary?: ArrayLike<number>;
  };
}

/**
 * A loss computed on the host: the step's tensors are downloaded, `fn` returns the value and the
 * gradients with respect to any of x̂, codes, preCodes and the dictionary, and these are added
 * back on the backend; the model then back-propagates them (codes through the JumpReLU and its
 * threshold pseudo-gradient, preCodes straight into the encoder, the dictionary into its
 * weights). Simple and general, but it reads back [B, C] arrays every step: prefer backend ops
 * for large models.
 *
 * @param fn Computes the value and gradients.
 * @param options `name`, and `touchesPreCodes` (default true; set false when `fn` never returns
 *   a preCodes gradient, to save a pass).
 *
 * @example A custom penalty: penalty · mean over tokens of Σ_c codes²
 * ```ts
 * import { losses } from "../mod.ts";
 * const penalty = 1e-3;
 * const l2Codes = losses.hostLoss(({ codes }) => {
 *   const B = codes.shape[0];
 *   let value = 0;
 *   const grad = new Float32Array(codes.data.length);
 *   codes.data.forEach((z, i) => {
 *     value += (penalty * z * z) / B;
 *     grad[i] = (2 * penalty * z) / B;
 *   });
 *   return { value, grads: { codes: grad } };
 * }, { name: "l2Codes", touchesPreCodes: false });
 * const loss = losses.sum(losses.mse(), l2Codes);
 * ```
 */
export function hostLoss(
  fn: (t: HostLossInput) => HostLossOutput | Promise<HostLossOutput>,
  options: { name?: string; touchesPreCodes?: boolean } = {},
): Loss {
  if (typeof fn !== "function") throw new TypeError(`fn must be a function, got ${typeof fn}`);
  const touchesPreCodes = options.touchesPreCodes ?? true;
  // one scratch buffer per target: a queued backend may run the adds after later uploads
  const scratch = new Map<string, Workspace>();
  return {
    name: options.name ?? "hostLoss",
    touchesPreCodes,
    async accumulate(ctx) {
      const be = ctx.backend, B = ctx.rows, D = ctx.dim, C = ctx.concepts;
      const t = (data: Float32Array, shape: number[]): Tensor => ({ data, shape });
      const logT = await be.download(ctx.logThreshold, 0, C);
      const input: HostLossInput = {
        x: t(await be.download(ctx.x, 0, B * D), [B, D]),
        xHat: t(await be.download(ctx.xHat, 0, B * D), [B, D]),
        preCodes: t(await be.download(ctx.preCodes, 0, B * C), [B, C]),
        codes: t(await be.download(ctx.codes, 0, B * C), [B, C]),
        dictionary: t(await be.download(ctx.dictionary, 0, C * D), [C, D]),
        thresholds: t(logT.map(Math.exp), [C]),
      };
      const out = await fn(input);
      if (!out || typeof out.value !== "number") {
        throw new TypeError(
          `The hostLoss function must return { value: number, grads }, got ${JSON.stringify(out)}`,
        );
      }
      const add = (dst: DeviceBuffer, values: ArrayLike<number>, n: number, name: string) => {
        if (values.length !== n) {
          throw new RangeError(`grads.${name} must have ${n} values, got ${values.length}`);
        }
        if (!scratch.has(name)) scratch.set(name, new Workspace());
        const buf = scratch.get(name)!.get(be, n);
        be.upload(buf, values instanceof Float32Array ? values : Float32Array.from(values));
        be.addBias(dst, buf, 1, n);
      };
      add(ctx.loss, [out.value], 1, "value");
      const g = out.grads ?? {};
      if (g.xHat) add(ctx.dXHat, g.xHat, B * D, "xHat");
      if (g.codes) add(ctx.dCodes, g.codes, B * C, "codes");
      if (g.dictionary) add(ctx.dDictionary, g.dictionary, C * D, "dictionary");
      if (g.preCodes) {
        if (!touchesPreCodes) {
          throw new TypeError(
            "grads.preCodes was returned by a hostLoss created with touchesPreCodes: false",
          );
        }
        add(ctx.dPreCodes, g.preCodes, B * C, "preCodes");
      }
    },
  };
}

function termLoss(
  name: string,
  touchesPreCodes: boolean,
  term: (t: HostLossInput) => TermResult,
): Loss {
  return hostLoss((t) => {
    const r = term(t);
    return {
      value: r.value,
      grads: { xHat: r.dXHat, codes: r.dCodes, preCodes: r.dPreCodes, dictionary: r.dDictionary },
    };
  }, { name, touchesPreCodes });
}

/**
 * The seed's `mse_hoyer`: mse + penalty · mean over tokens of hoyer(codes) (see `metrics.hoyer`).
 * Computed on the host (`hostLoss`). An all-zero row gets a zero gradient where PyTorch gives NaN.
 */
export function mseHoyer(penalty = 1.0): Loss {
  checkPenalty(penalty);
  const part = termLoss(
    "hoyer",
    false,
    ({ codes }) => hoyerTerm(codes.data, codes.shape[0], codes.shape[1], penalty),
  );
  return { ...sum(mse(), part), name: "mseHoyer" };
}

/** The seed's `mse_kappa_4`: mse + penalty · mean over tokens of kappa4(codes). Computed on the host. */
export function mseKappa4(penalty = 1.0): Loss {
  checkPenalty(penalty);
  const part = termLoss(
    "kappa4",
    false,
    ({ codes }) => kappa4Term(codes.data, codes.shape[0], codes.shape[1], penalty),
  );
  return { ...sum(mse(), part), name: "mseKappa4" };
}

/**
 * The seed's `mse_elastic`: mse + (1 − α)·mean(|codes|) + α·mean(dictionary²), α in [0, 1]
 * (0: L1 only, 1: L2 only). Runs on the backend.
 */
export function mseElastic(alpha = 0.5): Loss {
  if (typeof alpha !== "number" || !(alpha >= 0 && alpha <= 1)) {
    throw new RangeError(`alpha must be a number in [0, 1], got ${alpha}`);
  }
  const zeros = new Workspace();
  return {
    name: "mseElastic",
    accumulate(ctx) {
      mse().accumulate(ctx);
      const be = ctx.backend, nc = ctx.rows * ctx.concepts, nd = ctx.concepts * ctx.dim;
      be.absSum(ctx.loss, ctx.dCodes, ctx.codes, nc, (1 - alpha) / nc);
      const z = zeros.get(be, nd);
      be.fill(z, 0, nd);
      be.squaredError(ctx.loss, ctx.dDictionary, ctx.dictionary, z, nd, alpha / nd);
    },
  };
}

/**
 * The seed's `top_k_auxiliary_loss` (AuxK, Gao et al. 2024): mse + penalty · mean((x − x̂ − A·D)²)
 * where A keeps, per token, the C/2 largest values of relu(preCodes) − codes, i.e. asks the
 * strongest codes that did not fire to explain the residual. By default computed in float64 on the host;
 * `{ onBackend: true }` runs it on the backend in float32 (`auxKSelect`, three products,
 * `auxKBackward`), far faster at real sizes; the backend ops break ties by the lower index.
 *
 * Tie rule: relu(preCodes) − codes is 0 wherever a code fired or its pre-code is ≤ 0, so a row
 * with fewer than C/2 positive values fills the seed's top-k with tied zeros, and which ones
 * torch.topk returns is unspecified. They add nothing to the value, but a selected zero passes a
 * gradient to its code (and so to the threshold's pseudo-gradient). Here each of a row's z tied
 * zeros is selected with weight (slots left)/z: the gradient is the expectation of the seed's
 * over a uniformly random tie-break, independent of the order of the concepts. The value and the
 * gradient at every positive entry are the seed's. Ties between equal positive values (measure
 * zero) go to the lower index.
 */
export function topKAuxiliaryLoss(penalty = 0.1, options: { onBackend?: boolean } = {}): Loss {
  checkPenalty(penalty);
  if (!options.onBackend) return topKAuxiliaryLossOnHost(penalty);
  const aux = new Workspace(), selected = new Workspace(), dAux = new Workspace();
  const sumHat = new Workspace(), grad = new Workspace();
  return {
    name: "topKAuxiliaryLoss",
    touchesPreCodes: true,
    accumulate(ctx) {
      mse().accumulate(ctx);
      const be = ctx.backend, B = ctx.rows, D = ctx.dim, C = ctx.concepts;
      const nd = B * D, nc = B * C;
      const a = aux.get(be, nc), sel = selected.get(be, nc), da = dAux.get(be, nc); // (B, C)
      const t = sumHat.get(be, nd), g = grad.get(be, nd); // (B, D)
      be.auxKSelect(a, sel, ctx.preCodes, ctx.codes, B, C, Math.floor(C / 2));
      // t = x̂ + A·D, so that (t − x)² is the squared residual of the auxiliary reconstruction
      be.matmul(t, a, ctx.dictionary, { m: B, n: D, k: C, sparseA: true });
      be.addBias(t, ctx.xHat, 1, nd);
      be.fill(g, 0, nd);
      be.squaredError(ctx.loss, g, t, ctx.x, nd, penalty / nd); // g = d(term)/dt
      be.addBias(ctx.dXHat, g, 1, nd);
      be.matmul(da, g, ctx.dictionary, { m: B, n: C, k: D, transB: true });
      be.matmul(ctx.dDictionary, a, g, {
        m: C,
        n: D,
        k: B,
        transA: true,
        accumulate: true,
        sparseA: true,
      });
      be.auxKBackward(ctx.dPreCodes, ctx.dCodes, da, sel, ctx.preCodes, nc);
    },
  };
}

/** `topKAuxiliaryLoss` in float64 on the host (`hostLoss`). */
function topKAuxiliaryLossOnHost(penalty: number): Loss {
  const part = termLoss("topKAux", true, (t) => {
    const [B, D] = t.x.shape, C = t.codes.shape[1];
    return topKAuxTerm(
      t.x.data,
      t.xHat.data,
      t.preCodes.data,
      t.codes.data,
      t.dictionary.data,
      B,
      D,
      C,
      penalty,
    );
  });
  return { ...sum(mse(), part), name: "topKAuxiliaryLoss" };
}

/**
 * The seed's `reanimation_regularizer` (a term to add, without mse):
 * −penalty · Σ preCodes[:, dead] / (number of dead codes + 1e-6), where a code is dead when it does
 * not fire in the batch; pushes the pre-codes of dead codes up. Runs on the backend (column sums;
 * only C floats go to the host and back).
 *
 * @example mseL0 with reanimation
 * ```ts
 * import { losses } from "../mod.ts";
 * const l = losses.sum(losses.mseL0(1e-3), losses.reanimationRegularizer(0.1));
 * ```
 */
export function reanimationRegularizer(penalty = 0.1): Loss {
  checkPenalty(penalty);
  const codeSums = new Workspace(), preSums = new Workspace();
  const grad = new Workspace(), value = new Workspace();
  return {
    name: "reanimation",
    touchesPreCodes: true,
    async accumulate(ctx) {
      const be = ctx.backend, B = ctx.rows, C = ctx.concepts;
      const zs = codeSums.get(be, C), ps = preSums.get(be, C); // (C,) column sums
      be.fill(zs, 0, C);
      be.fill(ps, 0, C);
      be.sumRows(zs, ctx.codes, B, C);
      be.sumRows(ps, ctx.preCodes, B, C);
      const z = await be.download(zs, 0, C), p = await be.download(ps, 0, C);
      let nDead = 0;
      for (let c = 0; c < C; c++) if (z[c] === 0) nDead++;
      const denom = nDead + 1e-6;
      const g = new Float32Array(C); // d(term)/d preCodes[r, c], the same on every row
      let v = 0;
      for (let c = 0; c < C; c++) {
        if (z[c] !== 0) continue;
        v += p[c];
        g[c] = -penalty / denom;
      }
      const gb = grad.get(be, C), vb = value.get(be, 1);
      be.upload(gb, g);
      be.addBias(ctx.dPreCodes, gb, B, C);
      be.upload(vb, Float32Array.of((-penalty * v) / denom));
      be.addBias(ctx.loss, vb, 1, 1);
    },
  };
}

/**
 * A target-L0 penalty (a term to add to a reconstruction loss), as dictionary_learning's JumpReLU
 * trainer: penalty · (L0 / target − 1)², with L0 the mean over tokens of Σ_c H(relu(preCodes) − θ)
 * and the Heaviside's threshold pseudo-gradient (as `mseL0`), chained through the square.
 *
 * @param target The wanted mean number of active codes per token, > 0.
 * @param penalty Its weight. Default 1.
 *
 * @example Aim at 20 active codes per token, with a warm-up
 * ```ts
 * import { losses } from "../mod.ts";
 * const l = losses.sparsityWarmup(losses.mse(), losses.targetL0(20, 1), 1000);
 * ```
 */
export function targetL0(target: number, penalty = 1.0): Loss {
  if (typeof target !== "number" || !(target > 0) || !Number.isFinite(target)) {
    throw new RangeError(`target must be a finite number > 0, got ${target}`);
  }
  checkPenalty(penalty);
  const term = new BatchL0Term();
  return {
    name: "targetL0",
    async accumulate(ctx) {
      await term.accumulate(ctx, (l0) => {
        const { value, dL0 } = targetL0Outer(l0, target, penalty);
        return { value, slope: dL0 };
      });
    },
  };
}

/** The sum of several losses. */
export function sum(...parts: Loss[]): Loss {
  return {
    name: parts.map((p) => p.name).join("+"),
    touchesPreCodes: parts.some((p) => p.touchesPreCodes),
    async accumulate(ctx) {
      for (const p of parts) await p.accumulate(ctx);
    },
    setStep(step) {
      for (const p of parts) p.setStep?.(step);
    },
  };
}

function checkPenalty(penalty: number): void {
  if (!Number.isFinite(penalty) || penalty < 0) {
    throw new RangeError(`penalty must be a finite number >= 0, got ${penalty}`);
  }
}
