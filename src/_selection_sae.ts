/**
 * What `TopKSAE` and `BatchTopKSAE` share: a `JumpSAE` (same encoder, dictionary, backends and
 * state-dict keys) whose JumpReLU is opened (threshold θ = 0: codes = ReLU(preCodes)), followed
 * by a host-side selection of the codes. The seed's classes select from the encoder's codes:
 * ReLU(preCodes), or the pre-codes themselves for the identity encoder.
 *
 * The selection runs on the host with existing backend ops around it: in `valueAndGrad` the
 * loss is wrapped so that it sees the selected codes and the x̂ they give, and so that the
 * decoder's gradient to the codes is masked by the selection before it reaches the encoder.
 *
 * @module
 */
import { Workspace } from "./layers/layer.ts";
import { JumpSAE, type JumpSAEOptions, type SAEOutput, type ValueAndGrad } from "./jump_sae.ts";
import type { Loss, LossContext } from "./losses.ts";
import { sizeOf, type Tensor, type TensorLike, toTensor } from "./tensor.ts";

/** Constructor options shared by the selection SAEs (the seed's, plus this library's backend ones). */
export type SelectionSAEOptions = Pick<
  JumpSAEOptions,
  "encoderModule" | "dictionaryParams" | "device" | "seed" | "threads" | "simd"
>;

const SHARED_KEYS = ["encoderModule", "dictionaryParams", "device", "seed", "threads", "simd"];

/** Checks the option keys of a selection SAE; returns the options for `JumpSAE`. */
export function jumpOptions(
  options: Record<string, unknown>,
  own: readonly string[],
  cls: string,
): JumpSAEOptions {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `options must be an object, got ${options === null ? "null" : typeof options}`,
    );
  }
  const allowed = [...SHARED_KEYS, ...own];
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new TypeError(`Unknown option ${key} of ${cls}: expected one of ${allowed.join(", ")}`);
    }
  }
  return Object.fromEntries(SHARED_KEYS.filter((k) => k in options).map((k) => [k, options[k]]));
}

/** The selection of one batch: which candidates stay. */
export type Selector = (candidates: Float32Array, rows: number, training: boolean) => Uint8Array;

/** A JumpSAE with θ = 0 and a host-side selection of its codes. */
export abstract class SelectionSAE extends JumpSAE {
  #scratch = { dz: new Workspace(), dPre: new Workspace() };

  /**
   * Builds the JumpSAE and opens its JumpReLU (θ = 0: codes = ReLU(preCodes)).
   *
   * @param inputShape `dim`, `[seq, dim]` or `[dim, height, width]`.
   * @param nbConcepts Number of concepts.
   * @param options The `JumpSAE` options.
   */
  constructor(inputShape: number | readonly number[], nbConcepts: number, options: JumpSAEOptions) {
    super(inputShape, nbConcepts, options);
    this.thresholds.initial.fill(-Infinity); // θ = exp(−∞) = 0: codes = ReLU(preCodes)
  }

  /** Refuses a batch the selection cannot take, before anything runs (default: any). */
  protected checkTokens(_tokens: number, _training: boolean): void {}

  /** The input as a tensor, after `checkTokens` (shape errors are left to JumpSAE). */
  #input(x: TensorLike, training: boolean): TensorLike {
    const t = toTensor(x, "x");
    const tokens = sizeOf(t.shape) / this.dim;
    if (Number.isInteger(tokens)) this.checkTokens(tokens, training);
    return t;
  }

  /** The mask of the codes that stay, for a batch of candidates [rows, nbConcepts]. */
  protected abstract select(candidates: Float32Array, rows: number, training: boolean): Uint8Array;

  /** The seed's candidates: the encoder's codes, ReLU(preCodes) (preCodes for the identity). */
  #candidates(pre: Float32Array): Float32Array {
    return this.encoder.layers.length === 0 ? pre : pre.map((v) => (v > 0 ? v : 0));
  }

  #codes(preCodes: Tensor, training: boolean): { codes: Tensor; mask: Uint8Array } {
    const rows = preCodes.shape[0];
    const cand = this.#candidates(preCodes.data);
    const mask = rows === 0 ? new Uint8Array(0) : this.select(cand, rows, training);
    const data = cand.map((v, i) => (mask[i] ? v : 0));
    return { codes: { data, shape: [...preCodes.shape] }, mask };
  }

  /** Pre-codes and the selected codes. Bad input is refused before anything runs. */
  override encode(x: TensorLike): Promise<{ preCodes: Tensor; codes: Tensor }> {
    const training = this.training;
    const encoded = super.encode(this.#input(x, training));
    return encoded.then(({ preCodes }) => ({
      preCodes,
      codes: this.#codes(preCodes, training).codes,
    }));
  }

  /** Pre-codes, selected codes and x̂ = codes·D, all in the mode of the call. */
  override forward(x: TensorLike): Promise<SAEOutput> {
    const training = this.training;
    const encoded = super.encode(this.#input(x, training));
    return encoded.then(async ({ preCodes }) => {
      const { codes } = this.#codes(preCodes, training);
      // decode in the mode the call was made in (a mode switch while encoding is undone for it)
      const now = this.training;
      this.train(training);
      const xHat = super.decode(codes);
      this.train(now);
      return { preCodes, codes, xHat: await xHat };
    });
  }

  /** `JumpSAE.valueAndGrad` with the loss seeing the selected codes and their x̂. */
  override valueAndGrad(x: TensorLike, loss: Loss): Promise<ValueAndGrad> {
    return super.valueAndGrad(this.#input(x, this.training), this.#wrap(loss));
  }

  /** `JumpSAE.lossAndGradients` with the loss seeing the selected codes and their x̂. */
  override lossAndGradients(x: TensorLike, loss: Loss): Promise<number> {
    return super.lossAndGradients(this.#input(x, this.training), this.#wrap(loss));
  }

  /** The trainable parameters (no thresholds: the selection has none). */
  override parameters(): ReturnType<JumpSAE["parameters"]> {
    return super.parameters().filter((p) => p.name !== "thresholds");
  }

  /** The seed's state dict: encoder and dictionary keys (no `thresholds`). */
  override async stateDict(): Promise<Record<string, Tensor>> {
    const dict = await super.stateDict();
    delete dict.thresholds;
    return dict;
  }

  /** Loads the seed's state dict, which has no `thresholds` (refused unless `strict: false`). */
  override loadStateDict(
    dict: Record<string, TensorLike>,
    options: { strict?: boolean } = {},
  ): Promise<void> {
    if (dict === null || typeof dict !== "object") return super.loadStateDict(dict, options);
    if ("thresholds" in dict && (options.strict ?? true)) {
      throw new RangeError(
        `Unexpected key thresholds in state dict: a ${this.constructor.name} has no thresholds ` +
          "(a JumpSAE state dict? pass { strict: false } to ignore it)",
      );
    }
    const open = {
      data: new Float32Array(this.nbConcepts).fill(-Infinity),
      shape: [this.nbConcepts],
    };
    return super.loadStateDict({ ...dict, thresholds: open }, options);
  }

  /**
   * `loss` on the selected codes: the codes buffer is overwritten with the selection and x̂
   * recomputed before `loss` runs; after it, the decoder's backward to the codes is done here
   * (dCodes + dX̂·Dᵀ, masked by the selection, through the ReLU) and handed to the pre-codes, and
   * dX̂ is folded into the dictionary gradient, so the model's own decoder and JumpReLU backward
   * add exact zeros.
   */
  #wrap(loss: Loss): Loss {
    if (!loss || typeof loss.accumulate !== "function") return loss; // JumpSAE refuses it
    const training = this.training;
    const identity = this.encoder.layers.length === 0;
    const scratch = this.#scratch;
    return {
      name: loss.name,
      touchesPreCodes: true,
      setStep: loss.setStep?.bind(loss),
      accumulate: async (ctx: LossContext) => {
        const be = ctx.backend, B = ctx.rows, C = ctx.concepts, D = ctx.dim;
        const pre = await be.download(ctx.preCodes, 0, B * C);
        const { codes, mask } = this.#codes({ data: pre, shape: [B, C] }, training);
        be.upload(ctx.codes, codes.data);
        be.matmul(ctx.xHat, ctx.codes, ctx.dictionary, { m: B, n: D, k: C, sparseA: true });
        await loss.accumulate(ctx);
        const dz = scratch.dz.get(be, B * C);
        be.copy(dz, ctx.dCodes, B * C);
        be.matmul(dz, ctx.dXHat, ctx.dictionary, {
          m: B,
          n: C,
          k: D,
          transB: true,
          accumulate: true,
        });
        be.matmul(ctx.dDictionary, ctx.codes, ctx.dXHat, {
          m: C,
          n: D,
          k: B,
          transA: true,
          accumulate: true,
          sparseA: true,
        });
        const g = await be.download(dz, 0, B * C);
        for (let i = 0; i < g.length; i++) {
          if (!mask[i] || !(identity || pre[i] > 0)) g[i] = 0;
        }
        const dPre = scratch.dPre.get(be, B * C);
        be.upload(dPre, g);
        be.addBias(ctx.dPreCodes, dPre, 1, B * C);
        be.fill(ctx.dCodes, 0, B * C);
        be.fill(ctx.dXHat, 0, B * D);
      },
    };
  }
}
