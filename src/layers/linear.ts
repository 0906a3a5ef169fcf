import type { DeviceBuffer } from "../backends/backend.ts";
import { Parameter } from "../parameter.ts";
import { Random } from "../random.ts";
import { gradOf, type Layer, type RunContext, valueOf, Workspace } from "./layer.ts";

/**
 * `nn.Linear(in, out)`: y = x·Wᵀ + b, W of shape [out, in], initialised as PyTorch does,
 * U(−1/√in, 1/√in) for weight and bias.
 */
export class Linear implements Layer {
  readonly parameters: Parameter[];
  /** W, [outFeatures, inFeatures]. */
  readonly weight: Parameter;
  /** b, [outFeatures]. */
  readonly bias: Parameter;
  #x: DeviceBuffer | null = null;
  #out = new Workspace();
  #dx = new Workspace();

  /**
   * `nn.Linear(inFeatures, outFeatures)` named `name`.
   *
   * @param name Module name, the prefix of its state-dict keys.
   * @param inFeatures Input width.
   * @param outFeatures Output width.
   * @param rng Draws W and b.
   */
  constructor(
    readonly name: string,
    readonly inFeatures: number,
    readonly outFeatures: number,
    rng: Random = new Random(),
  ) {
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = new Parameter(
      `${name}.weight`,
      [outFeatures, inFeatures],
      true,
      rng.uniform(outFeatures * inFeatures, bound),
    );
    this.bias = new Parameter(`${name}.bias`, [outFeatures], true, rng.uniform(outFeatures, bound));
    this.parameters = [this.weight, this.bias];
  }

  /** y = x·Wᵀ + b for x [rows, inFeatures]. */
  forward(ctx: RunContext, x: DeviceBuffer, rows: number): DeviceBuffer {
    const B = rows, I = this.inFeatures, O = this.outFeatures;
    const out = this.#out.get(ctx.backend, B * O); // (B, O)
    ctx.backend.matmul(out, x, valueOf(this.weight), { m: B, n: O, k: I, transB: true });
    ctx.backend.addBias(out, valueOf(this.bias), B, O);
    this.#x = x;
    return out;
  }

  backward(
    ctx: RunContext,
    dy: DeviceBuffer,
    rows: number,
    needInputGrad: boolean,
  ): DeviceBuffer | null {
    const B = rows, I = this.inFeatures, O = this.outFeatures, be = ctx.backend;
    const x = this.#x!;
    be.matmul(gradOf(this.weight), dy, x, { m: O, n: I, k: B, transA: true, accumulate: true });
    be.sumRows(gradOf(this.bias), dy, B, O);
    if (!needInputGrad) return null;
    const dx = this.#dx.get(be, B * I); // (B, I)
    be.matmul(dx, dy, valueOf(this.weight), { m: B, n: I, k: O });
    return dx;
  }
}
