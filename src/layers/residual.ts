import type { DeviceBuffer } from "../backends/backend.ts";
import type { Parameter } from "../parameter.ts";
import type { Layer, RunContext } from "./layer.ts";
import { Workspace } from "./layer.ts";

/**
 * y = f(x) + x for a chain of layers f of equal input and output width: the residual hidden
 * block of the seed's `MLPEncoder(residual=True)`. Its parameters are those of its layers, under
 * their own names (`mlp_blocks.i.0.weight`, …).
 */
export class Residual implements Layer {
  readonly parameters: Parameter[];
  /** Input width, that of the first layer. */
  readonly inFeatures: number;
  /** Output width, inFeatures. */
  readonly outFeatures: number;
  readonly needsBatch: boolean;
  #out = new Workspace();
  #dx = new Workspace();

  /**
   * y = f(x) + x for the chain f of `layers`.
   *
   * @param name Module name.
   * @param layers The chain f, of equal input and output width.
   */
  constructor(readonly name: string, readonly layers: readonly Layer[]) {
    if (layers.length === 0) {
      throw new RangeError(`${name}: a residual block needs layers, got none`);
    }
    this.inFeatures = layers[0].inFeatures;
    this.outFeatures = layers[layers.length - 1].outFeatures;
    if (this.inFeatures !== this.outFeatures) {
      throw new RangeError(
        `${name}: a residual block must keep its width, got ${this.inFeatures} → ${this.outFeatures}`,
      );
    }
    this.parameters = layers.flatMap((l) => l.parameters);
    this.needsBatch = layers.some((l) => l.needsBatch);
  }

  /** y = f(x) + x for x [rows, features]. */
  forward(ctx: RunContext, x: DeviceBuffer, rows: number): DeviceBuffer {
    let y = x;
    for (const layer of this.layers) y = layer.forward(ctx, y, rows);
    const n = rows * this.outFeatures;
    const out = this.#out.get(ctx.backend, n);
    ctx.backend.copy(out, y, n);
    ctx.backend.addBias(out, x, 1, n);
    return out;
  }

  backward(
    ctx: RunContext,
    dy: DeviceBuffer,
    rows: number,
    needInputGrad: boolean,
  ): DeviceBuffer | null {
    let d: DeviceBuffer | null = dy;
    for (let i = this.layers.length - 1; i >= 0 && d; i--) {
      d = this.layers[i].backward(ctx, d, rows, i > 0 || needInputGrad);
    }
    if (!needInputGrad) return null;
    const n = rows * this.inFeatures;
    const dx = this.#dx.get(ctx.backend, n);
    ctx.backend.copy(dx, d!, n);
    ctx.backend.addBias(dx, dy, 1, n);
    return dx;
  }
}
