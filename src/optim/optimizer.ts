import type { Backend } from "../backends/backend.ts";
import type { Parameter } from "../parameter.ts";
import type { Tensor } from "../tensor.ts";

/**
 * What an optimizer trains: a model's trainable parameters (with the device `value` and `grad`
 * buffers of its backend) and that backend. A `JumpSAE` is one.
 */
export interface ParameterSource {
  /** The trainable parameters, by state-dict key. */
  parameters(): { name: string; parameter: Parameter }[];
  /** The backend holding their buffers. */
  getBackend(): Promise<Backend>;
}

/**
 * The serialisable state of an optimizer: its hyper-parameters (numbers and booleans, learning
 * rate included), its step count and its per-parameter buffers, e.g.
 * `{ "thresholds.exp_avg": Tensor }`.
 */
export interface OptimizerState {
  /** The optimizer class, e.g. `"Adam"`. */
  kind: string;
  /** Steps taken. */
  step: number;
  /** Hyper-parameters by name (learning rate included). */
  hyper: Record<string, number | boolean>;
  /** Per-parameter buffers, `<parameter>.<buffer>`. */
  buffers: Record<string, Tensor>;
}

/**
 * A first-order optimizer over a model's parameters, PyTorch semantics: gradients are left in
 * each parameter's `grad` buffer by `lossAndGradients`, `step()` updates the parameters on the
 * backend, `zeroGrad()` clears the gradients. `lr` may be changed between steps (schedulers).
 */
export interface Optimizer {
  /** The learning rate used by the next step. */
  lr: number;
  /** Number of steps taken. */
  readonly stepCount: number;
  /** Updates every parameter from its gradient. */
  step(): Promise<void>;
  /** Sets every gradient to zero. */
  zeroGrad(): Promise<void>;
  /** Hyper-parameters, step count and moment buffers, downloaded from the backend. */
  stateDict(): Promise<OptimizerState>;
  /** Restores a `stateDict()`; a state of another kind or shape is refused. */
  loadStateDict(state: OptimizerState): Promise<void>;
}
