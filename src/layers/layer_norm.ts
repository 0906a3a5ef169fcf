import type { DeviceBuffer } from "../backends/backend.ts";
import { Parameter } from "../parameter.ts";
import { gradOf, type Layer, type RunContext, valueOf, Workspace } from "./layer.ts";

const EPS = 1e-5;

/** `nn.LayerNorm(features)` over the last dimension, eps 1e-5, with affine weight and bias. */
export class LayerNorm implements Layer {
  readonly parameters: Parameter[];
  /** Affine scale, [features]. */
  readonly weight: Parameter;
  /** Affine shift, [features]. */
  readonly bias: Parameter;
  /** Output width, inFeatures. */
  readonly outFeatures: number;
  #x: DeviceBuffer | null = null;
  #out = new Workspace();
  #dx = new Workspace();
  #mean = new Workspace();
  #rstd = new Workspace();

  /**
   * `nn.LayerNorm(inFeatures)` named `name`.
   *
   * @param name Module name, the prefix of its state-dict keys.
   * @param inFeatures Features normalized (the last dimension).
   */
  constructor(readonly name: string, readonly inFeatures: number) {
    this.outFeatures = inFeatures;
    this.weight = new Parameter(
      `${name}.weight`,
      [inFeatures],
      true,
      new Float32Array(inFeatures).fill(1),
    );
    this.bias = new Parameter(`${name}.bias`, [inFeatures], true, new Float32Array(inFeatures));
    this.parameters = [this.weight, this.bias];
  }

  /** Normalizes each row of x [rows, features]. */
  forward(ctx: RunContext, x: DeviceBuffer, rows: number): DeviceBuffer {
    const B = rows, C = this.inFeatures, be = ctx.backend;
    const out = this.#out.get(be, B * C); // (B, C)
    const mean = this.#mean.get(be, B), rstd = this.#rstd.get(be, B); // (B,)
    be.layerNorm(out, mean, rstd, x, valueOf(this.weight), valueOf(this.bias), B, C, EPS);
    this.#x = x;
    return out;
  }

  backward(
    ctx: RunContext,
    dy: DeviceBuffer,
    rows: number,
    needInputGrad: boolean,
  ): DeviceBuffer | null {
    const B = rows, C = this.inFeatures, be = ctx.backend;
    const dx = this.#dx.get(be, B * C);
    be.layerNormBackward(
      dx,
      gradOf(this.weight),
      gradOf(this.bias),
      dy,
      this.#x!,
      this.#mean.get(be, B),
      this.#rstd.get(be, B),
      valueOf(this.weight),
      B,
      C,
    );
    return needInputGrad ? dx : null;
  }
}
