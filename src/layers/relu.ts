import type { DeviceBuffer } from "../backends/backend.ts";
import type { Parameter } from "../parameter.ts";
import type { Layer, RunContext } from "./layer.ts";
import { Workspace } from "./layer.ts";

/** `nn.ReLU()`; its gradient at 0 is 0, as PyTorch's. */
export class ReLU implements Layer {
  readonly parameters: Parameter[] = [];
  /** Output width, inFeatures. */
  readonly outFeatures: number;
  #y: DeviceBuffer | null = null;
  #out = new Workspace();
  #dx = new Workspace();

  /**
   * `nn.ReLU()` over `inFeatures` features.
   *
   * @param name Module name.
   * @param inFeatures Width.
   */
  constructor(readonly name: string, readonly inFeatures: number) {
    this.outFeatures = inFeatures;
  }

  /** y = max(x, 0). */
  forward(ctx: RunContext, x: DeviceBuffer, rows: number): DeviceBuffer {
    const out = this.#out.get(ctx.backend, rows * this.inFeatures);
    ctx.backend.relu(out, x, rows * this.inFeatures);
    this.#y = out;
    return out;
  }

  backward(
    ctx: RunContext,
    dy: DeviceBuffer,
    rows: number,
    needInputGrad: boolean,
  ): DeviceBuffer | null {
    if (!needInputGrad) return null;
    const n = rows * this.inFeatures;
    const dx = this.#dx.get(ctx.backend, n);
    ctx.backend.reluBackward(dx, dy, this.#y!, n); // relu(x) > 0 exactly where x > 0
    return dx;
  }
}
