/**
 * Parity with PyTorch: replays every fixture of `tests/fixtures/` (written by
 * `scripts/make_fixtures.py`) on a device and compares outputs, loss, every gradient and the
 * state after the step. Each backend's test file registers these cases for its device.
 */
import { ok as assert } from "node:assert/strict";
import { JumpSAE, type JumpSAEOptions, losses, type Tensor } from "../mod.ts";
import type { Device } from "../src/backends/select.ts";
import { loadSafetensors, loadSafetensorsMetadata } from "../src/io/safetensors.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url);

interface FixtureConfig {
  input_shape: number | number[];
  nb_concepts: number;
  kernel: JumpSAEOptions["kernel"];
  bandwith: number;
  encoder: JumpSAEOptions["encoderModule"];
  normalization: "l2" | "max_l2" | "l1" | "max_l1" | "identity";
  use_multiplier: boolean;
  mode: "train" | "eval";
  loss: { name: "mse" | "mse_l1" | "mse_l0"; penalty: number };
}

/** Names of all model fixtures. */
export function fixtureNames(): string[] {
  return [...Deno.readDirSync(FIXTURES)]
    .filter((e) => e.isFile && e.name.endsWith(".safetensors") && e.name !== "kernels.safetensors")
    .map((e) => e.name.replace(".safetensors", ""))
    .sort();
}

/** Loads one fixture: its tensors and config. */
export function loadFixture(
  name: string,
): { tensors: Record<string, Tensor>; config: FixtureConfig; noise: Record<string, number> } {
  const bytes = Deno.readFileSync(new URL(`${name}.safetensors`, FIXTURES));
  const metadata = loadSafetensorsMetadata(bytes);
  return {
    tensors: loadSafetensors(bytes),
    config: JSON.parse(metadata.config),
    // how far float32 rounding alone moves each tensor (float32 vs float64 PyTorch runs)
    noise: JSON.parse(metadata.float64_max_rel_err ?? "{}"),
  };
}

/** max|a − b| ≤ rel·max|b| + abs, elementwise over same-shaped tensors. */
export function assertClose(
  actual: Tensor,
  expected: Tensor,
  label: string,
  rel = 1e-5,
  abs = 1e-6,
): number {
  assert(
    JSON.stringify(actual.shape) === JSON.stringify(expected.shape),
    `${label}: shape ${JSON.stringify(actual.shape)} != ${JSON.stringify(expected.shape)}`,
  );
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < expected.data.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual.data[i] - expected.data[i]));
    maxRef = Math.max(maxRef, Math.abs(expected.data[i]));
  }
  assert(
    maxDiff <= rel * maxRef + abs,
    `${label}: max diff ${maxDiff} > ${rel}·${maxRef} + ${abs}`,
  );
  return maxRef === 0 ? maxDiff : maxDiff / maxRef;
}

/** Builds the model of a fixture, loads its `state.*`, sets its mode and loss. */
export async function modelOf(
  name: string,
  device: Device,
  backendOptions: Partial<JumpSAEOptions> = {},
) {
  const { tensors, config, noise } = loadFixture(name);
  const sae = new JumpSAE(config.input_shape, config.nb_concepts, {
    kernel: config.kernel,
    bandwith: config.bandwith,
    encoderModule: config.encoder,
    dictionaryParams: { normalization: config.normalization, useMultiplier: config.use_multiplier },
    device,
    ...backendOptions,
  });
  const prefixed = (prefix: string) =>
    Object.fromEntries(
      Object.entries(tensors).filter(([k]) => k.startsWith(prefix)).map((
        [k, v],
      ) => [k.slice(prefix.length), v]),
    );
  await sae.loadStateDict(prefixed("state."));
  if (config.mode === "eval") sae.eval();
  const { name: lossName, penalty } = config.loss;
  const loss = lossName === "mse"
    ? losses.mse()
    : lossName === "mse_l1"
    ? losses.mseL1(penalty)
    : losses.mseL0(penalty);
  return { sae, loss, tensors, config, noise, prefixed };
}

/**
 * Registers one Deno.test per fixture on `device`. Tolerance per tensor: `rel` relative to the
 * tensor's largest magnitude, or three times the float32 rounding noise the fixture measured
 * for that tensor if larger (a threshold gradient amplifies the pre-codes' rounding by ~1/ε,
 * so a float32 backend summing in another order legitimately differs by that much).
 */
export function registerParity(
  device: Device,
  label: string,
  backendOptions: Partial<JumpSAEOptions> = {},
  rel = 1e-5,
): void {
  for (const name of fixtureNames()) {
    Deno.test(`parity with PyTorch (${label}): ${name}`, async () => {
      const { sae, loss, tensors, noise, prefixed } = await modelOf(name, device, backendOptions);
      const tol = (key: string) => Math.max(rel, 3 * (noise[key] ?? 0));
      try {
        const out = await sae.valueAndGrad(tensors["input.x"], loss);
        assertClose(out.preCodes, tensors["out.pre_codes"], "preCodes", tol("pre_codes"));
        assertClose(out.codes, tensors["out.codes"], "codes", tol("codes"));
        assertClose(out.xHat, tensors["out.x_hat"], "xHat", tol("x_hat"));
        assertClose(
          { data: new Float32Array([out.loss]), shape: [] },
          tensors["loss"],
          "loss",
          tol("loss"),
        );
        const expectedGrads = prefixed("grad.");
        assert(
          JSON.stringify(Object.keys(out.grads).sort()) ===
            JSON.stringify(Object.keys(expectedGrads).sort()),
          `gradient keys ${Object.keys(out.grads)} != ${Object.keys(expectedGrads)}`,
        );
        for (const [key, g] of Object.entries(expectedGrads)) {
          assertClose(out.grads[key], g, `grad ${key}`, tol(`grad.${key}`));
        }
        const after = await sae.stateDict();
        const expectedAfter = prefixed("after.");
        assert(
          JSON.stringify(Object.keys(after)) === JSON.stringify(Object.keys(expectedAfter)),
          "state keys/order",
        );
        for (const [key, t] of Object.entries(expectedAfter)) {
          assertClose(after[key], t, `after ${key}`, rel);
        }
      } finally {
        sae.dispose();
      }
    });
  }
}
