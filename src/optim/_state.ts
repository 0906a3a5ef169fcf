import type { Backend, DeviceBuffer } from "../backends/backend.ts";
import { formatShape, type Tensor } from "../tensor.ts";
import type { ParameterSource } from "./optimizer.ts";

/** Per-parameter device buffers of an optimizer (Adam's moments, SGD's momentum), allocated lazily. */
export class SlotBuffers {
  #slots = new Map<string, DeviceBuffer[]>();
  #backend: Backend | null = null;

  constructor(readonly names: readonly string[]) {}

  /** The buffers of parameter `key` (zero-filled on first use). */
  get(backend: Backend, key: string, size: number): DeviceBuffer[] {
    if (this.#backend !== backend) {
      this.#slots.clear();
      this.#backend = backend;
    }
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = this.names.map(() => backend.alloc(Math.max(1, size)));
      this.#slots.set(key, slot);
    }
    return slot;
  }

  /** Downloads every buffer as `<param>.<slot>`. */
  async download(model: ParameterSource): Promise<Record<string, Tensor>> {
    const be = await model.getBackend();
    const out: Record<string, Tensor> = {};
    for (const { name, parameter } of model.parameters()) {
      const slot = this.get(be, name, parameter.size);
      for (let i = 0; i < this.names.length; i++) {
        out[`${name}.${this.names[i]}`] = {
          data: parameter.size === 0
            ? new Float32Array(0)
            : await be.download(slot[i], 0, parameter.size),
          shape: [...parameter.shape],
        };
      }
    }
    return out;
  }

  /** Checks then uploads `<param>.<slot>` tensors; nothing changes if one is missing or misshaped. */
  async upload(model: ParameterSource, buffers: Record<string, Tensor>): Promise<void> {
    const be = await model.getBackend();
    const params = model.parameters();
    for (const { name, parameter } of params) {
      for (const slot of this.names) {
        const t = buffers[`${name}.${slot}`];
        if (!t) throw new RangeError(`Missing optimizer buffer ${name}.${slot} in state`);
        if (t.data.length !== parameter.size) {
          throw new RangeError(
            `Optimizer buffer ${name}.${slot} must have shape ${
              formatShape(parameter.shape)
            }, got ${formatShape(t.shape)}`,
          );
        }
      }
    }
    for (const { name, parameter } of params) {
      const slot = this.get(be, name, parameter.size);
      this.names.forEach((s, i) => {
        if (parameter.size > 0) be.upload(slot[i], Float32Array.from(buffers[`${name}.${s}`].data));
      });
    }
  }
}
