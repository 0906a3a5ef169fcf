/**
 * A copy of every parameter and buffer of a model (device-side copies, host counters), taken
 * before a training step so that a skipped step can be undone exactly: a training-mode forward
 * moves BatchNorm's running statistics and re-projects the dictionary before the loss is known.
 */
import type { Backend, DeviceBuffer } from "../backends/backend.ts";
import type { JumpSAE } from "../jump_sae.ts";
import type { Parameter } from "../parameter.ts";

const snapshots = new WeakMap<JumpSAE, StepSnapshot>();

/** Undo for one step of a model. */
export class StepSnapshot {
  /** The snapshot of `model` (one per model, so repeated training runs reuse its buffers). */
  static of(model: JumpSAE): StepSnapshot {
    let s = snapshots.get(model);
    if (!s) snapshots.set(model, s = new StepSnapshot(model));
    return s;
  }

  #be: Backend | null = null;
  #copies = new Map<Parameter, DeviceBuffer | Float32Array>();
  #probe: DeviceBuffer | null = null;

  private constructor(readonly model: JumpSAE) {}

  /** Every parameter and buffer: trainable ones, running statistics, counters. */
  #all(): Parameter[] {
    const m = this.model;
    const all = new Set<Parameter>(m.parameters().map((p) => p.parameter));
    for (const layer of m.encoder.layers) for (const p of layer.parameters) all.add(p);
    return [...all];
  }

  /** Copies the current state. */
  async take(): Promise<void> {
    const be = await this.model.getBackend();
    if (be !== this.#be) [this.#be, this.#copies, this.#probe] = [be, new Map(), null];
    for (const p of this.#all()) {
      if (!p.value) {
        this.#copies.set(p, p.initial.slice());
        continue;
      }
      let copy = this.#copies.get(p) as DeviceBuffer | undefined;
      if (!copy) {
        copy = be.alloc(Math.max(1, p.size));
        this.#copies.set(p, copy);
      }
      be.copy(copy, p.value, p.size);
    }
  }

  /** Puts the state of the last `take()` back. */
  restore(): void {
    for (const [p, copy] of this.#copies) {
      if (copy instanceof Float32Array) p.initial = copy.slice();
      else if (p.value) this.#be!.copy(p.value, copy, p.size);
    }
  }

  /** The first trainable parameter that is not finite (or whose squares overflow), or null (after `take()`). */
  async nonFinite(): Promise<string | null> {
    const be = this.#be!;
    const probe = this.#probe ??= be.alloc(1);
    for (const { name, parameter } of this.model.parameters()) {
      if (!parameter.value || parameter.size === 0) continue;
      be.sumSquares(probe, parameter.value, parameter.size);
      if (!Number.isFinite((await be.download(probe, 0, 1))[0])) return name;
    }
    return null;
  }
}
