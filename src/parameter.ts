import type { Backend, DeviceBuffer } from "./backends/backend.ts";

/**
 * One entry of a model's state dict: a trainable parameter (with a gradient buffer) or a
 * buffer such as BatchNorm's running statistics. Values live on the model's backend once it
 * is ready; before that, `initial` holds the host-side initial values. Integer counters
 * (`num_batches_tracked`) always stay on the host, in `initial`.
 */
export class Parameter {
  /** The device buffer holding the value (null until the backend is bound). */
  value: DeviceBuffer | null = null;
  /** The gradient buffer, for trainable parameters (null until bound). */
  grad: DeviceBuffer | null = null;

  /**
   * A state-dict entry with its host-side initial values.
   *
   * @param name Key in the PyTorch-compatible state dict, e.g. `encoder.final_block.0.weight`.
   * @param shape The tensor shape (`[]` for a scalar).
   * @param trainable Whether the parameter receives gradients.
   * @param initial Initial values.
   * @param dtype How PyTorch stores it: float32, or int64 (`num_batches_tracked`).
   */
  constructor(
    readonly name: string,
    readonly shape: readonly number[],
    readonly trainable: boolean,
    public initial: Float32Array,
    readonly dtype: "F32" | "I64" = "F32",
  ) {}

  /** Number of elements. */
  get size(): number {
    return this.initial.length;
  }

  /** Allocates the value (and gradient) on `backend` and uploads the initial values. */
  bind(backend: Backend): void {
    if (this.dtype === "I64") return; // counters stay on the host
    this.value = backend.alloc(Math.max(1, this.size));
    backend.upload(this.value, this.initial);
    if (this.trainable) this.grad = backend.alloc(Math.max(1, this.size));
  }
}
