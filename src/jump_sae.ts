import type { Backend, DeviceBuffer, PseudoGradient } from "./backends/backend.ts";
import { checkOptions } from "./_options.ts";
import { type BackendOptions, createBackend, type Device, DEVICES } from "./backends/select.ts";
import { DictionaryLayer, type DictionaryParams } from "./dictionary.ts";
import {
  createEncoder,
  type Encoder,
  ENCODER_NAMES,
  type EncoderName,
  isEncoderName,
} from "./encoders.ts";
import { isKernelName, KERNEL_NAMES, type KernelName, type PseudoGradientMode } from "./kernels.ts";
import { type RunContext, valueOf, Workspace } from "./layers/layer.ts";
import type { Loss, LossContext } from "./losses.ts";
import { Parameter } from "./parameter.ts";
import { Random } from "./random.ts";
import { encoderMismatchHint } from "./state_dict_hint.ts";
import { concatRows, csrFromTopK, type SparseCodes } from "./sparse_codes.ts";
import {
  assertFinite,
  formatShape,
  sizeOf,
  type Tensor,
  type TensorLike,
  toTensor,
} from "./tensor.ts";

/** Options of `new JumpSAE(inputShape, nbConcepts, options)`. */
export interface JumpSAEOptions {
  /** Pseudo-gradient kernel of the threshold. Default `"silverman"`. */
  kernel?: KernelName;
  /** Kernel bandwith ε > 0 (the seed's spelling). Default 1e-3. */
  bandwith?: number;
  /** Alias of `bandwith`. */
  bandwidth?: number;
  /** A registered encoder name or an `Encoder`. Default `"mlp_bn_1"` (Linear + BatchNorm1d). */
  encoderModule?: EncoderName | Encoder;
  /** Options of the dictionary layer. */
  dictionaryParams?: DictionaryParams;
  /**
   * `"auto"` (default: WebGPU on a real, non-fallback adapter, else the CPU backend), `"cpu"`,
   * `"webgpu"` (also on a software adapter), or `"reference"` (plain TypeScript, the oracle).
   */
  device?: Device;
  /** Seed of the initialisation, for reproducible models. */
  seed?: number;
  /**
   * `"overcomplete"` (default): the seed's threshold gradient −(θ/ε)·kernel(x − θ, ε).
   * `"paper"`: Rajamanoharan et al. 2024, −(θ/ε)·K((x − θ)/ε) with K of unit mass.
   */
  pseudoGradient?: PseudoGradientMode;
  /** Worker threads of the CPU backend. Default: the available cores. */
  threads?: number;
  /** SIMD build of the CPU backend: `"auto"` (relaxed SIMD where supported), `"relaxed"`, `"plain"`. */
  simd?: "auto" | "relaxed" | "plain";
  /**
   * Add a trainable decoder bias `b_dec` [dim]: x̂ = codes·D + b_dec (SAELens, Gemma Scope).
   * Default false, as the seed.
   */
  decoderBias?: boolean;
  /** Encode x − b_dec instead of x (SAELens `apply_b_dec_to_input`). Needs `decoderBias`. */
  centerInput?: boolean;
}

/** Outputs of `forward`: pre-codes and codes [tokens, nbConcepts], reconstruction [tokens, dim]. */
export interface SAEOutput {
  /** Encoder outputs before the JumpReLU, [tokens, nbConcepts]. */
  preCodes: Tensor;
  /** The sparse codes, [tokens, nbConcepts]. */
  codes: Tensor;
  /** The reconstruction, [tokens, dim]. */
  xHat: Tensor;
}

export type { SparseCodes } from "./sparse_codes.ts";

/**
 * Arrays a call writes its outputs into instead of allocating new ones (`forward(x, { out })`):
 * reusing them across calls saves the allocation and the page faults of large outputs. Each one
 * given must be a Float32Array of exactly the output's size; the returned tensors hold them.
 */
export interface OutputArrays {
  /** Receives the pre-codes. */
  preCodes?: Float32Array;
  /** Receives the codes. */
  codes?: Float32Array;
  /** Receives the reconstruction. */
  xHat?: Float32Array;
}

/** Options of `encode` and `forward`. */
export interface OutputOptions {
  /** Arrays to write the outputs into, see `OutputArrays`. */
  out?: OutputArrays;
}

/** Options of `encodeSparse`. */
export interface EncodeSparseOptions {
  /** Keep only the k largest codes of each token (ties: the lower concept). Default: all. */
  topK?: number;
}

/** Result of `valueAndGrad`. */
export interface ValueAndGrad extends SAEOutput {
  /** The loss value. */
  loss: number;
  /** Gradient of every trainable parameter, by state-dict key. */
  grads: Record<string, Tensor>;
}

const OPTION_KEYS = new Set([
  "kernel",
  "bandwith",
  "bandwidth",
  "encoderModule",
  "dictionaryParams",
  "device",
  "seed",
  "pseudoGradient",
  "threads",
  "simd",
  "decoderBias",
  "centerInput",
]);

/**
 * JumpReLU Sparse Autoencoder (Rajamanoharan et al. 2024), the TypeScript twin of the seed
 * library's `JumpSAE`: an encoder gives pre-codes, codes = JumpReLU(ReLU(preCodes)) with a
 * learnable threshold exp(thresholds) per concept, and a dictionary decodes x̂ = codes·D.
 *
 * @example Encode and decode a batch
 * ```ts
 * import { JumpSAE } from "../mod.ts";
 * const sae = new JumpSAE(8, 32, { seed: 1, device: "reference" });
 * const x = { data: new Float32Array(4 * 8).map((_, i) => Math.sin(i)), shape: [4, 8] };
 * const { codes, xHat } = await sae.forward(x);
 * console.log(codes.shape, xHat.shape); // [4, 32] [4, 8]
 * sae.dispose();
 * ```
 */
export class JumpSAE {
  /** The input shape without the batch: [dim], [seq, dim] or [dim, height, width]. */
  readonly inputShape: readonly number[];
  /** Number of concepts C. */
  readonly nbConcepts: number;
  /** Channel dimension D that tokens are encoded from and decoded to. */
  readonly dim: number;
  /** Pseudo-gradient kernel of the threshold (change it with `setPseudoGradient`). */
  get kernel(): KernelName {
    return this.#kernel;
  }
  /** Kernel bandwith ε (the seed's spelling). */
  get bandwith(): number {
    return this.#bandwith;
  }
  /** Threshold gradient mode, see `JumpSAEOptions.pseudoGradient`. */
  get pseudoGradient(): PseudoGradientMode {
    return this.#pseudoGradientMode;
  }
  /** The device asked for (`"auto"` picks a backend when the model first runs). */
  readonly device: Device;
  /** The encoder; its layers hold the `encoder.*` parameters. */
  readonly encoder: Encoder;
  /** The dictionary D, [nbConcepts, dim]. */
  readonly dictionary: DictionaryLayer;
  /** Log of the per-concept thresholds, [nbConcepts], initialised to −3. */
  readonly thresholds: Parameter;
  /** The decoder bias [dim] when `decoderBias` is set, else null. */
  readonly decoderBias: Parameter | null;
  /** Whether the encoder sees x − b_dec. */
  readonly centerInput: boolean;

  #kernel: KernelName;
  #bandwith: number;
  #pseudoGradientMode: PseudoGradientMode;
  #params = new Map<string, Parameter>();
  #training = true;
  /** The mode of the call now running: the mode when it was made, not when it runs. */
  #mode = true;
  #fusePending = false;
  #backend: Promise<Backend> | null = null;
  #backendOptions: BackendOptions;
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;
  #input = new Workspace();
  #centered = new Workspace();
  #negBias = new Workspace();
  #codes = new Workspace();
  #xHat = new Workspace();
  #topK = [new Workspace(), new Workspace(), new Workspace()];
  #grads = {
    loss: new Workspace(),
    xHat: new Workspace(),
    codes: new Workspace(),
    preCodes: new Workspace(),
    preAct: new Workspace(),
    dictionary: new Workspace(),
  };

  /**
   * A JumpReLU SAE of `nbConcepts` concepts over inputs of shape `inputShape`.
   *
   * @param inputShape `dim`, `[seq, dim]` or `[dim, height, width]` (no batch dimension).
   * @param nbConcepts Number of concepts C ≥ 1.
   * @param options See `JumpSAEOptions`.
   */
  constructor(
    inputShape: number | readonly number[],
    nbConcepts: number,
    options: JumpSAEOptions = {},
  ) {
    this.inputShape = checkInputShape(inputShape);
    this.dim = this.inputShape.length === 3
      ? this.inputShape[0]
      : this.inputShape[this.inputShape.length - 1];
    if (!Number.isInteger(nbConcepts) || nbConcepts < 1) {
      throw new RangeError(`nbConcepts must be an integer >= 1, got ${nbConcepts}`);
    }
    this.nbConcepts = nbConcepts;
    if (options === null || typeof options !== "object") {
      throw new TypeError(
        `options must be an object, got ${options === null ? "null" : typeof options}`,
      );
    }
    checkOptions(options, [...OPTION_KEYS], "new JumpSAE(inputShape, nbConcepts, options)");
    const pg = checkPseudoGradient(options, {
      kernel: "silverman",
      bandwith: 1e-3,
      pseudoGradient: "overcomplete",
    });
    this.#kernel = pg.kernel;
    this.#bandwith = pg.bandwith;
    this.#pseudoGradientMode = pg.pseudoGradient;
    const device = options.device ?? "auto";
    if (!DEVICES.includes(device)) {
      throw new RangeError(`device must be one of ${DEVICES.join(", ")}, got ${String(device)}`);
    }
    this.device = device;
    if (
      options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)
    ) {
      throw new RangeError(`threads must be an integer >= 1, got ${options.threads}`);
    }
    if (options.simd !== undefined && !["auto", "relaxed", "plain"].includes(options.simd)) {
      throw new RangeError(
        `simd must be "auto", "relaxed" or "plain", got ${String(options.simd)}`,
      );
    }
    this.#backendOptions = { threads: options.threads, simd: options.simd };
    if (options.seed !== undefined && !Number.isFinite(options.seed)) {
      throw new RangeError(`seed must be a finite number, got ${options.seed}`);
    }
    const rng = new Random(options.seed);

    const encoder = options.encoderModule ?? "mlp_bn_1";
    if (typeof encoder === "string") {
      if (!isEncoderName(encoder)) {
        throw new RangeError(
          `encoderModule must be one of ${ENCODER_NAMES.join(", ")} or an Encoder, got ${encoder}`,
        );
      }
      this.encoder = createEncoder(encoder, this.dim, nbConcepts, rng);
    } else if (encoder && typeof encoder === "object" && Array.isArray(encoder.layers)) {
      if (encoder.inFeatures !== this.dim || encoder.outFeatures !== nbConcepts) {
        throw new RangeError(
          `encoderModule must map ${this.dim} features to ${nbConcepts}, got ${encoder.inFeatures} to ${encoder.outFeatures}`,
        );
      }
      this.encoder = encoder;
    } else {
      throw new TypeError(
        `encoderModule must be an encoder name or an Encoder, got ${typeof encoder}`,
      );
    }
    this.dictionary = new DictionaryLayer(
      nbConcepts,
      this.dim,
      options.dictionaryParams ?? {},
      rng,
    );
    this.thresholds = new Parameter(
      "thresholds",
      [nbConcepts],
      true,
      new Float32Array(nbConcepts).fill(-3),
    );
    if (options.centerInput && !options.decoderBias) {
      throw new RangeError("centerInput needs decoderBias: true, got decoderBias false");
    }
    this.decoderBias = options.decoderBias
      ? new Parameter("b_dec", [this.dim], true, new Float32Array(this.dim))
      : null;
    this.centerInput = options.centerInput === true;

    // state-dict order of PyTorch: own parameters first, then submodules in registration order
    this.#params.set("thresholds", this.thresholds);
    if (this.decoderBias) this.#params.set("b_dec", this.decoderBias);
    for (const layer of this.encoder.layers) {
      for (const p of layer.parameters) this.#addParam(`encoder.${p.name}`, p);
    }
    for (const p of this.dictionary.parameters) this.#addParam(p.name, p);
  }

  #addParam(key: string, p: Parameter): void {
    if (this.#params.has(key)) throw new RangeError(`Duplicate parameter name ${key}`);
    this.#params.set(key, p);
  }

  /** Whether the model is in training mode (the default). */
  get training(): boolean {
    return this.#training;
  }

  /**
   * Sets training mode (BatchNorm batch statistics, dictionary re-projection) or, with
   * `false`, eval mode. Entering eval mode projects the dictionary once more and fuses
   * exp(m)·W, as the seed library does.
   */
  train(mode = true): this {
    if (!mode) return this.eval();
    this.#training = true;
    return this;
  }

  /** Eval mode: running statistics, and the dictionary fused once. */
  eval(): this {
    if (this.#training) this.#fusePending = true;
    this.#training = false;
    return this;
  }

  /** The trainable parameters with their state-dict keys, in state-dict order. */
  parameters(): { name: string; parameter: Parameter }[] {
    return [...this.#params].filter(([, p]) => p.trainable).map(([name, parameter]) => ({
      name,
      parameter,
    }));
  }

  /** The backend this model runs on, created on first use. */
  getBackend(): Promise<Backend> {
    if (this.#disposed) return Promise.reject(new Error("This JumpSAE has been disposed"));
    if (!this.#backend) {
      this.#backend = createBackend(this.device, this.#backendOptions).then((be) => {
        for (const p of this.#params.values()) p.bind(be);
        return be;
      });
      this.#backend.catch(() => this.#backend = null);
    }
    return this.#backend;
  }

  /**
   * Runs `task` after every earlier call, on a ready backend, in the mode the model had when
   * the call was made (so `sae.forward(x); sae.eval();` runs that forward in training mode, as
   * PyTorch would); the first eval-mode call fuses the dictionary if `eval()` asked for it.
   */
  #run<T>(task: (be: Backend) => Promise<T>): Promise<T> {
    const training = this.#training;
    const result = this.#queue.then(async () => {
      const be = await this.getBackend();
      this.#mode = training;
      if (!training && this.#fusePending) {
        await this.dictionary.fuse(be);
        this.#fusePending = false;
      }
      return task(be);
    });
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Converts an input to tokens [N, dim], checking its shape and values. */
  #tokens(x: TensorLike, name = "x"): Tensor {
    const t = toTensor(x, name);
    const expected = ["batch", ...this.inputShape];
    const ok = t.shape.length === this.inputShape.length + 1 &&
      this.inputShape.every((d, i) => t.shape[i + 1] === d);
    if (!ok) {
      throw new RangeError(
        `${name} must have shape [${expected.join(", ")}], got ${formatShape(t.shape)}`,
      );
    }
    assertFinite(t.data, name);
    const rows = sizeOf(t.shape) / this.dim;
    if (this.inputShape.length < 3) return { data: t.data, shape: [rows, this.dim] };
    // [B, C, H, W] → [B·H·W, C], channel last
    const [B, C, H, W] = t.shape;
    const out = new Float32Array(t.data.length);
    for (let b = 0; b < B; b++) {
      for (let c = 0; c < C; c++) {
        for (let s = 0; s < H * W; s++) {
          out[(b * H * W + s) * C + c] = t.data[(b * C + c) * H * W + s];
        }
      }
    }
    return { data: out, shape: [B * H * W, C] };
  }

  #checkBatch(rows: number): void {
    if (this.#training && rows < 2 && this.encoder.layers.some((l) => l.needsBatch)) {
      throw new RangeError(
        `Training mode BatchNorm needs more than 1 token per batch, got ${rows}`,
      );
    }
  }

  /**
   * Changes how the threshold is trained from the next call on (the seed's `kernel_fn` and
   * `bandwidth` attributes, which PyTorch users set on the module): the kernel, the bandwith
   * (or `bandwidth`) and the pseudo-gradient mode. Forward outputs do not depend on them.
   *
   * @param options Any of `kernel`, `bandwith`/`bandwidth`, `pseudoGradient`; the others stay.
   */
  setPseudoGradient(
    options: Pick<JumpSAEOptions, "kernel" | "bandwith" | "bandwidth" | "pseudoGradient">,
  ): void {
    if (options === null || typeof options !== "object") {
      throw new TypeError(
        `options must be an object, got ${options === null ? "null" : typeof options}`,
      );
    }
    for (const key of Object.keys(options)) {
      if (!["kernel", "bandwith", "bandwidth", "pseudoGradient"].includes(key)) {
        throw new TypeError(
          `Unknown option ${key}: expected one of kernel, bandwith, bandwidth, pseudoGradient`,
        );
      }
    }
    const pg = checkPseudoGradient(options, this);
    this.#kernel = pg.kernel;
    this.#bandwith = pg.bandwith;
    this.#pseudoGradientMode = pg.pseudoGradient;
  }

  get #pg(): PseudoGradient {
    return { kernel: this.kernel, bandwidth: this.bandwith, mode: this.pseudoGradient };
  }

  /** Device forward through encoder and JumpReLU: pre-codes and codes (B, C). */
  #encodeOn(be: Backend, tokens: Tensor): { pre: DeviceBuffer; codes: DeviceBuffer } {
    const B = tokens.shape[0], C = this.nbConcepts;
    const x = this.#input.get(be, B * this.dim); // (B, D)
    be.upload(x, tokens.data);
    const ctx: RunContext = { backend: be, training: this.#mode };
    let pre = x;
    if (this.centerInput) {
      const negBias = this.#negBias.get(be, this.dim);
      be.scale(negBias, valueOf(this.decoderBias!), -1, this.dim);
      pre = this.#centered.get(be, B * this.dim);
      be.copy(pre, x, B * this.dim);
      be.addBias(pre, negBias, B, this.dim);
    }
    for (const layer of this.encoder.layers) pre = layer.forward(ctx, pre, B);
    const codes = this.#codes.get(be, B * C); // (B, C)
    be.jumpRelu(codes, pre, valueOf(this.thresholds), B, C);
    return { pre, codes };
  }

  /** Device decode: x̂ = codes·D, (B, D). */
  async #decodeOn(
    be: Backend,
    codes: DeviceBuffer,
    B: number,
  ): Promise<{ xHat: DeviceBuffer; dict: DeviceBuffer }> {
    const dict = await this.dictionary.current(be, this.#mode);
    const xHat = this.#xHat.get(be, B * this.dim);
    be.matmul(xHat, codes, dict, { m: B, n: this.dim, k: this.nbConcepts, sparseA: true });
    if (this.decoderBias) be.addBias(xHat, valueOf(this.decoderBias), B, this.dim);
    return { xHat, dict };
  }

  async #read(be: Backend, buffer: DeviceBuffer, shape: number[]): Promise<Tensor> {
    const n = sizeOf(shape);
    return { data: n === 0 ? new Float32Array(0) : await be.download(buffer, 0, n), shape };
  }

  /**
   * Encodes x into pre-codes (before any activation) and codes = JumpReLU(ReLU(preCodes)).
   * In training mode BatchNorm uses and updates batch statistics, as a PyTorch forward.
   *
   * @param x [batch, ...inputShape]
   * @returns pre-codes and codes, [tokens, nbConcepts]
   */
  async encode(
    x: TensorLike,
    options: OutputOptions = {},
  ): Promise<{ preCodes: Tensor; codes: Tensor }> {
    const tokens = this.#tokens(x);
    this.#checkBatch(tokens.shape[0]);
    const C = this.nbConcepts;
    const into = checkOut(options, [["preCodes", C], ["codes", C]], tokens.shape[0]);
    return await this.#run(async (be) => {
      const [preCodes, codes] = await this.#inChunks(be, tokens, [C, C], (part) => {
        const { pre, codes } = this.#encodeOn(be, part);
        return [pre, codes];
      }, into);
      return { preCodes, codes };
    });
  }

  /**
   * Encodes x into sparse codes (CSR): what `encode(x).codes` holds, without the dense
   * pre-codes and codes ever leaving the backend in full.
   *
   * @param x [batch, ...inputShape]
   * @param options `topK`: keep the k largest codes per token.
   * @returns `{ indptr, indices, values, shape: [tokens, nbConcepts] }`
   *
   * @example Active concepts of each token
   * ```ts
   * import { JumpSAE } from "../mod.ts";
   * const sae = new JumpSAE(8, 32, { seed: 0, device: "reference" }).eval();
   * const x = { data: new Float32Array(4 * 8).map((_, i) => Math.sin(i)), shape: [4, 8] };
   * const { indptr, indices, values } = await sae.encodeSparse(x, { topK: 3 });
   * console.log(indptr.length, indices.length === values.length); // 5 true
   * sae.dispose();
   * ```
   */
  async encodeSparse(x: TensorLike, options: EncodeSparseOptions = {}): Promise<SparseCodes> {
    if (options === null || typeof options !== "object") {
      throw new TypeError(
        `options must be an object, got ${options === null ? "null" : typeof options}`,
      );
    }
    const { topK } = options;
    if (topK !== undefined && (!Number.isInteger(topK) || topK < 1)) {
      throw new RangeError(`topK must be an integer >= 1, got ${topK}`);
    }
    const tokens = this.#tokens(x);
    this.#checkBatch(tokens.shape[0]);
    const B = tokens.shape[0], C = this.nbConcepts;
    return await this.#run(async (be) => {
      const parts: SparseCodes[] = [];
      const block = this.#blockRows(B);
      for (let start = 0; start < B; start += block) {
        const rows = Math.min(block, B - start);
        const part = {
          data: tokens.data.subarray(start * this.dim, (start + rows) * this.dim),
          shape: [rows, this.dim],
        };
        const { codes } = this.#encodeOn(be, part);
        if (topK === undefined) {
          parts.push(await be.downloadSparseRows(codes, rows, C));
          continue;
        }
        // selected on the backend: only [rows, k] values and indices come back
        const k = Math.min(topK, C);
        const [v, i, n] = this.#topK.map((w, j) => w.get(be, rows * (j < 2 ? k : 1)));
        be.topK(v, i, n, codes, rows, C, k);
        parts.push(csrFromTopK(
          await be.download(v, 0, rows * k),
          await be.download(i, 0, rows * k),
          await be.download(n, 0, rows),
          k,
          C,
        ));
      }
      return concatRows(parts, C);
    });
  }

  /**
   * Runs `step` over row blocks of `input` and gathers its outputs (`cols` wide each). In eval
   * mode a block holds at most 2^25 floats in its widest activation (128 MiB, within every
   * backend's buffer limits), so inference batches of any size fit; in training mode the batch
   * is one block, since BatchNorm's statistics and the dictionary projection are per batch.
   */
  async #inChunks(
    be: Backend,
    input: Tensor,
    cols: number[],
    step: (part: Tensor) => DeviceBuffer[] | Promise<DeviceBuffer[]>,
    into: (Float32Array | undefined)[] = [],
  ): Promise<Tensor[]> {
    const B = input.shape[0], width = input.shape[1];
    const block = this.#blockRows(B, width);
    if (B <= block) {
      // one block: hand the downloaded arrays out as they are (no gathering copy)
      const buffers = B === 0 ? [] : await step(input);
      return await Promise.all(cols.map(async (c, i) => ({
        data: B === 0
          ? (into[i] ?? new Float32Array(0))
          : await be.download(buffers[i], 0, B * c, into[i]),
        shape: [B, c],
      })));
    }
    const outputs = cols.map((c, i) => into[i] ?? new Float32Array(B * c));
    for (let start = 0; start < B; start += block) {
      const rows = Math.min(block, B - start);
      const part = {
        data: input.data.subarray(start * width, (start + rows) * width),
        shape: [rows, width],
      };
      const buffers = await step(part);
      for (let i = 0; i < cols.length; i++) {
        outputs[i].set(await be.download(buffers[i], 0, rows * cols[i]), start * cols[i]);
      }
    }
    return outputs.map((data, i) => ({ data, shape: [B, cols[i]] }));
  }

  /** Rows per block: the batch in training mode, at most 2^25 floats per activation in eval. */
  #blockRows(B: number, width = this.dim): number {
    const widest = Math.max(
      width,
      this.dim,
      this.nbConcepts,
      ...this.encoder.layers.map((l) => l.outFeatures),
    );
    return this.#mode ? B : Math.max(1, Math.floor(2 ** 25 / widest));
  }

  /**
   * Encodes x and keeps the k largest codes of each token, selected on the backend (the dense
   * codes are not downloaded): see `Backend.topK` (ties: the lower index first).
   *
   * @param x [batch, ...inputShape]
   * @param k Codes kept per token, 1 ≤ k ≤ nbConcepts.
   * @returns values and indices [tokens, k] (−1 and 0 pad), nnz [tokens, 1] non-zeros per token
   */
  async encodeTopK(
    x: TensorLike,
    k: number,
  ): Promise<{ values: Tensor; indices: Tensor; nnz: Tensor }> {
    if (!Number.isInteger(k) || k < 1 || k > this.nbConcepts) {
      throw new RangeError(`k must be an integer in [1, ${this.nbConcepts}], got ${k}`);
    }
    const tokens = this.#tokens(x);
    this.#checkBatch(tokens.shape[0]);
    return await this.#run(async (be) => {
      const [values, indices, nnz] = await this.#inChunks(be, tokens, [k, k, 1], (part) => {
        const rows = part.shape[0], { codes } = this.#encodeOn(be, part);
        const out = this.#topK.map((w, i) => w.get(be, rows * (i < 2 ? k : 1)));
        be.topK(out[0], out[1], out[2], codes, rows, this.nbConcepts, k);
        return out;
      });
      return { values, indices, nnz };
    });
  }

  /**
   * Decodes codes into x̂ = codes·D.
   *
   * @param z [tokens, nbConcepts]
   * @returns x̂, [tokens, dim]
   */
  async decode(z: TensorLike): Promise<Tensor> {
    const t = toTensor(z, "z");
    if (t.shape.length !== 2 || t.shape[1] !== this.nbConcepts) {
      throw new RangeError(
        `z must have shape [tokens, ${this.nbConcepts}], got ${formatShape(t.shape)}`,
      );
    }
    assertFinite(t.data, "z");
    return await this.#run(async (be) => {
      const [xHat] = await this.#inChunks(be, t, [this.dim], async (part) => {
        const rows = part.shape[0];
        const codes = this.#codes.get(be, rows * this.nbConcepts);
        be.upload(codes, part.data);
        return [(await this.#decodeOn(be, codes, rows)).xHat];
      });
      return xHat;
    });
  }

  /**
   * Encodes and decodes x.
   *
   * @param x [batch, ...inputShape]
   * @returns pre-codes, codes [tokens, nbConcepts] and x̂ [tokens, dim]
   */
  async forward(x: TensorLike, options: OutputOptions = {}): Promise<SAEOutput> {
    const tokens = this.#tokens(x);
    this.#checkBatch(tokens.shape[0]);
    const C = this.nbConcepts;
    const into = checkOut(
      options,
      [["preCodes", C], ["codes", C], ["xHat", this.dim]],
      tokens.shape[0],
    );
    return await this.#run(async (be) => {
      const [preCodes, codes, xHat] = await this.#inChunks(
        be,
        tokens,
        [C, C, this.dim],
        async (part) => {
          const { pre, codes } = this.#encodeOn(be, part);
          const { xHat } = await this.#decodeOn(be, codes, part.shape[0]);
          return [pre, codes, xHat];
        },
        into,
      );
      return { preCodes, codes, xHat };
    });
  }

  /**
   * The dictionary [nbConcepts, dim]: in training mode W is re-projected in place and exp(m)·W
   * returned; in eval mode the fused dictionary.
   */
  getDictionary(): Promise<Tensor> {
    return this.#run(async (be) => {
      const dict = await this.dictionary.current(be, this.#mode);
      return this.#read(be, dict, [this.nbConcepts, this.dim]);
    });
  }

  /**
   * One forward in the current mode and the exact backward, without changing parameters
   * (running statistics and the dictionary re-projection change as in a PyTorch forward).
   * Gradients are left in each parameter's `grad` buffer and returned.
   *
   * @param x [batch, ...inputShape]
   * @param loss e.g. `losses.mseL0(1e-3)`
   */
  async valueAndGrad(x: TensorLike, loss: Loss): Promise<ValueAndGrad> {
    const tokens = this.#prepareBackward(x, loss);
    return await this.#run(async (be) => {
      const { pre, codes, xHat, value } = await this.#backwardOn(be, tokens, loss);
      const B = tokens.shape[0], C = this.nbConcepts;
      const grads: Record<string, Tensor> = {};
      for (const { name, parameter } of this.parameters()) {
        grads[name] = await this.#read(be, parameter.grad!, [...parameter.shape]);
      }
      return {
        loss: value,
        preCodes: await this.#read(be, pre, [B, C]),
        codes: await this.#read(be, codes, [B, C]),
        xHat: await this.#read(be, xHat, [B, this.dim]),
        grads,
      };
    });
  }

  /**
   * Like `valueAndGrad` but reads back only the loss: gradients stay in each parameter's
   * `grad` buffer on the backend, for an optimizer to use.
   */
  async lossAndGradients(x: TensorLike, loss: Loss): Promise<number> {
    const tokens = this.#prepareBackward(x, loss);
    return await this.#run(async (be) => (await this.#backwardOn(be, tokens, loss)).value);
  }

  #prepareBackward(x: TensorLike, loss: Loss): Tensor {
    if (!loss || typeof loss.accumulate !== "function") {
      throw new TypeError(`loss must be a Loss (e.g. losses.mse()), got ${typeof loss}`);
    }
    const tokens = this.#tokens(x);
    if (tokens.shape[0] === 0) throw new RangeError("x must hold at least one token, got 0");
    this.#checkBatch(tokens.shape[0]);
    return tokens;
  }

  async #backwardOn(be: Backend, tokens: Tensor, loss: Loss) {
    const B = tokens.shape[0], C = this.nbConcepts, D = this.dim;
    const { pre, codes } = this.#encodeOn(be, tokens);
    const { xHat, dict } = await this.#decodeOn(be, codes, B);
    for (const { parameter } of this.parameters()) be.fill(parameter.grad!, 0, parameter.size);
    const g = this.#grads;
    const ctx: LossContext = {
      backend: be,
      rows: B,
      dim: D,
      concepts: C,
      x: this.#input.get(be, B * D),
      xHat,
      preCodes: pre,
      codes,
      dictionary: dict,
      logThreshold: valueOf(this.thresholds),
      pseudoGradient: this.#pg,
      loss: g.loss.get(be, 1),
      dXHat: g.xHat.get(be, B * D),
      dCodes: g.codes.get(be, B * C),
      dPreCodes: g.preCodes.get(be, B * C),
      dDictionary: g.dictionary.get(be, C * D),
      dLogThreshold: this.thresholds.grad!,
    };
    for (
      const [buffer, n] of [[ctx.loss, 1], [ctx.dXHat, B * D], [ctx.dCodes, B * C], [
        ctx.dDictionary,
        C * D,
      ]] as const
    ) {
      be.fill(buffer, 0, n);
    }
    if (loss.touchesPreCodes) be.fill(ctx.dPreCodes, 0, B * C);
    await loss.accumulate(ctx);

    // decoder: x̂ = codes·D; dCodes only where the JumpReLU backward reads it (sparse, exact)
    be.maskedCodeGradient(ctx.dCodes, ctx.dXHat, dict, pre, ctx.logThreshold, B, C, D, this.#pg);
    be.matmul(ctx.dDictionary, codes, ctx.dXHat, {
      m: C,
      n: D,
      k: B,
      transA: true,
      accumulate: true,
      sparseA: true,
    });
    this.dictionary.backward(be, ctx.dDictionary);
    if (this.decoderBias) be.sumRows(this.decoderBias.grad!, ctx.dXHat, B, D);
    // codes = JumpReLU(ReLU(pre)), threshold exp(thresholds)
    const dPre = g.preAct.get(be, B * C);
    be.jumpReluBackward(dPre, ctx.dLogThreshold, ctx.dCodes, pre, ctx.logThreshold, B, C, this.#pg);
    if (loss.touchesPreCodes) be.addBias(dPre, ctx.dPreCodes, 1, B * C);
    // encoder, last layer first; the input needs a gradient only to reach a centring b_dec
    const run: RunContext = { backend: be, training: this.#mode };
    let dy: DeviceBuffer | null = dPre;
    const layers = this.encoder.layers;
    for (let i = layers.length - 1; i >= 0 && dy; i--) {
      dy = layers[i].backward(run, dy, B, i > 0 || this.centerInput);
    }
    if (this.centerInput && dy) {
      be.scale(dy, dy, -1, B * D); // x − b_dec: the bias gets minus the input gradient
      be.sumRows(this.decoderBias!.grad!, dy, B, D);
    }
    const value = (await be.download(ctx.loss, 0, 1))[0];
    return { pre, codes, xHat, value };
  }

  /** The state dict, with the keys and shapes of the seed library's PyTorch `state_dict()`. */
  stateDict(): Promise<Record<string, Tensor>> {
    return this.#run(async (be) => {
      const out: Record<string, Tensor> = {};
      for (const [key, p] of this.#params) {
        out[key] = p.value
          ? await this.#read(be, p.value, [...p.shape])
          : { data: p.initial.slice(), shape: [...p.shape] };
      }
      return out;
    });
  }

  /**
   * Loads a state dict (e.g. from PyTorch via safetensors). Every key must be present with its
   * exact shape; extra keys are an error unless `strict` is false. Nothing changes if any check
   * fails. In eval mode the dictionary is projected and fused again from the loaded weights.
   */
  async loadStateDict(
    dict: Record<string, TensorLike>,
    options: { strict?: boolean; _adopt?: boolean } = {},
  ): Promise<void> {
    if (dict === null || typeof dict !== "object") {
      throw new TypeError(
        `dict must be an object of tensors, got ${dict === null ? "null" : typeof dict}`,
      );
    }
    const strict = options.strict ?? true;
    if (strict) {
      for (const key of Object.keys(dict)) {
        if (!this.#params.has(key)) {
          throw new RangeError(
            `Unexpected key ${key} in state dict (pass { strict: false } to ignore it)` +
              encoderMismatchHint(this.#params.keys(), Object.keys(dict)),
          );
        }
      }
    }
    const values = new Map<Parameter, Float32Array>();
    for (const [key, p] of this.#params) {
      if (!(key in dict)) {
        const hint = encoderMismatchHint(this.#params.keys(), Object.keys(dict));
        throw new RangeError(`Missing key ${key} in state dict${hint}`);
      }
      const t = toTensor(dict[key], key);
      if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
        throw new RangeError(
          `${key} must have shape ${formatShape(p.shape)}, got ${formatShape(t.shape)}`,
        );
      }
      for (let i = 0; i < t.data.length; i++) {
        const v = t.data[i];
        if (!Number.isFinite(v) && !(key === "thresholds" && v === -Infinity)) {
          throw new RangeError(`${key} must be finite, got ${v} at index ${i}`);
        }
      }
      values.set(p, options._adopt ? t.data : Float32Array.from(t.data)); // _adopt: a loader's own arrays
    }
    return await this.#run(async (be) => {
      for (const [p, data] of values) {
        p.initial = data;
        if (p.value) be.upload(p.value, data);
      }
      if (!this.#mode) await this.dictionary.fuse(be);
    });
  }

  /** Frees workers and device buffers. The model cannot be used afterwards. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#backend?.then((be) => be.dispose(), () => {});
    this.#backend = null;
  }

  /** `dispose()`, for `using sae = new JumpSAE(…)`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** The `out` arrays of `options`, in the order of `outputs` ([name, columns]), checked. */
function checkOut(
  options: OutputOptions,
  outputs: [keyof OutputArrays, number][],
  rows: number,
): (Float32Array | undefined)[] {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `options must be an object, got ${options === null ? "null" : typeof options}`,
    );
  }
  const out = options.out;
  if (out === undefined) return [];
  if (out === null || typeof out !== "object") {
    throw new TypeError(
      `options.out must be an object of Float32Arrays, got ${out === null ? "null" : typeof out}`,
    );
  }
  for (const key of Object.keys(out)) {
    if (!outputs.some(([name]) => name === key)) {
      throw new TypeError(
        `Unknown output out.${key}: expected ${outputs.map(([n]) => n).join(", ")}`,
      );
    }
  }
  return outputs.map(([name, cols]) => {
    const a: unknown = out[name];
    if (a === undefined) return undefined;
    if (!(a instanceof Float32Array)) {
      throw new TypeError(
        `out.${name} must be a Float32Array, got ${(a as object)?.constructor?.name ?? typeof a}`,
      );
    }
    if (a.length !== rows * cols) {
      throw new RangeError(
        `out.${name} must hold ${rows * cols} floats ([${rows}, ${cols}]), got ${a.length}`,
      );
    }
    return a;
  });
}

function checkInputShape(shape: number | readonly number[]): readonly number[] {
  const dims = typeof shape === "number" ? [shape] : Array.isArray(shape) ? [...shape] : null;
  if (!dims) {
    throw new TypeError(`inputShape must be a number or an array of numbers, got ${typeof shape}`);
  }
  if (dims.length < 1 || dims.length > 3 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new RangeError(
      `inputShape must be dim, [seq, dim] or [dim, height, width] of positive integers, got ${
        typeof shape === "number" ? shape : formatShape(dims)
      }`,
    );
  }
  return dims;
}

function checkPseudoGradient(
  options: Pick<JumpSAEOptions, "kernel" | "bandwith" | "bandwidth" | "pseudoGradient">,
  defaults: { kernel: KernelName; bandwith: number; pseudoGradient: PseudoGradientMode },
): { kernel: KernelName; bandwith: number; pseudoGradient: PseudoGradientMode } {
  const kernel = options.kernel ?? defaults.kernel;
  if (!isKernelName(kernel)) {
    throw new RangeError(
      `kernel must be one of ${KERNEL_NAMES.join(", ")}, got ${String(kernel)}`,
    );
  }
  const pseudoGradient = options.pseudoGradient ?? defaults.pseudoGradient;
  if (pseudoGradient !== "overcomplete" && pseudoGradient !== "paper") {
    throw new RangeError(
      `pseudoGradient must be "overcomplete" or "paper", got ${String(pseudoGradient)}`,
    );
  }
  return { kernel, bandwith: checkBandwith(options, defaults.bandwith), pseudoGradient };
}

function checkBandwith(options: JumpSAEOptions, fallback: number): number {
  const { bandwith, bandwidth } = options;
  if (bandwith !== undefined && bandwidth !== undefined && bandwith !== bandwidth) {
    throw new RangeError(
      `bandwith (${bandwith}) and bandwidth (${bandwidth}) disagree: give one of them`,
    );
  }
  const value = bandwith ?? bandwidth ?? fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`bandwith must be a finite number > 0, got ${value}`);
  }
  return value;
}
