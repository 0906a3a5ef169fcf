import type { ParameterSource } from "./optimizer.ts";

/** Throws a RangeError unless `value` is a finite number within [min, max] (or (min, max] if `open`). */
export function checkHyper(
  name: string,
  value: number,
  min: number,
  max = Infinity,
  open = false,
): number {
  if (
    typeof value !== "number" || !Number.isFinite(value) || value < min || value > max ||
    (open && value === min)
  ) {
    const range = `${open ? "(" : "["}${min}, ${max === Infinity ? "∞)" : `${max}]`}`;
    throw new RangeError(`${name} must be a finite number in ${range}, got ${value}`);
  }
  return value;
}

/** Checks the model argument of an optimizer. */
export function checkSource(model: ParameterSource, who: string): void {
  if (Array.isArray(model) || (model && typeof model === "object" && Symbol.iterator in model)) {
    throw new TypeError(
      `${who} takes the model, not its parameters (PyTorch's habit): write new ${who}(sae, { lr }), ` +
        "it reads sae.parameters() and the backend itself",
    );
  }
  if (!model || typeof model.parameters !== "function" || typeof model.getBackend !== "function") {
    throw new TypeError(
      `${who} needs a model with parameters() and getBackend() (e.g. a JumpSAE), got ${typeof model}`,
    );
  }
}
