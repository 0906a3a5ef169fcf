import type { Backend, DeviceBuffer } from "../backends/backend.ts";
import type { Parameter } from "../parameter.ts";

/** What a layer needs to run: the backend and the mode. */
export interface RunContext {
  /** The backend holding the buffers. */
  backend: Backend;
  /** Whether the call runs in training mode. */
  training: boolean;
}

/**
 * One differentiable layer of an encoder, PyTorch style. `forward` keeps what `backward`
 * needs; `backward` accumulates parameter gradients and returns the input gradient.
 * Buffers returned by a layer belong to it and stay valid until its next call.
 */
export interface Layer {
  /** Local module name, e.g. `final_block.0`; state-dict keys are `encoder.<name>.<param>`. */
  readonly name: string;
  /** Input width. */
  readonly inFeatures: number;
  /** Output width. */
  readonly outFeatures: number;
  /** Parameters and buffers, named relative to the encoder (e.g. `final_block.0.weight`). */
  readonly parameters: Parameter[];
  /** Whether training-mode forward needs at least two rows (batch statistics). */
  readonly needsBatch?: boolean;
  /** y [rows, outFeatures] from x [rows, inFeatures], keeping what `backward` needs. */
  forward(ctx: RunContext, x: DeviceBuffer, rows: number): DeviceBuffer;
  /** Returns the input gradient, or null when `needInputGrad` is false (the first layer). */
  backward(
    ctx: RunContext,
    dy: DeviceBuffer,
    rows: number,
    needInputGrad: boolean,
  ): DeviceBuffer | null;
}

/** A reusable device buffer that grows to the largest size asked for. */
export class Workspace {
  #buffer: DeviceBuffer | null = null;
  #backend: Backend | null = null;

  /** Returns a buffer of at least `length` floats on `backend`. */
  get(backend: Backend, length: number): DeviceBuffer {
    if (this.#backend !== backend) {
      this.#buffer = null;
      this.#backend = backend;
    }
    if (!this.#buffer || this.#buffer.length < length) {
      // allocate, then free: when the allocation fails (out of memory) the old buffer stays
      const next = backend.alloc(Math.max(1, length));
      if (this.#buffer) backend.free(this.#buffer);
      this.#buffer = next;
    }
    return this.#buffer;
  }
}

/** The bound device buffer of a parameter, or an error if the model is not bound. */
export function valueOf(p: Parameter): DeviceBuffer {
  if (!p.value) throw new Error(`Parameter ${p.name} is not on a backend yet`);
  return p.value;
}

/** The bound gradient buffer of a trainable parameter. */
export function gradOf(p: Parameter): DeviceBuffer {
  if (!p.grad) throw new Error(`Parameter ${p.name} has no gradient buffer`);
  return p.grad;
}
